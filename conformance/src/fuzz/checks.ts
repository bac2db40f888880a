/**
 * What the fuzz runner checks after each batch: a healthy client is served, the broker holds nothing for
 * the fuzz connections once their persistent sessions are cleaned up over MQTT, and the heap is back.
 */

import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { Client, Stack } from '@mqtt-stack/core'
import { connectTestSocket, type PacketPeer } from '@mqtt-stack/core/testing'
import type { MemoryBackendStats } from '@mqtt-stack/memory-backend'
import { within } from './drive.js'

/** Reads a public getter of a built-in, found by its name (no production API is added for the fuzz). */
function getter<T>(stack: Stack, middleware: string, key: string): T | undefined {
  const found = stack.middlewares.find((m) => m.name === middleware) as Record<string, unknown> | undefined
  return found?.[key] as T | undefined
}

/** What the built-ins hold, through their public getters. */
export interface BrokerState {
  /** Open connections (`stack.clients`). */
  connections: number
  backend: MemoryBackendStats | undefined
  /** session-manager: disconnected MQTT 5.0 sessions waiting for their expiry. */
  expiringSessions: number | undefined
  /**
   * keepalive: connections watched by the sweep. Not a leftover: a closed connection is dropped by the next
   * sweep (every second by default), so it is reported, not checked.
   */
  keepaliveWatched: number | undefined
  /** last-will: wills waiting out their delay. */
  pendingWills: number | undefined
}

export function brokerState(stack: Stack): BrokerState {
  return {
    connections: stack.clients.size,
    backend: getter<MemoryBackendStats>(stack, 'memory-backend', 'stats'),
    expiringSessions: getter<number>(stack, 'session-manager', 'expiring'),
    keepaliveWatched: getter<number>(stack, 'keepalive', 'watching'),
    pendingWills: getter<number>(stack, 'last-will', 'pending'),
  }
}

/** What must be zero once every fuzz connection is gone and its session cleaned: a list of problems. */
export function leftovers(state: BrokerState): string[] {
  const problems: string[] = []
  const expectZero = (what: string, value: number | undefined): void => {
    if (value !== undefined && value !== 0) problems.push(`${what}: ${value}`)
  }
  expectZero('open connections', state.connections)
  expectZero('memory-backend registered clients', state.backend?.clients)
  expectZero('memory-backend sessions', state.backend?.sessions)
  expectZero('memory-backend subscriptions', state.backend?.subscriptions)
  expectZero('memory-backend subscribers', state.backend?.subscribers)
  expectZero('memory-backend shared subscriptions', state.backend?.sharedSubscriptions)
  expectZero('memory-backend wills', state.backend?.wills)
  expectZero('session-manager expiring sessions', state.expiringSessions)
  expectZero('last-will pending wills', state.pendingWills)
  return problems
}

/**
 * Waits until the broker has no open connection; returns how many are left after `timeout`. Connections the
 * server accepts while it waits (sockets already closed on the test side) are waited for too.
 */
export async function waitClosed(clients: ReadonlySet<Client>, timeout: number): Promise<number> {
  const deadline = Date.now() + timeout
  while (clients.size > 0) {
    const left = deadline - Date.now()
    if (left <= 0) break
    const all = Promise.all(
      [...clients].map((client) => new Promise((resolve) => client.once('close', resolve))),
    )
    if (!(await within(all, left))) break
  }
  return clients.size
}

async function peer(port: number, timeout: number): Promise<PacketPeer> {
  return connectTestSocket(port, '127.0.0.1', { timeout })
}

/**
 * A well-behaved client connects, subscribes at QoS 1, publishes a QoS 1 message to itself and gets both
 * the PUBACK and the message, then disconnects. Throws with what went wrong.
 */
