/**
 * `$SYS` topics on a broker of every built-in plus SysTopics, over TCP: what subscribers see, what the ACL
 * lets them read, and what a client that publishes to `$SYS/...` gets.
 */
import { once } from 'node:events'
import { Authentication, StaticCredentials } from '@mqtt-stack/authentication'
import { Authorize, TopicAcl, type TopicAclRule } from '@mqtt-stack/authorize'
import { Connection } from '@mqtt-stack/connection'
import { type IPublishPacket, type MqttStackError, type Packet, Stack } from '@mqtt-stack/core'
import { type PacketPeer, tcpHarness } from '@mqtt-stack/core/testing'
import { InboundManager } from '@mqtt-stack/inbound-manager'
import { KeepAlive } from '@mqtt-stack/keepalive'
import { LastWill } from '@mqtt-stack/last-will'
import { MemoryBackend } from '@mqtt-stack/memory-backend'
import { OutboundManager } from '@mqtt-stack/outbound-manager'
import { RetainManager } from '@mqtt-stack/retain-manager'
import { SessionManager } from '@mqtt-stack/session-manager'
import { SubscriptionManager } from '@mqtt-stack/subscription-manager'
import { SysTopics } from '@mqtt-stack/sys'
import { afterEach, describe, expect, it } from 'vitest'

const tcp = tcpHarness()
afterEach(() => tcp.close())

interface SysBroker {
  stack: Stack
  sys: SysTopics
  errors: MqttStackError[]
  port: number
  connect(
    clientId: string,
    options?: { version?: 4 | 5; username?: string; will?: IPublishPacket },
  ): Promise<PacketPeer>
}

/** Every built-in in the documented order, SysTopics after Authorize and before the ACL. */
async function startSysBroker(acl?: readonly TopicAclRule[]): Promise<SysBroker> {
  const errors: MqttStackError[] = []
  // interval 0: updates come from publishNow(), so a test knows when they happen.
  const sys = new SysTopics({ interval: 0, version: 'mqtt-stack test' })
  const stack = new Stack({ onError: (err) => errors.push(err) })
    .use(new MemoryBackend())
    .use(new Connection())
    .use(new KeepAlive())
    .use(new Authentication())
    .use(new StaticCredentials({ users: { admin: 'secret', guest: 'guest' }, allowAnonymous: true }))
    .use(new Authorize())
    .use(sys)
  if (acl) stack.use(new TopicAcl({ rules: acl }))
  stack
    .use(new LastWill())
    .use(new SessionManager())
    .use(new RetainManager())
    .use(new InboundManager())
    .use(new OutboundManager())
    .use(new SubscriptionManager())
  const port = await tcp.listen(stack)
  return {
    stack,
    sys,
    errors,
    port,
    async connect(clientId, { version = 4, username, will } = {}) {
      const peer = await tcp.connect(port, { protocolVersion: version })
      const connack = await peer.connect({
        clientId,
        protocolVersion: version,
        ...(username === undefined
          ? {}
          : { username, password: Buffer.from(username === 'admin' ? 'secret' : username) }),
        ...(will === undefined ? {} : { will: { ...will, payload: Buffer.from(String(will.payload)) } }),
      })
      expect(connack.returnCode ?? connack.reasonCode).toBe(0)
      return peer
    },
  }
}

async function subscribe(peer: PacketPeer, topic: string | string[], messageId = 1): Promise<number[]> {
  const topics = Array.isArray(topic) ? topic : [topic]
  peer.send({
    cmd: 'subscribe',
    messageId,
    subscriptions: topics.map((t) => ({ topic: t, qos: 0 as const })),
  })
  const suback = await peer.expect('suback')
  return suback.granted as number[]
}

/** Everything the broker sent `peer` until now: a PINGREQ's answer fences what was written before it. */
async function fence(peer: PacketPeer): Promise<Packet[]> {
  peer.send({ cmd: 'pingreq' })
  const packets: Packet[] = []
  for (let packet = await peer.next(); packet.cmd !== 'pingresp'; packet = await peer.next())
    packets.push(packet)
  return packets
}

