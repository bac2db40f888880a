/**
 * Topic tools: validation of topic names and filters, shared subscription parsing, a subscription trie for
 * matching PUBLISH topics, and a retained message index for wildcard lookups.
 */

export { RetainedIndex, type RetainedVisitor } from './retained-index.js'
export { type MatchVisitor, SubscriptionTrie } from './subscription-trie.js'
export {
  isSystemTopic,
  parseSharedFilter,
  type SharedFilter,
  type TopicProblem,
  type TopicRules,
  topicMatches,
  validateTopicFilter,
  validateTopicName,
} from './validate.js'
