import { describe, expect, it } from 'vitest'
import { ownPayload } from '../src/index.js'

const publish = (payload: Buffer | string) => ({
  cmd: 'publish' as const,
  topic: 't',
  payload,
  qos: 1 as const,
  retain: false,
  dup: false,
})

describe('ownPayload', () => {
  it('copies a small view of a large read chunk into memory of its own, in place', () => {
    const chunk = Buffer.alloc(64 * 1024)
    chunk.write('hello', 1000)
    const packet = publish(chunk.subarray(1000, 1005))
    expect(ownPayload(packet)).toBe(packet)
    const payload = packet.payload as Buffer
    expect(payload.toString()).toBe('hello')
    expect(payload.buffer.byteLength).toBe(5)
    // Its own memory: the chunk being reused for the next read does not change it.
    chunk.fill(0)
    expect(payload.toString()).toBe('hello')
    // Done once: a second call keeps the copy.
    expect(ownPayload(packet).payload).toBe(payload)
  })

  it('gives the packets of one fan-out (sharing a payload) one copy', () => {
    const view = Buffer.alloc(8192).subarray(0, 10)
    const a = ownPayload(publish(view))
    const b = ownPayload(publish(view))
    expect(a.payload).not.toBe(view)
    expect(b.payload).toBe(a.payload)
  })

  it('leaves a payload that is most of its memory, a string and an empty payload as they are', () => {
    const whole = Buffer.from('a payload with a buffer of its own')
    const own = Buffer.allocUnsafeSlow(6)
    const big = Buffer.alloc(1000).subarray(0, 600)
    for (const payload of [own, big, 'text', Buffer.alloc(0)])
      expect(ownPayload(publish(payload)).payload).toBe(payload)
    // A small Buffer.from() sits in Node's shared 8 KiB pool: that is a view of a larger block too.
    expect(ownPayload(publish(whole)).payload).not.toBe(whole)
  })
})
