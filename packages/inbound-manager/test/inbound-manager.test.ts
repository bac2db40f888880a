import {
  type CallbackContext,
  type CallbackHandlers,
  type Client,
  type Done,
  ErrorCode,
  type IPublishPacket,
  type MiddlewareLike,
  type MqttStackError,
  type Next,
  Stack,
} from '@mqtt-stack/core'
import {
  acceptConnections,
  collectErrors,
  connectTestClient,
  recordWrites,
  type TestConnection,
} from '@mqtt-stack/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { InboundManager } from '../src/index.js'

/**
 * A backend answering what the inbound manager executes: inbound QoS 2 ids in a Map of Sets, and a relay
 * that forwards the message to every client in `subscribers` (as the memory backend does per subscriber).
 */
function fakeBackend() {
  const held = new Map<string, Set<number>>()
  const relayed: IPublishPacket[] = []
  const relayContexts: Array<CallbackContext<'relayMessage'>> = []
  const subscribers: Client[] = []
  const backend = {
    held,
    relayed,
    relayContexts,
    subscribers,
    /** When set, relayMessage fails with it. */
    relayError: undefined as Error | undefined,
    /** When set, relayMessage waits for the test to call it. */
    holdRelay: undefined as ((finish: () => void) => void) | undefined,
    name: 'fake-backend',
    callbacks(): CallbackHandlers {
      return {
        storeIncomingMessage(ctx, store, _next, done) {
          const ids = held.get(ctx.clientId) ?? new Set<number>()
          held.set(ctx.clientId, ids)
          const id = ctx.packet.messageId!
          store.duplicate = ids.has(id)
          ids.add(id)
          done()
        },
        releaseIncomingMessage(ctx, _store, _next, done) {
          held.get(ctx.clientId)?.delete(ctx.messageId)
          done()
        },
        relayMessage(ctx, _store, next, done) {
          relayed.push(ctx.packet)
          relayContexts.push(ctx)
          if (backend.relayError) {
            next(backend.relayError)
            return
          }
          const forward = () => {
            let pending = subscribers.length
            if (pending === 0) done()
            for (const client of subscribers) {
              const packet: IPublishPacket = {
                cmd: 'publish',
                topic: ctx.topic,
                payload: ctx.payload,
                qos: 0,
                dup: false,
                retain: false,
              }
              ctx.client?.stack.execute('forwardMessage', { client, packet }, {}, (err) => {
                if (err) next(err)
                else if (--pending === 0) done()
              })
            }
          }
          if (backend.holdRelay) backend.holdRelay(forward)
          else forward()
        },
        forwardMessage(ctx, _store, _next, done) {
          ctx.client.write(ctx.packet)
          done()
        },
      }
    },
  }
  return backend
}

const open: Stack[] = []

function setup(inbound = new InboundManager()) {
  const backend = fakeBackend()
  const stack = new Stack()
    .use(acceptConnections({ answerPings: true }))
    .use(inbound)
    .use(backend)
  const errors = collectErrors(stack)
  open.push(stack)
  return { stack, backend, errors }
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((stack) => stack.close()))
})

/** Everything the broker sends before the PINGRESP answering a PINGREQ sent now. */
async function drainUntilPingresp(t: TestConnection): Promise<string[]> {
  t.send({ cmd: 'pingreq' })
  const seen: string[] = []
  for (;;) {
    const packet = await t.next()
    if (packet.cmd === 'pingresp') return seen
    seen.push(packet.cmd)
  }
}

function publish(topic: string, qos: 0 | 1 | 2, messageId?: number, dup = false): IPublishPacket {
  const packet: IPublishPacket = { cmd: 'publish', topic, payload: Buffer.from('m'), qos, dup, retain: false }
  if (messageId !== undefined) packet.messageId = messageId
  return packet
}

