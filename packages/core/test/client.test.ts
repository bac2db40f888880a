import { Duplex } from 'node:stream'
import { describe, expect, it, vi } from 'vitest'
import {
  type CallbackContext,
  type Client,
  CodecProblem,
  type Done,
  ErrorCode,
  type Next,
  type Packet,
  Stack,
  serializePacket,
} from '../src/index.js'
import { connectTestClient } from '../src/testing/index.js'
import { collectErrors } from './helpers.js'

/** Answers CONNECT with a CONNACK (with properties for 5.0) and PINGREQ with PINGRESP; records packets. */
function echoBroker(options: ConstructorParameters<typeof Stack>[0] = {}) {
  const { stack, errors, contexts } = collectErrors(new Stack(options))
  const seen: Packet[] = []
  stack.use({
    handle(client: Client, packet: Packet, next: Next) {
      seen.push(packet)
      if (packet.cmd === 'connect') {
        client.write(
          client.protocolVersion === 5
            ? { cmd: 'connack', reasonCode: 0, sessionPresent: false, properties: { topicAliasMaximum: 7 } }
            : { cmd: 'connack', returnCode: 0, sessionPresent: false },
        )
      }
      if (packet.cmd === 'pingreq') client.write({ cmd: 'pingresp' })
      next()
    },
  })
  return { stack, errors, contexts, seen }
}

const CONNECT_V5 = {
  cmd: 'connect',
  protocolId: 'MQTT',
  protocolVersion: 5,
  clean: true,
  clientId: 'five',
  keepalive: 0,
  properties: { sessionExpiryInterval: 120 },
} as const

/** A stream whose reader never reads: writes pile up in its writable buffer. */
class StalledStream extends Duplex {
  override _read() {}
  override _write(_chunk: Buffer, _encoding: string, _callback: () => void) {}
}

/** A stream that records how writes reach it: one `_writev` call per batch. */
class BatchRecorder extends Duplex {
  readonly batches: number[] = []
  override _read() {}
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: () => void) {
    this.batches.push(chunks.length)
    callback()
  }
  override _write(_chunk: Buffer, _encoding: string, callback: () => void) {
    this.batches.push(1)
    callback()
  }
}

const publish = (qos: 0 | 1, size: number, messageId?: number): Packet => ({
  cmd: 'publish',
  topic: 't',
  payload: Buffer.alloc(size),
  qos,
  dup: false,
  retain: false,
  ...(messageId === undefined ? {} : { messageId }),
})

