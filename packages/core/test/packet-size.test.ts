import { describe, expect, it } from 'vitest'
import { type Client, ErrorCode, type Next, type Packet, Stack } from '../src/index.js'
import type { PacketPeer } from '../src/testing/index.js'
import { tcpHarness } from './helpers.js'

/**
 * A client's Maximum Packet Size over a real socket: a packet other than PUBLISH that would be larger goes
 * without its Reason String, then without its User Properties, rather than not at all; a PUBLISH is never
 * cut, it is discarded whole.
 */

const tcp = tcpHarness()

/** What the stack below puts on every answer: both properties a receiver's size may leave out. */
const PROBLEM = Object.freeze({
  reasonString: 'a Reason String that the smallest clients cannot take',
  userProperties: Object.freeze({ origin: 'packet-size test' }),
})

/**
 * A stack that answers CONNECT with a plain CONNACK, PUBLISH (QoS 1) with PUBACK 0x80, SUBSCRIBE with SUBACK
 * 0x80, UNSUBSCRIBE with UNSUBACK 0x80 and PINGREQ with DISCONNECT 0x83, each carrying PROBLEM.
 */
async function listen(): Promise<{ port: number; stack: Stack }> {
  const stack = new Stack()
  stack.use({
    handle(client: Client, packet: Packet, next: Next) {
      const properties = { ...PROBLEM }
      switch (packet.cmd) {
        case 'connect':
          client.id = packet.clientId
          client.write({ cmd: 'connack', reasonCode: 0, sessionPresent: false })
          break
        case 'publish':
          client.write({ cmd: 'puback', messageId: packet.messageId!, reasonCode: 0x80, properties })
          break
        case 'subscribe':
          client.write({ cmd: 'suback', messageId: packet.messageId!, granted: [0x80], properties })
          break
        case 'unsubscribe':
          client.write({ cmd: 'unsuback', messageId: packet.messageId!, granted: [0x80], properties })
          break
        case 'pingreq':
          client.write({ cmd: 'disconnect', reasonCode: 0x83, properties })
          client.close()
          break
      }
      next()
    },
  })
  return { port: await tcp.listen(stack), stack }
}

/** A 5.0 client over TCP, connected with `maximumPacketSize` if given. */
async function connect5(port: number, clientId: string, maximumPacketSize?: number): Promise<PacketPeer> {
  const peer = await tcp.connect(port, { protocolVersion: 5 })
  await peer.connect({
    protocolVersion: 5,
    clientId,
    ...(maximumPacketSize === undefined ? {} : { properties: { maximumPacketSize } }),
  })
  return peer
}

/** The size of a packet as it was on the wire, fixed header included (the test client's `length` is the rest). */
function size(packet: Packet): number {
  const length = packet.length!
  return 1 + (length < 0x80 ? 1 : length < 0x4000 ? 2 : 3) + length
}

/** A packet without its properties and length: the fields a smaller version must keep. */
function rest(packet: Packet): object {
  const { properties: _properties, length: _length, ...fields } = packet as Packet & { properties?: unknown }
  return fields
}

/**
 * Sends `trigger` from three clients and checks the `answer` each gets: with both properties (no limit),
 * without the Reason String (a limit one byte short of that), without the User Properties too (one byte
 * short of the second), the rest of the packet the same.
 */
async function shrinks(
  answer: 'puback' | 'suback' | 'unsuback' | 'disconnect',
  trigger: Packet,
): Promise<void> {
  const { port } = await listen()
  const wide = await connect5(port, 'wide')
  wide.send(trigger)
  const full = await wide.expect(answer)
  expect(full).toMatchObject({ properties: PROBLEM })

  const short = await connect5(port, 'short', size(full) - 1)
  short.send(trigger)
  const withoutReason = await short.expect(answer)
  expect(size(withoutReason)).toBeLessThan(size(full))
  expect(withoutReason.properties).toEqual({ userProperties: PROBLEM.userProperties })
  expect(rest(withoutReason)).toEqual(rest(full))

  const shorter = await connect5(port, 'shorter', size(withoutReason) - 1)
  shorter.send(trigger)
  const bare = await shorter.expect(answer)
  expect(size(bare)).toBeLessThan(size(withoutReason))
  expect(bare.properties ?? {}).toEqual({})
  expect(rest(bare)).toEqual(rest(full))
}

describe('MQTT 5.0: packets too large for the client lose their Reason String, then their User Properties', () => {
  it('[MQTT-3.4.2-2] [MQTT-3.4.2-3] a PUBACK one byte too large for the client', async () => {
    await shrinks('puback', {
      cmd: 'publish',
      topic: 't',
      payload: Buffer.from('m'),
      qos: 1,
      messageId: 1,
      retain: false,
      dup: false,
    })
  })

  it('[MQTT-3.9.2-1] [MQTT-3.9.2-2] a SUBACK one byte too large for the client', async () => {
    await shrinks('suback', { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 't', qos: 0 }] })
  })

  it('[MQTT-3.11.2-1] [MQTT-3.11.2-2] an UNSUBACK one byte too large for the client', async () => {
    await shrinks('unsuback', { cmd: 'unsubscribe', messageId: 1, unsubscriptions: ['t'] })
  })

  it('[MQTT-3.14.2-3] [MQTT-3.14.2-4] a DISCONNECT one byte too large for the client', async () => {
    await shrinks('disconnect', { cmd: 'pingreq' })
  })

  it('[MQTT-3.14.2-3] a DISCONNECT from close() with an error loses the Reason String it would carry', async () => {
    const { port, stack } = await listen()
    const sizes: number[] = []
    for (const [clientId, limit] of [
      ['wide', undefined],
      ['tiny', 5],
    ] as const) {
      const peer = await connect5(port, clientId, limit)
      const client = [...stack.clients].find((c) => c.id === clientId)
      client!.close(0x82, new Error('a protocol error explained at some length'))
      const disconnect = await peer.expect('disconnect')
      expect(disconnect.reasonCode).toBe(0x82)
      expect(disconnect.properties?.reasonString).toBe(
        limit === undefined ? 'a protocol error explained at some length' : undefined,
      )
      sizes.push(size(disconnect))
      await peer.closed()
    }
    expect(sizes[1]).toBeLessThanOrEqual(5)
  })

  it('[MQTT-3.1.2-25] a PUBLISH too large with its User Properties is discarded whole, not cut', async () => {
    const { port, stack } = await listen()
    const peer = await connect5(port, 'small', 40)
    const [client] = stack.clients
    const publish = (payload: string, userProperties?: Record<string, string>): Packet => ({
      cmd: 'publish',
      topic: 't',
      payload: Buffer.from(payload),
      qos: 0,
      retain: false,
      dup: false,
      ...(userProperties === undefined ? {} : { properties: { userProperties } }),
    })
    const err = await new Promise<Error | null | undefined>((resolve) =>
      client!.write(publish('big', { origin: 'a User Property that does not fit' }), resolve),
    )
    expect(err).toMatchObject({ code: ErrorCode.MESSAGE_DROPPED })
    client!.write(publish('small'))
    expect(await peer.expect('publish')).toMatchObject({ payload: Buffer.from('small') })
    expect(client!.droppedMessages).toBe(1)
  })
})
