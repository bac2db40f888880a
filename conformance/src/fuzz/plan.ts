/**
 * What one fuzz connection sends: a protocol version, usually a valid CONNECT first (so the mutations reach
 * the code after CONNECT), then valid and broken packets, some split across writes. A plan depends only on
 * the run's seed and the connection's index.
 */
import {
  badConnect,
  badPublish5,
  badSubscribe,
  MUTATIONS,
  type Mutation,
  mutate,
  split,
  zeroPacketId,
} from './mutations.js'
import { Prng } from './prng.js'
import { connectSeed, encode, type SeedContext, type SeedKind, seedPacket, type Version } from './seeds.js'

export interface PlannedPacket {
  /** What it is, for the report: `valid:publish`, `mutated:bit-flip`, `out-of-order:server-packet`, ... */
  kind: string
  /** The bytes, in one write or split across several. */
  chunks: Buffer[]
}

export interface ConnectionPlan {
  index: number
  version: Version
  clientId: string
  packets: PlannedPacket[]
  /**
   * Whether every packet is one frame whose length tells where the next starts. After a wrong length, a
   * truncation or random bytes the broker no longer sees the packets the plan sent, so nothing can be
   * expected of it except that it closes the connection on FIN.
   */
  framed: boolean
  /**
   * `stream`: every packet written at once. `bursts`: a few packets at a time, each burst followed by a
   * PINGREQ whose PINGRESP (or the close) is awaited while the frames are intact, so that the broker has
   * processed a burst before the next arrives. A streamed connection mostly ends at its first broken
   * packet, before the broker got to the valid ones queued ahead of it; bursts reach deeper.
   */
  pacing: 'stream' | 'bursts'
  /** Where each burst ends: indexes of the packets after which a PINGREQ is sent (`bursts` only). */
  syncAfter: ReadonlySet<number>
  /** How the test side ends: FIN and wait for the broker to close, or a reset. */
  ending: 'end' | 'destroy'
}

export interface PlanOptions {
  /** Packets this connection sends. */
  packets: number
  /**
   * Mean probability that a packet after the first is broken or out of order. Default 0.2. Each connection
   * uses 0.1, 0.5, 1 or 2 times this, so that some of them go on long enough to reach deep states.
   */
  mutationRate?: number
  /** Probability that the first packet is a valid CONNECT. Default 0.9. */
  validConnectRate?: number
  /** Probability that a packet is split across writes. Default 0.08. */
  splitRate?: number
}

const VALID_KINDS: readonly (readonly [SeedKind, number])[] = [
  ['publish', 40],
  ['subscribe', 10],
  ['unsubscribe', 4],
  ['puback', 5],
  ['pubrec', 4],
  ['pubrel', 5],
  ['pubcomp', 4],
  ['pingreq', 8],
  ['auth', 1],
  ['disconnect', 1],
]

const MUTATED_KINDS: readonly SeedKind[] = [
  'connect',
  'publish',
  'publish',
  'publish',
  'puback',
  'pubrec',
  'pubrel',
  'pubcomp',
  'subscribe',
  'subscribe',
  'unsubscribe',
  'pingreq',
  'disconnect',
  'auth',
]

/** Mutations after which frame boundaries are lost. */
const UNFRAMED = new Set([
  'mutated:length-shorter',
  'mutated:length-longer',
  'mutated:truncate',
  'mutated:random-bytes',
])

const SERVER_KINDS: readonly SeedKind[] = ['connack', 'suback', 'unsuback', 'pingresp']

type Broken =
  | 'mutated'
  | 'bad-properties'
  | 'bad-subscribe'
  | 'bad-connect'
  | 'packet-id-0'
  | 'cross-version'
  | 'out-of-order'

const BROKEN: readonly (readonly [Broken, number])[] = [
  ['mutated', 12],
  ['bad-properties', 1.5],
  ['bad-subscribe', 1],
  ['bad-connect', 1],
  ['packet-id-0', 0.7],
  ['cross-version', 0.7],
  ['out-of-order', 2],
]

