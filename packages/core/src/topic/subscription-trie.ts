/**
 * A trie of topic filters keyed by level, for matching a PUBLISH topic against every subscription without
 * scanning them all (MQTT 3.1.1 and 5.0 section 4.7).
 */

const PLUS = 0x2b // '+'
const HASH = 0x23 // '#'
const DOLLAR = 0x24 // '$'

/** Past this many entries on one filter, a key -> index map replaces the linear key search. */
const INDEX_ABOVE = 8

/** Returned internally when an entry does not exist, since `T` itself may include undefined. */
const MISSING: unique symbol = Symbol('missing')

/**
 * One level of the trie. Every field is set in the constructor so all nodes share one V8 shape. Containers
 * are created on first use, and a node with one literal child keeps it inline (`sole`) instead of in a Map:
 * most nodes of a large trie have one child, and matching is bound by memory reads more than by compute.
 */
class TrieNode<T> {
  /** The only literal child, while there is exactly one (then `children` is null). */
  sole: TrieNode<T> | null = null
  /** The level of `sole`; '' when there is none. */
  soleLevel = ''
  /** Children for literal levels, while there are two or more (then `sole` is null). */
  children: Map<string, TrieNode<T>> | null = null
  /** Child for a '+' level. */
  plus: TrieNode<T> | null = null
  /** Child for a '#' level: it holds the entries of `{this node's filter}/#` and has no children. */
  hash: TrieNode<T> | null = null
  /** The entries whose filter ends here, interleaved in one array (one read less than two): key, value, ... */
  entries: (string | T)[] | null = null
  /** key -> position of the key in `entries`, kept only while there are more than INDEX_ABOVE entries. */
  index: Map<string, number> | null = null
  /** The filter of the entries here (as given to `add`), or '' while there are none. */
  filter = ''
}

/**
 * For tests only, not exported by the package: the number of nodes in the trie, root included. A trie
 * whose entries were all removed has exactly one.
 * @internal
 */
export let countNodes: <T>(trie: SubscriptionTrie<T>) => number

/** Called by {@link SubscriptionTrie.forEachMatch} once per matching (filter, key) entry. */
export type MatchVisitor<T> = (value: T, key: string, filter: string) => void

/**
 * Subscriptions indexed by topic filter. An entry is a (filter, key, value) triple: the key is usually a
 * client identifier, so one filter holds one entry per subscribed client. Filters are taken as given:
 * validate them first with `validateTopicFilter`, and store a shared subscription under its inner filter.
 *
 * Matching follows MQTT section 4.7: '+' matches exactly one level (an empty one included), '#' matches
 * the parent level and any number of children, and a filter starting with '+' or '#' does not match a
 * topic starting with '$' [MQTT-4.7.2-1].
 *
 * Do not add or remove entries from inside a visitor.
 */
export class SubscriptionTrie<T> {
  private readonly root = new TrieNode<T>()
  private count = 0

  static {
    countNodes = (trie) => countFrom(trie.root)
  }

  /** Number of (filter, key) entries. */
  get size(): number {
    return this.count
  }

  /** Adds or replaces the entry for (filter, key). Returns true when it was new, false when it replaced one. */
  add(filter: string, key: string, value: T): boolean {
    const len = filter.length
    let node = this.root
    let start = 0
    for (;;) {
      let end = filter.indexOf('/', start)
      if (end === -1) end = len
      node = childOrCreate(node, filter, start, end)
      if (end === len) break
      start = end + 1
    }

    const entries = node.entries
    if (entries === null) {
      node.entries = [key, value]
      node.filter = filter
      this.count++
      return true
    }
    const i = positionOf(node, entries, key)
    if (i !== -1) {
      entries[i + 1] = value
      return false
    }
    entries.push(key, value)
    if (node.index !== null) node.index.set(key, entries.length - 2)
    else if (entries.length > 2 * INDEX_ABOVE) node.index = buildIndex(entries)
    this.count++
    return true
  }

  /** Removes (filter, key) and returns its value. Nodes left empty are pruned. */
  remove(filter: string, key: string): T | undefined {
    const removed = this.removeBelow(this.root, filter, 0, key)
    if (removed === MISSING) return undefined
    this.count--
    return removed
  }

