/**
 * Topic name and topic filter validation (MQTT 3.1.1 and 5.0, section 4.7), shared subscription parsing
 * (5.0 section 4.8.2) and a naive reference matcher.
 *
 * Validation runs on every PUBLISH, so each validator is one pass over the string's UTF-16 code units
 * with no allocation.
 */

/** Limits applied by {@link validateTopicName} and {@link validateTopicFilter}. */
export interface TopicRules {
  /** Maximum number of levels ('/'-separated); default 128. A shared subscription's inner filter is counted. */
  maxLevels?: number
  /**
   * Accept `$share/{group}/{filter}` as a shared subscription (MQTT 5.0). Default true. When false,
   * `$share/...` is validated as an ordinary filter.
   */
  shared?: boolean
}

/**
 * Why a topic name or filter is invalid. When a string has several problems, `empty` and `too-long` (when
 * the code-unit count alone proves it) come first, then the first problem found scanning left to right.
 */
export type TopicProblem =
  /** Zero length [MQTT-4.7.3-1]. */
  | 'empty'
  /** More than 65535 bytes once encoded as UTF-8 [MQTT-4.7.3-3]. */
  | 'too-long'
  /** Contains U+0000 [MQTT-4.7.3-2]. */
  | 'null-character'
  /** Contains a lone surrogate, which has no UTF-8 encoding [MQTT-1.5.3-1]. */
  | 'invalid-utf8'
  /** A topic name contains '+' or '#' [MQTT-3.3.2-2]. */
  | 'wildcard-in-topic-name'
  /** '#' is not a whole level, or not the last one [MQTT-4.7.1-2]. */
  | 'invalid-multi-level-wildcard'
  /** '+' is not a whole level [MQTT-4.7.1-3]. */
  | 'invalid-single-level-wildcard'
  /** More levels than {@link TopicRules.maxLevels}. */
  | 'too-many-levels'
  /** `$share/` without a non-empty share name free of '/', '+', '#', then '/', then a filter [MQTT-4.8.2-1], [MQTT-4.8.2-2]. */
  | 'invalid-shared-subscription'

/** A shared subscription's parts: `$share/{group}/{filter}`. */
export interface SharedFilter {
  group: string
  filter: string
}

const DEFAULT_MAX_LEVELS = 128
/** Maximum length of an MQTT UTF-8 encoded string, in bytes [MQTT-1.5.3], [MQTT-4.7.3-3]. */
const MAX_BYTES = 65535
const SHARE_PREFIX = '$share/'

const SLASH = 0x2f // '/'
const PLUS = 0x2b // '+'
const HASH = 0x23 // '#'
const DOLLAR = 0x24 // '$'

/**
 * Validates a topic name, as sent in PUBLISH or a will: non-empty, at most 65535 UTF-8 bytes, no U+0000, no
 * lone surrogate, no wildcard, at most `maxLevels` levels. Returns undefined when it is valid.
 */
export function validateTopicName(topic: string, rules?: TopicRules): TopicProblem | undefined {
  const len = topic.length
  if (len === 0) return 'empty' // [MQTT-4.7.3-1]
  if (len > MAX_BYTES) return 'too-long' // each UTF-16 code unit takes at least one UTF-8 byte
  return scan(topic, 0, false, rules?.maxLevels ?? DEFAULT_MAX_LEVELS, len)
}

/**
 * Validates a topic filter, as sent in SUBSCRIBE or UNSUBSCRIBE: the rules of topic names, except that '+'
 * may occupy a whole level and '#' the whole last level. With `shared` (the default), `$share/` must be
 * followed by a share name, '/', and a valid filter. Returns undefined when it is valid.
 */
export function validateTopicFilter(filter: string, rules?: TopicRules): TopicProblem | undefined {
  const len = filter.length
  if (len === 0) return 'empty' // [MQTT-4.7.3-1]
  if (len > MAX_BYTES) return 'too-long'
  const maxLevels = rules?.maxLevels ?? DEFAULT_MAX_LEVELS
  if (rules?.shared === false || !filter.startsWith(SHARE_PREFIX))
    return scan(filter, 0, true, maxLevels, len)

  // [MQTT-4.8.2-1] a share name at least one character long; [MQTT-4.8.2-2] without '/', '+' or '#',
  // followed by '/' and a topic filter.
  let i = SHARE_PREFIX.length
  let extraBytes = 0
  for (; i < len; i++) {
    const c = filter.charCodeAt(i)
    if (c === SLASH) break
    if (c === PLUS || c === HASH) return 'invalid-shared-subscription'
    if (c === 0) return 'null-character'
    if (c >= 0x80) {
      if (c < 0x800) extraBytes += 1
      else if (c < 0xd800 || c > 0xdfff) extraBytes += 2
      else if (isSurrogatePair(filter, i, c)) {
        i++ // 2 code units, 4 bytes
        extraBytes += 2
      } else return 'invalid-utf8' // [MQTT-1.5.3-1]
    }
  }
  if (i === SHARE_PREFIX.length || i >= len - 1) return 'invalid-shared-subscription'
  // The share name's '/' also ends the group: the inner filter is scanned from the next code unit.
  return scan(filter, i + 1, true, maxLevels, len + extraBytes)
}

