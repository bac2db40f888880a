import {
  type Client,
  type Done,
  ErrorCode,
  type IPublishPacket,
  type Next,
  type Packet,
} from '@mqtt-stack/core'
import { connectTestClient } from '@mqtt-stack/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { Authorize, TopicAcl, type TopicAclOptions } from '../src/index.js'
import { fakeBroker, fakeRelay, fakeSessionManager, testStack } from './helpers.js'

let cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of cleanup) await close()
  cleanup = []
})

/** The documented order: providers, Authorize, TopicAcl, (last-will, session-manager), the rest. */
function broker(options: Partial<TopicAclOptions>, ...beforeSession: object[]) {
  const { stack, errors } = testStack()
  const relay = fakeRelay()
  const rest = fakeBroker()
  const acl = new TopicAcl(options)
  stack.use(relay).use(new Authorize()).use(acl)
  for (const middleware of beforeSession) stack.use(middleware)
  stack.use(fakeSessionManager()).use(rest)
  cleanup.push(() => stack.close())
  return { stack, errors, relay, rest, acl }
}

function publish(topic: string, messageId = 1): IPublishPacket {
  return { cmd: 'publish', topic, payload: Buffer.from('x'), qos: 1, dup: false, retain: false, messageId }
}

/** A connected test client with helpers that say what the ACL allowed. */
async function connect(stack: ReturnType<typeof broker>['stack'], clientId: string, username?: string) {
  const t = connectTestClient(stack)
  await t.connect({ clientId, ...(username === undefined ? {} : { username }) })
  let id = 0
  return {
    t,
    /** Subscribes to each filter; returns the granted codes (0x80 for a refusal). */
    async subscribe(...topics: string[]) {
      t.send({
        cmd: 'subscribe',
        messageId: ++id,
        subscriptions: topics.map((topic) => ({ topic, qos: 0 as const })),
      })
      return (await t.expect('suback')).granted
    },
    /** Publishes at QoS 1 and waits for the PUBACK, which comes either way. */
    async publish(topic: string) {
      t.send(publish(topic, ++id))
      await t.expect('puback')
    },
  }
}

