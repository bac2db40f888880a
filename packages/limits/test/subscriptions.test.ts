import { connectTestClient, type PacketPeer } from '@mqtt-stack/core/testing'
import { describe, expect, it } from 'vitest'
import { LimitsErrorCode } from '../src/index.js'
import { broker, track } from './helpers.js'

const subscribe = (peer: PacketPeer, messageId: number, ...topics: string[]) =>
  peer.send({ cmd: 'subscribe', messageId, subscriptions: topics.map((topic) => ({ topic, qos: 0 })) })

describe('subscriptions per client', () => {
  it('[MQTT-3.8.4-5] [MQTT-3.9.3-1] MQTT 5.0: a new filter past maxSubscriptionsPerClient gets SUBACK 0x97 Quota exceeded', async () => {
    const { stack, limits, errors } = broker({ maxSubscriptionsPerClient: 2 })
    const peer = track(connectTestClient(stack))
    await peer.connect({ clientId: 'many', protocolVersion: 5 })
    subscribe(peer, 1, 'a', 'b', 'c')
    expect((await peer.expect('suback')).granted).toEqual([0, 0, 0x97])
    // Subscribing again to a filter it holds replaces it: not a new subscription.
    subscribe(peer, 2, 'a')
    expect((await peer.expect('suback')).granted).toEqual([0])
    // One removed, one more fits.
    peer.send({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['a'] })
    await peer.expect('unsuback')
    subscribe(peer, 4, 'c', 'd')
    expect((await peer.expect('suback')).granted).toEqual([0, 0x97])
    expect(limits.stats.refusedSubscriptions).toBe(2)
    expect(errors.map((err) => err.code)).toEqual([
      LimitsErrorCode.SUBSCRIPTION_QUOTA,
      LimitsErrorCode.SUBSCRIPTION_QUOTA,
    ])
  })

  it('[MQTT-3.8.4-5] 3.1.1: a filter past the quota gets 0x80 Failure', async () => {
    const { stack } = broker({ maxSubscriptionsPerClient: 1 })
    const peer = track(connectTestClient(stack))
    await peer.connect({ clientId: 'many' })
    subscribe(peer, 1, 'a', 'b')
    expect((await peer.expect('suback')).granted).toEqual([0, 0x80])
  })

  it('MQTT 5.0: counts right when every filter is authorised before any is routed (subscription-manager order)', async () => {
    const { stack } = broker({ maxSubscriptionsPerClient: 3 }, {}, { batchSubscriptions: true })
    const peer = track(connectTestClient(stack))
    await peer.connect({ clientId: 'batch', protocolVersion: 5 })
    subscribe(peer, 1, 'a', 'b', 'c', 'd')
    expect((await peer.expect('suback')).granted).toEqual([0, 0, 0, 0x97])
    subscribe(peer, 2, 'c', 'e')
    expect((await peer.expect('suback')).granted).toEqual([0, 0x97])
  })

  it('counts each client on its own', async () => {
    const { stack } = broker({ maxSubscriptionsPerClient: 1 })
    for (const id of ['one', 'two']) {
      const peer = track(connectTestClient(stack))
      await peer.connect({ clientId: id })
      subscribe(peer, 1, 'a')
      expect((await peer.expect('suback')).granted).toEqual([0])
    }
  })
})

describe('topic length and levels on SUBSCRIBE', () => {
  it('MQTT 5.0: a filter over maxTopicLevels gets SUBACK 0x8F Topic Filter invalid; the others are granted', async () => {
    const { stack, limits } = broker({ maxTopicLevels: 2 })
    const peer = track(connectTestClient(stack))
    await peer.connect({ clientId: 'deep', protocolVersion: 5 })
    subscribe(peer, 1, 'a/b', 'a/b/c', 'a/+')
    expect((await peer.expect('suback')).granted).toEqual([0, 0x8f, 0])
    expect(limits.stats.refusedTopics).toBe(1)
  })

  it('3.1.1: a filter of 65,535 levels gets 0x80 with the defaults', async () => {
    const { stack } = broker()
    const peer = track(connectTestClient(stack))
    await peer.connect({ clientId: 'abuse' })
    subscribe(peer, 1, '+/'.repeat(32_767).concat('#'))
    expect((await peer.expect('suback')).granted).toEqual([0x80])
  })
})