/**
 * Scans `s` from `start`: counts levels (of the part from `start`) and UTF-8 bytes, checks wildcards when
 * `isFilter` and rejects them otherwise. `bytes` is the whole string's UTF-8 length as known so far,
 * counting one byte for each code unit from `start` on; the scan adds what non-ASCII code units need more.
 */
function scan(
  s: string,
  start: number,
  isFilter: boolean,
  maxLevels: number,
  bytes: number,
): TopicProblem | undefined {
  const len = s.length
  let levels = 1
  let extraBytes = 0
  for (let i = start; i < len; i++) {
    const c = s.charCodeAt(i)
    // Letters, digits and everything non-ASCII are above '/': the common case costs two comparisons.
    if (c > SLASH) {
      if (c < 0x80) continue
      if (c < 0x800) extraBytes += 1
      else if (c < 0xd800 || c > 0xdfff) extraBytes += 2
      else if (isSurrogatePair(s, i, c)) {
        i++ // 2 code units, 4 bytes
        extraBytes += 2
      } else return 'invalid-utf8' // [MQTT-1.5.3-1]
    } else if (c === SLASH) {
      if (++levels > maxLevels) return 'too-many-levels'
    } else if (c === PLUS) {
      if (!isFilter) return 'wildcard-in-topic-name' // [MQTT-3.3.2-2]
      // [MQTT-4.7.1-3] '+' occupies an entire level
      if (
        (i !== start && s.charCodeAt(i - 1) !== SLASH) ||
        (i + 1 !== len && s.charCodeAt(i + 1) !== SLASH)
      ) {
        return 'invalid-single-level-wildcard'
      }
    } else if (c === HASH) {
      if (!isFilter) return 'wildcard-in-topic-name' // [MQTT-3.3.2-2]
      // [MQTT-4.7.1-2] '#' is alone on its level, and that level is the last one
      if ((i !== start && s.charCodeAt(i - 1) !== SLASH) || i + 1 !== len)
        return 'invalid-multi-level-wildcard'
    } else if (c === 0) {
      return 'null-character' // [MQTT-4.7.3-2]
    }
  }
  if (bytes + extraBytes > MAX_BYTES) return 'too-long' // [MQTT-4.7.3-3]
  return undefined
}

/** Whether the surrogate `c` at `i` is a high surrogate followed by a low one (a lone one has no UTF-8 form). */
function isSurrogatePair(s: string, i: number, c: number): boolean {
  if (c > 0xdbff) return false // a low surrogate with no high surrogate before it
  const next = s.charCodeAt(i + 1) // NaN past the end
  return next >= 0xdc00 && next <= 0xdfff
}

/**
 * `$share/{group}/{filter}` -> `{ group, filter }`; undefined when it is not a shared subscription (or is
 * malformed: validate it first with {@link validateTopicFilter}).
 */
export function parseSharedFilter(filter: string): SharedFilter | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined
  const slash = filter.indexOf('/', SHARE_PREFIX.length)
  if (slash <= SHARE_PREFIX.length || slash === filter.length - 1) return undefined
  return { group: filter.slice(SHARE_PREFIX.length, slash), filter: filter.slice(slash + 1) }
}

/** True when the topic starts with '$' (`$SYS/...` and the like), which '#' and '+' at the start never match. */
export function isSystemTopic(topic: string): boolean {
  return topic.charCodeAt(0) === DOLLAR
}

/**
 * Naive reference matcher, exported for tests and for third parties: does `filter` match the topic name
 * `topic`? Splits both strings, so it allocates; brokers use {@link SubscriptionTrie} instead. The filter is
 * taken as given: pass the inner filter of a shared subscription.
 */
export function topicMatches(filter: string, topic: string): boolean {
  // [MQTT-4.7.2-1] a filter starting with a wildcard does not match a topic starting with '$'
  const first = filter.charCodeAt(0)
  if ((first === PLUS || first === HASH) && topic.charCodeAt(0) === DOLLAR) return false
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    const level = f[i]
    // '#' matches the parent level and any number of child levels [MQTT-4.7.1-2]
    if (level === '#') return true
    if (i >= t.length) return false
    // '+' matches exactly one level, an empty one included [MQTT-4.7.1-3]
    if (level !== '+' && level !== t[i]) return false
  }
  return f.length === t.length
}
