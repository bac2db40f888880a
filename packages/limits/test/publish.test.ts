import { once } from 'node:events'
import { connectTestClient, connectTestSocket, type PacketPeer } from '@mqtt-stack/core/testing'
import { describe, expect, it } from 'vitest'
import { LimitsErrorCode } from '../src/index.js'
import { broker, overTcp, testClock, track } from './helpers.js'

const publish = (peer: PacketPeer, messageId: number, payload = 'x', topic = 't') =>
  peer.send({
    cmd: 'publish',
    topic,
    payload: Buffer.from(payload),
    qos: 1,
    messageId,
    dup: false,
    retain: false,
  })

describe('publish rate', () => {
  it('MQTT 5.0: past the burst, DISCONNECT 0x96 Message rate too high, then close', async () => {
    const clock = testClock()
    const { stack, limits, errors, published } = broker({ publishRate: 1, publishBurst: 3, now: clock.now })
    const peer = track(connectTestClient(stack))
    await peer.connect({ clientId: 'fast', protocolVersion: 5 })
    for (let id = 1; id <= 3; id++) {
      publish(peer, id)
      expect(await peer.expect('puback')).toMatchObject({ messageId: id })
    }
    publish(peer, 4)
    expect(await peer.expect('disconnect')).toMatchObject({ reasonCode: 0x96 })
    await peer.closed()
    expect(published).toHaveLength(3)
    expect(errors.map((err) => err.code)).toEqual([LimitsErrorCode.PUBLISH_RATE])
    expect(limits.stats.disconnectedPublishRate).toBe(1)
  })

  it('MQTT 5.0: tokens come back at publishRate per second', async () => {
    const clock = testClock()
    const { stack, published } = broker({ publishRate: 2, publishBurst: 1, now: clock.now })
    const peer = track(connectTestClient(stack))
    await peer.connect({ clientId: 'steady', protocolVersion: 5 })
    for (let id = 1; id <= 5; id++) {
      publish(peer, id)
      await peer.expect('puback')
      clock.advance(500)
    }
    expect(published).toHaveLength(5)
  })

  it('MQTT 5.0: the byte rate counts topic and payload bytes', async () => {
    const clock = testClock()
    const { stack, published } = broker({ publishByteRate: 10, publishByteBurst: 100, now: clock.now })
    const peer = track(connectTestClient(stack))
    await peer.connect({ clientId: 'big', protocolVersion: 5 })
    publish(peer, 1, 'y'.repeat(80))
    await peer.expect('puback')
    publish(peer, 2, 'y'.repeat(80))
    expect(await peer.expect('disconnect')).toMatchObject({ reasonCode: 0x96 })
    expect(published).toHaveLength(1)
  })

  it('3.1.1: a PUBLISH over the rate waits for its tokens, then goes on', async () => {
    // The real clock: 20 messages/s is one token every 50 ms.
    const { stack, limits, published } = broker({ publishRate: 20, publishBurst: 1 })
    const peer = track(connectTestClient(stack))
    await peer.connect({ clientId: 'slowed' })
    const start = performance.now()
    for (let id = 1; id <= 3; id++) publish(peer, id)
    for (let id = 1; id <= 3; id++) expect(await peer.expect('puback')).toMatchObject({ messageId: id })
    // Two messages over the burst: two tokens to wait for (less a few ms of timer and clock granularity).
    expect(performance.now() - start).toBeGreaterThanOrEqual(90)
    expect(published).toHaveLength(3)
    expect(limits.stats.throttledPublishes).toBe(2)
    expect(peer.isClosed).toBe(false)
  })

  it('3.1.1: while a PUBLISH waits, the client is not read (core pauses its stream)', async () => {
    const clock = testClock()
    const { stack, published } = broker(
      { publishRate: 100, publishBurst: 1, now: clock.now },
      { client: { maxQueuedPackets: 2 } },
    )
    const peer = track(connectTestClient(stack))
    await peer.connect({ clientId: 'flood' })
    const paused = once(peer.client.stream, 'pause')
    for (let id = 1; id <= 5; id++) publish(peer, id)
    await paused
    expect(published).toHaveLength(1)
    expect(await peer.expect('puback')).toMatchObject({ messageId: 1 })
    // Each held PUBLISH goes on once the clock gives its token (one every 10 ms), and reading resumes.
    const resumed = once(peer.client.stream, 'resume')
    for (let id = 2; id <= 5; id++) {
      clock.advance(10)
      expect(await peer.expect('puback')).toMatchObject({ messageId: id })
    }
    await resumed
    expect(published).toHaveLength(5)
  })

  it('3.1.1: a client that would wait longer than maxThrottle is closed', async () => {
    const clock = testClock()
    const { stack, errors, published } = broker({
      publishRate: 1,
      publishBurst: 1,
      maxThrottle: 500,
      now: clock.now,
    })
    const peer = track(connectTestClient(stack))
    await peer.connect({ clientId: 'abuser' })
    publish(peer, 1)
    await peer.expect('puback')
    publish(peer, 2)
    await peer.closed()
    expect(published).toHaveLength(1)
    expect(errors.map((err) => err.code)).toEqual([LimitsErrorCode.PUBLISH_RATE])
  })

  it('a client closed while its PUBLISH waits ends that chain (nothing is delivered after)', async () => {
    const { stack, published } = broker({ publishRate: 1, publishBurst: 1 })
    const peer = track(connectTestClient(stack))
    await peer.connect({ clientId: 'gone' })
    publish(peer, 1)
    await peer.expect('puback')
    publish(peer, 2)
    const gone = once(peer.client.stream, 'close')
    peer.destroy()
    await gone
    expect(published).toHaveLength(1)
  })

  it('3.1.1 over TCP: throttled, then acknowledged', async () => {
    const { stack, published } = broker({ publishRate: 50, publishBurst: 2 })
    await overTcp(stack, async (port) => {
      const peer = track(await connectTestSocket(port))
      await peer.connect({ clientId: 'tcp' })
      for (let id = 1; id <= 4; id++) publish(peer, id)
      for (let id = 1; id <= 4; id++) expect(await peer.expect('puback')).toMatchObject({ messageId: id })
      expect(published).toHaveLength(4)
    })
  })
})

