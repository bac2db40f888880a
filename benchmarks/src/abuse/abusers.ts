/**
 * What a hostile client does, one kind per function, each run in its own process (abuser-process.ts) so
 * that its sockets and its CPU are not the well-behaved load's. Every kind is bounded: a count it never
 * exceeds and a stop signal. Each one reports what it did and what the broker answered.
 */
import { connect, type Socket } from 'node:net'
import mqtt from 'mqtt-packet'

export const ABUSE_KINDS = [
  'silent-sockets',
  'many-filters',
  'publish-flood',
  'connect-flood',
  'huge-topics',
  'auth-brute-force',
] as const
export type AbuseKind = (typeof ABUSE_KINDS)[number]

export interface AbuseTarget {
  host: string
  port: number
  /** 1 for the full counts of docs/robustness.md, smaller to try the harness. */
  scale: number
}

/** Counters by name: attempts, what the broker accepted, refused or closed. */
export type AbuseStats = Record<string, number>

export interface Abuse {
  /** Resolves once the abuse is fully in place (sockets open, subscriptions granted, flood started). */
  ready: Promise<void>
  /** Stops it, closes every socket it opened, and resolves with its counters. */
  stop(): Promise<AbuseStats>
}

/**
 * Loopback addresses per kind: every 127.x.y.z reaches the broker on Linux, so an abuse that a per-address
 * limit should catch comes from its own address and the well-behaved clients (127.0.0.1) are not its
 * neighbours. The many silent sockets and the many clients with many filters each come from addresses of
 * their own (127.2.x.y, 127.3.x.y), as from many devices: what they test is the broker's memory and its
 * connect timeout, not the per-address limits.
 */
const SOURCE: Record<AbuseKind, string> = {
  'silent-sockets': '127.2',
  'many-filters': '127.3',
  'publish-flood': '127.0.0.4',
  'connect-flood': '127.0.0.5',
  'huge-topics': '127.0.0.6',
  'auth-brute-force': '127.0.0.7',
}

export function startAbuse(kind: AbuseKind, target: AbuseTarget): Abuse {
  switch (kind) {
    case 'silent-sockets':
      return silentSockets(target, SOURCE[kind], Math.round(10_000 * target.scale))
    case 'many-filters':
      return manyFilters(target, SOURCE[kind], Math.round(5_000 * target.scale), 1_000)
    case 'publish-flood':
      return publishFlood(target, SOURCE[kind])
    case 'connect-flood':
      return connectLoop(target, SOURCE[kind], 50, () => ({ clientId: `flood-${counter++}` }))
    case 'huge-topics':
      return hugeTopics(target, SOURCE[kind])
    case 'auth-brute-force':
      return connectLoop(target, SOURCE[kind], 20, () => ({
        clientId: `guess-${counter}`,
        username: 'admin',
        password: Buffer.from(`guess-${counter++}`),
      }))
  }
}

let counter = 0

/** A client of the abuser: raw socket, mqtt-packet parser, the packets it received counted by type. */
class Peer {
  readonly socket: Socket
  readonly closed: Promise<void>
  isClosed = false
  readonly #waiters: Array<{ cmd: mqtt.Packet['cmd']; resolve: (packet: mqtt.Packet | undefined) => void }> =
    []

