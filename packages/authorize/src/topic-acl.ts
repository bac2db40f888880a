import {
  type CallbackHandlers,
  type Client,
  type Done,
  ErrorCode,
  Middleware,
  MqttStackError,
  type Next,
  type Packet,
  parseSharedFilter,
  topicMatches,
  validateTopicFilter,
} from '@mqtt-stack/core'
import { filterCovers } from './filter-covers.js'
import { TOPIC_ACL_DEFAULTS, type TopicAccess, type TopicAclOptions, type TopicAclRule } from './options.js'
import { type AuthorizeState, authorizeState } from './state.js'

const ACCESS: ReadonlySet<string> = new Set<TopicAccess>(['read', 'write', 'readwrite', 'deny'])
const PLACEHOLDER = /%[cu]/g

interface Rule {
  readonly pattern: string
  readonly read: boolean
  readonly write: boolean
  readonly deny: boolean
  readonly users: ReadonlySet<string> | undefined
  /** Whether `pattern` has `%c` or `%u`. */
  readonly template: boolean
  /** Whether the pattern starts with a placeholder (a value starting with `$` would make a `$` topic). */
  readonly leading: boolean
}

/** The rules as they apply to one connection: a pattern per rule, `undefined` where the rule does not apply. */
interface Resolved {
  /** The rules these patterns were made from: after `setRules`, they are made again. */
  rules: readonly Rule[]
  clientId: string
  username: string | undefined
  patterns: Array<string | undefined>
}

/**
 * An ACL of topic rules in the manner of mosquitto's: answers `authorizePublish` (write access),
 * `authorizeSubscribe` (read access covering the whole filter) and, with `checkOnForward`, `authorizeForward`.
 * `%c` and `%u` in a rule stand for the client identifier and the CONNECT username; a value that contains
 * `/`, `+`, `#` or NUL (or starts with `$` where the pattern starts with it) never substitutes, so the rule
 * does not apply to that client. Rules are checked in order and the first that applies decides.
 *
 * It records the username from CONNECT itself (`handle`), so `use()` it before SessionManager.
 */
export class TopicAcl extends Middleware<TopicAclOptions> {
  override readonly name = 'topic-acl'
  override readonly packetTypes = ['connect'] as const
  override readonly roles = ['acl']
  override readonly before = ['session-manager']
  #rules: readonly Rule[]
  readonly #allowByDefault: boolean

  constructor(config: Partial<TopicAclOptions> = {}) {
    super(config, TOPIC_ACL_DEFAULTS)
    const { rules, checkOnForward } = this.config
    if (this.config.default !== 'deny' && this.config.default !== 'allow')
      throw invalid(`default must be 'deny' or 'allow', not ${JSON.stringify(this.config.default)}`)
    if (typeof checkOnForward !== 'boolean') throw invalid('checkOnForward must be a boolean')
    if (!Array.isArray(rules)) throw invalid('rules must be an array')
    this.#rules = rules.map(compile)
    this.#allowByDefault = this.config.default === 'allow'
  }

  /**
   * Replaces the rules in place (a broker reloading its ACL file): connected clients stay, and each check
   * from now on meets the new rules. Validated like the `rules` option; on a bad rule nothing changes.
   */
  setRules(rules: readonly TopicAclRule[]): void {
    if (!Array.isArray(rules)) throw invalid('rules must be an array')
    this.#rules = rules.map(compile)
  }

  override handle(client: Client, packet: Packet, next: Next, _done: Done): void {
    const state = authorizeState(client.state)
    // Only the first CONNECT counts; a second one is a protocol violation that connection closes.
    if (packet.cmd === 'connect' && !client.connackSent) {
      state.username = packet.username
      state.connectClientId = packet.clientId
    }
    next()
  }

  override callbacks(): CallbackHandlers {
    const handlers: CallbackHandlers = {
      authorizePublish: (ctx, store, next, done) => {
        if (this.#allowed(ctx.client, ctx.packet.topic, false)) {
          store.authorized = true
          return next()
        }
        store.authorized = false
        done()
      },
      authorizeSubscribe: (ctx, store, next, done) => {
        const topic = ctx.subscription.topic
        const filter = parseSharedFilter(topic)?.filter ?? topic
        if (this.#allowed(ctx.client, filter, true)) {
          store.authorized = true
          return next()
        }
        store.authorized = false
        done()
      },
    }
    if (this.config.checkOnForward) {
      handlers.authorizeForward = (ctx, store, next, done) => {
        if (this.#allowed(ctx.client, ctx.packet.topic, 'forward')) {
          store.authorized = true
          return next()
        }
        store.authorized = false
        done()
      }
    }
    return handlers
  }