const publishes = (packets: Packet[]) => packets.filter((p): p is IPublishPacket => p.cmd === 'publish')
const valuesOf = (packets: Packet[]) => new Map(publishes(packets).map((p) => [p.topic, String(p.payload)]))

describe('$SYS topics over TCP', () => {
  it('[MQTT-4.7.2-1] a subscriber to # or +/... gets no $SYS message; one to $SYS/# gets them', async () => {
    const b = await startSysBroker()
    const all = await b.connect('all')
    expect(await subscribe(all, '#')).toEqual([0])
    expect(await subscribe(all, '+/broker/#', 2)).toEqual([0])
    const sys = await b.connect('sys')
    expect(await subscribe(sys, '$SYS/#')).toEqual([0])
    await b.sys.publishNow()
    expect(publishes(await fence(all))).toEqual([])
    const values = valuesOf(await fence(sys))
    expect(values.get('$SYS/broker/version')).toBe('mqtt-stack test')
    expect(values.get('$SYS/broker/clients/connected')).toBe('2')
    expect(values.get('$SYS/broker/subscriptions/count')).toBe('3')
    expect(b.errors).toEqual([])
  })

  it('counts clients and messages exactly, and a later subscriber gets the values retained', async () => {
    const b = await startSysBroker()
    const listener = await b.connect('listener')
    await subscribe(listener, 'a/b')
    const publisher = await b.connect('publisher', { version: 5 })
    for (let i = 0; i < 3; i++)
      publisher.send({ cmd: 'publish', topic: 'a/b', payload: `m${i}`, qos: 0, retain: false, dup: false })
    // The publisher's PUBLISH packets are relayed before its PINGREQ is answered.
    await fence(publisher)
    expect(publishes(await fence(listener))).toHaveLength(3)
    const persistent = await b.connect('persistent')
    const persistentGone = closedOnBroker(b, 'persistent')
    persistent.send({ cmd: 'disconnect' })
    await persistentGone
    // A session kept after its connection: clean session 0.
    const kept = await tcp.connect(b.port)
    await kept.connect({ clientId: 'kept', clean: false })
    const keptGone = closedOnBroker(b, 'kept')
    kept.send({ cmd: 'disconnect' })
    await keptGone
    await b.sys.publishNow()

    const reader = await b.connect('reader')
    await subscribe(reader, '$SYS/broker/#')
    const packets = publishes(await fence(reader))
    for (const packet of packets) expect(packet.retain).toBe(true)
    const values = valuesOf(packets)
    expect(
      Object.fromEntries([...values].filter(([t]) => /clients|publish\/messages|subscriptions/.test(t))),
    ).toEqual({
      // listener and publisher were connected at the update; persistent and kept had left
      '$SYS/broker/clients/connected': '2',
      '$SYS/broker/clients/maximum': '3',
      '$SYS/broker/clients/disconnected': '1',
      '$SYS/broker/clients/total': '3',
      '$SYS/broker/publish/messages/received': '3',
      '$SYS/broker/publish/messages/sent': '3',
      '$SYS/broker/subscriptions/count': '1',
    })
    expect(values.get('$SYS/broker/retained messages/count')).toBe('0')
  })
})

describe('reading $SYS where the ACL allows', () => {
  const rules: TopicAclRule[] = [
    { topic: '$SYS/#', access: 'read', users: ['admin'] },
    { topic: '#', access: 'readwrite' },
  ]

  it('a user without a $SYS rule is refused the subscription and gets nothing; admin reads', async () => {
    const b = await startSysBroker(rules)
    const guest = await b.connect('guest', { username: 'guest' })
    expect(await subscribe(guest, '$SYS/#')).toEqual([0x80])
    expect(await subscribe(guest, '#', 2)).toEqual([0])
    const admin = await b.connect('admin', { username: 'admin' })
    expect(await subscribe(admin, '$SYS/#')).toEqual([0])
    await b.sys.publishNow()
    expect(publishes(await fence(guest))).toEqual([])
    expect(valuesOf(await fence(admin)).get('$SYS/broker/clients/connected')).toBe('2')
    // Nor as retained messages on a later subscription.
    expect(await subscribe(guest, '$SYS/broker/clients/connected', 3)).toEqual([0x80])
    expect(publishes(await fence(guest))).toEqual([])
  })
})

