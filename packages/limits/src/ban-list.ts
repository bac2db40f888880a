import { BlockList, isIP } from 'node:net'

/**
 * What a ban matches: one client id, username or address. Client ids and usernames match exactly, or as a
 * glob when they hold `*` (any run of characters) or `?` (one character). An address is an IP address or a
 * CIDR range (`10.0.0.0/8`, `2001:db8::/32`).
 */
export type BanRule = { clientId: string } | { username: string } | { address: string }

export type BanKind = 'clientId' | 'username' | 'address'

/** A ban in force. */
export interface Ban {
  kind: BanKind
  pattern: string
  /** Epoch milliseconds when it ends; undefined: until `unban`. */
  until: number | undefined
  /** Why: given to `ban()`, or `flapping` / `auth-failures` for the automatic bans. */
  reason: string | undefined
}

/** Why a plain value is not a ban rule, or undefined when it is one. */
export function checkBanRule(rule: unknown): string | undefined {
  if (typeof rule !== 'object' || rule === null || Array.isArray(rule))
    return 'must be an object with one of clientId, username, address'
  const keys = Object.keys(rule)
  if (keys.length !== 1 || !['clientId', 'username', 'address'].includes(keys[0]!))
    return `must have exactly one of clientId, username, address (got ${keys.join(', ') || 'none'})`
  const value = (rule as Record<string, unknown>)[keys[0]!]
  if (typeof value !== 'string' || value === '') return `${keys[0]} must be a non-empty string`
  if (keys[0] === 'address' && parseAddress(value) === undefined)
    return `address must be an IP address or a CIDR range, got "${value}"`
  return undefined
}

/** The kind and pattern of a rule already checked. */
export function ruleOf(rule: BanRule): { kind: BanKind; pattern: string } {
  if ('clientId' in rule) return { kind: 'clientId', pattern: rule.clientId }
  if ('username' in rule) return { kind: 'username', pattern: rule.username }
  return { kind: 'address', pattern: rule.address }
}

/** An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) as IPv4, so one rule covers both forms. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address
}

function parseAddress(
  pattern: string,
): { address: string; prefix: number | undefined; family: 'ipv4' | 'ipv6' } | undefined {
  const slash = pattern.indexOf('/')
  const address = normalizeAddress(slash < 0 ? pattern : pattern.slice(0, slash))
  const version = isIP(address)
  if (version === 0) return undefined
  const family = version === 4 ? 'ipv4' : 'ipv6'
  if (slash < 0) return { address, prefix: undefined, family }
  const text = pattern.slice(slash + 1)
  const prefix = Number(text)
  if (!/^\d+$/.test(text) || prefix > (version === 4 ? 32 : 128)) return undefined
  return { address, prefix, family }
}

function globToRegExp(glob: string): RegExp {
  const source = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.')
  return new RegExp(`^${source}$`, 's')
}

const isGlob = (pattern: string): boolean => pattern.includes('*') || pattern.includes('?')

/**
 * The bans in force. Exact client ids and usernames are one Map read; globs are tested in turn (there are
 * few); addresses go through a `BlockList`, rebuilt when the address bans change. A ban past its `until`
 * is dropped when it is next looked at.
 */
export class BanList {
  readonly #exact = { clientId: new Map<string, Ban>(), username: new Map<string, Ban>() }
  readonly #globs: Array<{ ban: Ban; regexp: RegExp }> = []
  readonly #addresses = new Map<string, Ban>()
  #blockList: BlockList | undefined = undefined
  readonly #now: () => number
  /** The size at which `add` next drops the bans that have ended (doubling, so the work is amortised). */
  #pruneAt = 1024

  constructor(now: () => number) {
    this.#now = now
  }

  /** Adds (or replaces) the ban of `kind` `pattern`. */
  add(ban: Ban): void {
    this.remove(ban.kind, ban.pattern)
    if (this.size >= this.#pruneAt) {
      this.list()
      this.#pruneAt = Math.max(1024, this.size * 2)
    }
    if (ban.kind === 'address') {
      this.#addresses.set(ban.pattern, ban)
      this.#blockList = undefined
    } else if (isGlob(ban.pattern)) this.#globs.push({ ban, regexp: globToRegExp(ban.pattern) })
    else this.#exact[ban.kind].set(ban.pattern, ban)
  }

  /** Removes the ban of exactly this kind and pattern; true when there was one. */
  remove(kind: BanKind, pattern: string): boolean {
    if (kind === 'address') {
      const removed = this.#addresses.delete(pattern)
      if (removed) this.#blockList = undefined
      return removed
    }
    if (this.#exact[kind].delete(pattern)) return true
    const i = this.#globs.findIndex(({ ban }) => ban.kind === kind && ban.pattern === pattern)
    if (i < 0) return false
    this.#globs.splice(i, 1)
    return true
  }

  /** Every ban in force; those that have ended are dropped. */
  list(): Ban[] {
    const now = this.#now()
    const all = [
      ...this.#exact.clientId.values(),
      ...this.#exact.username.values(),
      ...this.#globs.map(({ ban }) => ban),
      ...this.#addresses.values(),
    ]
    const live = all.filter((ban) => {
      if (ban.until === undefined || ban.until > now) return true
      this.remove(ban.kind, ban.pattern)
      return false
    })
    return live.map((ban) => ({ ...ban }))
  }

  get size(): number {
    return this.#exact.clientId.size + this.#exact.username.size + this.#globs.length + this.#addresses.size
  }

  /** The ban that matches `value` of `kind`, if one is in force. */
  match(kind: BanKind, value: string | undefined): Ban | undefined {
    if (value === undefined || this.size === 0) return undefined
    const now = this.#now()
    if (kind === 'address') return this.#matchAddress(normalizeAddress(value), now)
    const exact = this.#exact[kind].get(value)
    if (exact !== undefined && this.#live(exact, now)) return exact
    for (const { ban, regexp } of this.#globs) {
      if (ban.kind === kind && regexp.test(value) && this.#live(ban, now)) return ban
    }
    return undefined
  }

  #matchAddress(address: string, now: number): Ban | undefined {
    if (this.#addresses.size === 0) return undefined
    const family = isIP(address)
    if (family === 0) return undefined
    const exact = this.#addresses.get(address)
    if (exact !== undefined && this.#live(exact, now)) return exact
    this.#blockList ??= this.#buildBlockList()
    if (!this.#blockList.check(address, family === 4 ? 'ipv4' : 'ipv6')) return undefined
    // Few address bans: find the range that matched, for its expiry and reason.
    for (const ban of this.#addresses.values()) {
      const one = new BlockList()
      addRule(one, ban.pattern)
      if (one.check(address, family === 4 ? 'ipv4' : 'ipv6') && this.#live(ban, now)) return ban
    }
    return undefined
  }

  #buildBlockList(): BlockList {
    const list = new BlockList()
    for (const pattern of this.#addresses.keys()) addRule(list, pattern)
    return list
  }

  /** A ban past its end no longer matches; `list()` (and `add` now and then) drops it. */
  #live(ban: Ban, now: number): boolean {
    return ban.until === undefined || ban.until > now
  }
}

function addRule(list: BlockList, pattern: string): void {
  const parsed = parseAddress(pattern)!
  if (parsed.prefix === undefined) list.addAddress(parsed.address, parsed.family)
  else list.addSubnet(parsed.address, parsed.prefix, parsed.family)
}