  /** The value of (filter, key), if there is one. */
  get(filter: string, key: string): T | undefined {
    const len = filter.length
    let node: TrieNode<T> | undefined = this.root
    let start = 0
    for (;;) {
      let end = filter.indexOf('/', start)
      if (end === -1) end = len
      node = childOf(node, filter, start, end)
      if (node === undefined) return undefined
      if (end === len) break
      start = end + 1
    }
    const entries = node.entries
    if (entries === null) return undefined
    const i = positionOf(node, entries, key)
    return i === -1 ? undefined : (entries[i + 1] as T)
  }

  /**
   * Calls `visit` once per (filter, key) entry whose filter matches the topic name `topic`, in no
   * particular order. Allocates nothing but the level strings it looks up.
   */
  forEachMatch(topic: string, visit: MatchVisitor<T>): void {
    // [MQTT-4.7.2-1] no wildcard at the first level matches a topic starting with '$'
    this.walk(this.root, topic, 0, topic.charCodeAt(0) !== DOLLAR, visit, null)
  }

  /** All values whose filter matches `topic`, in no particular order. */
  match(topic: string): T[] {
    const out: T[] = []
    this.walk(this.root, topic, 0, topic.charCodeAt(0) !== DOLLAR, null, out)
    return out
  }

  /**
   * Visits the entries under `node` that match the levels of `topic` from `start` on (at least one level
   * is left). `wild` is false only at the root for a '$' topic. Entries go to `out` when it is given,
   * otherwise to `visit`: one walker for both, with no closure per call.
   */
  private walk(
    node: TrieNode<T>,
    topic: string,
    start: number,
    wild: boolean,
    visit: MatchVisitor<T> | null,
    out: T[] | null,
  ): void {
    // '#' below this node matches whatever levels are left.
    if (node.hash !== null && wild) emit(node.hash, visit, out)
    const len = topic.length
    let end = topic.indexOf('/', start)
    if (end === -1) end = len

    const sole = node.sole
    if (sole !== null) {
      // No substring needed to compare with a single child.
      if (isLevel(node.soleLevel, topic, start, end)) {
        if (end === len) emitEnd(sole, visit, out)
        else this.walk(sole, topic, end + 1, true, visit, out)
      }
    } else if (node.children !== null) {
      const child = node.children.get(topic.slice(start, end))
      if (child !== undefined) {
        if (end === len) emitEnd(child, visit, out)
        else this.walk(child, topic, end + 1, true, visit, out)
      }
    }
    const plus = node.plus
    if (plus !== null && wild) {
      if (end === len) emitEnd(plus, visit, out)
      else this.walk(plus, topic, end + 1, true, visit, out)
    }
  }

  /** Removes `key` from the filter's node below `node`, then prunes the child it went through if empty. */
  private removeBelow(node: TrieNode<T>, filter: string, start: number, key: string): T | typeof MISSING {
    let end = filter.indexOf('/', start)
    if (end === -1) end = filter.length
    const child = childOf(node, filter, start, end)
    if (child === undefined) return MISSING
    const removed =
      end === filter.length ? removeEntry(child, key) : this.removeBelow(child, filter, end + 1, key)
    if (removed !== MISSING && isEmpty(child)) detach(node, filter, start, end)
    return removed
  }
}

function countFrom<T>(node: TrieNode<T>): number {
  let n = 1
  if (node.plus !== null) n += countFrom(node.plus)
  if (node.hash !== null) n += countFrom(node.hash)
  if (node.sole !== null) n += countFrom(node.sole)
  if (node.children !== null) for (const child of node.children.values()) n += countFrom(child)
  return n
}

/** The entries of the node where a filter ends, plus those of `{filter}/#`, which matches its parent. */
function emitEnd<T>(node: TrieNode<T>, visit: MatchVisitor<T> | null, out: T[] | null): void {
  emit(node, visit, out)
  if (node.hash !== null) emit(node.hash, visit, out)
}

function emit<T>(node: TrieNode<T>, visit: MatchVisitor<T> | null, out: T[] | null): void {
  const entries = node.entries
  if (entries === null) return
  const n = entries.length
  if (out !== null) {
    for (let i = 1; i < n; i += 2) out.push(entries[i] as T)
  } else {
    const filter = node.filter
    for (let i = 0; i < n; i += 2)
      (visit as MatchVisitor<T>)(entries[i + 1] as T, entries[i] as string, filter)
  }
}

