import { type Client, type IPublishPacket, Middleware, type Next, type Packet, Stack } from '@mqtt-stack/core'
import { connectTestClient } from '@mqtt-stack/core/testing'
import { describe, expect, it } from 'vitest'
import { RateLimit } from '../src/index.js'

/** A stand-in for the rest of a broker: CONNACK, and records the publishes that got through. */
function broker(limit: RateLimit, onExceeded?: (store: { disconnect?: boolean }) => void) {
  const stack = new Stack()
  const delivered: string[] = []
  stack.use({
    handle(client: Client, packet: Packet, next: Next) {
      if (packet.cmd === 'connect') client.write({ cmd: 'connack', returnCode: 0, sessionPresent: false })
      next()
    },
  })
  stack.use(limit)
  stack.use({
    packetTypes: ['publish', 'pingreq'],
    handle(client: Client, packet: Packet, next: Next) {
      if (packet.cmd === 'publish') delivered.push(packet.topic)
      if (packet.cmd === 'pingreq') client.write({ cmd: 'pingresp' })
      next()
    },
  })
  const exceeded: number[] = []
  // The plain-object form: typed by the catalogue, RateLimit's callback included.
  stack.use({
    exampleRateLimitExceeded(ctx, store, next) {
      exceeded.push(ctx.limit)
      onExceeded?.(store)
      next()
    },
  })
  return { stack, delivered, exceeded }
}

const publish = (topic: string, qos: 0 | 1 = 0, messageId?: number): Packet =>
  ({ cmd: 'publish', topic, payload: 'x', qos, dup: false, retain: false, messageId }) as Packet

describe('RateLimit, a third-party style middleware', () => {
  it('lets a burst through, then drops and reports publishes over the limit', async () => {
    let now = 0
    const { stack, delivered, exceeded } = broker(new RateLimit({ perSecond: 1, burst: 2, now: () => now }))
    const t = connectTestClient(stack)
    await t.connect()
    for (const topic of ['a', 'b', 'c']) t.send(publish(topic))
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
    expect(delivered).toEqual(['a', 'b'])
    expect(exceeded).toEqual([1])
    now = 1000 // one token refilled
    t.send(publish('d'))
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
    expect(delivered).toEqual(['a', 'b', 'd'])
    await stack.close()
  })

  it('acknowledges a dropped QoS 1 publish so the client does not resend it', async () => {
    const { stack, delivered } = broker(new RateLimit({ perSecond: 1, burst: 1, now: () => 0 }))
    const t = connectTestClient(stack)
    await t.connect()
    t.send(publish('first'))
    t.send(publish('second', 1, 9))
    expect(await t.expect('puback')).toMatchObject({ messageId: 9 })
    expect(delivered).toEqual(['first'])
    await stack.close()
  })

  it('disconnects when a handler of its callback asks to', async () => {
    const { stack } = broker(new RateLimit({ perSecond: 1, burst: 1, now: () => 0 }), (store) => {
      store.disconnect = true
    })
    const t = connectTestClient(stack)
    await t.connect()
    t.send(publish('a'))
    t.send(publish('b'))
    await t.closed()
    await stack.close()
  })

  it('declares its callback, so a method of that name is a handler once RateLimit is used', () => {
    class Alerts extends Middleware {
      readonly seen: number[] = []
      exampleRateLimitExceeded(ctx: { limit: number }, _store: object, next: Next) {
        this.seen.push(ctx.limit)
        next()
      }
    }
    const alone = new Stack({ onError: () => {} }).use(new Alerts())
    expect(alone.provides('exampleRateLimitExceeded')).toBe(false)
    const alerts = new Alerts()
    const stack = new Stack().use(alerts).use(new RateLimit())
    expect(stack.provides('exampleRateLimitExceeded')).toBe(true)
    stack.execute(
      'exampleRateLimitExceeded',
      { client: {} as Client, packet: publish('a') as IPublishPacket, limit: 7 },
      {},
      () => {},
    )
    expect(alerts.seen).toEqual([7])
  })

  it('refuses a configuration that cannot work', () => {
    expect(() => new RateLimit({ perSecond: 0 })).toThrow(
      expect.objectContaining({ code: 'EXAMPLE_ERR_INVALID_OPTION' }),
    )
    expect(() => new RateLimit({ burst: 0.5 })).toThrow(
      expect.objectContaining({ code: 'EXAMPLE_ERR_INVALID_OPTION' }),
    )
  })
})
