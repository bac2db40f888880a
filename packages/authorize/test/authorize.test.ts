import {
  type CallbackContext,
  type CallbackStore,
  type Done,
  ErrorCode,
  type IPublishPacket,
  type Next,
  type Packet,
  serializePacket,
} from '@mqtt-stack/core'
import { connectTestClient } from '@mqtt-stack/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { Authorize, AuthorizeErrorCode, type AuthorizeOptions } from '../src/index.js'
import { deferred, fakeBroker, fakeRelay, fakeSessionManager, testStack } from './helpers.js'

type Verdict = { authorized?: boolean; reasonCode?: number }

/** Answers authorizePacket with a verdict per packet type, recording what it was asked. */
function packetPolicy(verdict: (packet: Packet) => Verdict) {
  const asked: Packet[] = []
  return {
    asked,
    name: 'packet-policy',
    authorizePacket(
      ctx: CallbackContext<'authorizePacket'>,
      store: CallbackStore<'authorizePacket'>,
      next: Next,
    ) {
      asked.push(ctx.packet)
      Object.assign(store, verdict(ctx.packet))
      next()
    },
  }
}

/** Answers authorizePublish, denying topics that start with "secret". */
function publishPolicy(reasonCode?: number) {
  const asked: string[] = []
  return {
    asked,
    name: 'publish-policy',
    authorizePublish(
      ctx: CallbackContext<'authorizePublish'>,
      store: CallbackStore<'authorizePublish'>,
      next: Next,
      _done: Done,
    ) {
      asked.push(ctx.packet.topic)
      if (ctx.packet.topic.startsWith('secret')) {
        store.authorized = false
        if (reasonCode !== undefined) store.reasonCode = reasonCode
      }
      next()
    },
  }
}

let cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of cleanup) await close()
  cleanup = []
})

function broker(providers: object[], options: Partial<AuthorizeOptions> = {}) {
  const { stack, errors } = testStack()
  const relay = fakeRelay()
  const rest = fakeBroker()
  for (const provider of providers) stack.use(provider)
  stack.use(relay).use(new Authorize(options)).use(fakeSessionManager()).use(rest)
  cleanup.push(() => stack.close())
  return { stack, errors, relay, rest }
}

function publish(topic: string, qos: 0 | 1 | 2, messageId?: number): IPublishPacket {
  return {
    cmd: 'publish',
    topic,
    payload: Buffer.from('x'),
    qos,
    dup: false,
    retain: false,
    ...(messageId === undefined ? {} : { messageId }),
  }
}

const V5 = { protocolVersion: 5 } as const