export async function healthyClient(
  port: number,
  clientId: string,
  version: 4 | 5,
  timeout: number,
): Promise<void> {
  const client = await peer(port, timeout)
  try {
    const connack = await client.connect({ clientId, protocolVersion: version, clean: true })
    if ((connack.reasonCode ?? connack.returnCode ?? 0) !== 0)
      throw new Error(`CONNACK refused the healthy client: ${connack.reasonCode ?? connack.returnCode}`)
    const topic = `health/${clientId}`
    client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] })
    const suback = await client.expect('suback')
    if (suback.granted[0] !== 1) throw new Error(`SUBACK granted ${String(suback.granted[0])}, not QoS 1`)
    client.send({
      cmd: 'publish',
      topic,
      payload: Buffer.from('alive'),
      qos: 1,
      messageId: 2,
      dup: false,
      retain: false,
    })
    let acked = false
    let delivered = false
    while (!acked || !delivered) {
      const packet = await client.next()
      if (packet.cmd === 'puback' && packet.messageId === 2) acked = true
      else if (packet.cmd === 'publish' && packet.topic === topic && packet.payload.toString() === 'alive') {
        delivered = true
        client.send({ cmd: 'puback', messageId: packet.messageId! })
      } else throw new Error(`unexpected ${packet.cmd} for the healthy client`)
    }
    client.send({ cmd: 'disconnect' })
    await client.closed()
  } finally {
    client.destroy()
  }
}

/**
 * Ends, over MQTT, every session the fuzz connections left: a clean CONNECT with each client id that still has
 * one, then DISCONNECT. Returns the ids whose session could not be ended.
 */
export async function cleanSessions(
  stack: Stack,
  port: number,
  ids: Iterable<string>,
  timeout: number,
): Promise<string[]> {
  const stored: string[] = []
  for (const clientId of ids) {
    const { session } = await stack.run('lookupSession', { clientId }, {})
    if (session !== undefined) stored.push(clientId)
  }
  const failed: string[] = []
  await Promise.all(
    stored.map(async (clientId) => {
      const client = await peer(port, timeout)
      try {
        const connack = await client.connect({ clientId, clean: true })
        if (connack.returnCode !== 0) throw new Error(`CONNACK ${connack.returnCode}`)
        client.send({ cmd: 'disconnect' })
        await client.closed()
      } catch (err) {
        failed.push(`${JSON.stringify(clientId)}: ${(err as Error).message}`)
      } finally {
        client.destroy()
      }
    }),
  )
  return failed
}

/** Filters that reach the retained messages the fuzz can leave ('#' does not match topics starting with '$'). */
const RETAINED_FILTERS = ['#', '$fuzz/#']

/**
 * Retained messages are not session state, but they hold memory: the ones under the fuzz's filters are
 * deleted over MQTT (an empty retained PUBLISH each). Returns how many were deleted; throws if one stays.
 */
export async function clearRetained(stack: Stack, port: number, timeout: number): Promise<number> {
  const topics = await retainedTopics(stack)
  if (topics.length === 0) return 0
  const client = await peer(port, timeout)
  try {
    await client.connect({ clientId: 'fuzz-retained-cleaner', clean: true })
    let messageId = 0
    for (const topic of topics) {
      client.send({
        cmd: 'publish',
        topic,
        payload: Buffer.alloc(0),
        qos: 1,
        messageId: ++messageId,
        retain: true,
        dup: false,
      })
    }
    for (let acked = 0; acked < topics.length; acked++) await client.expect('puback')
    client.send({ cmd: 'disconnect' })
    await client.closed()
  } finally {
    client.destroy()
  }
  const left = await retainedTopics(stack)
  if (left.length > 0)
    throw new Error(`${left.length} retained messages could not be deleted: ${left.slice(0, 3).join(', ')}`)
  return topics.length
}

async function retainedTopics(stack: Stack): Promise<string[]> {
  const topics: string[] = []
  for (const topic of RETAINED_FILTERS) {
    const { packets } = await stack.run('lookupRetainedMessages', { topic }, {})
    for (const packet of packets ?? []) topics.push(packet.topic)
  }
  return topics
}

let gc: (() => void) | undefined

/** Forces a full garbage collection (with or without `--expose-gc`). */
export function collectGarbage(): void {
  if (gc === undefined) {
    const exposed = (globalThis as { gc?: () => void }).gc
    if (typeof exposed === 'function') gc = exposed
    else {
      setFlagsFromString('--expose-gc')
      gc = runInNewContext('gc') as () => void
    }
  }
  gc()
  gc()
}

export interface MemorySample {
  heapUsed: number
  /** Memory outside the V8 heap held by JavaScript objects: Buffers, among others. */
  external: number
  rss: number
}

/** Heap, external memory and RSS after a forced collection. */
export function memory(): MemorySample {
  collectGarbage()
  const { heapUsed, external, rss } = process.memoryUsage()
  return { heapUsed, external, rss }
}
