import type { Client, Done, InflightPacket, IPublishPacket, IPubrelPacket, Next } from '@mqtt-stack/core'
import { MAX_PACKET_ID } from './packet-ids.js'
import type { OutboundManagerState } from './state.js'
import { unexpired } from './waiting-queue.js'

/** Delivers one message taken from the offline queue (authorised first, like any forward). */
export type ForwardFresh = (client: Client, packet: IPublishPacket, next: Next, done: Done) => void

/** An unacknowledged message again: PUBLISH with its packet id and DUP set [MQTT-3.3.1-1], or PUBREL. */
export function resend(client: Client, state: OutboundManagerState, packet: InflightPacket): void {
  const id = packet.messageId
  if (id === undefined || id < 1 || id > MAX_PACKET_ID) return
  if (packet.cmd === 'publish') {
    // [MQTT-4.3.3-1] once PUBREL was sent, the PUBLISH is never sent again.
    if (packet.qos === 0 || state.inflight.get(id)?.cmd === 'pubrel') return
    const again: IPublishPacket = { ...packet, dup: true }
    const dropped = client.droppedMessages
    state.inflight.set(id, again)
    client.write(again)
    if (client.droppedMessages !== dropped) {
      // [MQTT-3.1.2-25] over the Maximum Packet Size of this connection, the client discarded it as if
      // delivered: its id and its place in the window are free again, and the backend forgets it.
      state.inflight.delete(id)
      client.stack.execute('removeInflightMessage', { clientId: client.id, messageId: id }, {}, state.report)
    }
  } else {
    const again: IPubrelPacket = packet.reasonCode === undefined ? { ...packet, reasonCode: 0 } : packet
    state.inflight.set(id, again)
    client.write(again)
  }
}

/**
 * `lookupOfflineMessages` (asking for no more than there is room for), then forwards, oldest first, as many
 * as the window and the queue (of at most `maxQueued`; none for a durable session) can take (the rest stays
 * offline and is fetched when the queue has drained): all at once, or one after the other when
 * `authorizeForward` is answered (it may answer later); then `removeOfflineMessages` for those taken.
 */
export function fetchOffline(
  client: Client,
  state: OutboundManagerState,
  maxQueued: number,
  forward: ForwardFresh,
  callback: Done,
): void {
  state.fetching = true
  state.backlog = false
  // The backend runs the stores made from now on after this lookup; their answers may reach us before its
  // own (one reply batch of Redis resolves through promise chains of different lengths), so they are
  // counted by when they were made, not by when they were answered.
  state.lookups++
  state.storedSinceLookup = 0
  const clientId = client.id
  const finish = (err?: Error | null) => {
    state.fetching = false
    callback(err)
  }
  // A durable session takes no more than its window: what is fetched leaves the backend.
  const roomNow = (): number =>
    Math.max(0, state.window - state.inflight.size) +
    (state.durable ? 0 : Math.max(0, maxQueued - state.queue.length))
  // No more than there is room for: the rest stays in the backend, which need not read it now.
  client.stack.execute('lookupOfflineMessages', { clientId, limit: roomNow() }, {}, (err, store) => {
    if (err) {
      finish(err)
      return
    }
    const packets = store.packets ?? []
    const queued = store.queued ?? packets.length
    const room = roomNow()
    const taken = packets.length > room ? packets.slice(0, room) : packets
    if (taken.length < queued) state.backlog = true
    // What is queued (the taken ones until they are removed), and what was stored behind it since.
    state.offline = queued + state.storedSinceLookup
    const removed = (err?: Error | null) => {
      if (!err) state.offline = Math.max(0, state.offline - taken.length)
      finish(err)
    }
    const forwarded = (forwardErr?: Error | null): void => {
      if (forwardErr) finish(forwardErr)
      else if (taken.length === 0) finish()
      else client.stack.execute('removeOfflineMessages', { clientId, packets: taken }, {}, removed)
    }
    // Without authorizeForward a forward has made its backend calls when it returns (storeInflightMessage, in
    // order), so the next can start at once; an authorisation answered later could reorder them.
    if (client.stack.provides('authorizeForward')) forwardInTurn(client, taken, forward, forwarded)
    else forwardAtOnce(client, taken, forward, forwarded)
  })
}

/** Forwards `packets` one after the other, each once the one before is done; `callback` after the last. */
function forwardInTurn(
  client: Client,
  packets: IPublishPacket[],
  forward: ForwardFresh,
  callback: Done,
): void {
  let i = 0
  let looping = false
  let again = false
  // A loop rather than recursion when the callbacks are synchronous.
  const step = (stepErr?: Error | null): void => {
    if (stepErr) {
      callback(stepErr)
      return
    }
    if (looping) {
      again = true
      return
    }
    looping = true
    do {
      again = false
      if (i === packets.length) {
        looping = false
        callback()
        return
      }
      forward(client, packets[i++]!, step, step)
    } while (again)
    looping = false
  }
  step()
}

/** Forwards every one of `packets` now, in order; `callback` once all are done, with the first failure. */
function forwardAtOnce(
  client: Client,
  packets: IPublishPacket[],
  forward: ForwardFresh,
  callback: Done,
): void {
  let pending = packets.length + 1
  let failure: Error | null = null
  const answered = (err?: Error | null): void => {
    if (err && failure === null) failure = err
    if (--pending === 0) callback(failure)
  }
  for (let i = 0; i < packets.length; i++) forward(client, packets[i]!, answered, answered)
  answered()
}

/**
 * The connection has closed: its waiting messages go to `storeOfflineMessage`. The backend keeps them for
 * a persistent session and drops them for one that is not kept.
 */
export function storeWaitingOffline(client: Client, state: OutboundManagerState): void {
  const waiting = state.queue.takeAll()
  const queuedAt = state.queuedAt.takeAll()
  for (let i = 0; i < waiting.length; i++) {
    const packet = unexpired(waiting[i]!, queuedAt[i] ?? 0)
    if (packet === undefined) continue
    client.stack.execute('storeOfflineMessage', { clientId: client.id, packet }, {}, (err) => {
      if (err) client.stack.reportError(err, client, packet)
    })
  }
}