  constructor(target: AbuseTarget, localAddress: string, protocolVersion: 4 | 5 = 4) {
    this.socket = connect({ host: target.host, port: target.port, localAddress })
    const parser = mqtt.parser({ protocolVersion })
    parser.on('packet', (packet) => {
      const index = this.#waiters.findIndex((waiter) => waiter.cmd === packet.cmd)
      if (index >= 0) this.#waiters.splice(index, 1)[0]!.resolve(packet)
    })
    parser.on('error', () => this.socket.destroy())
    this.socket.on('data', (chunk) => parser.parse(chunk))
    this.socket.on('error', () => {})
    this.closed = new Promise((resolve) =>
      this.socket.once('close', () => {
        this.isClosed = true
        for (const waiter of this.#waiters.splice(0)) waiter.resolve(undefined)
        resolve()
      }),
    )
  }

  send(packet: mqtt.Packet, protocolVersion: 4 | 5 = 4): boolean {
    if (this.isClosed || !this.socket.writable) return false
    return this.socket.write(mqtt.generate(packet, { protocolVersion }))
  }

  /** Resolves with the next packet of `cmd`, or undefined when the socket closes first. */
  next(cmd: mqtt.Packet['cmd']): Promise<mqtt.Packet | undefined> {
    if (this.isClosed) return Promise.resolve(undefined)
    return new Promise((resolve) => this.#waiters.push({ cmd, resolve }))
  }
}

function connectPacket(
  clientId: string,
  extra: Partial<mqtt.IConnectPacket> = {},
  protocolVersion: 4 | 5 = 4,
): mqtt.IConnectPacket {
  return {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion,
    clean: true,
    clientId,
    keepalive: 0,
    ...extra,
  }
}

/** Opens `peer`'s CONNECT and resolves with the CONNACK's code (-1 when the broker closed instead). */
async function handshake(peer: Peer, packet: mqtt.IConnectPacket): Promise<number> {
  const answer = peer.next('connack')
  peer.send(packet, packet.protocolVersion as 4 | 5)
  const connack = (await answer) as mqtt.IConnackPacket | undefined
  if (!connack) return -1
  return connack.reasonCode ?? connack.returnCode ?? 0
}

/** Runs `worker` in `concurrency` loops until `stop()`; each loop's promise must settle by itself. */
function loops(concurrency: number, worker: (running: () => boolean) => Promise<void>): Abuse['stop'] {
  let running = true
  const done = Promise.all(Array.from({ length: concurrency }, () => worker(() => running)))
  return async () => {
    running = false
    await done
    return {}
  }
}

/** The `index`th address of a /16 loopback prefix such as `127.2`. */
function spread(prefix: string, index: number): string {
  return `${prefix}.${(index >> 8) & 255}.${index & 255 || 1}`
}

/** `count` TCP connections that never send a byte; each one the broker closes is opened again. */
function silentSockets(target: AbuseTarget, localAddress: string, count: number): Abuse {
  const stats: AbuseStats = { sockets: count, opened: 0, closedByBroker: 0, failed: 0 }
  const sockets = new Set<Socket>()
  let running = true
  let resolveReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => {
    resolveReady = resolve
  })
  let made = 0
  const open = (): void => {
    if (!running) return
    const socket = connect({
      host: target.host,
      port: target.port,
      localAddress: spread(localAddress, made++),
    })
    sockets.add(socket)
    socket.once('connect', () => {
      stats.opened!++
      if (stats.opened === count) resolveReady()
    })
    socket.on('error', () => {
      stats.failed!++
    })
    socket.once('close', () => {
      sockets.delete(socket)
      if (!running) return
      stats.closedByBroker!++
      // Bounded: at most the initial count plus one reopen per socket the broker closed.
      if (stats.closedByBroker! <= count) setImmediate(open)
    })
  }
  // 500 at a time, so that the listen backlog is not what refuses them.
  const start = (from: number): void => {
    for (let i = from; i < Math.min(from + 500, count); i++) open()
    if (from + 500 < count) setTimeout(start, 20, from + 500)
  }
  start(0)
  return {
    ready,
    async stop() {
      running = false
      resolveReady()
      for (const socket of sockets) socket.destroy()
      stats.held = sockets.size
      return stats
    },
  }
}

/** `clients` connections with `filters` distinct filters each, 100 filters per SUBSCRIBE. */
function manyFilters(target: AbuseTarget, localAddress: string, clients: number, filters: number): Abuse {
  const stats: AbuseStats = { clients, filtersPerClient: filters, granted: 0, refused: 0, closedByBroker: 0 }
  const peers: Peer[] = []
  let next = 0
  let running = true
  const worker = async (): Promise<void> => {
    while (running && next < clients) {
      const index = next++
      const peer = new Peer(target, spread(localAddress, index))
      peers.push(peer)
      if ((await handshake(peer, connectPacket(`filters-${index}`))) !== 0) {
        stats.closedByBroker!++
        continue
      }
      for (let from = 0; from < filters && running && !peer.isClosed; from += 100) {
        const subscriptions = Array.from({ length: Math.min(100, filters - from) }, (_, i) => ({
          topic: `abuse/${index}/${from + i}/+`,
          qos: 1 as const,
        }))
        const answer = peer.next('suback')
        peer.send({ cmd: 'subscribe', messageId: 1 + from / 100, subscriptions })
        const suback = (await answer) as mqtt.ISubackPacket | undefined
        if (!suback) break
        for (const code of suback.granted) {
          if (typeof code === 'number' && code < 0x80) stats.granted!++
          else stats.refused!++
        }
      }
      if (peer.isClosed) stats.closedByBroker!++
    }
  }
  const done = Promise.all(Array.from({ length: 50 }, worker))
  return {
    ready: done.then(() => {}),
    async stop() {
      running = false
      await done
      stats.connected = peers.filter((peer) => !peer.isClosed).length
      for (const peer of peers) peer.socket.destroy()
      return stats
    },
  }
}

/** One client writing QoS 0 PUBLISH packets as fast as its socket takes them, until stopped. */
function publishFlood(target: AbuseTarget, localAddress: string): Abuse {
  const stats: AbuseStats = { written: 0, bytes: 0, closedByBroker: 0 }
  const peer = new Peer(target, localAddress)
  const frame = mqtt.generate({
    cmd: 'publish',
    topic: 'abuse/flood',
    payload: Buffer.alloc(64),
    qos: 0,
    dup: false,
    retain: false,
  })
  let running = true
  const batch = Buffer.concat(Array.from({ length: 64 }, () => frame))
  const pump = (): void => {
    while (running && !peer.isClosed) {
      stats.written! += 64
      stats.bytes! += batch.length
      if (!peer.socket.write(batch)) {
        peer.socket.once('drain', pump)
        return
      }
    }
  }
  const ready = handshake(peer, connectPacket('publish-flood')).then((code) => {
    if (code !== 0) throw new Error(`the flooding client was refused: ${code}`)
    pump()
  })
  return {
    ready,
    async stop() {
      running = false
      if (peer.isClosed) stats.closedByBroker = 1
      peer.socket.destroy()
      return stats
    },
  }
}

/**
 * `concurrency` loops of connect, CONNECT, wait for the answer, close: a connect flood (no credentials) or
 * an authentication brute force (a username and a new password each time).
 */
function connectLoop(
  target: AbuseTarget,
  localAddress: string,
  concurrency: number,
  fields: () => Partial<mqtt.IConnectPacket>,
): Abuse {
  const stats: AbuseStats = { attempts: 0, accepted: 0, refused: 0, closedWithoutConnack: 0 }
  const refusedBy: Record<string, number> = {}
  const stopLoops = loops(concurrency, async (running) => {
    // Bounded by count as well as by stop(): 200,000 attempts per loop at most.
    for (let n = 0; running() && n < 200_000; n++) {
      const peer = new Peer(target, localAddress)
      stats.attempts!++
      const { clientId = '', ...rest } = fields()
      const code = await handshake(peer, connectPacket(clientId, rest))
      if (code === 0) stats.accepted!++
      else if (code < 0) stats.closedWithoutConnack!++
      else {
        stats.refused!++
        refusedBy[`refused 0x${code.toString(16)}`] = (refusedBy[`refused 0x${code.toString(16)}`] ?? 0) + 1
      }
      peer.socket.destroy()
      await peer.closed
    }
  })
  return {
    ready: Promise.resolve(),
    async stop() {
      await stopLoops()
      return { ...stats, ...refusedBy }
    },
  }
}

/** Topics of 65,535 levels and of 65,535 bytes, published and subscribed, over and over. */
function hugeTopics(target: AbuseTarget, localAddress: string): Abuse {
  const stats: AbuseStats = { attempts: 0, answered: 0, closedByBroker: 0 }
  const levels = '/'.repeat(65_534) // 65,535 empty levels
  const bytes = 'a'.repeat(65_535)
  const stopLoops = loops(4, async (running) => {
    for (let n = 0; running() && n < 10_000; n++) {
      const topic = n % 2 === 0 ? levels : bytes
      const peer = new Peer(target, localAddress, 5)
      stats.attempts!++
      if ((await handshake(peer, connectPacket(`huge-${n}-${counter++}`, {}, 5))) !== 0) {
        stats.closedByBroker!++
        continue
      }
      const answers = Promise.all([peer.next('puback'), peer.next('suback')])
      peer.send(
        { cmd: 'publish', topic, payload: Buffer.from('x'), qos: 1, messageId: 1, dup: false, retain: true },
        5,
      )
      peer.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic, qos: 0 }] }, 5)
      const [puback, suback] = await answers
      if (puback && suback) stats.answered!++
      else stats.closedByBroker!++
      peer.socket.destroy()
      await peer.closed
    }
  })
  return { ready: Promise.resolve(), stop: async () => ({ ...(await stopLoops()), ...stats }) }
}
