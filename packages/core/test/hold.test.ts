import { afterEach, describe, expect, it } from 'vitest'
import {
  type Client,
  type Done,
  ErrorCode,
  type HeldChain,
  type MiddlewareLike,
  type Next,
  type Packet,
  Stack,
} from '../src/index.js'
import { acceptConnections, connectTestClient, recordPackets } from '../src/testing/index.js'
import { collectErrors } from './helpers.js'

const stacks: Stack[] = []
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((stack) => stack.close()))
})

function newStack(): Stack {
  const stack = new Stack()
  stacks.push(stack)
  return stack
}

function noop(): void {}

const PUBLISH = { cmd: 'publish', topic: 't', payload: 'x', qos: 0, retain: false, dup: false } as const

/**
 * Holds the CONNECT's chain (as an AUTH exchange does) and lets it go on when an AUTH arrives, through core:
 * `held.next(done)` goes on after this middleware, and ends the AUTH's chain once the CONNECT's has ended.
 */
function holdConnectUntilAuth(log: string[]): MiddlewareLike {
  let held: HeldChain | undefined
  return {
    name: 'hold-connect',
    packetTypes: ['connect', 'auth'],
    handle(client: Client, packet: Packet, next: Next, done: Done) {
      if (packet.cmd === 'connect') {
        held = client.hold(next, done)
        log.push('held')
        return
      }
      log.push('auth')
      const chain = held!
      held = undefined
      chain.next(() => {
        log.push('connect chain ended')
        done()
      })
    },
  }
}

describe('client.hold(): a chain held open while later packets are processed', () => {
  it('processes the packets behind a held CONNECT, goes on after the holder, and ends the AUTH chain last', async () => {
    const stack = newStack()
    const log: string[] = []
    const accept = acceptConnections()
    const publishes = recordPackets(['publish'])
    stack.use(holdConnectUntilAuth(log)).use(accept).use(publishes)
    const t = connectTestClient(stack, { protocolVersion: 5 })
    t.sendConnect({ protocolVersion: 5, clientId: 'c' })
    t.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'm' } })
    t.send(PUBLISH)
    await t.expect('connack')
    expect(accept.accepted).toEqual(['c'])
    expect(log).toEqual(['held', 'auth', 'connect chain ended'])
    // The PUBLISH waited for the AUTH's chain, which waited for the CONNECT's: it comes after CONNACK.
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
    expect(publishes.packets).toHaveLength(1)
    expect(t.client.connackSent).toBe(true)
  })

  it('refuses hold() outside a chain, and a second hold while one is held (MQS_ERR_INVALID_STATE)', async () => {
    const stack = newStack()
    const thrown: unknown[] = []
    stack.use({
      handle(client: Client, packet: Packet, next: Next, done: Done) {
        if (packet.cmd !== 'connect') return next()
        client.hold(next, done)
        try {
          client.hold(next, done)
        } catch (err) {
          thrown.push(err)
        }
      },
    })
    const t = connectTestClient(stack)
    expect(() => t.client.hold(noop, noop)).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_STATE }),
    )
    t.sendConnect({ clientId: 'c' })
    t.send({ cmd: 'pingreq' }) // processed while the CONNECT is held
    await t.expect('pingresp')
    expect(thrown).toEqual([expect.objectContaining({ code: ErrorCode.INVALID_STATE })])
    expect(t.client.holding).toBe(true)
  })

  it('reports a held chain that ends in an error and closes the client', async () => {
    const stack = newStack()
    const { errors } = collectErrors(stack)
    let held: HeldChain | undefined
    stack.use({
      packetTypes: ['connect', 'pingreq'],
      handle(client: Client, packet: Packet, next: Next, done: Done) {
        if (packet.cmd === 'connect') {
          held = client.hold(next, done)
          return
        }
        next()
        held?.next()
      },
    })
    stack.use({
      packetTypes: ['connect'],
      handle(_client: Client, _packet: Packet, next: Next) {
        next(new Error('store down'))
      },
    })
    const t = connectTestClient(stack)
    t.sendConnect({ clientId: 'c' })
    t.send({ cmd: 'pingreq' })
    await t.closed()
    expect(errors.map((e) => e.message)).toEqual(['store down'])
    expect(t.client.holding).toBe(false)
  })
})

describe('PINGRESP is core’s', () => {
  it('[MQTT-3.12.4-1] answers PINGREQ in a stack where no middleware does', async () => {
    const stack = newStack()
    stack.use(acceptConnections())
    const t = connectTestClient(stack)
    await t.connect()
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
  })

  it('[MQTT-3.12.4-1] answers once when a middleware wrote PINGRESP itself, and not at all when one closed the client', async () => {
    const stack = newStack()
    stack.use(acceptConnections({ answerPings: true }))
    const t = connectTestClient(stack)
    await t.connect()
    t.send({ cmd: 'pingreq' })
    t.send({ cmd: 'pingreq' })
    await t.expect('pingresp')
    await t.expect('pingresp')
    t.end()
    await t.closed()
    expect(t.received.map((p) => p.cmd)).toEqual(['connack', 'pingresp', 'pingresp'])
    const closer = newStack()
    closer.use(acceptConnections()).use({
      packetTypes: ['pingreq'],
      handle(client: Client, _packet: Packet, _next: Next, done: Done) {
        client.close()
        done()
      },
    })
    const u = connectTestClient(closer)
    await u.connect()
    u.send({ cmd: 'pingreq' })
    await u.closed()
    expect(u.received.map((p) => p.cmd)).toEqual(['connack'])
  })
})

describe('a CONNECT that no middleware answers', () => {
  it('is reported (MQS_ERR_UNANSWERED_CONNECT) and its client closed, instead of left waiting', async () => {
    const stack = newStack()
    const { errors } = collectErrors(stack)
    stack.use(recordPackets(['publish'])) // a stack that handles PUBLISH and nothing accepts connections
    const t = connectTestClient(stack)
    t.sendConnect({ clientId: 'lost' })
    await t.closed()
    expect(t.received).toEqual([])
    expect(errors).toEqual([expect.objectContaining({ code: ErrorCode.UNANSWERED_CONNECT })])
    expect(errors[0]!.message).toContain('"lost"')
  })

  it('is reported when a held CONNECT chain ends without a CONNACK', async () => {
    const stack = newStack()
    const { errors } = collectErrors(stack)
    stack.use(holdConnectUntilAuth([]))
    const t = connectTestClient(stack, { protocolVersion: 5 })
    t.sendConnect({ protocolVersion: 5, clientId: 'c' })
    t.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'm' } })
    await t.closed()
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.UNANSWERED_CONNECT])
  })

  it('is not reported when the chain refused the CONNECT and closed the client', async () => {
    const stack = newStack()
    const { errors } = collectErrors(stack)
    stack.use({
      packetTypes: ['connect'],
      handle(client: Client, _packet: Packet, _next: Next, done: Done) {
        client.write({ cmd: 'connack', returnCode: 5, sessionPresent: false })
        client.close()
        done()
      },
    })
    const t = connectTestClient(stack)
    t.sendConnect({ clientId: 'c' })
    await t.closed()
    expect(t.received.map((p) => p.cmd)).toEqual(['connack'])
    expect(errors).toEqual([])
  })
})
