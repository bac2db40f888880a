import { once } from 'node:events'
import {
  type CallbackContext,
  type CallbackHandler,
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
  deferred,
  recordWrites,
  type TestConnection,
} from '@mqtt-stack/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { InboundManager } from '../src/index.js'
import { PIPELINE_DEPTH } from '../src/pipeline.js'

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
    /** When set, relayMessage adds the number of subscribers to `store.matched`, as a counting router does. */
    count: false,
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
        releaseIncomingMessage(ctx, store, _next, done) {
          // Returns what was held, as the memory backend does (the held packet itself is not kept here).
          if (held.get(ctx.clientId)?.delete(ctx.messageId)) {
            store.packet = publish('held', 2, ctx.messageId)
          }
          done()
        },
        relayMessage(ctx, store, next, done) {
          relayed.push(ctx.packet)
          relayContexts.push(ctx)
          if (backend.count) store.matched = (store.matched ?? 0) + subscribers.length
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

  it('ignores a PUBREL processed after its connection closed: the id stays held for the next connection', async () => {
    const backend = fakeBackend()
    const held = deferred<void>()
    // Holds the PUBREL's chain, as packets wait behind a slow one, until the connection has closed.
    const slow: MiddlewareLike = {
      name: 'slow',
      packetTypes: ['pubrel'],
      handle(_client, _packet, next) {
        held.promise.then(() => next())
      },
    }
    const stack = new Stack()
      .use(acceptConnections({ answerPings: true }))
      .use(slow)
      .use(new InboundManager())
      .use(backend)
    open.push(stack)
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'pub' })
    t.send(publish('a/b', 2, 3))
    await t.expect('pubrec')
    t.send({ cmd: 'pubrel', messageId: 3 })
    t.destroy()
    await once(t.client, 'close')
    held.resolve()
    await held.promise // the chain goes on in the same turn: the backend answers at once
    // Released now, the id could be one a newer connection of the session holds for another message.
    expect([...(backend.held.get('pub') ?? [])]).toEqual([3])
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

function setup5(inbound = new InboundManager()) {
  const backend = fakeBackend()
  const sessions = acceptConnections({
    answerPings: true,
    connackProperties: { maximumQoS: 0, retainAvailable: false },
  })
  const stack = new Stack().use(sessions).use(inbound).use(backend)
  const errors = collectErrors(stack)
  open.push(stack)
  return { stack, backend, errors, sessions }
}

async function client5(stack: Stack, clientId = 'pub') {
  const t = connectTestClient(stack)
  const connack = await t.connect({ clientId, protocolVersion: 5 })
  return { t, connack }
}

function withFormat(packet: IPublishPacket, payload: Buffer): IPublishPacket {
  packet.payload = payload
  packet.properties = { payloadFormatIndicator: true }
  return packet
}

/** Bytes that are not well-formed UTF-8: a lone continuation byte, and an encoded surrogate. */
const NOT_UTF8 = Buffer.from([0x61, 0x80, 0xed, 0xa0, 0x80])

describe('InboundManager, MQTT 5.0', () => {
  it('has 5.0 defaults and refuses invalid 5.0 options', () => {
    expect(new InboundManager().config).toEqual({
      maxTopicLevels: 128,
      receiveMaximum: 1024,
      maxQoS: 2,
      checkPayloadFormat: true,
    })
    for (const options of [
      { receiveMaximum: 0 },
      { receiveMaximum: 65536 },
      { receiveMaximum: 2.5 },
      { maxQoS: 3 as 2 },
      { checkPayloadFormat: 'yes' as unknown as boolean },
    ]) {
      expect(() => new InboundManager(options)).toThrowError(
        expect.objectContaining({ code: ErrorCode.INVALID_OPTION }),
      )
    }
  })

  it('answers prepareConnack with its handler, and calls next() for the middlewares after it', () => {
    const inbound = new InboundManager()
    const handler = (inbound.callbacks() as { prepareConnack: CallbackHandler<'prepareConnack'> })
      .prepareConnack
    expect(typeof handler).toBe('function')
    expect(new Stack().use(inbound).provides('prepareConnack')).toBe(true)
  })

  it('[MQTT-3.2.2-9] advertises Maximum QoS and Receive Maximum in CONNACK', async () => {
    const { stack } = setup5(new InboundManager({ receiveMaximum: 10, maxQoS: 1 }))
    const { connack } = await client5(stack)
    expect(connack.reasonCode).toBe(0)
    expect(connack.properties).toMatchObject({ receiveMaximum: 10, maximumQoS: 1 })
  })

  it('raises the "not available" Maximum QoS to 2 and sends the default Receive Maximum', async () => {
    const { stack, sessions } = setup5()
    const { connack } = await client5(stack)
    expect(sessions.prepared).toEqual([{ maximumQoS: 2, retainAvailable: false, receiveMaximum: 1024 }])
    expect(connack.properties?.maximumQoS).toBeUndefined() // 2, the default, is not sent
    expect(connack.properties?.receiveMaximum).toBe(1024)
  })

  it('[MQTT-3.2.2-11] sends DISCONNECT 0x9B to a 5.0 client publishing above the Maximum QoS', async () => {
    const { stack, backend, errors } = setup5(new InboundManager({ maxQoS: 1 }))
    const { t } = await client5(stack)
    t.send(publish('a/b', 1, 1))
    expect(await t.expect('puback')).toMatchObject({ messageId: 1, reasonCode: 0 })
    t.send(publish('a/b', 2, 2))
    expect((await t.expect('disconnect')).reasonCode).toBe(0x9b)
    await t.closed()
    expect(backend.relayed.map((p) => p.qos)).toEqual([1])
    expect(backend.held.get('pub')?.has(2) ?? false).toBe(false)
    expect(errors[0]).toMatchObject({ code: ErrorCode.PROTOCOL_ERROR, reasonCode: 0x9b })
  })

  it('does not limit the QoS of a 3.1.1 client with maxQoS', async () => {
    const { stack, backend } = setup5(new InboundManager({ maxQoS: 0 }))
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'old' })
    t.send(publish('a/b', 2, 2))
    expect((await t.expect('pubrec')).messageId).toBe(2)
    expect(backend.relayed).toHaveLength(1)
  })

  it('[MQTT-3.3.4-7] sends DISCONNECT 0x93 when a client has more than Receive Maximum QoS 1/2 PUBLISH unacknowledged', async () => {
    const { stack, backend, errors } = setup5(new InboundManager({ receiveMaximum: 2 }))
    const { t } = await client5(stack)
    t.send(publish('a/1', 2, 1))
    expect(await t.expect('pubrec')).toMatchObject({ messageId: 1, reasonCode: 0 })
    t.send(publish('a/2', 2, 2))
    expect((await t.expect('pubrec')).messageId).toBe(2)
    // A resend of a held id is not one more message.
    t.send(publish('a/2', 2, 2, true))
    expect((await t.expect('pubrec')).messageId).toBe(2)
    // Ids 1 and 2 wait for PUBREL: a third QoS 1 or 2 PUBLISH is one too many.
    t.send(publish('a/3', 1, 3))
    expect((await t.expect('disconnect')).reasonCode).toBe(0x93)
    await t.closed()
    expect(backend.relayed.map((p) => p.topic)).toEqual(['a/1', 'a/2'])
    expect(errors[0]).toMatchObject({ code: ErrorCode.PROTOCOL_ERROR, reasonCode: 0x93 })
  })

  it('[MQTT-3.3.4-7] frees a place of the Receive Maximum with each PUBCOMP', async () => {
    const { stack, backend } = setup5(new InboundManager({ receiveMaximum: 1 }))
    const { t } = await client5(stack)
    for (let id = 1; id <= 3; id++) {
      t.send(publish(`a/${id}`, 2, id))
      expect((await t.expect('pubrec')).messageId).toBe(id)
      t.send({ cmd: 'pubrel', messageId: id, reasonCode: 0 })
      expect(await t.expect('pubcomp')).toMatchObject({ messageId: id, reasonCode: 0 })
    }
    // QoS 1 is acknowledged before the next packet is read: it never adds up.
    for (let id = 4; id <= 6; id++) {
      t.send(publish(`a/${id}`, 1, id))
      expect((await t.expect('puback')).messageId).toBe(id)
    }
    expect(backend.relayed).toHaveLength(6)
    expect(t.isClosed).toBe(false)
  })

  it('does not count a QoS 2 id whose relay failed against the Receive Maximum', async () => {
    const { stack, backend } = setup5(new InboundManager({ receiveMaximum: 1 }))
    backend.relayError = new Error('store down')
    const { t } = await client5(stack)
    t.send(publish('a/1', 2, 1))
    await t.closed()
    expect(t.client.state.inboundManager?.held?.size).toBe(0)
  })

  it('does not apply the Receive Maximum to a 3.1.1 client', async () => {
    const { stack } = setup5(new InboundManager({ receiveMaximum: 1 }))
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'old' })
    for (let id = 1; id <= 3; id++) {
      t.send(publish(`a/${id}`, 2, id))
      expect((await t.expect('pubrec')).messageId).toBe(id)
    }
    expect(t.client.state.inboundManager?.held).toBeUndefined()
  })

  it('refuses a QoS 1 PUBLISH with Payload Format Indicator 1 and a payload that is not UTF-8: PUBACK 0x99, not relayed', async () => {
    const { stack, backend } = setup5()
    const { t } = await client5(stack)
    t.send(withFormat(publish('a/b', 1, 1), NOT_UTF8))
    expect(await t.expect('puback')).toMatchObject({ messageId: 1, reasonCode: 0x99 })
    expect(backend.relayed).toHaveLength(0)
    expect(t.isClosed).toBe(false)
  })

  it('refuses a QoS 2 PUBLISH whose payload is not UTF-8 with PUBREC 0x99, holding nothing', async () => {
    const { stack, backend } = setup5()
    const { t } = await client5(stack)
    t.send(withFormat(publish('a/b', 2, 7), NOT_UTF8))
    expect(await t.expect('pubrec')).toMatchObject({ messageId: 7, reasonCode: 0x99 })
    expect(backend.relayed).toHaveLength(0)
    expect(backend.held.get('pub')?.has(7) ?? false).toBe(false)
    // The exchange ended with the PUBREC: a PUBREL for it finds nothing.
    t.send({ cmd: 'pubrel', messageId: 7, reasonCode: 0 })
    expect(await t.expect('pubcomp')).toMatchObject({ messageId: 7, reasonCode: 0x92 })
  })

  it('drops a QoS 0 PUBLISH whose payload is not UTF-8, and keeps the connection', async () => {
    const { stack, backend, errors } = setup5()
    const { t } = await client5(stack)
    t.send(withFormat(publish('a/b', 0), NOT_UTF8))
    t.send(publish('a/c', 0))
    expect(await drainUntilPingresp(t)).toEqual([])
    expect(backend.relayed.map((p) => p.topic)).toEqual(['a/c'])
    expect(errors).toEqual([])
  })

  it('[MQTT-3.3.2-4] relays a UTF-8 payload with Payload Format Indicator 1, with the indicator unaltered', async () => {
    const { stack, backend } = setup5()
    const { t } = await client5(stack)
    t.send(withFormat(publish('a/b', 1, 1), Buffer.from('grüße ✓', 'utf8')))
    expect(await t.expect('puback')).toMatchObject({ messageId: 1, reasonCode: 0 })
    expect(backend.relayed[0]?.properties).toEqual({ payloadFormatIndicator: true })
  })

  it('relays a payload that is not UTF-8 when checkPayloadFormat is off, or when the indicator is 0', async () => {
    const { stack, backend } = setup5(new InboundManager({ checkPayloadFormat: false }))
    const { t } = await client5(stack)
    t.send(withFormat(publish('a/b', 1, 1), NOT_UTF8))
    expect(await t.expect('puback')).toMatchObject({ messageId: 1, reasonCode: 0 })
    const plain = publish('a/c', 1, 2)
    plain.payload = NOT_UTF8
    plain.properties = { payloadFormatIndicator: false }
    t.send(plain)
    expect(await t.expect('puback')).toMatchObject({ messageId: 2, reasonCode: 0 })
    expect(backend.relayed).toHaveLength(2)
  })

  it('does not check the payload format for a 3.1.1 client', async () => {
    const { stack, backend } = setup5()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'old' })
    const packet = publish('a/b', 1, 1)
    packet.payload = NOT_UTF8
    t.send(packet)
    expect((await t.expect('puback')).messageId).toBe(1)
    expect(backend.relayed).toHaveLength(1)
  })

  it('answers a PUBREL for an unknown packet id with PUBCOMP 0x92, a known one with 0x00', async () => {
    const { stack } = setup5()
    const { t } = await client5(stack)
    t.send({ cmd: 'pubrel', messageId: 9, reasonCode: 0 })
    expect(await t.expect('pubcomp')).toMatchObject({ messageId: 9, reasonCode: 0x92 })
    t.send(publish('a/b', 2, 9))
    await t.expect('pubrec')
    t.send({ cmd: 'pubrel', messageId: 9, reasonCode: 0 })
    expect(await t.expect('pubcomp')).toMatchObject({ messageId: 9, reasonCode: 0 })
    // Released already: the PUBREL sent again finds nothing.
    t.send({ cmd: 'pubrel', messageId: 9, reasonCode: 0 })
    expect(await t.expect('pubcomp')).toMatchObject({ messageId: 9, reasonCode: 0x92 })
  })

  it('knows a QoS 2 id this connection holds even when the backend returns no packet on release', async () => {
    const silent: MiddlewareLike = {
      name: 'silent-release',
      callbacks: (): CallbackHandlers => ({
        releaseIncomingMessage(_ctx, _store, _next, done) {
          done() // ends the chain before the fake backend: no store.packet
        },
      }),
    }
    const backend = fakeBackend()
    const stack = new Stack()
      .use(
        acceptConnections({
          answerPings: true,
          connackProperties: { maximumQoS: 0, retainAvailable: false },
        }),
      )
      .use(new InboundManager())
      .use(silent)
      .use(backend)
    open.push(stack)
    const { t } = await client5(stack)
    t.send(publish('a/b', 2, 4))
    await t.expect('pubrec')
    t.send({ cmd: 'pubrel', messageId: 4, reasonCode: 0 })
    expect(await t.expect('pubcomp')).toMatchObject({ messageId: 4, reasonCode: 0 })
  })

  it('[MQTT-3.4.2-1] [MQTT-3.5.2-1] answers PUBACK and PUBREC with 0x10 when the router matched no subscription, 0x00 when it matched one', async () => {
    const { stack, backend } = setup5()
    backend.count = true
    const { t } = await client5(stack)
    t.send(publish('a/b', 1, 1))
    expect(await t.expect('puback')).toMatchObject({ messageId: 1, reasonCode: 0x10 })
    t.send(publish('a/b', 2, 2))
    expect(await t.expect('pubrec')).toMatchObject({ messageId: 2, reasonCode: 0x10 })
    // 0x10 is a success: the exchange goes on, the id was held.
    t.send({ cmd: 'pubrel', messageId: 2, reasonCode: 0 })
    expect(await t.expect('pubcomp')).toMatchObject({ messageId: 2, reasonCode: 0 })
    const { t: subscriber } = await client5(stack, 'sub')
    backend.subscribers.push(subscriber.client)
    t.send(publish('a/b', 1, 3))
    expect(await t.expect('puback')).toMatchObject({ messageId: 3, reasonCode: 0 })
    t.send(publish('a/b', 2, 4))
    expect(await t.expect('pubrec')).toMatchObject({ messageId: 4, reasonCode: 0 })
  })

  it('answers 0x00 when the router does not count, and counts each message afresh', async () => {
    const { stack, backend } = setup5()
    backend.count = true
    const { t } = await client5(stack)
    t.send(publish('a/b', 1, 1))
    expect(await t.expect('puback')).toMatchObject({ reasonCode: 0x10 })
    backend.count = false
    t.send(publish('a/b', 1, 2))
    expect(await t.expect('puback')).toMatchObject({ reasonCode: 0 })
  })

  it('answers a resent QoS 2 PUBLISH, not relayed again, with PUBREC 0x00', async () => {
    const { stack, backend } = setup5()
    backend.count = true
    const { t } = await client5(stack)
    t.send(publish('a/b', 2, 5))
    expect(await t.expect('pubrec')).toMatchObject({ reasonCode: 0x10 })
    t.send(publish('a/b', 2, 5, true))
    expect(await t.expect('pubrec')).toMatchObject({ reasonCode: 0 })
    expect(backend.relayed).toHaveLength(1)
  })

  it('sends a 3.1.1 client a plain PUBACK and PUBREC when no subscription matched', async () => {
    const { stack, backend } = setup5()
    backend.count = true
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'old' })
    t.send(publish('a/b', 1, 1))
    t.send(publish('a/b', 2, 2))
    expect(await drainUntilPingresp(t)).toEqual(['puback', 'pubrec'])
    for (const ack of t.received.slice(-3, -1)) expect(ack).not.toHaveProperty('reasonCode')
  })

  it('answers a 3.1.1 PUBREL for an unknown id with a plain PUBCOMP', async () => {
    const { stack } = setup5()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'old' })
    const written = recordWrites(t.client)
    t.send({ cmd: 'pubrel', messageId: 9 })
    expect(await t.expect('pubcomp')).toEqual(expect.objectContaining({ messageId: 9 }))
    expect(t.received.at(-1)).not.toHaveProperty('reasonCode')
    expect(written).toHaveLength(1)
  })
})

