/**
 * Retained messages indexed by topic level, so a SUBSCRIBE with wildcards finds its retained messages by
 * walking only the branches its filter allows instead of testing every stored topic.
 */

const PLUS = 0x2b // '+'
const HASH = 0x23 // '#'
const DOLLAR = 0x24 // '$'

/** One level of a stored topic. All fields are set in the constructor so nodes share one V8 shape. */
class TopicNode<T> {
  children: Map<string, TopicNode<T>> | null = null
  /** Whether a value is stored for the topic that ends here (`value` may legitimately be undefined). */
  hasValue = false
  value: T | undefined = undefined
  /** The topic name that ends here (as given to `set`), or '' while there is no value. */
  topic = ''
}

/**
 * For tests only, not exported by the package: the number of nodes in the index, root included. An index
 * whose topics were all deleted has exactly one.
 * @internal
 */
export let countNodes: <T>(index: RetainedIndex<T>) => number

/** Called by {@link RetainedIndex.forEachMatch} once per stored topic that matches. */
export type RetainedVisitor<T> = (value: T, topic: string) => void

/**
 * One value per topic name (usually the retained message), looked up by exact name or by topic filter.
 * Topic names are taken as given: validate them first with `validateTopicName`.
 *
 * A filter matches as in MQTT section 4.7, including [MQTT-4.7.2-1]: a filter starting with '+' or '#'
 * does not match a topic starting with '$'. Do not set or delete topics from inside a visitor.
 */
export class RetainedIndex<T> {
  private readonly root = new TopicNode<T>()
  private count = 0

  static {
    countNodes = (index) => countFrom(index.root)
  }

  /** Number of stored topics. */
  get size(): number {
    return this.count
  }

  /**
   * Stores `value` under the exact topic name `topic` (no wildcards), replacing the previous one; returns the
   * value it replaced, if any.
   */
  set(topic: string, value: T): T | undefined {
    const len = topic.length
    let node = this.root
    let start = 0
    for (;;) {
      let end = topic.indexOf('/', start)
      if (end === -1) end = len
      const level = topic.slice(start, end)
      let children = node.children
      if (children === null) {
        children = new Map()
        node.children = children
      }
      let child = children.get(level)
      if (child === undefined) {
        child = new TopicNode()
        children.set(level, child)
      }
      node = child
      if (end === len) break
      start = end + 1
    }
    const previous = node.hasValue ? node.value : undefined
    if (!node.hasValue) {
      node.hasValue = true
      node.topic = topic
      this.count++
    }
    node.value = value
    return previous
  }

  /** Removes the value stored under `topic`; returns whether there was one. Nodes left empty are pruned. */
  delete(topic: string): boolean {
    if (!deleteBelow(this.root, topic, 0)) return false
    this.count--
    return true
  }

  /** The value stored under the exact topic name `topic`. */
  get(topic: string): T | undefined {
    const node = find(this.root, topic)
    return node?.value
  }

  /**
   * Calls `visit` for every stored topic that `filter` matches, in no particular order. Walks only the
   * branches the filter allows: a literal level is one map lookup, '+' visits the children of one node,
   * '#' the subtree below it.
   */
  forEachMatch(filter: string, visit: RetainedVisitor<T>): void {
    walk(this.root, filter, 0, visit, null)
  }

  /** All values whose topic `filter` matches, in no particular order. */
  match(filter: string): T[] {
    const out: T[] = []
    walk(this.root, filter, 0, null, out)
    return out
  }
}

function countFrom<T>(node: TopicNode<T>): number {
  let n = 1
  if (node.children !== null) for (const child of node.children.values()) n += countFrom(child)
  return n
}

function find<T>(root: TopicNode<T>, topic: string): TopicNode<T> | undefined {
  const len = topic.length
  let node: TopicNode<T> | undefined = root
  let start = 0
  for (;;) {
    let end = topic.indexOf('/', start)
    if (end === -1) end = len
    node = node.children?.get(topic.slice(start, end))
    if (node === undefined || end === len) return node
    start = end + 1
  }
}

function deleteBelow<T>(node: TopicNode<T>, topic: string, start: number): boolean {
  const children = node.children
  if (children === null) return false
  let end = topic.indexOf('/', start)
  if (end === -1) end = topic.length
  const level = topic.slice(start, end)
  const child = children.get(level)
  if (child === undefined) return false
  let deleted: boolean
  if (end === topic.length) {
    deleted = child.hasValue
    child.hasValue = false
    child.value = undefined
    child.topic = ''
  } else {
    deleted = deleteBelow(child, topic, end + 1)
  }
  if (deleted && !child.hasValue && child.children === null) {
    children.delete(level)
    if (children.size === 0) node.children = null
  }
  return deleted
}

/**
 * Visits the values below `node` that match the levels of `filter` from `start` on (at least one level is
 * left). `start === 0` means `node` is the root, where [MQTT-4.7.2-1] applies to wildcards.
 */
function walk<T>(
  node: TopicNode<T>,
  filter: string,
  start: number,
  visit: RetainedVisitor<T> | null,
  out: T[] | null,
): void {
  const children = node.children
  const len = filter.length
  let end = filter.indexOf('/', start)
  if (end === -1) end = len

  if (end - start === 1 && filter.charCodeAt(start) === HASH) {
    // '#' matches the parent level (a topic ending at this node) and every level below it.
    if (node.hasValue) emit(node, visit, out)
    if (children === null) return
    for (const [level, child] of children) {
      if (start === 0 && level.charCodeAt(0) === DOLLAR) continue // [MQTT-4.7.2-1]
      emitAll(child, visit, out)
    }
    return
  }
  if (children === null) return

  if (end - start === 1 && filter.charCodeAt(start) === PLUS) {
    for (const [level, child] of children) {
      if (start === 0 && level.charCodeAt(0) === DOLLAR) continue // [MQTT-4.7.2-1]
      if (end === len) {
        if (child.hasValue) emit(child, visit, out)
      } else walk(child, filter, end + 1, visit, out)
    }
    return
  }

  const child = children.get(filter.slice(start, end))
  if (child === undefined) return
  if (end === len) {
    if (child.hasValue) emit(child, visit, out)
  } else walk(child, filter, end + 1, visit, out)
}

function emitAll<T>(node: TopicNode<T>, visit: RetainedVisitor<T> | null, out: T[] | null): void {
  if (node.hasValue) emit(node, visit, out)
  if (node.children !== null) for (const child of node.children.values()) emitAll(child, visit, out)
}

function emit<T>(node: TopicNode<T>, visit: RetainedVisitor<T> | null, out: T[] | null): void {
  if (out !== null) out.push(node.value as T)
  else (visit as RetainedVisitor<T>)(node.value as T, node.topic)
}
