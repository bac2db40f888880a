import { type IPublishPacket, serializePacket } from '@mqtt-stack/core'
import type { Delivery } from './delivery.js'
import type { OutboundManagerState } from './state.js'

/**
 * MQTT 5.0: the bytes of a new QoS 1/2 PUBLISH, with a topic alias when the client accepts them. A topic
 * gets the next free alias on first use (topic name and alias: this sets it up), and keeps it for the
 * connection; once a PUBLISH that set it up was written, later ones carry the alias and an empty topic
 * name. When every alias is taken, other topics are sent in full. The stored packet keeps its topic name
 * and no alias, as aliases do not outlive the connection [MQTT-3.3.2-7]. An alias not yet known to be set
 * up goes in `delivery.alias`, to be marked sent once these bytes are written.
 */
export function serializeWithAlias(
  state: OutboundManagerState,
  delivery: Delivery,
  packet: IPublishPacket,
): Buffer {
  const maximum = state.topicAliasMaximum
  if (maximum === 0) return serializePacket(packet, 5)
  let alias = state.aliases?.get(packet.topic)
  if (alias === undefined) {
    if (state.aliases === undefined) state.aliases = new Map()
    const aliases = state.aliases
    if (aliases.size >= maximum) return serializePacket(packet, 5)
    // [MQTT-3.3.2-8] never 0; [MQTT-3.1.2-26] [MQTT-3.3.2-11] at most the client's Topic Alias Maximum.
    alias = { alias: aliases.size + 1, sent: false }
    aliases.set(packet.topic, alias)
  }
  const properties = { ...packet.properties, topicAlias: alias.alias }
  if (alias.sent) return serializePacket({ ...packet, topic: '', properties }, 5)
  // Not known to be set up yet (its first PUBLISH may still wait for storeInflightMessage): in full.
  delivery.alias = alias
  return serializePacket({ ...packet, properties }, 5)
}