/** A backend whose relays wait for the test: each is answered (or failed) by itself, in any order. */
function slowRelays(inbound = new InboundManager()) {
  const waiting: { packet: IPublishPacket; answeredBefore: number; answer: (err?: Error) => void }[] = []
  let answered = 0
  const counted: { count: number; resolve: () => void }[] = []
  const backend: MiddlewareLike = {
    name: 'slow-relays',
    callbacks: (): CallbackHandlers => ({
      storeIncomingMessage(_ctx, store, _next, done) {
        store.duplicate = false
        done()
      },
      releaseIncomingMessage(_ctx, _store, _next, done) {
        done()
      },
      relayMessage(ctx, store, next, done) {
        store.matched = 1
        waiting.push({
          packet: ctx.packet,
          answeredBefore: answered,
          answer: (err) => {
            answered++
            if (err) next(err)
            else done()
          },
        })
        for (const c of counted.filter((c) => waiting.length >= c.count)) c.resolve()
      },
    }),
  }
  const stack = new Stack()
    .use(acceptConnections({ answerPings: true }))
    .use(inbound)
    .use(backend)
  const errors = collectErrors(stack)
  open.push(stack)
  /** Resolves once `count` relays have been asked for. */
  const relays = (count: number): Promise<void> =>
    waiting.length >= count ? Promise.resolve() : new Promise((resolve) => counted.push({ count, resolve }))
  return { stack, waiting, errors, relays }
}

