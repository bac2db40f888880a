import {
  ErrorCode,
  type IConnectPacket,
  type IPublishPacket,
  MqttStackError,
  type Packet,
  Stack,
  serializePacket,
} from '@mqtt-stack/core'
import { connectTestClient } from '@mqtt-stack/core/testing'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { SysErrorCode, SysTopics, sysOptionsFromConfig } from '../src/index.js'
import { acceptConnections, relayRecorder, tcpHarness, testStack } from './helpers.js'

const tcp = tcpHarness()

afterEach(() => {
  vi.useRealTimers()
})

const connectPacket = (clientId: string, protocolVersion: 4 | 5): IConnectPacket => ({
  cmd: 'connect',
  protocolId: 'MQTT',
  protocolVersion,
  clean: true,
  clientId,
  keepalive: 0,
})
const publishPacket: IPublishPacket = {
  cmd: 'publish',
  topic: 'devices/1',
  payload: 'hello',
  qos: 0,
  retain: false,
  dup: false,
}
const size = (packet: Packet, version: 4 | 5 = 4) => serializePacket(packet, version).length

/** A stack of the recorder, SysTopics and a stand-in session manager; errors kept. */
function sysStack(
  options: ConstructorParameters<typeof SysTopics>[0],
  stats?: Parameters<typeof relayRecorder>[0],
) {
  const { stack, errors } = testStack()
  const recorder = relayRecorder(stats)
  const sys = new SysTopics(options)
  stack
    .use(recorder.middleware)
    .use(sys)
    .use(acceptConnections({ answerPings: true }))
  return { stack, errors, recorder, sys }
}

describe('SysTopics over TCP', () => {
  it("publishes mosquitto's $SYS/broker topics, retained QoS 0 server messages, with exact counts", async () => {
    const { stack, recorder, sys, errors } = sysStack({ interval: 0 })
    const port = await tcp.listen(stack)
    const a = await tcp.connect(port)
    await a.connect({ clientId: 'a' })
    const b = await tcp.connect(port, { protocolVersion: 5 })
    const connack5 = await b.connect(connectPacket('b', 5))
    a.send(publishPacket)
    a.send(publishPacket)
    a.send({ cmd: 'pingreq' })
    await a.expect('pingresp')
    b.send({ cmd: 'pingreq' })
    await b.expect('pingresp')

    await sys.publishNow()
    const values = recorder.latest()
    const bytesReceived =
      size(connectPacket('a', 4)) + size(connectPacket('b', 5), 5) + 2 * size(publishPacket) + 2 + 2
    const bytesSent = 4 + size(connack5, 5) + 2 + 2
    expect(Object.fromEntries([...values].filter(([topic]) => !/uptime|heap|load/.test(topic)))).toEqual({
      '$SYS/broker/version': 'mqtt-stack',
      '$SYS/broker/clients/connected': '2',
      '$SYS/broker/clients/maximum': '2',
      // CONNECT x2, PUBLISH x2, PINGREQ x2; CONNACK x2, PINGRESP x2
      '$SYS/broker/messages/received': '6',
      '$SYS/broker/messages/sent': '4',
      '$SYS/broker/publish/messages/received': '2',
      '$SYS/broker/publish/messages/sent': '0',
      '$SYS/broker/bytes/received': String(bytesReceived),
      '$SYS/broker/bytes/sent': String(bytesSent),
    })
    expect(values.get('$SYS/broker/uptime')).toMatch(/^\d+ seconds$/)
    const heap = Number(values.get('$SYS/broker/heap/current'))
    expect(heap).toBeGreaterThan(0)
    expect(Number(values.get('$SYS/broker/heap/maximum'))).toBeGreaterThanOrEqual(heap)
    for (const name of ['messages', 'publish', 'bytes'])
      for (const way of ['received', 'sent'])
        for (const window of ['1min', '5min', '15min'])
          expect(values.get(`$SYS/broker/load/${name}/${way}/${window}`)).toMatch(/^\d+\.\d\d$/)
    for (const name of ['connections', 'sockets'])
      expect(values.get(`$SYS/broker/load/${name}/1min`)).toMatch(/^\d+\.\d\d$/)
    // Without a backend answering collectStats, what only the backend knows is left out.
    expect(values.has('$SYS/broker/clients/disconnected')).toBe(false)
    expect(values.has('$SYS/broker/subscriptions/count')).toBe(false)
    for (const message of recorder.relayed)
      expect(message).toMatchObject({ retain: true, qos: 0, fromClient: false })
    expect(errors).toEqual([])
    expect(sys.topics).toEqual(values)
  })

  it('publishes again only the topics whose value changed; maximum keeps the most at once', async () => {
    const { stack, recorder, sys } = sysStack({ interval: 0 })
    const port = await tcp.listen(stack)
    const a = await tcp.connect(port)
    await a.connect({ clientId: 'a' })
    const b = await tcp.connect(port)
    await b.connect({ clientId: 'b' })
    await sys.publishNow()
    const first = recorder.relayed.length
    b.end()
    await b.closed()
    await new Promise<void>((resolve) => {
      const client = [...stack.clients].find((c) => c.id === 'b')
      if (client === undefined) resolve()
      else client.once('close', () => resolve())
    })
    await sys.publishNow()
    const again = new Map(recorder.relayed.slice(first).map((message) => [message.topic, message.payload]))
    expect(again.get('$SYS/broker/clients/connected')).toBe('1')
    expect(again.has('$SYS/broker/clients/maximum')).toBe(false)
    expect(again.has('$SYS/broker/version')).toBe(false)
    expect(sys.topics.get('$SYS/broker/clients/maximum')).toBe('2')
  })

  it('publishes what the backend answers to collectStats: disconnected, total, subscriptions, retained', async () => {
    const { stack, recorder, sys } = sysStack(
      { interval: 0 },
      { sessions: 5, disconnectedSessions: 3, subscriptions: 7, retainedMessages: 4 },
    )
    const port = await tcp.listen(stack)
    const a = await tcp.connect(port)
    await a.connect({ clientId: 'a' })
    await sys.publishNow()
    const values = recorder.latest()
    expect(values.get('$SYS/broker/clients/connected')).toBe('1')
    expect(values.get('$SYS/broker/clients/disconnected')).toBe('3')
    expect(values.get('$SYS/broker/clients/total')).toBe('4')
    expect(values.get('$SYS/broker/subscriptions/count')).toBe('7')
    expect(values.get('$SYS/broker/retained messages/count')).toBe('4')
  })
})