describe('Authorize', () => {
  it('is named after its package, wants every packet but CONNECT, PINGREQ and DISCONNECT, requires nothing', () => {
    const authorize = new Authorize()
    expect(authorize.name).toBe('authorize')
    expect(authorize.packetTypes).not.toContain('connect')
    expect(authorize.packetTypes).not.toContain('pingreq')
    expect(authorize.packetTypes).not.toContain('disconnect')
    expect(authorize.packetTypes).toEqual(expect.arrayContaining(['publish', 'pubrel', 'subscribe', 'auth']))
    expect(authorize.requires).toBeUndefined()
  })

  it('with no provider, allows everything', async () => {
    const { stack, relay, rest } = broker([])
    const t = connectTestClient(stack)
    await t.connect()
    t.send(publish('secret/a', 0))
    t.send(publish('secret/b', 1, 1))
    expect(await t.expect('puback')).toMatchObject({ messageId: 1 })
    t.send(publish('secret/c', 2, 2))
    expect(await t.expect('pubrec')).toMatchObject({ messageId: 2 })
    t.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'secret/#', qos: 1 }] })
    expect(await t.expect('suback')).toMatchObject({ granted: [1] })
    expect(relay.topics).toEqual(['secret/a', 'secret/b', 'secret/c'])
    expect(rest.subscribed).toEqual(['secret/#'])
  })

  describe('authorizePublish denies', () => {
    it('[MQTT-3.3.5-2] QoS 0: nothing is sent and nothing relayed', async () => {
      const { stack, relay } = broker([publishPolicy()])
      const t = connectTestClient(stack)
      await t.connect()
      t.send(publish('secret/a', 0))
      t.send({ cmd: 'pingreq' })
      // PINGRESP comes first: the denied QoS 0 PUBLISH got no answer.
      await t.expect('pingresp')
      expect(relay.topics).toEqual([])
      expect(t.isClosed).toBe(false)
    })

    it('[MQTT-3.3.5-2] QoS 1: a PUBACK, the message dropped, the connection kept', async () => {
      const drops: string[] = []
      const counter = {
        messageDropped(ctx: CallbackContext<'messageDropped'>, _store: object, next: Next) {
          drops.push(`${ctx.reason} ${ctx.packet?.topic}`)
          next()
        },
      }
      const { stack, relay } = broker([publishPolicy(), counter])
      const t = connectTestClient(stack)
      await t.connect()
      t.send(publish('secret/a', 1, 7))
      const puback = await t.expect('puback')
      expect(puback.messageId).toBe(7)
      expect(puback.reasonCode ?? 0).toBe(0)
      t.send(publish('open/a', 1, 8))
      expect(await t.expect('puback')).toMatchObject({ messageId: 8 })
      expect(relay.topics).toEqual(['open/a'])
      // Counted as a drop (metrics answers messageDropped).
      expect(drops).toEqual(['not-authorized secret/a'])
    })

    it('[MQTT-3.3.5-2] QoS 2: a PUBREC, the message dropped; its PUBREL still gets a PUBCOMP', async () => {
      const { stack, relay } = broker([publishPolicy()])
      const t = connectTestClient(stack)
      await t.connect()
      t.send(publish('secret/a', 2, 9))
      expect(await t.expect('pubrec')).toMatchObject({ messageId: 9 })
      t.send({ cmd: 'pubrel', messageId: 9 })
      expect(await t.expect('pubcomp')).toMatchObject({ messageId: 9 })
      expect(relay.topics).toEqual([])
    })

    it('MQTT 5.0: PUBACK and PUBREC carry reason code 0x87', async () => {
      const { stack, relay } = broker([publishPolicy()])
      const t = connectTestClient(stack)
      await t.connect(V5)
      t.send(publish('secret/a', 1, 1))
      expect(await t.expect('puback')).toMatchObject({ messageId: 1, reasonCode: 0x87 })
      t.send(publish('secret/b', 2, 2))
      expect(await t.expect('pubrec')).toMatchObject({ messageId: 2, reasonCode: 0x87 })
      expect(relay.topics).toEqual([])
    })

    it("MQTT 5.0: the provider's reason code when it is an error code", async () => {
      const { stack } = broker([publishPolicy(0x97)])
      const t = connectTestClient(stack)
      await t.connect(V5)
      t.send(publish('secret/a', 1, 1))
      expect(await t.expect('puback')).toMatchObject({ reasonCode: 0x97 })
    })

    it('with closeOnDeniedPublish, closes instead (5.0: DISCONNECT 0x87)', async () => {
      const v4 = broker([publishPolicy()], { closeOnDeniedPublish: true })
      const t4 = connectTestClient(v4.stack)
      await t4.connect()
      t4.send(publish('secret/a', 1, 1))
      await t4.closed()
      expect(t4.received.map((p) => p.cmd)).toEqual(['connack'])
      expect(t4.client.error).toMatchObject({ code: AuthorizeErrorCode.NOT_AUTHORIZED })

      const v5 = broker([publishPolicy()], { closeOnDeniedPublish: true })
      const t5 = connectTestClient(v5.stack)
      await t5.connect(V5)
      t5.send(publish('secret/a', 1, 1))
      expect(await t5.expect('disconnect')).toMatchObject({ reasonCode: 0x87 })
      await t5.closed()
      expect(v5.relay.topics).toEqual([])
    })
  })

  describe('authorizePacket', () => {
    it('is asked for every packet after CONNECT, never for CONNECT, PINGREQ or DISCONNECT', async () => {
      const policy = packetPolicy(() => ({}))
      const { stack } = broker([policy])
      const t = connectTestClient(stack)
      await t.connect()
      t.send({ cmd: 'pingreq' })
      await t.expect('pingresp')
      t.send(publish('a', 1, 1))
      await t.expect('puback')
      t.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'a', qos: 0 }] })
      await t.expect('suback')
      t.send({ cmd: 'disconnect' })
      await t.closed()
      expect(policy.asked.map((p) => p.cmd)).toEqual(['publish', 'subscribe'])
    })

    it('3.1.1: a denied packet closes the connection and goes no further', async () => {
      const { stack, rest } = broker([
        packetPolicy((p) => (p.cmd === 'subscribe' ? { authorized: false } : {})),
      ])
      const t = connectTestClient(stack)
      await t.connect()
      t.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }] })
      await t.closed()
      expect(t.received.map((p) => p.cmd)).toEqual(['connack'])
      expect(rest.subscribed).toEqual([])
      expect(t.client.error).toMatchObject({ code: AuthorizeErrorCode.NOT_AUTHORIZED })
    })

    it('5.0: a denied packet gets DISCONNECT 0x87, or the reason code of the provider', async () => {
      const first = broker([packetPolicy(() => ({ authorized: false }))])
      const t = connectTestClient(first.stack)
      await t.connect(V5)
      t.send(publish('a', 1, 1))
      expect(await t.expect('disconnect')).toMatchObject({ reasonCode: 0x87 })
      await t.closed()
      expect(first.relay.topics).toEqual([])

      const second = broker([packetPolicy(() => ({ authorized: false, reasonCode: 0x98 }))])
      const u = connectTestClient(second.stack)
      await u.connect(V5)
      u.send(publish('a', 0))
      expect(await u.expect('disconnect')).toMatchObject({ reasonCode: 0x98 })
    })

    it('runs before authorizePublish, which it can spare', async () => {
      const packets = packetPolicy((p) =>
        p.cmd === 'publish' && p.topic === 'blocked' ? { authorized: false } : {},
      )
      const publishes = publishPolicy()
      const { stack } = broker([packets, publishes])
      const t = connectTestClient(stack)
      await t.connect()
      t.send(publish('secret/x', 1, 1))
      await t.expect('puback')
      t.send(publish('blocked', 1, 2))
      await t.closed()
      expect(publishes.asked).toEqual(['secret/x'])
    })

    it('a provider error is an operational failure: reported, the client closed', async () => {
      const failing = {
        name: 'failing',
        authorizePacket: (_ctx: unknown, _store: unknown, next: Next) => next(new Error('acl store down')),
      }
      const { stack, errors, relay } = broker([failing])
      const t = connectTestClient(stack)
      await t.connect()
      t.send(publish('a', 1, 1))
      await t.closed()
      expect(relay.topics).toEqual([])
      expect(errors).toMatchObject([{ code: ErrorCode.MIDDLEWARE, message: 'acl store down' }])
    })

    it('keeps the packets of one client apart while a provider answers late', async () => {
      const answers = [deferred<boolean>(), deferred<boolean>(), deferred<boolean>()]
      let asked = 0
      const late = {
        name: 'late',
        authorizePublish(_ctx: unknown, store: Verdict, next: Next) {
          answers[asked++]!.promise.then((ok) => {
            store.authorized = ok
            next()
          })
        },
      }
      const { stack, relay } = broker([late])
      const t = connectTestClient(stack)
      await t.connect()
      // One chunk, three PUBLISH packets queued behind each other.
      t.sendRaw(
        Buffer.concat([
          serializePacket(publish('one', 1, 1), 4),
          serializePacket(publish('two', 1, 2), 4),
          serializePacket(publish('three', 2, 3), 4),
        ]),
      )
      answers[0]!.resolve(true)
      expect(await t.expect('puback')).toMatchObject({ messageId: 1 })
      answers[1]!.resolve(false)
      expect(await t.expect('puback')).toMatchObject({ messageId: 2 })
      answers[2]!.resolve(true)
      expect(await t.expect('pubrec')).toMatchObject({ messageId: 3 })
      expect(relay.topics).toEqual(['one', 'three'])
    })

    it('ends the chain quietly when the client closed while a provider was answering', async () => {
      const answer = deferred<boolean>()
      let asked!: () => void
      const wasAsked = new Promise<void>((resolve) => {
        asked = resolve
      })
      const late = {
        name: 'late',
        authorizePacket(_ctx: unknown, store: Verdict, next: Next) {
          asked()
          answer.promise.then((ok) => {
            store.authorized = ok
            next()
          })
        },
      }
      const { stack, relay, errors } = broker([late])
      const t = connectTestClient(stack)
      await t.connect()
      t.send(publish('a', 1, 1))
      await wasAsked
      t.client.destroy()
      await t.closed()
      answer.resolve(true)
      await answer.promise
      expect(relay.topics).toEqual([])
      expect(errors).toEqual([])
    })
  })
})