describe('Client: parsing', () => {
  it('follows the protocol level of CONNECT: 5.0 properties are parsed both ways', async () => {
    const { stack, seen } = echoBroker()
    const t = connectTestClient(stack)
    t.send(CONNECT_V5)
    const connack = await t.expect('connack')
    expect(connack).toMatchObject({ reasonCode: 0, properties: { topicAliasMaximum: 7 } })
    t.send({ ...publish(0, 1), properties: { userProperties: { k: 'v' } } } as Packet)
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
    expect(t.client.protocolVersion).toBe(5)
    expect(seen[0]).toMatchObject({ cmd: 'connect', properties: { sessionExpiryInterval: 120 } })
    expect(seen[1]).toMatchObject({ cmd: 'publish', properties: { userProperties: { k: 'v' } } })
    await stack.close()
  })

  it('speaks MQTT 3.1 (MQIsdp, level 3) to a 3.1 client', async () => {
    const { stack } = echoBroker()
    const t = connectTestClient(stack, { protocolVersion: 3 })
    const connack = await t.connect({ protocolId: 'MQIsdp', protocolVersion: 3, clientId: 'old' })
    expect(connack.returnCode).toBe(0)
    expect(t.client.protocolVersion).toBe(3)
    await stack.close()
  })

  it('[MQTT-2.2.2-2] [MQTT-3.8.1-1] a malformed packet closes that client only, and is reported', async () => {
    const { stack, errors, contexts } = echoBroker()
    const bad = connectTestClient(stack)
    const good = connectTestClient(stack)
    await bad.connect()
    await good.connect()
    bad.sendRaw(Uint8Array.of(0x80, 0x00)) // SUBSCRIBE with reserved flags 0000 instead of 0010
    await bad.closed()
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.MALFORMED_PACKET])
    expect(contexts[0]?.client).toBe(bad.client)
    good.send({ cmd: 'pingreq' })
    await good.expect('pingresp')
    await stack.close()
  })

  /** CONNECT, protocol name MQTT, level 6, clean session, keepalive 0, client id "x". */
  const CONNECT_LEVEL_6 = Buffer.from('100d00044d51545406020000000178', 'hex')

  it('[MQTT-3.1.2-2] a CONNECT at an unsupported protocol level goes to decodeFailed with its typed problem; then the client closes', async () => {
    const { stack, errors, seen } = echoBroker()
    const failures: unknown[] = []
    stack.use({
      decodeFailed(ctx: CallbackContext<'decodeFailed'>, _store: object, next: Next) {
        failures.push(ctx.problem, ctx.error.code, ctx.client.closed)
        // What a middleware answers goes out before the connection closes.
        ctx.client.write({ cmd: 'connack', returnCode: 1, sessionPresent: false })
        next()
      },
    })
    const t = connectTestClient(stack)
    t.sendRaw(CONNECT_LEVEL_6)
    expect(await t.expect('connack')).toMatchObject({ returnCode: 1, sessionPresent: false })
    await t.closed()
    expect(failures).toEqual([CodecProblem.UNSUPPORTED_PROTOCOL_VERSION, ErrorCode.PROTOCOL_ERROR, false])
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.PROTOCOL_ERROR])
    expect(seen).toEqual([])
    await stack.close()
  })

  it('closes the client on a decoding failure that no middleware answers, writing nothing', async () => {
    const { stack, errors } = echoBroker()
    const t = connectTestClient(stack)
    t.sendRaw(CONNECT_LEVEL_6)
    await t.closed()
    expect(t.received).toEqual([])
    expect(errors.map((e) => [e.code, e.reasonCode])).toEqual([[ErrorCode.PROTOCOL_ERROR, 0x82]])
    await stack.close()
  })

  it('processes nothing queued before a decoding failure, while decodeFailed is answered asynchronously', async () => {
    const { stack, errors } = collectErrors(new Stack())
    const handled: string[] = []
    let releasePing: (() => void) | undefined
    let releaseFailure: (() => void) | undefined
    const answering = new Promise<void>((resolve) => {
      stack.use({
        handle(client: Client, packet: Packet, next: Next) {
          handled.push(packet.cmd)
          if (packet.cmd === 'connect') client.write({ cmd: 'connack', returnCode: 0, sessionPresent: false })
          if (packet.cmd === 'pingreq' && releasePing === undefined) releasePing = next
          else next()
        },
        decodeFailed(_ctx: CallbackContext<'decodeFailed'>, _store: object, next: Next) {
          releaseFailure = next
          resolve()
        },
      })
    })
    const t = connectTestClient(stack)
    await t.connect()
    // Two PINGREQs, the first held in its chain, then a SUBSCRIBE with reserved flags 0000.
    t.sendRaw(Uint8Array.of(0xc0, 0x00, 0xc0, 0x00, 0x80, 0x00))
    await answering
    releasePing!()
    expect(t.client.closed).toBe(false)
    releaseFailure!()
    await t.closed()
    expect(handled).toEqual(['connect', 'pingreq'])
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.MALFORMED_PACKET])
    await stack.close()
  })

  it('[MQTT-4.8.0-1] a remaining length of more than four bytes is malformed', async () => {
    const { stack, errors } = echoBroker()
    const t = connectTestClient(stack)
    await t.connect()
    t.sendRaw(Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0xff, 0x01))
    await t.closed()
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.MALFORMED_PACKET])
    await stack.close()
  })

  it('refuses a packet over maxPacketSize from its header alone, before the body arrives', async () => {
    const { stack, errors, seen } = echoBroker({ client: { maxPacketSize: 1024 } })
    const t = connectTestClient(stack)
    await t.connect()
    t.sendRaw(Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0x7f)) // announces 268 MB, sends nothing more
    await t.closed()
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.PACKET_TOO_LARGE])
    expect(seen.map((p) => p.cmd)).toEqual(['connect'])
    await stack.close()
  })

  it('tells an MQTT 5.0 client why with DISCONNECT 0x95 (Packet too large) before closing', async () => {
    const { stack } = echoBroker({ client: { maxPacketSize: 100 } })
    const t = connectTestClient(stack)
    t.send(CONNECT_V5)
    await t.expect('connack')
    t.send(publish(0, 200))
    const disconnect = await t.expect('disconnect')
    expect(disconnect.reasonCode).toBe(0x95)
    await t.closed()
    await stack.close()
  })

  it('accepts a packet of exactly maxPacketSize', async () => {
    const { stack, seen } = echoBroker({ client: { maxPacketSize: 100 } })
    const t = connectTestClient(stack)
    await t.connect()
    const bytes = serializePacket(publish(0, 100 - 5), 4) // 2 header + 3 topic = 5
    expect(bytes.length).toBe(100)
    t.sendRaw(bytes)
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
    expect(seen.map((p) => p.cmd)).toEqual(['connect', 'publish', 'pingreq'])
    await stack.close()
  })

  it('pauses reading while too many packets wait for a slow chain, and resumes after', async () => {
    const stack = new Stack({ client: { maxQueuedPackets: 2 } })
    const held: Array<() => void> = []
    stack.use({
      handle(_c: Client, _p: Packet, next: Next) {
        held.push(() => next())
      },
    })
    const stream = new StalledStream()
    const client = stack.handler()(stream)
    const bytes = Buffer.concat([1, 2, 3].map(() => serializePacket({ cmd: 'pingreq' }, 4)))
    stream.push(bytes)
    await new Promise<void>((resolve) => stream.once('pause', () => resolve()))
    expect(stream.isPaused()).toBe(true)
    while (held.length > 0) held.shift()?.()
    expect(stream.isPaused()).toBe(false)
    client.destroy()
    await stack.close()
  })
})