describe('topic length and levels on PUBLISH', () => {
  it('MQTT 5.0: a QoS 1 PUBLISH over maxTopicLevels gets PUBACK 0x90 Topic Name invalid and is dropped', async () => {
    const { stack, limits, published } = broker({ maxTopicLevels: 3 })
    const peer = track(connectTestClient(stack))
    await peer.connect({ clientId: 'deep', protocolVersion: 5 })
    publish(peer, 1, 'x', 'a/b/c/d')
    expect(await peer.expect('puback')).toMatchObject({ messageId: 1, reasonCode: 0x90 })
    publish(peer, 2, 'x', 'a/b/c')
    expect(await peer.expect('puback')).toMatchObject({ messageId: 2 })
    expect(published).toEqual(['a/b/c'])
    expect(limits.stats.refusedTopics).toBe(1)
  })

  it('MQTT 5.0: a QoS 0 PUBLISH over maxTopicLength is dropped, the connection stays', async () => {
    const { stack, published } = broker({ maxTopicLength: 10 })
    const peer = track(connectTestClient(stack))
    await peer.connect({ clientId: 'long', protocolVersion: 5 })
    peer.send({
      cmd: 'publish',
      topic: 'x'.repeat(11),
      payload: Buffer.from('p'),
      qos: 0,
      dup: false,
      retain: false,
    })
    peer.send({ cmd: 'pingreq' })
    await peer.expect('pingresp')
    expect(published).toEqual([])
    expect(peer.isClosed).toBe(false)
  })

  it('[MQTT-3.3.5-2] 3.1.1: a PUBLISH over the topic limits closes the connection', async () => {
    const { stack, published, errors } = broker({ maxTopicLength: 10 })
    const peer = track(connectTestClient(stack))
    await peer.connect({ clientId: 'long' })
    publish(peer, 1, 'x', 'é'.repeat(6)) // 6 characters, 12 bytes
    await peer.closed()
    expect(published).toEqual([])
    expect(errors.map((err) => err.code)).toEqual([LimitsErrorCode.TOPIC_LIMIT])
  })

  it('with the defaults, a topic of 65,535 levels is refused (3.1.1: closed) over TCP', async () => {
    const { stack, published } = broker()
    await overTcp(stack, async (port) => {
      const peer = track(await connectTestSocket(port))
      await peer.connect({ clientId: 'abuse' })
      publish(peer, 1, 'x', '/'.repeat(65_534))
      await peer.closed()
      expect(published).toEqual([])
      const ok = track(await connectTestSocket(port))
      await ok.connect({ clientId: 'ok' })
      publish(ok, 1, 'x', 'a/'.repeat(127).concat('z'))
      expect(await ok.expect('puback')).toMatchObject({ messageId: 1 })
    })
  })
})
