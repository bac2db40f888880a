import { describe, expect, it } from 'vitest'
import type { Target } from '../src/cluster.js'
import { forEachMessage, messageCount, OutgoingEntry, senderOf } from '../src/inbox-entry.js'

function read(fields: readonly string[]): [string, Target[], boolean][] {
  const seen: [string, Target[], boolean][] = []
  forEachMessage(fields, (text, targets, hop) => seen.push([text, targets.map((t) => [...t] as Target), hop]))
  return seen
}

describe('an inbox entry', () => {
  it('gives back each message with its own targets and hop flag, in order', () => {
    const shared: Target = ['s', 1, 0, null, null]
    const messages: [string, Target[], boolean][] = [
      ['{"t":"a"}', [shared], false],
      ['{"t":"b"}', [shared, ['t', 2, 1, [3, 4], null]], true],
      ['{"t":"c"}', [['u', 0, 0, 7, '$share/g/a']], false],
      ['{"t":"d"}', [shared], false],
    ]
    const entry = new OutgoingEntry()
    for (const [text, targets, hop] of messages) entry.add(text, targets, hop)
    const fields = [...entry.fields(), 'f', 'node-a']
    expect(messageCount(fields)).toBe(4)
    expect(senderOf(fields)).toBe('node-a')
    expect(read(fields)).toEqual(messages)
  })

  it('a target reused by later entries is written the same each time, and read back the same each time', () => {
    const target: Target = ['s', 1, 0, null, null]
    const first = new OutgoingEntry()
    first.add('{"t":"a"}', [target], false)
    const second = new OutgoingEntry()
    second.add('{"t":"b"}', [target], false)
    expect(first.fields()[1]).toBe(`{"t":"a"}\n${JSON.stringify([target])}\n0`)
    expect(read(second.fields())).toEqual([['{"t":"b"}', [target], false]])
    // Read again (from a cache of parsed targets): the same, for either entry.
    expect(read(first.fields())).toEqual([['{"t":"a"}', [target], false]])
    expect(read(second.fields())).toEqual([['{"t":"b"}', [target], false]])
  })

  it('reads an entry of the older form, one message with m, t and h fields', () => {
    const targets: Target[] = [['s', 1, 0, null, null]]
    const fields = ['m', '{"t":"a"}', 't', JSON.stringify(targets), 'h', '1']
    expect(messageCount(fields)).toBe(1)
    expect(read(fields)).toEqual([['{"t":"a"}', targets, true]])
  })
})
