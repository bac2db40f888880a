import type { Target } from './cluster.js'

/**
 * The messages of one inbox entry: `b <lines> c <count> f <node>`, where the lines are, for each message, its
 * text, its targets (JSON) and `1` when it was sent on by a node that was asked for it (a hop), else `0`;
 * JSON has no raw line feed, so a line feed divides them. `f` names the node that sent them. A node appends
 * every message it asks of another node in one tick as one entry: one command, with four arguments, per
 * tick and node, not per message. An entry of one message may also be `m <message> t <targets> [h 1]`.
 *
 * Flow control: a node has at most MAX_IN_FLIGHT messages in another node's inbox that the other has not
 * processed yet; the other tells how many it processed with a credit entry, `p <count> n <node>`, in the
 * sender's inbox. Past the bound the sender holds its entries back, and the relays waiting for them (QoS 1
 * and 2, and QoS 0 while it holds) keep their publishers waiting: the receiving node's pace, not an inbox
 * that grows without bound and a latency that grows with it.
 */

/** Messages in one entry at most: the entries, and what a node reads of them at once, stay bounded. */
export const MAX_ENTRY_MESSAGES = 256

/** Messages a node may have in another node's inbox, not processed there yet (see above). */
export const MAX_IN_FLIGHT = 2048

/** The node that sent the messages of an entry (`f <node>` after them), when it says. */
export function senderOf(fields: readonly string[]): string | undefined {
  const n = fields.length
  return n >= 2 && fields[n - 2] === 'f' ? fields[n - 1] : undefined
}

/** The messages of an entry, counted without reading them. */
export function messageCount(fields: readonly string[]): number {
  if (fields[0] === 'b') return Number(fields[3])
  let count = 0
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === 'm') count++
  return count
}

/**
 * The targets of the messages read lately, by their text: the messages of a stream to the same subscribers
 * carry the same targets, parsed once. Shared, so read only. Emptied when full.
 */
const parsedTargets = new Map<string, readonly Target[]>()
const PARSED_TARGETS_MAX = 1024

function parseTargets(text: string): readonly Target[] {
  let targets = parsedTargets.get(text)
  if (targets === undefined) {
    targets = JSON.parse(text) as Target[]
    if (parsedTargets.size >= PARSED_TARGETS_MAX) parsedTargets.clear()
    parsedTargets.set(text, targets)
  }
  return targets
}

/**
 * The JSON of each target an entry was given, alone (`[target]`, the common case) and as an element, made
 * once per target (relay.ts reuses a route's targets).
 */
const listTexts = new WeakMap<Target, string>()

function listText(target: Target): string {
  let text = listTexts.get(target)
  if (text === undefined) {
    text = JSON.stringify([target])
    listTexts.set(target, text)
  }
  return text
}

/** A target as an element of a longer list: `listText` without its brackets. */
function targetText(target: Target): string {
  return listText(target).slice(1, -1)
}

/** Calls `visit` for each message of an entry, in order; returns how many there were. */
export function forEachMessage(
  fields: readonly string[],
  visit: (text: string, targets: readonly Target[], hop: boolean) => void,
): number {
  if (fields[0] === 'b') {
    const lines = fields[1]!.split('\n')
    for (let i = 0; i + 2 < lines.length; i += 3)
      visit(lines[i]!, parseTargets(lines[i + 1]!), lines[i + 2] === '1')
    return Math.floor(lines.length / 3)
  }
  let count = 0
  let i = 0
  while (i + 3 < fields.length && fields[i] === 'm') {
    const text = fields[i + 1]!
    const targets = JSON.parse(fields[i + 3]!) as Target[]
    i += 4
    const hop = fields[i] === 'h'
    if (hop) i += 2
    visit(text, targets, hop)
    count++
  }
  return count
}

/** Told once the messages it asked of another node are in that node's inbox, or could not be put there. */
export interface SendWaiter {
  sent(): void
  notSent(err: unknown): void
}

/** The messages asked of one other node in this tick: one entry, appended once the tick ends. */
export class OutgoingEntry {
  readonly #lines: string[] = []
  readonly #waiters: SendWaiter[] = []
  messages = 0
  /** Some message of it is QoS 0, whose relay does not wait: a failure is reported here, once. */
  unwaited = false

  /** Told when the entry is appended (the relays of QoS 1/2 messages, a dispatched entry sending on). */
  wait(waiter: SendWaiter): void {
    this.#waiters.push(waiter)
  }

  appended(): void {
    for (const waiter of this.#waiters) waiter.sent()
  }

  failed(err: unknown): void {
    for (const waiter of this.#waiters) waiter.notSent(err)
  }

  add(text: string, targets: readonly Target[], hop: boolean): void {
    const list = targets.length === 1 ? listText(targets[0]!) : `[${targets.map(targetText).join(',')}]`
    this.#lines.push(text, list, hop ? '1' : '0')
    this.messages++
  }

  /** The fields of the entry, the sender's `f` left out. */
  fields(): string[] {
    return ['b', this.#lines.join('\n'), 'c', String(this.messages)]
  }
}