  /**
   * `read`: a subscription filter (covered by a read rule); `forward`: a topic delivered (matched by a read
   * rule); `false`: a topic published (matched by a write rule). The first applicable rule decides.
   */
  #allowed(client: Client, topic: string, read: boolean | 'forward'): boolean {
    const patterns = this.#resolve(client)
    const rules = this.#rules
    for (let i = 0; i < rules.length; i++) {
      const pattern = patterns[i]
      if (pattern === undefined) continue
      const rule = rules[i]!
      if (!rule.deny && !(read ? rule.read : rule.write)) continue
      const applies = read === true ? filterCovers(pattern, topic) : topicMatches(pattern, topic)
      if (applies) return !rule.deny
    }
    return this.#allowByDefault
  }

  /** The rules with `%c` and `%u` replaced for this connection, computed once per client id. */
  #resolve(client: Client): ReadonlyArray<string | undefined> {
    const state = authorizeState(client.state)
    const clientId = client.id || state.connectClientId
    const cached = state.acl as Resolved | undefined
    if (
      cached !== undefined &&
      cached.rules === this.#rules &&
      cached.clientId === clientId &&
      cached.username === state.username
    )
      return cached.patterns
    const resolved: Resolved = {
      rules: this.#rules,
      clientId,
      username: state.username,
      patterns: this.#rules.map((rule) => substitute(rule, clientId, state)),
    }
    state.acl = resolved
    return resolved.patterns
  }
}

function substitute(rule: Rule, clientId: string, state: AuthorizeState): string | undefined {
  const { username } = state
  if (rule.users !== undefined && (username === undefined || !rule.users.has(username))) return undefined
  if (!rule.template) return rule.pattern
  let safe = true
  // One pass, so a client id containing "%u" is never expanded a second time.
  const pattern = rule.pattern.replace(PLACEHOLDER, (placeholder, offset: number) => {
    const value = placeholder === '%c' ? clientId : username
    if (value === undefined || !substitutable(value, rule.leading && offset === 0)) safe = false
    return value ?? ''
  })
  return safe ? pattern : undefined
}

/** A value may stand for a level only when it cannot widen the rule: no '/', '+', '#' or NUL, not empty. */
function substitutable(value: string, leading: boolean): boolean {
  if (value.length === 0) return false
  if (leading && value.charCodeAt(0) === 36 /* $ */) return false
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c === 47 /* / */ || c === 43 /* + */ || c === 35 /* # */ || c === 0) return false
  }
  return true
}

function compile(rule: TopicAclRule, index: number): Rule {
  if (typeof rule !== 'object' || rule === null) throw invalid(`rules[${index}] must be an object`)
  const { topic, access, users } = rule
  if (typeof topic !== 'string') throw invalid(`rules[${index}].topic must be a string`)
  // Checked with the placeholders standing for a plain level.
  const problem = validateTopicFilter(topic.replace(PLACEHOLDER, 'x'), { shared: false })
  if (problem) throw invalid(`rules[${index}].topic "${topic}" is not a valid topic filter (${problem})`)
  if (!ACCESS.has(access)) throw invalid(`rules[${index}].access must be read, write, readwrite or deny`)
  if (users !== undefined && (!Array.isArray(users) || users.some((user) => typeof user !== 'string')))
    throw invalid(`rules[${index}].users must be an array of usernames`)
  return {
    pattern: topic,
    read: access === 'read' || access === 'readwrite',
    write: access === 'write' || access === 'readwrite',
    deny: access === 'deny',
    users: users === undefined ? undefined : new Set(users),
    template: /%[cu]/.test(topic),
    leading: topic.startsWith('%c') || topic.startsWith('%u'),
  }
}

function invalid(message: string): MqttStackError {
  return new MqttStackError(ErrorCode.INVALID_OPTION, `TopicAcl: ${message}`)
}