describe('InboundManager', () => {
  it('has the metadata the stack checks', () => {
    const inbound = new InboundManager()
    expect(inbound.name).toBe('inbound-manager')
    expect(inbound.packetTypes).toEqual(['publish', 'pubrel'])
    expect([...inbound.requires].sort()).toEqual([
      'relayMessage',
      'releaseIncomingMessage',
      'storeIncomingMessage',
    ])
    expect(inbound.config.maxTopicLevels).toBe(128)
  })

  it('fails at handler() when no middleware answers what it requires', () => {
    const stack = new Stack().use(new InboundManager())
    expect(() => stack.handler()).toThrowError(expect.objectContaining({ code: ErrorCode.MISSING_PROVIDER }))
  })

  it('refuses an invalid maxTopicLevels at construction', () => {
    expect(() => new InboundManager({ maxTopicLevels: 0 })).toThrowError(
      expect.objectContaining({ code: ErrorCode.INVALID_OPTION }),
    )
  })

  it('relays a QoS 0 PUBLISH once and acknowledges nothing', async () => {
    const { backend } = setup()
    const t = connectTestClient(open[0]!)
    await t.connect({ clientId: 'pub' })
    t.send(publish('a/b', 0))
    expect(await drainUntilPingresp(t)).toEqual([])
    expect(backend.relayed).toHaveLength(1)
    expect(backend.relayed[0]).toMatchObject({ topic: 'a/b', qos: 0 })
    expect(backend.relayContexts[0]).toMatchObject({ topic: 'a/b' })
  })

  it('[MQTT-3.3.4-1] [MQTT-4.3.2-2] answers a QoS 1 PUBLISH relayed to 3 subscribers with one PUBACK (LESSONS 4)', async () => {
    const { stack, backend } = setup()
    const subs = [connectTestClient(stack), connectTestClient(stack), connectTestClient(stack)]
    for (const [i, sub] of subs.entries()) {
      await sub.connect({ clientId: `sub${i}` })
      backend.subscribers.push(sub.client)
    }
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'pub' })
    t.send(publish('a/b', 1, 42))
    const puback = await t.expect('puback')
    expect(puback.messageId).toBe(42)
    expect(await drainUntilPingresp(t)).toEqual([]) // no second PUBACK
    for (const sub of subs) expect((await sub.expect('publish')).topic).toBe('a/b')
    expect(backend.relayed).toHaveLength(1)
  })

  it('acknowledges only after the relay has completed', async () => {
    const { stack, backend } = setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'pub' })
    const written = recordWrites(t.client)
    let release: () => void = () => {}
    const relayStarted = new Promise<void>((resolve) => {
      backend.holdRelay = (finish) => {
        release = finish
        resolve()
      }
    })
    t.send(publish('a/b', 1, 7))
    await relayStarted
    expect(written.map((p) => p.cmd)).toEqual([])
    release()
    expect(written).toEqual([expect.objectContaining({ cmd: 'puback', messageId: 7 })])
    expect((await t.expect('puback')).messageId).toBe(7)
  })

  it('[MQTT-4.3.3-2] QoS 2: PUBREC, a resent PUBLISH before PUBREL is acknowledged again and not relayed twice (LESSONS 2)', async () => {
    const { stack, backend } = setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'pub' })
    t.send(publish('a/b', 2, 5))
    expect((await t.expect('pubrec')).messageId).toBe(5)
    t.send(publish('a/b', 2, 5, true))
    expect((await t.expect('pubrec')).messageId).toBe(5)
    expect(backend.relayed).toHaveLength(1)
    t.send({ cmd: 'pubrel', messageId: 5 })
    expect((await t.expect('pubcomp')).messageId).toBe(5)
    expect(backend.held.get('pub')?.has(5)).toBe(false)
    // After PUBCOMP the same packet id is a new publication.
    t.send(publish('a/c', 2, 5))
    expect((await t.expect('pubrec')).messageId).toBe(5)
    expect(backend.relayed.map((p) => p.topic)).toEqual(['a/b', 'a/c'])
  })

  it('[MQTT-4.3.3-2] answers a PUBREL with PUBCOMP also when nothing was held', async () => {
    const { stack, backend } = setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'pub' })
    t.send({ cmd: 'pubrel', messageId: 9 })
    expect((await t.expect('pubcomp')).messageId).toBe(9)
    expect(backend.relayed).toHaveLength(0)
  })

  it('does not acknowledge a message whose relay failed, and the client is closed', async () => {
    const { stack, backend, errors } = setup()
    backend.relayError = new Error('store down')
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'pub' })
    const written = recordWrites(t.client)
    t.send(publish('a/b', 1, 3))
    await t.closed()
    expect(written.map((p) => p.cmd)).toEqual([])
    expect(t.received.map((p) => p.cmd)).toEqual(['connack'])
    expect(errors.map((e) => (e.cause as Error | undefined)?.message)).toContain('store down')
  })

  it('releases the QoS 2 packet id of a message whose relay failed, so a resend is delivered', async () => {
    const { stack, backend } = setup()
    backend.relayError = new Error('store down')
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'pub' })
    t.send(publish('a/b', 2, 4))
    await t.closed()
    expect(t.received.map((p) => p.cmd)).toEqual(['connack'])
    expect(backend.held.get('pub')?.has(4)).toBe(false)
  })

  it('[MQTT-3.3.2-2] closes a 3.1.1 client that publishes to a topic name with a wildcard', async () => {
    const { stack, backend, errors } = setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'pub' })
    t.send(publish('a/+/c', 1, 1))
    await t.closed()
    expect(backend.relayed).toHaveLength(0)
    expect(t.received.map((p) => p.cmd)).toEqual(['connack'])
    expect(errors[0]).toMatchObject({ code: ErrorCode.PROTOCOL_ERROR, reasonCode: 0x90 })
  })

  it('[MQTT-3.3.2-2] sends DISCONNECT 0x90 to a 5.0 client that publishes to a topic name with a wildcard', async () => {
    const { stack, backend } = setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'pub', protocolVersion: 5 })
    t.send(publish('a/#', 0))
    expect((await t.expect('disconnect')).reasonCode).toBe(0x90)
    await t.closed()
    expect(backend.relayed).toHaveLength(0)
  })

  it('acknowledges QoS 1 and 2 for a 5.0 client', async () => {
    const { stack } = setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'pub', protocolVersion: 5 })
    t.send(publish('a/b', 1, 1))
    expect(await t.expect('puback')).toMatchObject({ messageId: 1 })
    t.send(publish('a/b', 2, 2))
    expect(await t.expect('pubrec')).toMatchObject({ messageId: 2 })
    t.send({ cmd: 'pubrel', messageId: 2, reasonCode: 0 })
    expect(await t.expect('pubcomp')).toMatchObject({ messageId: 2 })
  })

  it('closes a client whose topic name has more levels than maxTopicLevels', async () => {
    const { stack, backend } = setup(new InboundManager({ maxTopicLevels: 2 }))
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'pub' })
    t.send(publish('a/b', 0))
    t.send(publish('a/b/c', 0))
    await t.closed()
    expect(backend.relayed.map((p) => p.topic)).toEqual(['a/b'])
  })

  it('reuses one relay context per client and lets go of the packet once its chain has ended', async () => {
    const { stack, backend } = setup()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'pub' })
    t.send(publish('a/1', 1, 1))
    await t.expect('puback')
    t.send(publish('a/2', 1, 2))
    await t.expect('puback')
    expect(backend.relayContexts[0]).toBe(backend.relayContexts[1])
    expect(backend.relayContexts[0]!.client).toBe(t.client)
    expect(backend.relayContexts[0]!.packet).not.toBe(backend.relayed[1])
  })

  it('ends the chain with next(err) when storeIncomingMessage fails', async () => {
    const failing: MiddlewareLike = {
      name: 'failing-store',
      storeIncomingMessage: (_ctx: unknown, _store: unknown, next: Next, _done: Done) =>
        next(new Error('down')),
    } as MiddlewareLike
    const backend = fakeBackend()
    const stack = new Stack()
      .use(acceptConnections({ answerPings: true }))
      .use(new InboundManager())
      .use(failing)
      .use(backend)
    const errors: MqttStackError[] = collectErrors(stack)
    open.push(stack)
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'pub' })
    t.send(publish('a/b', 2, 1))
    await t.closed()
    expect(backend.relayed).toHaveLength(0)
    expect(t.received.map((p) => p.cmd)).toEqual(['connack'])
    expect(errors).toHaveLength(1)
  })
})