function isWildcard(s: string, start: number, end: number, c: number): boolean {
  return end - start === 1 && s.charCodeAt(start) === c
}

function childOrCreate<T>(node: TrieNode<T>, filter: string, start: number, end: number): TrieNode<T> {
  if (isWildcard(filter, start, end, PLUS)) {
    if (node.plus === null) node.plus = new TrieNode()
    return node.plus
  }
  if (isWildcard(filter, start, end, HASH)) {
    if (node.hash === null) node.hash = new TrieNode()
    return node.hash
  }
  const children = node.children
  if (children !== null) {
    const level = filter.slice(start, end)
    let child = children.get(level)
    if (child === undefined) {
      child = new TrieNode()
      children.set(level, child)
    }
    return child
  }
  const sole = node.sole
  if (sole !== null && isLevel(node.soleLevel, filter, start, end)) return sole
  const child = new TrieNode<T>()
  if (sole === null) {
    node.sole = child
    node.soleLevel = filter.slice(start, end)
  } else {
    // A second literal child: both move to a Map.
    node.children = new Map([
      [node.soleLevel, sole],
      [filter.slice(start, end), child],
    ])
    node.sole = null
    node.soleLevel = ''
  }
  return child
}

/** Whether `s.slice(start, end)` equals `level`, without allocating the slice. */
function isLevel(level: string, s: string, start: number, end: number): boolean {
  return end - start === level.length && s.startsWith(level, start)
}

function childOf<T>(node: TrieNode<T>, filter: string, start: number, end: number): TrieNode<T> | undefined {
  if (isWildcard(filter, start, end, PLUS)) return node.plus ?? undefined
  if (isWildcard(filter, start, end, HASH)) return node.hash ?? undefined
  if (node.sole !== null) return isLevel(node.soleLevel, filter, start, end) ? node.sole : undefined
  return node.children?.get(filter.slice(start, end))
}

function detach<T>(node: TrieNode<T>, filter: string, start: number, end: number): void {
  if (isWildcard(filter, start, end, PLUS)) node.plus = null
  else if (isWildcard(filter, start, end, HASH)) node.hash = null
  else if (node.sole !== null) {
    node.sole = null
    node.soleLevel = ''
  } else if (node.children !== null) {
    const children = node.children
    children.delete(filter.slice(start, end))
    if (children.size === 1) {
      // Back to one child: keep it inline again.
      for (const [level, child] of children) {
        node.sole = child
        node.soleLevel = level
      }
      node.children = null
    }
  }
}

function isEmpty<T>(node: TrieNode<T>): boolean {
  return (
    node.entries === null &&
    node.sole === null &&
    node.children === null &&
    node.plus === null &&
    node.hash === null
  )
}

/** Position of `key` in `entries` (always even), or -1. */
function positionOf<T>(node: TrieNode<T>, entries: (string | T)[], key: string): number {
  if (node.index !== null) return node.index.get(key) ?? -1
  // Only even positions hold keys: a value may equal a key when T is string.
  for (let i = 0; i < entries.length; i += 2) if (entries[i] === key) return i
  return -1
}

function buildIndex<T>(entries: (string | T)[]): Map<string, number> {
  const index = new Map<string, number>()
  for (let i = 0; i < entries.length; i += 2) index.set(entries[i] as string, i)
  return index
}

/** Removes `key` from the node's entries by moving the last entry into its place. */
function removeEntry<T>(node: TrieNode<T>, key: string): T | typeof MISSING {
  const entries = node.entries
  if (entries === null) return MISSING
  const i = positionOf(node, entries, key)
  if (i === -1) return MISSING
  const removed = entries[i + 1] as T
  const last = entries.length - 2
  if (last === 0) {
    node.entries = null
    node.index = null
    node.filter = ''
    return removed
  }
  const lastKey = entries[last] as string
  entries[i] = lastKey
  entries[i + 1] = entries[last + 1] as T
  entries.length = last
  const index = node.index
  if (index !== null) {
    if (last <= INDEX_ABOVE)
      node.index = null // `last` is now twice the entry count
    else {
      index.set(lastKey, i)
      index.delete(key)
    }
  }
  return removed
}
