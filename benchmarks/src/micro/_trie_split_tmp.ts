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
 * One level of the trie. Every field is set in the constructor so all nodes share one V8 shape; containers
 * are created on first use because most nodes have a single child and no entries.
 */
class TrieNode<T> {
  /** Children for literal levels. */
  children: Map<string, TrieNode<T>> | null = null
  /** Child for a '+' level. */
  plus: TrieNode<T> | null = null
  /** Child for a '#' level: it holds the entries of `{this node's filter}/#` and has no children. */
  hash: TrieNode<T> | null = null
  /** Keys of the entries whose filter ends here; their values are at the same index in `values`. */
  keys: string[] | null = null
  values: T[] | null = null
  /** key -> index in `keys`, kept only while there are more than INDEX_ABOVE entries. */
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

    const keys = node.keys
    if (keys === null) {
      node.keys = [key]
      node.values = [value]
      node.filter = filter
      this.count++
      return true
    }
    const values = node.values as T[]
    const i = indexOfKey(node, keys, key)
    if (i !== -1) {
      values[i] = value
      return false
    }
    keys.push(key)
    values.push(value)
    if (node.index !== null) node.index.set(key, keys.length - 1)
    else if (keys.length > INDEX_ABOVE) node.index = buildIndex(keys)
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
    const keys = node.keys
    if (keys === null) return undefined
    const i = indexOfKey(node, keys, key)
    return i === -1 ? undefined : (node.values as T[])[i]
  }

  /**
   * Calls `visit` once per (filter, key) entry whose filter matches the topic name `topic`, in no
   * particular order. Allocates nothing but the level strings it looks up.
   */
  forEachMatch(topic: string, visit: MatchVisitor<T>): void {
    const levels = topic.split('/')
    this.walkS(this.root, levels, 0, topic.charCodeAt(0) !== DOLLAR, visit, null)
  }
  match(topic: string): T[] {
    const out: T[] = []
    this.walkS(this.root, topic.split('/'), 0, topic.charCodeAt(0) !== DOLLAR, null, out)
    return out
  }
  private walkS(
    node: TrieNode<T>,
    levels: string[],
    i: number,
    wild: boolean,
    visit: MatchVisitor<T> | null,
    out: T[] | null,
  ): void {
    if (node.hash !== null && wild) emit(node.hash, visit, out)
    const last = i === levels.length - 1
    const children = node.children
    if (children !== null) {
      const child = children.get(levels[i] as string)
      if (child !== undefined) {
        if (last) emitEnd(child, visit, out)
        else this.walkS(child, levels, i + 1, true, visit, out)
      }
    }
    const plus = node.plus
    if (plus !== null && wild) {
      if (last) emitEnd(plus, visit, out)
      else this.walkS(plus, levels, i + 1, true, visit, out)
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
  if (node.children !== null) for (const child of node.children.values()) n += countFrom(child)
  return n
}

/** The entries of the node where a filter ends, plus those of `{filter}/#`, which matches its parent. */
function emitEnd<T>(node: TrieNode<T>, visit: MatchVisitor<T> | null, out: T[] | null): void {
  emit(node, visit, out)
  if (node.hash !== null) emit(node.hash, visit, out)
}

function emit<T>(node: TrieNode<T>, visit: MatchVisitor<T> | null, out: T[] | null): void {
  const keys = node.keys
  if (keys === null) return
  const values = node.values as T[]
  const n = keys.length
  if (out !== null) {
    for (let i = 0; i < n; i++) out.push(values[i] as T)
  } else {
    const filter = node.filter
    for (let i = 0; i < n; i++) (visit as MatchVisitor<T>)(values[i] as T, keys[i] as string, filter)
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
  const level = filter.slice(start, end)
  let children = node.children
  if (children === null) {
    children = new Map()
    node.children = children
  }
  let child = children.get(level)
  if (child === undefined) {
    child = new TrieNode()
    children.set(level, child)
  }
  return child
}

function childOf<T>(node: TrieNode<T>, filter: string, start: number, end: number): TrieNode<T> | undefined {
  if (isWildcard(filter, start, end, PLUS)) return node.plus ?? undefined
  if (isWildcard(filter, start, end, HASH)) return node.hash ?? undefined
  return node.children?.get(filter.slice(start, end))
}

function detach<T>(node: TrieNode<T>, filter: string, start: number, end: number): void {
  if (isWildcard(filter, start, end, PLUS)) node.plus = null
  else if (isWildcard(filter, start, end, HASH)) node.hash = null
  else if (node.children !== null) {
    node.children.delete(filter.slice(start, end))
    if (node.children.size === 0) node.children = null
  }
}

function isEmpty<T>(node: TrieNode<T>): boolean {
  return node.keys === null && node.children === null && node.plus === null && node.hash === null
}

function indexOfKey<T>(node: TrieNode<T>, keys: string[], key: string): number {
  if (node.index !== null) return node.index.get(key) ?? -1
  return keys.indexOf(key)
}

function buildIndex(keys: string[]): Map<string, number> {
  const index = new Map<string, number>()
  for (let i = 0; i < keys.length; i++) index.set(keys[i] as string, i)
  return index
}

/** Removes `key` from the node's entries by moving the last entry into its slot. */
function removeEntry<T>(node: TrieNode<T>, key: string): T | typeof MISSING {
  const keys = node.keys
  if (keys === null) return MISSING
  const values = node.values as T[]
  const i = indexOfKey(node, keys, key)
  if (i === -1) return MISSING
  const removed = values[i] as T
  const last = keys.length - 1
  if (last === 0) {
    node.keys = null
    node.values = null
    node.index = null
    node.filter = ''
    return removed
  }
  const lastKey = keys[last] as string
  keys[i] = lastKey
  values[i] = values[last] as T
  keys.pop()
  values.pop()
  const index = node.index
  if (index !== null) {
    if (last <= INDEX_ABOVE / 2) node.index = null
    else {
      index.set(lastKey, i)
      index.delete(key)
    }
  }
  return removed
}