describe('TopicAcl', () => {
  it('%c: a client may publish and subscribe under its own client id only', async () => {
    const { stack, relay } = broker({ rules: [{ topic: 'devices/%c/#', access: 'readwrite' }] })
    const c = await connect(stack, 'dev1')
    await c.publish('devices/dev1/temp')
    await c.publish('devices/dev2/temp')
    await c.publish('devices/dev1')
    expect(relay.topics).toEqual(['devices/dev1/temp', 'devices/dev1'])
    expect(await c.subscribe('devices/dev1/#', 'devices/dev1/+', 'devices/+/temp', 'devices/#', '#')).toEqual(
      [0, 0, 0x80, 0x80, 0x80],
    )
  })

  it('%u: the CONNECT username; read access does not allow publishing', async () => {
    const { stack, relay } = broker({ rules: [{ topic: 'users/%u/inbox', access: 'read' }] })
    const c = await connect(stack, 'phone', 'alice')
    expect(await c.subscribe('users/alice/inbox', 'users/bob/inbox', 'users/+/inbox')).toEqual([
      0, 0x80, 0x80,
    ])
    await c.publish('users/alice/inbox')
    expect(relay.topics).toEqual([])
  })

  it('write access does not allow subscribing', async () => {
    const { stack, relay } = broker({ rules: [{ topic: 'up/%c', access: 'write' }] })
    const c = await connect(stack, 'd')
    await c.publish('up/d')
    expect(relay.topics).toEqual(['up/d'])
    expect(await c.subscribe('up/d')).toEqual([0x80])
  })

  it('a %u rule never applies to an anonymous client', async () => {
    const { stack, relay } = broker({ rules: [{ topic: 'users/%u/#', access: 'readwrite' }] })
    const c = await connect(stack, 'anon')
    await c.publish('users//x')
    await c.publish('users/undefined/x')
    expect(relay.topics).toEqual([])
    expect(await c.subscribe('users/+/#', 'users//x')).toEqual([0x80, 0x80])
  })

  it('users: a rule only for the listed usernames', async () => {
    const { stack } = broker({ rules: [{ topic: 'admin/#', access: 'readwrite', users: ['root'] }] })
    expect(await (await connect(stack, 'a', 'root')).subscribe('admin/#')).toEqual([0])
    expect(await (await connect(stack, 'b', 'alice')).subscribe('admin/#')).toEqual([0x80])
    expect(await (await connect(stack, 'c')).subscribe('admin/#')).toEqual([0x80])
  })

  describe('injection through a client id or username', () => {
    for (const clientId of ['#', '+', 'a/#', 'a/b', 'x/+/y']) {
      it(`a client id "${clientId}" substitutes nothing and so gains nothing`, async () => {
        const { stack, relay } = broker({ rules: [{ topic: 'devices/%c/#', access: 'readwrite' }] })
        const c = await connect(stack, clientId)
        expect(await c.subscribe('devices/#', 'devices/+/x', 'devices/a/#', 'devices/a/b/#')).toEqual([
          0x80, 0x80, 0x80, 0x80,
        ])
        await c.publish('devices/a/b')
        await c.publish('devices/x/y/z')
        await c.publish('devices/x/q/y/z')
        expect(relay.topics).toEqual([])
      })
    }

    it('a username with "/" or a wildcard substitutes nothing', async () => {
      const { stack } = broker({ rules: [{ topic: 'users/%u/#', access: 'read' }] })
      expect(await (await connect(stack, 'a', 'bob/#')).subscribe('users/bob/#', 'users/#')).toEqual([
        0x80, 0x80,
      ])
      expect(await (await connect(stack, 'b', '+')).subscribe('users/+/#')).toEqual([0x80])
    })

    it('a client id "%u" is not expanded again into the username', async () => {
      const { stack, relay } = broker({ rules: [{ topic: 'devices/%c/#', access: 'readwrite' }] })
      const c = await connect(stack, '%u', 'victim')
      await c.publish('devices/victim/x')
      await c.publish('devices/%u/x')
      expect(relay.topics).toEqual(['devices/%u/x'])
    })

    it('a client id starting with "$" cannot make a rule starting with %c reach $ topics', async () => {
      const { stack } = broker({ rules: [{ topic: '%c/#', access: 'read' }] })
      expect(await (await connect(stack, '$SYS')).subscribe('$SYS/#', '$SYS/broker/load')).toEqual([
        0x80, 0x80,
      ])
      expect(await (await connect(stack, 'ok')).subscribe('ok/#')).toEqual([0])
    })

    it('an empty username substitutes nothing', async () => {
      const { stack } = broker({ rules: [{ topic: 'users/%u/#', access: 'read' }] })
      expect(await (await connect(stack, 'a', '')).subscribe('users//#')).toEqual([0x80])
    })
  })

  describe('rule order and default', () => {
    it('the first rule that applies decides; a deny rule refuses', async () => {
      const { stack, relay } = broker({
        rules: [
          { topic: 'shared/private/#', access: 'deny' },
          { topic: 'shared/#', access: 'readwrite' },
        ],
      })
      const c = await connect(stack, 'c')
      await c.publish('shared/private/x')
      await c.publish('shared/public/x')
      expect(relay.topics).toEqual(['shared/public/x'])
      expect(await c.subscribe('shared/private/#', 'shared/private/x', 'shared/public/+')).toEqual([
        0x80, 0x80, 0,
      ])
    })

    it('a deny rule refuses a subscription only when it covers the whole filter', async () => {
      const { stack } = broker({
        rules: [
          { topic: 'shared/private/#', access: 'deny' },
          { topic: 'shared/#', access: 'read' },
        ],
      })
      expect(await (await connect(stack, 'c')).subscribe('shared/#')).toEqual([0])
    })

    it("default 'deny': nothing without a rule", async () => {
      const { stack, relay } = broker({})
      const c = await connect(stack, 'c')
      await c.publish('a')
      expect(relay.topics).toEqual([])
      expect(await c.subscribe('a')).toEqual([0x80])
    })

    it("default 'allow': everything a rule does not deny", async () => {
      const { stack, relay } = broker({ default: 'allow', rules: [{ topic: '$SYS/#', access: 'deny' }] })
      const c = await connect(stack, 'c')
      await c.publish('a/b')
      await c.publish('$SYS/x')
      expect(relay.topics).toEqual(['a/b'])
      expect(await c.subscribe('a/#', '$SYS/#')).toEqual([0, 0x80])
    })
  })

  it('checks the inner filter of a shared subscription', async () => {
    const { stack } = broker({ rules: [{ topic: 'jobs/%c/#', access: 'read' }] })
    const c = await connect(stack, 'w1')
    expect(await c.subscribe('$share/g/jobs/w1/#', '$share/g/jobs/#')).toEqual([0, 0x80])
  })

  it('answers authorizePublish before the client id is set (a will checked at CONNECT) with the CONNECT id', async () => {
    const verdicts: Array<boolean | undefined> = []
    const lastWill = {
      name: 'fake-last-will',
      packetTypes: ['connect' as const],
      async handle(client: Client, packet: Packet, next: Next, _done: Done) {
        if (packet.cmd === 'connect' && packet.will) {
          const will = { cmd: 'publish', qos: 0, dup: false, retain: false, ...packet.will } as IPublishPacket
          verdicts.push((await client.stack.run('authorizePublish', { client, packet: will }, {})).authorized)
        }
        next()
      },
    }
    const { stack } = broker({ rules: [{ topic: 'status/%c', access: 'write' }] }, lastWill)
    const t = connectTestClient(stack)
    await t.connect({
      clientId: 'dev7',
      will: { topic: 'status/dev7', payload: Buffer.from('gone'), qos: 0, retain: false },
    })
    const u = connectTestClient(stack)
    await u.connect({
      clientId: 'dev8',
      will: { topic: 'status/dev7', payload: Buffer.from('gone'), qos: 0, retain: false },
    })
    expect(verdicts).toEqual([true, false])
  })

  describe('checkOnForward', () => {
    it('off by default: authorizeForward is not answered at all', () => {
      const { stack } = broker({ rules: [] })
      expect(stack.provides('authorizeForward')).toBe(false)
      expect(stack.provides('authorizePublish')).toBe(true)
      expect(stack.provides('authorizeSubscribe')).toBe(true)
    })

    it('on: each delivery is checked against read access', async () => {
      const { stack } = broker({
        checkOnForward: true,
        rules: [
          { topic: 'shared/private/#', access: 'deny' },
          { topic: 'shared/#', access: 'read' },
        ],
      })
      const { t } = await connect(stack, 'c')
      const forward = async (topic: string) =>
        (await stack.run('authorizeForward', { client: t.client, packet: publish(topic) }, {})).authorized
      expect(await forward('shared/public/x')).toBe(true)
      expect(await forward('shared/private/x')).toBe(false)
      expect(await forward('other')).toBe(false)
    })
  })

  describe('order of use', () => {
    it('fails at start (MQS_ERR_WRONG_ORDER) when used after session-manager, whose chain ends the CONNECT it reads', () => {
      const { stack } = testStack()
      stack.use({ name: 'session-manager' })
      stack.use(new TopicAcl({ rules: [{ topic: 'users/%u', access: 'read' }] }))
      expect(() => stack.handler()).toThrow(
        expect.objectContaining({
          code: ErrorCode.WRONG_ORDER,
          message: expect.stringContaining('topic-acl must come before session-manager'),
        }),
      )
    })
  })

  describe('setRules', () => {
    it('replaces the rules in place: a connected client meets the new ones at its next packet', async () => {
      const { stack, relay, acl } = broker({ rules: [{ topic: 'old/%c', access: 'readwrite' }] })
      const c = await connect(stack, 'd', 'alice')
      await c.publish('old/d')
      acl.setRules([{ topic: 'new/%u', access: 'readwrite' }])
      await c.publish('old/d')
      await c.publish('new/alice')
      expect(relay.topics).toEqual(['old/d', 'new/alice'])
      expect(await c.subscribe('old/d', 'new/alice')).toEqual([0x80, 0])
    })

    it('refuses a bad rule with MQS_ERR_INVALID_OPTION and keeps the rules it had', async () => {
      const { stack, relay, acl } = broker({ rules: [{ topic: 'a', access: 'readwrite' }] })
      expect(() =>
        acl.setRules([
          { topic: 'b', access: 'readwrite' },
          { topic: 'a/#/b', access: 'read' },
        ]),
      ).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_OPTION }))
      const c = await connect(stack, 'd')
      await c.publish('a')
      await c.publish('b')
      expect(relay.topics).toEqual(['a'])
    })
  })

  describe('options', () => {
    const invalid: Array<[string, Partial<TopicAclOptions>]> = [
      ['rules that is not an array', { rules: {} as never }],
      ['a rule with an invalid filter', { rules: [{ topic: 'a/#/b', access: 'read' }] }],
      ['a rule with an empty topic', { rules: [{ topic: '', access: 'read' }] }],
      ['a rule with an unknown access', { rules: [{ topic: 'a', access: 'all' as never }] }],
      [
        'a rule with users that is not an array',
        { rules: [{ topic: 'a', access: 'read', users: 'root' as never }] },
      ],
      ['an unknown default', { default: 'maybe' as never }],
      ['checkOnForward that is not a boolean', { checkOnForward: 'yes' as never }],
    ]
    for (const [what, options] of invalid) {
      it(`throws MQS_ERR_INVALID_OPTION for ${what}`, () => {
        expect(() => new TopicAcl(options)).toThrow(
          expect.objectContaining({ code: ErrorCode.INVALID_OPTION }),
        )
      })
    }

    it('validates a rule as if each placeholder were a plain level', () => {
      expect(() => new TopicAcl({ rules: [{ topic: 'x-%c-y/%u+', access: 'read' }] })).toThrow()
      expect(() => new TopicAcl({ rules: [{ topic: 'x-%c-y/%u', access: 'read' }] })).not.toThrow()
    })
  })
})
