import { EventEmitter, once } from 'node:events'
import { type Client, ErrorCode, type MqttStackError, type Next, type Packet, Stack } from '@mqtt-stack/core'
import { connectTestClient } from '@mqtt-stack/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { PacketEmitter, type PacketEmitterEvents } from '../src/index.js'

/** A stand-in for the rest of a broker: CONNACK, PINGRESP; records what reaches it. */
function restOfBroker(passed: Packet[]) {
  return {
    name: 'fake-broker',
    handle(client: Client, packet: Packet, next: Next, done: Next) {
      passed.push(packet)
      if (packet.cmd === 'connect') client.write({ cmd: 'connack', returnCode: 0, sessionPresent: false })
      if (packet.cmd === 'pingreq') client.write({ cmd: 'pingresp' })
      if (packet.cmd === 'disconnect') client.close()
      if (packet.cmd === 'connect' || packet.cmd === 'pingreq') done()
      else next()
    },
  }
}

/** Records the events of an emitter, in order. */
function record(events: EventEmitter<PacketEmitterEvents>) {
  const log: string[] = []
  events.on('client', () => log.push('client'))
  events.on('packet', (packet) => log.push(`packet ${packet.cmd}`))
  events.on('close', (_client, error) => log.push(`close ${error?.message ?? ''}`.trim()))
  return log
}

let stack: Stack
afterEach(async () => {
  await stack.close()
})

function newStack() {
  stack = new Stack()
  const errors: MqttStackError[] = []
  stack.on('error', (err) => errors.push(err))
  return errors
}

describe('packet-emitter', () => {
  it('emits client on connection, packet (packet, client) for every packet, close (client, error) at the end', async () => {
    newStack()
    const events = new EventEmitter<PacketEmitterEvents>()
    const log = record(events)
    const seen: Array<{ packet: Packet; client: Client }> = []
    events.on('packet', (packet, client) => seen.push({ packet, client }))
    const passed: Packet[] = []
    stack.use(new PacketEmitter({ emitter: events })).use(restOfBroker(passed))
    const announced = once(events, 'client')
    const t = connectTestClient(stack)
    expect(await announced).toEqual([t.client])
    await t.connect()
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
    const closed = once(events, 'close')
    t.client.destroy(new Error('network gone'))
    const [closedClient, error] = await closed
    expect(closedClient).toBe(t.client)
    expect(error).toEqual(new Error('network gone'))
    expect(log).toEqual(['client', 'packet connect', 'packet pingreq', 'close network gone'])
    expect(seen.map((s) => s.client)).toEqual([t.client, t.client])
    expect(seen[0]!.packet).toMatchObject({ cmd: 'connect', clientId: 'test-client' })
    // ... and every packet went on to the next middleware
    expect(passed.map((p) => p.cmd)).toEqual(['connect', 'pingreq'])
  })

  it('takes its emitter from setClientHandler, the seed form', async () => {
    newStack()
    const events = new EventEmitter<PacketEmitterEvents>()
    const log = record(events)
    const emitter = new PacketEmitter()
    expect(emitter.setClientHandler(events)).toBe(emitter)
    expect(emitter.emitter).toBe(events)
    stack.use(emitter).use(restOfBroker([]))
    const t = connectTestClient(stack)
    await t.connect()
    expect(log).toEqual(['client', 'packet connect'])
  })

  it('without an emitter, passes every packet through', async () => {
    const errors = newStack()
    const passed: Packet[] = []
    stack.use(new PacketEmitter()).use(restOfBroker(passed))
    const t = connectTestClient(stack)
    await t.connect()
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
    t.send({ cmd: 'disconnect' })
    await t.closed()
    expect(passed.map((p) => p.cmd)).toEqual(['connect', 'pingreq', 'disconnect'])
    expect(errors).toEqual([])
  })

  it('an emitter set after a client connected still gets its packets and its close', async () => {
    newStack()
    const emitter = new PacketEmitter()
    stack.use(emitter).use(restOfBroker([]))
    const t = connectTestClient(stack)
    await t.connect()
    const events = new EventEmitter<PacketEmitterEvents>()
    const log = record(events)
    emitter.setClientHandler(events)
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
    t.send({ cmd: 'disconnect' })
    await t.closed()
    await stack.close()
    expect(log).toEqual(['packet pingreq', 'packet disconnect', 'close'])
  })

  it('sees only the packets that reach it: used first, it sees those a later middleware ends', async () => {
    newStack()
    const first = new EventEmitter<PacketEmitterEvents>()
    const last = new EventEmitter<PacketEmitterEvents>()
    const firstLog = record(first)
    const lastLog = record(last)
    stack
      .use(new PacketEmitter({ emitter: first }))
      .use(restOfBroker([]))
      .use(new PacketEmitter({ emitter: last }))
    const t = connectTestClient(stack)
    await t.connect()
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
    expect(firstLog).toEqual(['client', 'packet connect', 'packet pingreq'])
    expect(lastLog).toEqual(['client'])
  })

  it('reports a close listener that throws instead of letting it escape', async () => {
    const errors = newStack()
    const events = new EventEmitter<PacketEmitterEvents>()
    events.on('close', () => {
      throw new Error('listener bug')
    })
    stack.use(new PacketEmitter({ emitter: events }))
    const t = connectTestClient(stack)
    t.client.destroy()
    await t.closed()
    expect(errors.map((err) => err.code)).toEqual([ErrorCode.MIDDLEWARE])
    expect(errors[0]!.cause).toEqual(new Error('listener bug'))
  })

  it('is named packet-emitter, wants every packet and requires nothing', () => {
    newStack()
    const emitter = new PacketEmitter()
    expect(emitter.name).toBe('packet-emitter')
    expect(emitter.packetTypes).toHaveLength(15)
    expect(emitter.requires).toEqual([])
    expect(emitter.emitter).toBeUndefined()
  })
})
