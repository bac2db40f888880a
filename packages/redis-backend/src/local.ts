import type { InflightPacket, IPublishPacket } from '@mqtt-stack/core'
import type { Stored } from './codec.js'
import { Incoming, type SentState, type TakenState } from './store.js'

/** An inbound QoS 2 message held until PUBREL, and whether its relay is done. */
interface Held {
  packet: IPublishPacket
  relayed: boolean
}

/**
 * The QoS 1/2 state of a session that ends with its connection (expiry interval 0): unacknowledged outbound
 * packets in the order first sent (a Map keeps the insertion order, and `set` of a known key keeps its
 * place) and inbound QoS 2 messages held until PUBREL. Nothing of it must survive a crash (the session dies
 * with its connection), so it costs no Redis command.
 */
export class LocalSession {
  /** Outbound packets by identifier; `origin` is recorded in Redis too (see `storeInflightMessage`). */
  readonly inflight = new Map<number, SentState>()
  readonly incoming = new Map<number, Held>()

  /** Takes the state `taken` out of Redis before this session had any of its own (they go first). */
  adopt(taken: TakenState): void {
    if (taken.sent.length > 0) {
      const own = [...this.inflight]
      this.inflight.clear()
      for (const sent of taken.sent) this.inflight.set(sent.packet.messageId!, sent)
      for (const [id, sent] of own) this.inflight.set(id, sent)
    }
    for (const held of taken.held)
      if (!this.incoming.has(held.packet.messageId!)) this.incoming.set(held.packet.messageId!, held)
  }

  /** What goes back to Redis when the session outlives its connection after all. */
  state(): TakenState {
    return { sent: [...this.inflight.values()], held: [...this.incoming.values()] }
  }

  /** 1 stored, -1 a new identifier past `max` (as the Redis script answers). */
  storeInflight(packet: InflightPacket, origin: string | undefined, max: number, now: number): number {
    const id = packet.messageId!
    const known = this.inflight.get(id)
    if (known !== undefined) {
      // A PUBREL takes the place of its PUBLISH and keeps its origin.
      known.packet = packet
      known.storedAt = now
      if (origin !== undefined) known.origin = origin
      return 1
    }
    if (this.inflight.size >= max) return -1
    this.inflight.set(id, { packet, storedAt: now, origin })
    return 1
  }

  /** The origin of the inbound QoS 2 message the removed packet delivered, if any. */
  removeInflight(messageId: number): string | undefined {
    const sent = this.inflight.get(messageId)
    if (sent === undefined) return undefined
    this.inflight.delete(messageId)
    return sent.origin
  }

  /** As `storeIncoming` of the Redis store answers: NEW (held now), DUPLICATE (relayed), UNRELAYED. */
  storeIncoming(packet: IPublishPacket): Incoming {
    const held = this.incoming.get(packet.messageId!)
    if (held === undefined) {
      this.incoming.set(packet.messageId!, { packet, relayed: false })
      return Incoming.NEW
    }
    return held.relayed ? Incoming.DUPLICATE : Incoming.UNRELAYED
  }

  markRelayed(messageId: number): void {
    const held = this.incoming.get(messageId)
    if (held !== undefined) held.relayed = true
  }

  releaseIncoming(messageId: number): IPublishPacket | undefined {
    const held = this.incoming.get(messageId)
    if (held === undefined) return undefined
    this.incoming.delete(messageId)
    return held.packet
  }

  /** The outbound packets in the order first sent, each as stored (`leaving` gives the expiry left). */
  *sent(): IterableIterator<[number, Stored<InflightPacket>]> {
    for (const [id, { packet, storedAt }] of this.inflight)
      yield [id, { packet, storedAt, shared: undefined }]
  }
}