describe('Client: fairness between connections', () => {
  it('gives one client at most timePerTurn of a turn of the event loop, so others are served between', async () => {
    const stack = new Stack({ client: { timePerTurn: 5 } })
    const order: string[] = []
    stack.use({
      handle(client: Client, _p: Packet, next: Next) {
        order.push(client.id)
        // Each packet costs 1 ms of work.
        const until = performance.now() + 1
        while (performance.now() < until) {
          // busy
        }
        next()
      },
    })
    const flooder = new StalledStream()
    const other = new StalledStream()
    const accept = stack.handler()
    accept(flooder).id = 'flooder'
    accept(other).id = 'other'
    const ping = serializePacket({ cmd: 'pingreq' }, 4)
    // One read of 100 packets from the flooder, then one packet from the other client.
    flooder.push(Buffer.concat(Array.from({ length: 100 }, () => ping)))
    other.push(ping)
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (order.length === 101) resolve()
        else setImmediate(check)
      }
      check()
    })
    // The flooder had its turn's worth (about 5 of its 100 packets; fewer when the machine is busy), then
    // waited: the other client's packet went before most of the rest, not after all 100.
    const at = order.indexOf('other')
    expect(at).toBeGreaterThan(0)
    expect(at).toBeLessThan(50)
    expect(order.filter((id) => id === 'flooder')).toHaveLength(100)
    // Reading was paused while the flooder waited, and is resumed once it has caught up.
    expect(flooder.isPaused()).toBe(false)
    await stack.close()
  })
})