describe('clients may not publish to $SYS', () => {
  const refusals = [
    {
      title: 'MQTT 5.0: QoS 1 gets PUBACK 0x87, QoS 2 PUBREC 0x87, QoS 0 nothing',
      version: 5,
      reasonCode: 0x87,
    },
    {
      title: '3.1.1: acknowledged as usual (3.1.1 cannot say "refused"), as mosquitto does; QoS 0 nothing',
      version: 4,
      reasonCode: undefined,
    },
  ] as const
  for (const { title, version, reasonCode } of refusals) {
    it(`${title}; nobody receives it, nothing is retained, even where the ACL allows writing`, async () => {
      const b = await startSysBroker([{ topic: '$SYS/#', access: 'readwrite' }])
      const watcher = await b.connect('watcher')
      await subscribe(watcher, '$SYS/#')
      const p = await b.connect('p', { version })
      const fake = {
        cmd: 'publish',
        topic: '$SYS/broker/clients/connected',
        payload: '999',
        retain: true,
        dup: false,
      } as const
      p.send({ ...fake, qos: 1, messageId: 1 })
      const puback = await p.expect('puback')
      expect([puback.messageId, puback.reasonCode]).toEqual([1, reasonCode])
      p.send({ ...fake, qos: 2, messageId: 2 })
      const pubrec = await p.expect('pubrec')
      expect([pubrec.messageId, pubrec.reasonCode]).toEqual([2, reasonCode])
      p.send({ ...fake, topic: '$SYS', qos: 0 })
      expect(publishes(await fence(p))).toEqual([])
      expect(publishes(await fence(watcher))).toEqual([])
      const later = await b.connect('later')
      await subscribe(later, '$SYS/#')
      expect(publishes(await fence(later))).toEqual([])
    })
  }

  it('[MQTT-3.2.2-5] a CONNECT with a will on $SYS/... is refused (3.1.1: 5, 5.0: 0x87) and closed; a will elsewhere is published', async () => {
    const b = await startSysBroker()
    await b.sys.publishNow()
    const watcher = await b.connect('watcher')
    await subscribe(watcher, ['$SYS/#', 'wills/#'])
    expect(valuesOf(await fence(watcher)).get('$SYS/broker/version')).toBe('mqtt-stack test')
    const will = { topic: '$SYS/broker/version', payload: Buffer.from('fake'), qos: 0, retain: true } as const
    for (const [version, code] of [
      [4, 5],
      [5, 0x87],
    ] as const) {
      const refused = await tcp.connect(b.port, { protocolVersion: version })
      const connack = await refused.connect({
        clientId: `refused-${version}`,
        protocolVersion: version,
        will,
      })
      expect(connack.returnCode ?? connack.reasonCode).toBe(code)
      expect(connack.sessionPresent).toBe(false)
      await refused.closed()
    }
    // The control: a will elsewhere reaches the watcher, and nothing was published on $SYS/broker/version.
    const kept = await b.connect('kept', {
      will: { ...will, cmd: 'publish', dup: false, topic: 'wills/kept' },
    })
    kept.destroy()
    const next = await watcher.expect('publish')
    expect(next.topic).toBe('wills/kept')
    const later = await b.connect('later')
    await subscribe(later, '$SYS/broker/version')
    expect(valuesOf(await fence(later)).get('$SYS/broker/version')).toBe('mqtt-stack test')
  })
})

/** Resolves when the broker has seen the connection of `clientId` close (its will decided). */
function closedOnBroker(b: SysBroker, clientId: string): Promise<unknown> {
  const client = [...b.stack.clients].find((c) => c.id === clientId)
  return client === undefined ? Promise.resolve() : once(client, 'close')
}
