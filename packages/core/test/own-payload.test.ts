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
  it('copies a small view of a large read chunk, in place, once', () => {
    const chunk = Buffer.alloc(64 * 1024)
    chunk.write('hello', 1000)
    const packet = publish(chunk.subarray(1000, 1005))
    expect(ownPayload(packet)).toBe(packet)
    const payload = packet.payload as Buffer
    expect(payload.toString()).toBe('hello')
    // Not a view of the chunk: the chunk being reused for the next read does not change it.
    expect(payload.buffer).not.toBe(chunk.buffer)
    chunk.fill(0)
    expect(payload.toString()).toBe('hello')
    // A copy is known as owned: a second call keeps it.
    expect(ownPayload(packet).payload).toBe(payload)
  })

  it('cuts small copies from one slab of their own, and gives a large one its own memory', () => {
    const chunk = Buffer.alloc(64 * 1024, 1)
    const a = ownPayload(publish(chunk.subarray(0, 10))).payload as Buffer
    const b = ownPayload(publish(chunk.subarray(100, 120))).payload as Buffer
    // Consecutive small copies share a slab (16 KiB), which holds nothing but such copies.
    expect(b.buffer).toBe(a.buffer)
    expect(a.buffer.byteLength).toBe(16 * 1024)
    expect(a.buffer).not.toBe(Buffer.alloc(1).buffer)
    const large = ownPayload(publish(chunk.subarray(0, 4000))).payload as Buffer
    expect(large.buffer.byteLength).toBe(4000)
  })

  it('leaves a payload that is most of its memory, a string and an empty payload as they are', () => {
    const own = Buffer.allocUnsafeSlow(6)
    const big = Buffer.alloc(1000).subarray(0, 600)
    for (const payload of [own, big, 'text', Buffer.alloc(0)])
      expect(ownPayload(publish(payload)).payload).toBe(payload)
    // A small Buffer.from() sits in Node's shared 8 KiB pool: that is a view of a larger block too.
    const pooled = Buffer.from('a payload in the shared pool')
    expect(ownPayload(publish(pooled)).payload).not.toBe(pooled)
  })
})
