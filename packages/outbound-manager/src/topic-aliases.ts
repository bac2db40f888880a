import { type IPublishPacket, serializePacket } from '@mqtt-stack/core'
import type { Delivery } from './delivery.js'
import type { OutboundManagerState, OutboundTopicAlias } from './state.js'

/**
 * MQTT 5.0: the alias of `topic` on this connection. A topic gets the next free alias on first use and
 * keeps it for the connection; when every alias is taken, other topics have none and are sent in full (the
 * first topics keep theirs: no replacement). Undefined as well for a client that accepts no alias.
 */
export function topicAliasOf(
  state: OutboundManagerState | undefined,
  topic: string,
): OutboundTopicAlias | undefined {
  // [MQTT-3.1.2-27] none when the client's Topic Alias Maximum is absent or 0.
  if (state === undefined || state.topicAliasMaximum === 0) return undefined
  let alias = state.aliases?.get(topic)
  if (alias === undefined) {
    if (state.aliases === undefined) state.aliases = new Map()
    const aliases = state.aliases
    if (aliases.size >= state.topicAliasMaximum) return undefined
    // [MQTT-3.3.2-8] never 0; [MQTT-3.1.2-26] [MQTT-3.3.2-11] at most the client's Topic Alias Maximum.
    alias = { alias: aliases.size + 1, sent: false }
    aliases.set(topic, alias)
  }
  return alias
}

/** `packet` as sent with `alias`: the topic name only until a PUBLISH that set the alias up was written. */
export function aliased(packet: IPublishPacket, alias: OutboundTopicAlias): IPublishPacket {
  const properties = { ...packet.properties, topicAlias: alias.alias }
  return alias.sent ? { ...packet, topic: '', properties } : { ...packet, properties }
}

/**
 * MQTT 5.0: the bytes of a new QoS 1/2 PUBLISH, with a topic alias when the client accepts them. Once a
 * PUBLISH that set an alias up was written, later ones carry the alias and an empty topic name. The stored
 * packet keeps its topic name and no alias, as aliases do not outlive the connection [MQTT-3.3.2-7]. An
 * alias not yet known to be set up goes in `delivery.alias`, to be marked sent once these bytes are written
 * (its first PUBLISH may still wait for storeInflightMessage: this one carries the topic name too).
 */
export function serializeWithAlias(
  state: OutboundManagerState,
  delivery: Delivery,
  packet: IPublishPacket,
): Buffer {
  const alias = topicAliasOf(state, packet.topic)
  if (alias === undefined) return serializePacket(packet, 5)
  if (!alias.sent) delivery.alias = alias
  return serializePacket(aliased(packet, alias), 5)
}