describe('Client: MQTT 5.0 topic aliases and maximum packet size', () => {
  const aliased = (topic: string, topicAlias: number): Packet =>
    ({ ...publish(0, 1), topic, properties: { topicAlias } }) as Packet

  it('[MQTT-3.3.2-12] resolves inbound topic aliases before any middleware sees the packet, and drops the alias', async () => {
    const { stack, seen } = echoBroker()
    const t = connectTestClient(stack)
    t.send(CONNECT_V5)
    await t.expect('connack')
    t.send(aliased('sensors/1', 3))
    t.send(aliased('', 3))
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
    const publishes = seen.filter((p) => p.cmd === 'publish')
    expect(publishes.map((p) => (p as { topic: string }).topic)).toEqual(['sensors/1', 'sensors/1'])
    expect(publishes.map((p) => (p as { properties?: object }).properties)).toEqual([{}, {}])
    await stack.close()
  })

  it('[MQTT-3.3.2-9] closes with 0x94 for an alias above the server maximum, 0x82 for one never set', async () => {
    const { stack, errors } = echoBroker({ client: { topicAliasMaximum: 2 } })
    const over = connectTestClient(stack)
    over.send(CONNECT_V5)
    await over.expect('connack')
    over.send(aliased('a', 3))
    expect(await over.expect('disconnect')).toMatchObject({ reasonCode: 0x94 })
    const unknown = connectTestClient(stack)
    unknown.send({ ...CONNECT_V5, clientId: 'other' })
    await unknown.expect('connack')
    unknown.send(aliased('', 1))
    expect(await unknown.expect('disconnect')).toMatchObject({ reasonCode: 0x82 })
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.PROTOCOL_ERROR, ErrorCode.PROTOCOL_ERROR])
    await stack.close()
  })

  it("[MQTT-3.1.2-24] never sends a packet larger than the client's Maximum Packet Size", async () => {
    const { stack } = echoBroker()
    const t = connectTestClient(stack)
    t.send({ ...CONNECT_V5, properties: { maximumPacketSize: 64 } })
    await t.expect('connack')
    expect(t.client.maxOutgoingPacketSize).toBe(64)
    const err = await new Promise<Error | null | undefined>((resolve) =>
      t.client.write(publish(1, 100, 1), resolve),
    )
    expect(err).toMatchObject({ code: ErrorCode.MESSAGE_DROPPED })
    expect(t.client.droppedMessages).toBe(1)
    t.client.write(publish(0, 10))
    expect(await t.expect('publish')).toMatchObject({ topic: 't' })
    expect(t.client.limits.maxPacketSize).toBe(1024 * 1024)
    await stack.close()
  })
})

