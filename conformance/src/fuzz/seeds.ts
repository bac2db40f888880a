/**
 * Valid packets of every type for MQTT 3.1, 3.1.1 and 5.0, serialised by mqtt-packet: the material the
 * mutations start from. Every string carries the marker `zz`, where the bad-UTF-8 mutation strikes.
 */
import mqtt, { type Packet, type QoS, type UserProperties } from 'mqtt-packet'
import type { Prng } from './prng.js'

export type Version = 3 | 4 | 5

/** Packet identifiers are drawn from a small range, so that acknowledgements often name a live one. */
export const MAX_SEED_ID = 20

/** Everything a packet seed needs to know about its connection. */
export interface SeedContext {
  prng: Prng
  version: Version
  /** This connection's client identifier (unique in the run). */
  clientId: string
  /** This connection's own topic, so most traffic does not fan out to every connection. */
  ownTopic: string
}

/** Kinds a client sends, and kinds only a server sends (out of order when a client sends them). */
export type SeedKind =
  | 'connect'
  | 'publish'
  | 'puback'
  | 'pubrec'
  | 'pubrel'
  | 'pubcomp'
  | 'subscribe'
  | 'unsubscribe'
  | 'pingreq'
  | 'disconnect'
  | 'auth'
  | 'connack'
  | 'suback'
  | 'unsuback'
  | 'pingresp'

const TOPICS = ['fuzz/zz', 'fuzz/zz/a', 'fuzz/zz/b/c', 'fuzz/zz/retained', '$fuzz/zz']
const FILTERS = ['fuzz/zz/#', 'fuzz/zz/+', 'fuzz/+/a', '$share/gzz/fuzz/zz/#', '$fuzz/#', 'fuzz/zz/b/c']

function userProperties(prng: Prng): UserProperties {
  return prng.chance(0.5) ? { zz: 'zz' } : { zz: ['zz1', 'zz2'], 'k-zz': 'v' }
}

function id(prng: Prng): number {
  return prng.range(1, MAX_SEED_ID)
}

function qos(prng: Prng): QoS {
  return prng.pick([0, 1, 2] as const)
}

function reasonCode(prng: Prng): number {
  return prng.pick([0x00, 0x00, 0x00, 0x10, 0x80, 0x83, 0x91, 0x97])
}

/** A valid CONNECT for this connection: clean unless `persistent`, with or without will, credentials, properties. */
export function connectSeed(ctx: SeedContext, persistent = false): Packet {
  const { prng, version } = ctx
  const packet: Packet = {
    cmd: 'connect',
    protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: version,
    clean: !persistent,
    clientId: ctx.clientId,
    keepalive: prng.pick([0, 0, 30, 60, 65535]),
  }
  if (prng.chance(0.3)) {
    packet.will = {
      topic: `${ctx.ownTopic}/will`,
      payload: Buffer.from('will zz'),
      qos: qos(prng),
      retain: prng.chance(0.2),
    }
    if (version === 5 && prng.chance(0.7)) {
      packet.will.properties = {
        willDelayInterval: prng.pick([0, 0, 1]),
        payloadFormatIndicator: prng.chance(0.5),
        messageExpiryInterval: prng.pick([1, 60]),
        contentType: 'text/zz',
        responseTopic: 'fuzz/zz/response',
        correlationData: Buffer.from('czz'),
        userProperties: userProperties(prng),
      }
    }
  }
  if (prng.chance(0.2)) {
    packet.username = 'uzz'
    if (prng.chance(0.7)) packet.password = Buffer.from('pzz')
  }
  if (version === 5) {
    const properties: NonNullable<Extract<Packet, { cmd: 'connect' }>['properties']> = {}
    if (persistent) properties.sessionExpiryInterval = prng.pick([5, 300, 0xffffffff])
    else if (prng.chance(0.2)) properties.sessionExpiryInterval = 0
    if (prng.chance(0.3)) properties.receiveMaximum = prng.pick([1, 5, 65535])
    if (prng.chance(0.2)) properties.maximumPacketSize = prng.pick([32, 256, 1 << 20])
    if (prng.chance(0.3)) properties.topicAliasMaximum = prng.pick([0, 2, 10])
    if (prng.chance(0.2)) properties.requestResponseInformation = true
    if (prng.chance(0.2)) properties.requestProblemInformation = prng.chance(0.5)
    if (prng.chance(0.3)) properties.userProperties = userProperties(prng)
    if (prng.chance(0.05)) {
      // Enhanced authentication: an unknown method, or SCRAM that this broker does not offer by default.
      properties.authenticationMethod = prng.pick(['zz-method', 'SCRAM-SHA-256'])
      properties.authenticationData = Buffer.from('n,,n=uzz,r=zz')
    }
    if (Object.keys(properties).length > 0) packet.properties = properties
  }
  return packet
}