describe('load averages', () => {
  it('are per-minute rates moved into exponentially weighted averages over 1, 5 and 15 minutes, as mosquitto computes them', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(1_000_000)
    const { stack, recorder, sys } = sysStack({ interval: 0 })
    tcp.track(stack)
    await sys.publishNow()
    expect(recorder.latest().get('$SYS/broker/load/messages/received/1min')).toBe('0.00')
    // 120 packets in one minute: a rate of 120 per minute.
    stack.traffic.packetsReceived += 120
    vi.setSystemTime(1_060_000)
    await sys.publishNow()
    const rate = 120
    const after = (window: number, load = 0, elapsed = 60) =>
      rate + Math.exp(-elapsed / window) * (load - rate)
    let values = recorder.latest()
    expect(values.get('$SYS/broker/load/messages/received/1min')).toBe(after(60).toFixed(2)) // 75.85
    expect(values.get('$SYS/broker/load/messages/received/5min')).toBe(after(300).toFixed(2)) // 21.75
    expect(values.get('$SYS/broker/load/messages/received/15min')).toBe(after(900).toFixed(2)) // 7.74
    expect(values.get('$SYS/broker/load/messages/received/1min')).toBe('75.85')
    expect(values.get('$SYS/broker/uptime')).toBe('60 seconds')
    // A quiet minute: the averages decay.
    vi.setSystemTime(1_120_000)
    await sys.publishNow()
    values = recorder.latest()
    expect(values.get('$SYS/broker/load/messages/received/1min')).toBe((after(60) * Math.exp(-1)).toFixed(2))
  })
})