describe('Client: writing', () => {
  it('write after close calls back with MQS_ERR_CLIENT_CLOSED instead of hanging', async () => {
    const { stack } = echoBroker()
    const t = connectTestClient(stack)
    await t.connect()
    t.client.close()
    const err = await new Promise<Error | null | undefined>((resolve) =>
      t.client.write({ cmd: 'pingresp' }, resolve),
    )
    expect(err).toMatchObject({ code: ErrorCode.CLIENT_CLOSED })
    await t.closed()
    await stack.close()
  })

  it('a packet that cannot be serialised is reported and the client stays open', async () => {
    const { stack, errors } = echoBroker()
    const t = connectTestClient(stack)
    await t.connect()
    const err = await new Promise<Error | null | undefined>((resolve) =>
      t.client.write({ cmd: 'publish', topic: 't', payload: '', qos: 1, dup: false, retain: false }, resolve),
    )
    expect(err).toMatchObject({ code: ErrorCode.SERIALIZE })
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.SERIALIZE])
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
    await stack.close()
  })

  it('drained() waits while half of dropQoS0Above is buffered, and ends when the client closes', async () => {
    const stack = new Stack({ client: { dropQoS0Above: 200 } })
    const stream = new StalledStream({ highWaterMark: 64 })
    const client = stack.handler()(stream)
    client.write(publish(0, 50))
    await client.drained() // under half of 200 bytes: at once
    client.write(publish(0, 100))
    expect(stream.writableLength).toBeGreaterThan(100)
    let drained = false
    const waiting = client.drained().then(() => {
      drained = true
    })
    await new Promise((resolve) => setImmediate(resolve))
    expect(drained).toBe(false)
    client.destroy()
    await waiting
    await stack.close()
  })

  it('drained() resolves when the stream drains', async () => {
    const stack = new Stack({ client: { dropQoS0Above: 100 } })
    const held: Array<() => void> = []
    const stream = new Duplex({
      highWaterMark: 64,
      read() {},
      write(_chunk, _encoding, callback) {
        held.push(callback)
      },
    })
    const client = stack.handler()(stream)
    client.write(publish(0, 100))
    const waiting = client.drained()
    await new Promise((resolve) => setImmediate(resolve)) // the tick's cork is released
    while (held.length > 0) held.shift()?.()
    await waiting
    expect(client.closed).toBe(false)
    client.destroy()
    await stack.close()
  })

  it('batches the writes of one tick into one write to the stream', async () => {
    const stack = new Stack()
    const stream = new BatchRecorder()
    const client = stack.handler()(stream)
    for (let i = 0; i < 3; i++) client.write({ cmd: 'pingresp' })
    await new Promise((resolve) => setImmediate(resolve))
    client.write({ cmd: 'pingresp' })
    await new Promise((resolve) => setImmediate(resolve))
    expect(stream.batches).toEqual([3, 1])
    client.destroy()
    await stack.close()
  })

  it('drops QoS 0 for a slow reader, keeps QoS 1, then disconnects it: memory stays bounded', async () => {
    const { stack, errors } = collectErrors(
      new Stack({ client: { dropQoS0Above: 1000, disconnectAbove: 5000, closeTimeout: 10 } }),
    )
    const stream = new StalledStream()
    const client = stack.handler()(stream)
    const closed = new Promise((resolve) => client.once('close', resolve))
    const qos0Results: Array<Error | null | undefined> = []
    for (let i = 0; i < 20; i++) client.write(publish(0, 100), (err) => qos0Results.push(err))
    expect(stream.writableLength).toBeLessThanOrEqual(1000 + 110)
    expect(client.droppedMessages).toBeGreaterThan(0)
    let accepted = 0
    for (let i = 1; i <= 100 && !client.closed; i++) {
      client.write(publish(1, 100, i))
      if (!client.closed) accepted++
      expect(stream.writableLength).toBeLessThanOrEqual(5000 + 110)
    }
    expect(accepted).toBeGreaterThan(30)
    expect(client.closed).toBe(true)
    await closed
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.SLOW_CONSUMER])
    expect(qos0Results.some((err) => (err as { code?: string })?.code === ErrorCode.MESSAGE_DROPPED)).toBe(
      true,
    )
    await stack.close()
  })
})