export function publishSeed(ctx: SeedContext): Packet {
  const { prng, version } = ctx
  const q = qos(prng)
  const topic = prng.chance(0.6) ? `${ctx.ownTopic}/${prng.int(3)}` : prng.pick(TOPICS)
  const packet: Packet = {
    cmd: 'publish',
    topic,
    payload: prng.chance(0.5) ? Buffer.from(`zz ${prng.uint32()}`) : prng.bytes(prng.int(40)),
    qos: q,
    dup: q > 0 && prng.chance(0.1),
    retain: prng.chance(0.1),
  }
  if (q > 0) packet.messageId = id(prng)
  if (version === 5 && prng.chance(0.5)) {
    const properties: NonNullable<Extract<Packet, { cmd: 'publish' }>['properties']> = {}
    if (prng.chance(0.3)) properties.payloadFormatIndicator = prng.chance(0.5)
    if (prng.chance(0.3)) properties.messageExpiryInterval = prng.pick([0, 1, 3600])
    if (prng.chance(0.3)) {
      properties.topicAlias = prng.range(1, 3)
      // A known alias may be used with an empty topic name.
      if (prng.chance(0.3)) packet.topic = ''
    }
    if (prng.chance(0.2)) properties.responseTopic = 'fuzz/zz/response'
    if (prng.chance(0.2)) properties.correlationData = Buffer.from('czz')
    if (prng.chance(0.2)) properties.contentType = 'application/zz'
    if (prng.chance(0.3)) properties.userProperties = userProperties(prng)
    // A client must not send a Subscription Identifier: the broker has to cope with it anyway.
    if (prng.chance(0.05)) properties.subscriptionIdentifier = prng.range(1, 10)
    packet.properties = properties
  }
  return packet
}

function ackSeed(ctx: SeedContext, cmd: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp'): Packet {
  const { prng, version } = ctx
  const packet = { cmd, messageId: id(prng) } as Extract<Packet, { cmd: typeof cmd }>
  if (version === 5 && prng.chance(0.5)) {
    packet.reasonCode = cmd === 'pubrel' || cmd === 'pubcomp' ? prng.pick([0x00, 0x92]) : reasonCode(prng)
    if (prng.chance(0.5))
      packet.properties = { reasonString: 'zz reason', userProperties: userProperties(prng) }
  }
  return packet
}

export function subscribeSeed(ctx: SeedContext): Packet {
  const { prng, version } = ctx
  const count = prng.range(1, 3)
  const subscriptions = []
  for (let i = 0; i < count; i++) {
    const topic = prng.chance(0.5) ? `${ctx.ownTopic}/#` : prng.pick(FILTERS)
    const subscription: Extract<Packet, { cmd: 'subscribe' }>['subscriptions'][number] = {
      topic,
      qos: qos(prng),
    }
    if (version === 5) {
      subscription.nl = prng.chance(0.3) && !topic.startsWith('$share')
      subscription.rap = prng.chance(0.3)
      subscription.rh = prng.pick([0, 1, 2] as const)
    }
    subscriptions.push(subscription)
  }
  const packet: Packet = { cmd: 'subscribe', messageId: id(prng), subscriptions }
  if (version === 5 && prng.chance(0.5)) {
    packet.properties = { userProperties: userProperties(prng) }
    if (prng.chance(0.5)) packet.properties.subscriptionIdentifier = prng.range(1, 1000)
  }
  return packet
}

function unsubscribeSeed(ctx: SeedContext): Packet {
  const { prng, version } = ctx
  const unsubscriptions = [prng.chance(0.5) ? `${ctx.ownTopic}/#` : prng.pick(FILTERS)]
  if (prng.chance(0.3)) unsubscriptions.push(prng.pick(FILTERS))
  const packet: Packet = { cmd: 'unsubscribe', messageId: id(prng), unsubscriptions }
  if (version === 5 && prng.chance(0.3)) packet.properties = { userProperties: userProperties(prng) }
  return packet
}

function disconnectSeed(ctx: SeedContext): Packet {
  const { prng, version } = ctx
  const packet: Packet = { cmd: 'disconnect' }
  if (version === 5 && prng.chance(0.6)) {
    packet.reasonCode = prng.pick([0x00, 0x04, 0x80])
    if (prng.chance(0.5))
      packet.properties = { sessionExpiryInterval: prng.pick([0, 0, 10]), reasonString: 'bye zz' }
  }
  return packet
}

function authSeed(ctx: SeedContext): Packet {
  const { prng } = ctx
  return {
    cmd: 'auth',
    reasonCode: prng.pick([0x00, 0x18, 0x19]),
    properties: {
      authenticationMethod: prng.pick(['zz-method', 'SCRAM-SHA-256']),
      authenticationData: prng.bytes(prng.int(16)),
      reasonString: 'zz',
    },
  }
}

/** A valid packet of `kind` for this connection's protocol version. */
export function seedPacket(ctx: SeedContext, kind: SeedKind): Packet {
  const { prng, version } = ctx
  switch (kind) {
    case 'connect':
      return connectSeed(ctx, prng.chance(0.2))
    case 'publish':
      return publishSeed(ctx)
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return ackSeed(ctx, kind)
    case 'subscribe':
      return subscribeSeed(ctx)
    case 'unsubscribe':
      return unsubscribeSeed(ctx)
    case 'pingreq':
      return { cmd: 'pingreq' }
    case 'disconnect':
      return disconnectSeed(ctx)
    case 'auth':
      return authSeed(ctx)
    case 'connack':
      return version === 5
        ? { cmd: 'connack', reasonCode: 0, sessionPresent: false }
        : { cmd: 'connack', returnCode: 0, sessionPresent: false }
    case 'suback':
      return { cmd: 'suback', messageId: id(prng), granted: [0, 1] }
    case 'unsuback':
      return version === 5
        ? { cmd: 'unsuback', messageId: id(prng), granted: [0] }
        : { cmd: 'unsuback', messageId: id(prng), granted: [] }
    case 'pingresp':
      return { cmd: 'pingresp' }
  }
}

/** Serialises `packet` for `version` (AUTH, which 3.1.1 does not have, is always written as 5.0). */
export function encode(packet: Packet, version: Version): Buffer {
  return mqtt.generate(packet, { protocolVersion: packet.cmd === 'auth' ? 5 : version })
}