describe('InboundManager: relays that answer later (an asynchronous backend)', () => {
  it('[MQTT-4.6.0-2] relays the next QoS 1 PUBLISH while one is answered later, and sends the PUBACKs in the order the PUBLISH packets came', async () => {
    const { stack, waiting, relays } = slowRelays()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'pub' })
    for (let id = 1; id <= 3; id++) t.send(publish(`a/${id}`, 1, id))
    // All three relays run at once: the client was not held back by the first.
    await relays(3)
    expect(waiting.map((w) => [w.packet.messageId, w.answeredBefore])).toEqual([
      [1, 0],
      [2, 0],
      [3, 0],
    ])
    waiting[2]!.answer()
    waiting[1]!.answer()
    // Answered, but behind message 1: no PUBACK yet.
    expect(await drainUntilPingresp(t)).toEqual([])
    waiting[0]!.answer()
    const acks = [await t.expect('puback'), await t.expect('puback'), await t.expect('puback')]
    expect(acks.map((ack) => ack.messageId)).toEqual([1, 2, 3])
  })

  it('a relay that fails closes the client: neither its PUBLISH nor those after it are acknowledged', async () => {
    const { stack, waiting, errors, relays } = slowRelays()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'pub' })
    for (let id = 1; id <= 3; id++) t.send(publish(`a/${id}`, 1, id))
    await relays(3)
    waiting[0]!.answer()
    expect((await t.expect('puback')).messageId).toBe(1)
    waiting[2]!.answer()
    waiting[1]!.answer(new Error('store down'))
    await t.closed()
    expect(t.received.filter((p) => p.cmd === 'puback')).toHaveLength(1)
    expect(errors.map((e) => (e.cause as Error | undefined)?.message ?? e.message)).toContain('store down')
  })

  it('[MQTT-4.6.0-3] a QoS 2 PUBLISH waits until the relays before it are answered: its PUBREC comes after their PUBACKs', async () => {
    const { stack, waiting, relays } = slowRelays()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'pub' })
    t.send(publish('a/1', 1, 1))
    t.send(publish('a/2', 2, 2))
    await relays(1)
    waiting[0]!.answer()
    expect((await t.expect('puback')).messageId).toBe(1)
    await relays(2)
    // Relayed only once the QoS 1 relay before it was answered.
    expect(waiting[1]!.answeredBefore).toBe(1)
    waiting[1]!.answer()
    expect((await t.expect('pubrec')).messageId).toBe(2)
  })

  it('MQTT 5.0: [MQTT-3.3.4-7] runs no more QoS 1 relays at once than its Receive Maximum: the next PUBLISH waits for an answer, and the client is not disconnected', async () => {
    const { stack, waiting, relays } = slowRelays(new InboundManager({ receiveMaximum: 2 }))
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'pub', protocolVersion: 5 })
    for (let id = 1; id <= 3; id++) t.send(publish(`a/${id}`, 1, id))
    await relays(2)
    waiting[0]!.answer()
    expect((await t.expect('puback')).messageId).toBe(1)
    await relays(3)
    expect(waiting[2]!.answeredBefore).toBe(1)
    waiting[1]!.answer()
    waiting[2]!.answer()
    expect((await t.expect('puback')).messageId).toBe(2)
    expect((await t.expect('puback')).messageId).toBe(3)
  })

  it('does not pipeline QoS 0: a QoS 0 PUBLISH behind a QoS 1 one is relayed once that one is answered', async () => {
    const { stack, waiting, relays } = slowRelays()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'pub' })
    t.send(publish('a/1', 1, 1))
    t.send(publish('a/2', 0))
    await relays(1)
    waiting[0]!.answer()
    expect((await t.expect('puback')).messageId).toBe(1)
    await relays(2)
    expect(waiting[1]!.answeredBefore).toBe(1)
  })

  it('holds the client back once PIPELINE_DEPTH relays run: the next PUBLISH is relayed when one is answered', async () => {
    const { stack, waiting, relays } = slowRelays()
    const t = connectTestClient(stack)
    await t.connect({ clientId: 'pub' })
    for (let id = 1; id <= PIPELINE_DEPTH + 1; id++) t.send(publish(`a/${id}`, 1, id))
    await relays(PIPELINE_DEPTH)
    waiting[0]!.answer()
    expect((await t.expect('puback')).messageId).toBe(1)
    await relays(PIPELINE_DEPTH + 1)
    const last = waiting.at(-1)!
    expect(last.packet.messageId).toBe(PIPELINE_DEPTH + 1)
    expect(last.answeredBefore).toBe(1)
  })
})