describe('the interval timer', () => {
  it('is one unref timer for the stack: the first update at start, then every interval; stopped on close', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'Date'] })
    vi.setSystemTime(5_000_000)
    const { stack, recorder } = sysStack({ interval: 10 })
    expect(vi.getTimerCount()).toBe(2) // the first update, and the interval
    const first = recorder.waitFor((m) => m.topic === '$SYS/broker/uptime')
    vi.advanceTimersByTime(0)
    expect((await first).payload).toBe('0 seconds')
    expect(vi.getTimerCount()).toBe(1)
    // Connections do not add timers.
    const t = connectTestClient(stack)
    await t.connect()
    expect(vi.getTimerCount()).toBe(1)
    const second = recorder.waitFor((m) => m.topic === '$SYS/broker/uptime')
    vi.advanceTimersByTime(10_000)
    expect((await second).payload).toBe('10 seconds')
    await stack.close()
    expect(vi.getTimerCount()).toBe(0)
  })

  it('interval 0: no timer, nothing published but by publishNow()', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setImmediate', 'clearImmediate'] })
    const { stack, recorder, sys } = sysStack({ interval: 0 })
    tcp.track(stack)
    expect(vi.getTimerCount()).toBe(0)
    expect(recorder.relayed).toEqual([])
    await sys.publishNow()
    expect(recorder.latest().get('$SYS/broker/version')).toBe('mqtt-stack')
  })

  it('a publishNow() during an update joins it; after close() nothing is published', async () => {
    const { stack, recorder, sys } = sysStack({ interval: 0 })
    const one = sys.publishNow()
    expect(sys.publishNow()).toBe(one)
    await one
    const count = recorder.relayed.length
    expect(count).toBeGreaterThan(0)
    await stack.close()
    await sys.publishNow()
    expect(recorder.relayed.length).toBe(count)
  })

  it('a relay that fails is reported, and the update goes on', async () => {
    const { stack, errors } = testStack()
    const sys = new SysTopics({ interval: 0 })
    const failure = new MqttStackError('TEST_ERR_RELAY', 'relay down')
    stack.use({ name: 'broken-relay', relayMessage: (_ctx, _store, next) => next(failure) }).use(sys)
    tcp.track(stack)
    await sys.publishNow()
    expect(errors.length).toBeGreaterThan(10)
    expect(errors.every((err) => err.code === 'TEST_ERR_RELAY')).toBe(true)
  })
})

describe('clients may not publish to $SYS', () => {
  /** SysTopics, then a stand-in for inbound-manager that records the PUBLISH packets reaching it. */
  function guardedStack() {
    const { stack, errors } = testStack()
    const reached: string[] = []
    stack
      .use(relayRecorder().middleware)
      .use(new SysTopics({ interval: 0 }))
      .use(acceptConnections())
      .use({
        name: 'publish-sink',
        packetTypes: ['publish'],
        handle: (_client, packet, _next, done) => {
          if (packet.cmd === 'publish') reached.push(packet.topic)
          done()
        },
      })
    tcp.track(stack)
    return { stack, errors, reached }
  }

  it('MQTT 5.0: PUBACK and PUBREC 0x87 for $SYS and every topic under it; nothing else is refused', async () => {
    const { stack, reached } = guardedStack()
    const t = connectTestClient(stack, { protocolVersion: 5 })
    await t.connect({ protocolVersion: 5 })
    t.send({ ...publishPacket, topic: '$SYS/broker/uptime', qos: 1, messageId: 1 })
    expect(await t.expect('puback')).toMatchObject({ messageId: 1, reasonCode: 0x87 })
    t.send({ ...publishPacket, topic: '$SYS', qos: 2, messageId: 2 })
    expect(await t.expect('pubrec')).toMatchObject({ messageId: 2, reasonCode: 0x87 })
    t.send({ ...publishPacket, topic: '$SYS/', qos: 0 })
    for (const topic of ['$SYSTEM/x', 'a/$SYS', '$sys/x', 'SYS/x']) t.send({ ...publishPacket, topic })
    t.send({ ...publishPacket, topic: 'last', qos: 1, messageId: 3 })
    await expect.poll(() => reached.at(-1)).toBe('last')
    expect(reached).toEqual(['$SYSTEM/x', 'a/$SYS', '$sys/x', 'SYS/x', 'last'])
    expect(t.received.filter((packet) => packet.cmd === 'puback' || packet.cmd === 'pubrec')).toHaveLength(2)
  })

  it('[MQTT-3.3.5-2] MQTT 3.1.1: acknowledged as usual (it cannot say no) and dropped', async () => {
    const { stack, reached } = guardedStack()
    const t = connectTestClient(stack)
    await t.connect()
    t.send({ ...publishPacket, topic: '$SYS/x', qos: 1, messageId: 7 })
    const puback = await t.expect('puback')
    expect(puback.messageId).toBe(7)
    expect(puback.reasonCode ?? 0).toBe(0)
    t.send({ ...publishPacket, topic: '$SYS/x', qos: 2, messageId: 8 })
    expect((await t.expect('pubrec')).messageId).toBe(8)
    expect(reached).toEqual([])
  })

  it(`[MQTT-3.2.2-5] a CONNECT whose will topic is under $SYS is refused: 5.0 CONNACK 0x87, 3.1.1 5; ${SysErrorCode.WILL_REFUSED} reported`, async () => {
    const { stack, errors } = guardedStack()
    const will = { topic: '$SYS/broker/fake', payload: Buffer.from('x'), qos: 0 as const, retain: false }
    const v5 = connectTestClient(stack, { protocolVersion: 5 })
    expect(await v5.connect({ protocolVersion: 5, will })).toMatchObject({
      reasonCode: 0x87,
      sessionPresent: false,
    })
    await v5.closed()
    const v4 = connectTestClient(stack)
    expect(await v4.connect({ will })).toMatchObject({ returnCode: 5, sessionPresent: false })
    await v4.closed()
    expect(errors.map((err) => err.code)).toEqual([SysErrorCode.WILL_REFUSED, SysErrorCode.WILL_REFUSED])
    const fine = connectTestClient(stack)
    expect(await fine.connect({ will: { ...will, topic: 'devices/1/status' } })).toMatchObject({
      returnCode: 0,
    })
  })
})

