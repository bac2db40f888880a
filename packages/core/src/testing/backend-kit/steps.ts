import type { Subscription } from '../../callbacks.js'
import type { IPublishPacket } from '../../packets.js'
import { type BackendHarness, type KitClient, PERSISTENT } from './harness.js'
import { inflightId, message, topicAndPayload } from './packets.js'

// The callbacks the suites execute again and again, each as one step with its answer in the form compared.

/** Stores a session that outlives its connection, without connecting it. */
export function persistentSession(h: BackendHarness, clientId: string) {
  return h.run('storeSession', { clientId, session: { clientId, expiryInterval: PERSISTENT } })
}

/** The persisted subscriptions of a session, sorted by filter (their order is the backend's). */
export async function storedSubscriptions(h: BackendHarness, clientId: string): Promise<Subscription[]> {
  const { subscriptions = [] } = await h.run('lookupSubscriptions', { clientId })
  return [...subscriptions].sort((a, b) => (a.topic < b.topic ? -1 : 1))
}

/** Stores (or, with an empty payload, deletes) the retained message of `topic`. */
export function retain(
  h: BackendHarness,
  topic: string,
  payload: string | Buffer,
  extra: Partial<IPublishPacket> = {},
) {
  const packet = { ...message(topic, '', { retain: true, ...extra }), payload }
  return h.run('storeRetainedMessage', { client: undefined, topic, packet })
}

/** The retained messages matching `filter`, as sorted `topic=payload`. */
export async function retained(h: BackendHarness, filter: string): Promise<string[]> {
  const { packets = [] } = await h.run('lookupRetainedMessages', { topic: filter })
  return packets.map(topicAndPayload).sort()
}

/** The offline queue of `clientId`, oldest first, as `topic=payload`. */
export async function queued(h: BackendHarness, clientId: string): Promise<string[]> {
  const { packets = [] } = await h.run('lookupOfflineMessages', { clientId })
  return packets.map(topicAndPayload)
}

/** The inflight packets of `clientId`, in order, as `publish:3` / `pubrel:3`. */
export async function inflight(h: BackendHarness, clientId: string): Promise<string[]> {
  const { packets = [] } = await h.run('lookupInflightMessages', { clientId })
  return packets.map(inflightId)
}

/**
 * A QoS 2 PUBLISH with this identifier received as inbound-manager receives it: `storeIncomingMessage`, then,
 * unless it is a duplicate, `relayMessage` of the same packet (a backend may record that the relay is done,
 * so that after a crash between the two it relays the message again instead of taking it for a duplicate).
 * Returns `store.duplicate`.
 */
export async function receive(
  h: BackendHarness,
  clientId: string,
  messageId: number,
  payload = 'x',
): Promise<boolean> {
  const packet = message('in', payload, { qos: 2, messageId })
  const duplicate = (await h.run('storeIncomingMessage', { clientId, packet })).duplicate ?? false
  if (!duplicate) await h.run('relayMessage', { client: undefined, packet, topic: packet.topic, payload })
  return duplicate
}

/** Stores `packet` as the will of `c`'s connection (of `owner`, when given). */
export function storeWill(
  h: BackendHarness,
  c: KitClient,
  packet: IPublishPacket,
  delayInterval: number,
  owner?: string,
) {
  const ctx = { client: c.client, clientId: c.clientId, packet, delayInterval }
  return h.run('storeWill', owner === undefined ? ctx : { ...ctx, owner })
}

/** The will of `clientId` (of `owner`, when given) as `topic=payload+delay`, or undefined. */
export async function willOf(
  h: BackendHarness,
  clientId: string,
  owner?: string,
): Promise<string | undefined> {
  const { packet, delayInterval } = await h.run(
    'lookupWill',
    owner === undefined ? { clientId } : { clientId, owner },
  )
  return packet && `${topicAndPayload(packet)}+${delayInterval}`
}

/** Claims the will of `owner`: whether this call removed it. */
export async function claimWill(h: BackendHarness, clientId: string, owner: string): Promise<boolean> {
  return (await h.run('removeWill', { clientId, owner })).removed === true
}
