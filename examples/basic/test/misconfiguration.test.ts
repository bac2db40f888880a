import { Authentication, StaticCredentials } from '@mqtt-stack/authentication'
import { Authorize } from '@mqtt-stack/authorize'
import { Connection } from '@mqtt-stack/connection'
import { ErrorCode, type MiddlewareLike, type MqttStackError, Stack } from '@mqtt-stack/core'
import { type PacketPeer, tcpHarness } from '@mqtt-stack/core/testing'
import { InboundManager } from '@mqtt-stack/inbound-manager'
import { KeepAlive } from '@mqtt-stack/keepalive'
import { LastWill } from '@mqtt-stack/last-will'
import { MemoryBackend } from '@mqtt-stack/memory-backend'
import { OutboundManager } from '@mqtt-stack/outbound-manager'
import { RetainManager } from '@mqtt-stack/retain-manager'
import { SessionManager } from '@mqtt-stack/session-manager'
import { SubscriptionManager } from '@mqtt-stack/subscription-manager'
import { afterEach, describe, expect, it } from 'vitest'
import { CONNECT_311 } from './support.js'

/** The default broker's middlewares, in the documented order, by package short name. */
function defaultMiddlewares(): MiddlewareLike[] {
  return [
    new MemoryBackend(),
    new Connection(),
    new KeepAlive(),
    new Authentication(),
    new StaticCredentials({ allowAnonymous: true }),
    new Authorize(),
    new LastWill(),
    new SessionManager(),
    new RetainManager(),
    new InboundManager(),
    new OutboundManager(),
    new SubscriptionManager(),
  ]
}

/** The default broker without the named middlewares, as a new user might assemble it. */
function stackWithout(...names: string[]): { stack: Stack; errors: MqttStackError[] } {
  const stack = new Stack()
  const errors: MqttStackError[] = []
  stack.on('error', (err) => errors.push(err))
  for (const middleware of defaultMiddlewares()) if (!names.includes(middleware.name!)) stack.use(middleware)
  tcp.track(stack)
  return { stack, errors }
}

const tcp = tcpHarness()
afterEach(() => tcp.close())

async function listen(stack: Stack): Promise<() => Promise<PacketPeer>> {
  const port = await tcp.listen(stack)
  return () => tcp.connect(port)
}

function startupError(stack: Stack): MqttStackError {
  try {
    stack.handler()
  } catch (err) {
    return err as MqttStackError
  }
  throw new Error('handler() did not throw')
}

describe('no silent misconfiguration: what a new user who leaves a middleware out meets', () => {
  it('without the backend: a start-up error of a few lines that names MemoryBackend and its package', () => {
    const err = startupError(stackWithout('memory-backend').stack)
    expect(err.code).toBe(ErrorCode.MISSING_PROVIDER)
    const lines = err.message.split('\n')
    expect(lines.length).toBeLessThanOrEqual(6)
    expect(lines.every((line) => line.length <= 120)).toBe(true)
    expect(lines[1]).toBe('  use() MemoryBackend from @mqtt-stack/memory-backend')
    expect(lines[2]).toMatch(/^ {4}for \w+, \w+, \w+, \w+ and \d+ more$/)
  })

  it('without a credentials provider: the error names StaticCredentials or ScramSha256 and their package', () => {
    const err = startupError(stackWithout('static-credentials').stack)
    expect(err.code).toBe(ErrorCode.MISSING_PROVIDER)
    expect(err.message).toContain(
      'use() StaticCredentials or ScramSha256 from @mqtt-stack/authentication\n    for authenticateConnection\n    needed by authentication',
    )
  })

  it('in reverse order: fails at start naming both middlewares of each broken rule', () => {
    const stack = new Stack()
    tcp.track(stack)
    for (const middleware of defaultMiddlewares().reverse()) stack.use(middleware)
    const err = startupError(stack)
    expect(err.code).toBe(ErrorCode.WRONG_ORDER)
    expect(err.message).toContain(
      'session-manager must come after connection (session-manager.after names "connection")',
    )
    expect(err.message).toContain('retain-manager must come after memory-backend (a "backend")')
  })

  it('without session-manager: a CONNECT is reported (MQS_ERR_UNANSWERED_CONNECT) and its client closed, not left hanging', async () => {
    const { stack, errors } = stackWithout('session-manager')
    const connect = await listen(stack)
    const peer = await connect()
    peer.send({ ...CONNECT_311, clientId: 'lost' })
    await peer.closed()
    expect(peer.received).toEqual([])
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.UNANSWERED_CONNECT])
  })

  it('[MQTT-3.12.4-1] without keepalive: PINGREQ is still answered', async () => {
    const { stack, errors } = stackWithout('keepalive')
    const connect = await listen(stack)
    const peer = await connect()
    peer.send({ ...CONNECT_311, clientId: 'pinger', keepalive: 1 })
    await peer.expect('connack')
    peer.send({ cmd: 'pingreq' })
    await peer.expect('pingresp')
    expect(errors).toEqual([])
  })

  it('without retain-manager: a retained PUBLISH is delivered live and reported once per broker (MQS_ERR_UNSTORED)', async () => {
    const { stack, errors } = stackWithout('retain-manager')
    const connect = await listen(stack)
    const subscriber = await connect()
    subscriber.send({ ...CONNECT_311, clientId: 'sub' })
    await subscriber.expect('connack')
    subscriber.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'r/#', qos: 0 }] })
    await subscriber.expect('suback')
    const publisher = await connect()
    publisher.send({ ...CONNECT_311, clientId: 'pub' })
    await publisher.expect('connack')
    for (const topic of ['r/1', 'r/2']) {
      publisher.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 0, retain: true, dup: false })
      expect(await subscriber.expect('publish')).toMatchObject({ topic })
    }
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.UNSTORED])
    expect(errors[0]!.message).toContain('RetainManager from @mqtt-stack/retain-manager')
  })

  it('without last-will: a CONNECT with a will is accepted and reported once per broker (MQS_ERR_UNSTORED)', async () => {
    const { stack, errors } = stackWithout('last-will')
    const connect = await listen(stack)
    for (const clientId of ['w1', 'w2']) {
      const peer = await connect()
      const will = { topic: 'wills/x', payload: Buffer.from('gone'), qos: 0 as const, retain: false }
      peer.send({ ...CONNECT_311, clientId, will })
      expect(await peer.expect('connack')).toMatchObject({ returnCode: 0 })
    }
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.UNSTORED])
    expect(errors[0]!.message).toContain('LastWill from @mqtt-stack/last-will')
  })
})