describe('options', () => {
  it('checks interval and version at construction', () => {
    for (const interval of [-1, Number.NaN, Number.POSITIVE_INFINITY, '10', 3_000_000])
      expect(() => new SysTopics({ interval: interval as number })).toThrow(/sys\.interval must be/)
    expect(() => new SysTopics({ version: '' })).toThrow(/sys\.version must be/)
    expect(new SysTopics({ interval: 0.5 }).config).toEqual({ interval: 0.5, version: 'mqtt-stack' })
  })

  it('sysOptionsFromConfig takes the plain options of a configuration file and names a bad key', () => {
    expect(sysOptionsFromConfig({})).toEqual({})
    expect(sysOptionsFromConfig({ interval: 30, version: 'acme 1.2' })).toEqual({
      interval: 30,
      version: 'acme 1.2',
    })
    const fails = (config: unknown, message: RegExp) => {
      let thrown: unknown
      try {
        sysOptionsFromConfig(config)
      } catch (err) {
        thrown = err
      }
      expect(thrown).toBeInstanceOf(MqttStackError)
      expect((thrown as MqttStackError).code).toBe(ErrorCode.INVALID_OPTION)
      expect((thrown as MqttStackError).message).toMatch(message)
    }
    fails({ intervall: 10 }, /sys\.intervall is not a key of sys/)
    fails({ interval: '10' }, /sys\.interval must be a number of seconds/)
    fails({ interval: -5 }, /sys\.interval/)
    fails({ version: 7 }, /sys\.version must be/)
    fails(null, /sys must be an object/)
    fails([10], /sys must be an object/)
  })

  it('stands before the will: after it, handler() fails with MQS_ERR_WRONG_ORDER', () => {
    const stack = new Stack()
      .use(relayRecorder().middleware)
      .use({ name: 'my-will', roles: ['will'] })
      .use(new SysTopics({ interval: 0 }))
    expect(() => stack.handler()).toThrow(expect.objectContaining({ code: ErrorCode.WRONG_ORDER }))
  })

  it('is used in one stack only', () => {
    const sys = new SysTopics({ interval: 0 })
    new Stack().use(relayRecorder().middleware).use(sys)
    let cause: unknown
    try {
      new Stack().use(sys)
    } catch (err) {
      cause = (err as MqttStackError).cause
    }
    expect(cause).toBeInstanceOf(MqttStackError)
    expect((cause as MqttStackError).message).toMatch(/already used in another stack/)
  })
})
