import type { Target } from './cluster.js'

/**
 * The messages of one inbox entry: `m <message> t <targets JSON> [h 1]`, once or more (a Redis stream entry may
 * repeat its field names). A node appends every message it asks of another node in one tick as one entry:
 * one command and one entry per tick and node, not per message.
 */

/** Messages in one entry at most: its fields go through one Lua `unpack`, which has a bounded stack. */
export const MAX_ENTRY_MESSAGES = 256

/** Calls `visit` for each message of an entry, in order. */
export function forEachMessage(
  fields: readonly string[],
  visit: (text: string, targets: Target[], hop: boolean) => void,
): void {
  let i = 0
  while (i + 3 < fields.length && fields[i] === 'm') {
    const text = fields[i + 1]!
    const targets = JSON.parse(fields[i + 3]!) as Target[]
    i += 4
    const hop = fields[i] === 'h'
    if (hop) i += 2
    visit(text, targets, hop)
  }
}

/** The messages asked of one other node in this tick: one entry, appended once the tick ends. */
export class OutgoingEntry {
  readonly fields: string[] = []
  messages = 0
  /** Some message of it is QoS 0, whose relay does not wait: a failure is reported here, once. */
  unwaited = false
  readonly appended: Promise<void>
  resolve!: () => void
  reject!: (err: unknown) => void

  constructor() {
    this.appended = new Promise<void>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    // Waited for by the relays of QoS 1/2 messages only; the failure of QoS 0 ones is reported by the sender.
    this.appended.catch(() => undefined)
  }

  add(text: string, targets: Target[], hop: boolean): void {
    this.fields.push('m', text, 't', JSON.stringify(targets))
    if (hop) this.fields.push('h', '1')
    this.messages++
  }
}