/** The plan of connection `index` of the run with `seed`. */
export function planConnection(seed: number, index: number, options: PlanOptions): ConnectionPlan {
  const prng = new Prng(seed, index)
  const version = prng.weighted<Version>([
    [5, 45],
    [4, 45],
    [3, 10],
  ])
  const clientId = `fz-${index}-zz`
  const ctx: SeedContext = { prng, version, clientId, ownTopic: `fuzz/zz/c${index}` }
  const mutationRate = (options.mutationRate ?? 0.2) * prng.pick([0.1, 0.5, 1, 2])
  const pacing = prng.chance(0.5) ? 'stream' : 'bursts'
  const syncAfter = new Set<number>()
  const splitRate = options.splitRate ?? 0.08
  const packets: PlannedPacket[] = []
  let framed = true
  for (let n = 0; n < options.packets; n++) {
    let packet: PlannedPacket
    if (n === 0 && prng.chance(options.validConnectRate ?? 0.9)) {
      packet = { kind: 'valid:connect', chunks: [encode(connectSeed(ctx, prng.chance(0.15)), version)] }
    } else if (n === 0 && prng.chance(0.5)) {
      // A valid packet other than CONNECT first: PUBLISH before CONNECT and the like (3.1.1 [MQTT-3.1.0-1]).
      const kind = prng.weighted(VALID_KINDS)
      packet = { kind: `before-connect:${kind}`, chunks: [encode(seedPacket(ctx, kind), version)] }
    } else if (n === 0 || prng.chance(mutationRate)) {
      packet = broken(ctx)
    } else {
      const kind = prng.weighted(VALID_KINDS)
      // AUTH exists in 5.0 only: in an older connection it is a broken packet like any other.
      packet = { kind: `valid:${kind}`, chunks: [encode(seedPacket(ctx, kind), version)] }
    }
    if (prng.chance(splitRate) && packet.chunks.length === 1) packet.chunks = split(prng, packet.chunks[0]!)
    if (UNFRAMED.has(packet.kind)) framed = false
    packets.push(packet)
    if (pacing === 'bursts' && framed && prng.chance(0.25)) syncAfter.add(n)
  }
  return {
    index,
    version,
    clientId,
    packets,
    framed,
    pacing,
    syncAfter,
    ending: prng.chance(0.5) ? 'end' : 'destroy',
  }
}

function broken(ctx: SeedContext): PlannedPacket {
  const { prng, version } = ctx
  const what = prng.weighted(BROKEN)
  switch (what) {
    case 'mutated': {
      const mutation: Mutation = prng.pick(MUTATIONS)
      const bytes = encode(seedPacket(ctx, prng.pick(MUTATED_KINDS)), version)
      return { kind: `mutated:${mutation}`, chunks: [mutate(prng, bytes, mutation)] }
    }
    case 'bad-properties':
      // 5.0 properties in a 3.1.1 connection are just more broken bytes.
      return { kind: what, chunks: [badPublish5(prng, ctx.ownTopic)] }
    case 'bad-subscribe':
      return { kind: what, chunks: [badSubscribe(prng, version, `${ctx.ownTopic}/#`)] }
    case 'bad-connect':
      return { kind: what, chunks: [badConnect(prng, version, ctx.clientId)] }
    case 'packet-id-0':
      return { kind: what, chunks: [zeroPacketId(prng, version, ctx.ownTopic)] }
    case 'cross-version': {
      // A packet serialised for the other protocol version (3.1.1 ↔ 5.0).
      const other: Version = version === 5 ? 4 : 5
      return { kind: what, chunks: [encode(seedPacket(ctx, prng.pick(MUTATED_KINDS)), other)] }
    }
    case 'out-of-order': {
      const choice = prng.int(3)
      if (choice === 0) {
        // A second CONNECT [MQTT-3.1.0-2] (3.1.1 numbering), or a first one in a connection without CONNECT.
        return { kind: 'out-of-order:connect', chunks: [encode(connectSeed(ctx), version)] }
      }
      if (choice === 1) {
        const kind = prng.pick(SERVER_KINDS)
        return { kind: 'out-of-order:server-packet', chunks: [encode(seedPacket(ctx, kind), version)] }
      }
      // An acknowledgement of a packet identifier nothing uses.
      const kind = prng.pick(['puback', 'pubrec', 'pubrel', 'pubcomp'] as const)
      const ack = seedPacket(ctx, kind)
      ack.messageId = prng.range(1000, 65535)
      return { kind: 'out-of-order:unknown-id', chunks: [encode(ack, version)] }
    }
  }
}