describe('Client: close', () => {
  it('[MQTT-3.14.0-1] sends an MQTT 5.0 client DISCONNECT with the reason code, after CONNACK', async () => {
    const { stack } = echoBroker()
    const t = connectTestClient(stack)
    t.send(CONNECT_V5)
    await t.expect('connack')
    t.client.close(0x8e, new Error('another connection took this client id'))
    expect(await t.expect('disconnect')).toMatchObject({
      reasonCode: 0x8e,
      properties: { reasonString: 'another connection took this client id' },
    })
    expect(t.client.problemInformation).toBe(true)
    await t.closed()
    await stack.close()
  })

  it('[MQTT-3.1.2-29] remembers an MQTT 5.0 client that asks for no problem information', async () => {
    const { stack } = echoBroker()
    const t = connectTestClient(stack)
    t.send({ ...CONNECT_V5, properties: { requestProblemInformation: false } })
    await t.expect('connack')
    expect(t.client.problemInformation).toBe(false)
    await stack.close()
  })

  it('[MQTT-3.14.0-1] sends no DISCONNECT to an MQTT 5.0 client before its CONNACK', async () => {
    const stack = new Stack()
    const t = connectTestClient(stack, { protocolVersion: 5 })
    t.send(CONNECT_V5)
    await new Promise((resolve) => setImmediate(resolve))
    t.client.close(0x87)
    await t.closed()
    expect(t.received).toEqual([])
    await stack.close()
  })

  it('sends no DISCONNECT to an MQTT 3.1.1 client', async () => {
    const { stack } = echoBroker()
    const t = connectTestClient(stack)
    await t.connect()
    t.client.close(0x8e)
    await t.closed()
    expect(t.received.map((p) => p.cmd)).toEqual(['connack'])
    await stack.close()
  })

  it('emits close once with the error that ended it; a clean peer close has none', async () => {
    const { stack } = echoBroker()
    const clean = connectTestClient(stack)
    const cleanClose = new Promise((resolve) => clean.client.once('close', resolve))
    clean.end()
    expect(await cleanClose).toBeUndefined()
    const broken = connectTestClient(stack)
    await broken.connect()
    const brokenClose = new Promise((resolve) => broken.client.once('close', resolve))
    broken.sendRaw(Uint8Array.of(0xf0, 0x00)) // AUTH before 5.0: not a 3.1.1 packet
    expect(await brokenClose).toMatchObject({ code: ErrorCode.MALFORMED_PACKET })
    await stack.close()
  })

  it('a refused 3.1.1 CONNACK does not count as sent; an accepted one does', async () => {
    const stack = new Stack()
    stack.use({
      handle(client: Client, packet: Packet, next: Next) {
        const refuse = packet.cmd === 'connect' && packet.clientId === 'refused'
        client.write({ cmd: 'connack', returnCode: refuse ? 5 : 0, sessionPresent: false })
        next()
      },
    })
    const refused = connectTestClient(stack)
    expect(await refused.connect({ clientId: 'refused' })).toMatchObject({ returnCode: 5 })
    expect(refused.client.connackSent).toBe(false)
    const accepted = connectTestClient(stack)
    await accepted.connect({ clientId: 'accepted' })
    expect(accepted.client.connackSent).toBe(true)
    await stack.close()
  })

  it('the harness destroy() reaches the broker as a dropped connection', async () => {
    const { stack } = echoBroker()
    const t = connectTestClient(stack)
    await t.connect()
    const closed = new Promise((resolve) => t.client.once('close', resolve))
    t.destroy()
    await closed
    expect(t.client.closed).toBe(true)
    await stack.close()
  })

  it('ends its side of the stream once, whether the peer or the broker ended first', async () => {
    // Ending a stream already ended builds an ERR_STREAM_ALREADY_FINISHED, stack trace and all, for nothing.
    const stack = new Stack()
    for (const brokerFirst of [true, false]) {
      const stream = new Duplex({
        allowHalfOpen: false,
        read() {},
        write: (_chunk, _encoding, callback) => callback(),
      })
      const end = vi.spyOn(stream, 'end')
      const client = stack.handler()(stream)
      const closed = new Promise((resolve) => client.once('close', resolve))
      if (brokerFirst) client.close()
      stream.push(null)
      stream.resume()
      await new Promise((resolve) => stream.once('finish', resolve))
      stream.destroy()
      await closed
      expect(end, brokerFirst ? 'broker first' : 'peer first').toHaveBeenCalledTimes(1)
    }
    await stack.close()
  })

  it('a client that never reads is destroyed after closeTimeout', async () => {
    const stack = new Stack({ client: { closeTimeout: 5 } })
    const stream = new StalledStream()
    const client = stack.handler()(stream)
    client.write({ cmd: 'pingresp' })
    client.close()
    await new Promise((resolve) => client.once('close', resolve))
    expect(stream.destroyed).toBe(true)
    await stack.close()
  })
})

describe('done() ends the chain without closing the client', () => {
  it('keeps serving after a chain that ended with done()', async () => {
    const stack = new Stack()
    stack.use({
      handle(client: Client, packet: Packet, _next: Next, done: Done) {
        if (packet.cmd === 'connect') client.write({ cmd: 'connack', returnCode: 0, sessionPresent: false })
        if (packet.cmd === 'pingreq') client.write({ cmd: 'pingresp' })
        done()
      },
    })
    const t = connectTestClient(stack)
    await t.connect()
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
    await stack.close()
  })
})
