/**
 * Raw-packet clients with persistent sessions that kill their own socket at chosen points of the QoS 1
 * and QoS 2 flows, reconnect with the same client id and go on, keeping their side of the session as a
 * client must (QoS 2 packet ids received and not yet released). They count every message end to end.
 */
import type { IConnectPacket, IPublishPacket, IPubrelPacket, Packet } from '@mqtt-stack/core'
import type { PacketPeer } from '@mqtt-stack/core/testing'

export type Version = 4 | 5

export const Q1_TOPIC = 'faults/q1'
export const Q2_TOPIC = 'faults/q2'

/** The CONNECT of a persistent session: 3.1.1 clean session 0; 5.0 Clean Start 0 with a session expiry. */
export function persistentConnect(clientId: string, version: Version): Partial<IConnectPacket> {
  return version === 5
    ? { clientId, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 300 } }
    : { clientId, protocolVersion: 4, clean: false }
}

/** Opens a new raw connection to the broker under test. */
export type Open = () => Promise<PacketPeer>

/** Where the subscriber destroys its socket, by message number (each point once). */
export interface SubscriberFaults {
  /** QoS 1: a PUBLISH received, no PUBACK sent. */
  q1BeforePuback: ReadonlySet<number>
  /** QoS 2: a PUBLISH received, no PUBREC sent. */
  q2BeforePubrec: ReadonlySet<number>
  /** QoS 2: PUBREC written, the socket destroyed at once (the broker may or may not have read it). */
  q2AfterPubrec: ReadonlySet<number>
  /** QoS 2: a PUBREL received, no PUBCOMP sent. */
  q2BeforePubcomp: ReadonlySet<number>
}

/** What must come again on the next connection, for a packet id the subscriber left unacknowledged. */
interface Owed {
  number: number
  /** `publish`: the PUBLISH again with DUP 1; `pubrel`: the PUBREL again; `either`: one or the other. */
  what: 'publish' | 'pubrel' | 'either'
}

/** A raw peer with a persistent session: it is killed on purpose and reconnects with the same client id. */
abstract class PersistentPeer {
  kills = 0
  #peer: PacketPeer | undefined = undefined

  constructor(
    private readonly open: Open,
    readonly clientId: string,
    readonly version: Version,
  ) {}

  get peer(): PacketPeer {
    if (this.#peer === undefined) throw new Error('not connected')
    return this.#peer
  }

  /** Connects; on a reconnection the broker must report the session present (else `sessionLost`). */
  async connect(): Promise<void> {
    const reconnect = this.#peer !== undefined
    this.#peer = await this.open()
    const connack = await this.#peer.connect(persistentConnect(this.clientId, this.version))
    if ((connack.reasonCode ?? connack.returnCode ?? 0) !== 0)
      throw new Error(`CONNACK refused: ${JSON.stringify(connack)}`)
    if (reconnect && connack.sessionPresent !== true) this.sessionLost()
  }

  protected abstract sessionLost(): void
}

/**
 * The receiving side. QoS 2 follows the receiver's rules: a message is delivered on its first PUBLISH, its
 * packet id is kept until PUBREL, and a PUBLISH with a kept id is acknowledged again without a second
 * delivery. Every delivery is counted by message number.
 */
export class CountingSubscriber extends PersistentPeer {
  /** Deliveries per message number. */
  readonly q1 = new Map<number, number>()
  readonly q2 = new Map<number, number>()
  /** Resends seen on a new connection as the spec requires, and their count. */
  resentPublishes = 0
  resentPubrels = 0
  /** PUBRELs of flows completed on a killed connection whose PUBCOMP the broker had not processed. */
  repeatedPubrels = 0
  /** Problems seen on the way; the test expects none. */
  readonly problems: string[] = []
  /** QoS 2 packet ids received and not yet released (PUBREL), with their message number. */
  readonly #held = new Map<number, number>()
  readonly #owed = new Map<number, Owed>()
  readonly #killed = new Set<string>()
  /** QoS 2 packet ids completed (PUBCOMP sent) on the current connection. */
  readonly #completedHere = new Set<number>()
  /**
   * Ids completed on a connection since killed: the broker may have read that PUBCOMP and not processed it
   * before the connection closed (a backend answering late), so the PUBREL may come once more [MQTT-4.4.0-1].
   * A broker that never processed PUBCOMP fails the final check (a PUBREL before the last PINGRESP).
   */
  readonly #unconfirmed = new Set<number>()

  constructor(
    open: Open,
    clientId: string,
    version: Version,
    private readonly faults: SubscriberFaults,
  ) {
    super(open, clientId, version)
  }

  protected sessionLost(): void {
    this.problems.push('a resumed session was not present')
  }

  async subscribe(): Promise<void> {
    this.peer.send({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [
        { topic: Q1_TOPIC, qos: 1 },
        { topic: Q2_TOPIC, qos: 2 },
      ],
    })
    const suback = await this.peer.expect('suback')
    if (suback.granted.join() !== '1,2') throw new Error(`SUBACK granted ${suback.granted.join()}`)
  }

  /** Receives until every number 1..n arrived on both topics and nothing is left unacknowledged. */
  async run(n: number): Promise<void> {
    while (!this.#complete(n)) {
      let packet: Packet
      try {
        packet = await this.peer.next()
      } catch (err) {
        throw new Error(`${(err as Error).message}; ${this.#progress(n)}`)
      }
      if (packet.cmd === 'publish') await this.#onPublish(packet)
      else if (packet.cmd === 'pubrel') await this.#onPubrel(packet)
      else this.problems.push(`unexpected ${packet.cmd}`)
    }
  }

  /** Messages that arrived on both topics fewer or more times than their QoS allows. */
  missingOrDuplicated(n: number): string[] {
    const wrong: string[] = []
    for (let i = 1; i <= n; i++) {
      if ((this.q1.get(i) ?? 0) < 1) wrong.push(`QoS 1 message ${i} never arrived`)
      const q2 = this.q2.get(i) ?? 0
      if (q2 !== 1) wrong.push(`QoS 2 message ${i} arrived ${q2} times`)
    }
    return wrong
  }

  async #onPublish(packet: IPublishPacket): Promise<void> {
    const id = packet.messageId ?? 0
    const number = Number(packet.payload.toString())
    const owed = this.#owed.get(id)
    if (owed !== undefined) {
      this.#owed.delete(id)
      if (owed.what === 'pubrel')
        this.problems.push(`PUBLISH ${id} (message ${number}) sent again after its PUBREL`)
      else if (packet.dup !== true || number !== owed.number)
        this.problems.push(
          `PUBLISH ${id} resent with DUP ${packet.dup} and message ${number}, not DUP 1 and ${owed.number}`,
        )
      else this.resentPublishes++
    }
    if (packet.topic === Q1_TOPIC) {
      if (packet.qos !== 1) this.problems.push(`QoS 1 message ${number} arrived at QoS ${packet.qos}`)
      this.q1.set(number, (this.q1.get(number) ?? 0) + 1)
      if (this.#killOnce('q1BeforePuback', number)) return this.#kill(id, { number, what: 'publish' })
      this.peer.send({ cmd: 'puback', messageId: id })
    } else if (packet.topic === Q2_TOPIC) {
      if (packet.qos !== 2) this.problems.push(`QoS 2 message ${number} arrived at QoS ${packet.qos}`)
      // The id is in use again: its earlier flow is over for the broker.
      this.#unconfirmed.delete(id)
      // Delivered once per packet id until its PUBREL, whatever the DUP flag.
      if (!this.#held.has(id)) {
        this.#held.set(id, number)
        this.q2.set(number, (this.q2.get(number) ?? 0) + 1)
      }
      if (this.#killOnce('q2BeforePubrec', number)) return this.#kill(id, { number, what: 'publish' })
      this.peer.send({ cmd: 'pubrec', messageId: id })
      if (this.#killOnce('q2AfterPubrec', number)) return this.#kill(id, { number, what: 'either' })
    } else this.problems.push(`PUBLISH on ${packet.topic}`)
  }

  async #onPubrel(packet: IPubrelPacket): Promise<void> {
    const id = packet.messageId ?? 0
    const owed = this.#owed.get(id)
    if (owed !== undefined) {
      this.#owed.delete(id)
      if (owed.what === 'publish')
        this.problems.push(`PUBREL ${id} before the PUBLISH it releases was acknowledged`)
      else this.resentPubrels++
    }
    const number = this.#held.get(id)
    if (number === undefined && this.#unconfirmed.delete(id)) {
      this.repeatedPubrels++
      this.peer.send({ cmd: 'pubcomp', messageId: id })
      return
    }
    if (number === undefined) {
      this.problems.push(`PUBREL ${id} for no QoS 2 message received`)
      this.peer.send({ cmd: 'pubcomp', messageId: id })
      return
    }
    if (this.#killOnce('q2BeforePubcomp', number)) return this.#kill(id, { number, what: 'pubrel' })
    this.#held.delete(id)
    this.peer.send({ cmd: 'pubcomp', messageId: id })
    this.#completedHere.add(id)
  }

  #killOnce(point: keyof SubscriberFaults, number: number): boolean {
    const key = `${point}:${number}`
    if (!this.faults[point].has(number) || this.#killed.has(key)) return false
    this.#killed.add(key)
    return true
  }

  async #kill(id: number, owed: Owed): Promise<void> {
    this.#owed.set(id, owed)
    for (const completed of this.#completedHere) this.#unconfirmed.add(completed)
    this.#completedHere.clear()
    this.peer.destroy()
    this.kills++
    await this.connect()
  }

  #complete(n: number): boolean {
    return this.q1.size === n && this.q2.size === n && this.#held.size === 0 && this.#owed.size === 0
  }

  #progress(n: number): string {
    const owed = [...this.#owed].map(([id, { number, what }]) => `${id}=${number}:${what}`).join(' ')
    return `QoS 1 ${this.q1.size}/${n}, QoS 2 ${this.q2.size}/${n}, held ${this.#held.size}, owed [${owed}], kills ${this.kills}`
  }
}

/** Where the publisher destroys its socket, by message number (each point once). */
export interface PublisherFaults {
  /** QoS 1: PUBLISH written, the socket destroyed at once; resent with DUP 1 on the new connection. */
  q1AfterPublish: ReadonlySet<number>
  /** QoS 1: the PUBACK arrived but was not processed; resent with DUP 1. */
  q1BeforePuback: ReadonlySet<number>
  /** QoS 2: the PUBREC arrived but was not processed; the PUBLISH resent with DUP 1. */
  q2BeforePubrec: ReadonlySet<number>
  /** QoS 2: PUBREC processed, no PUBREL sent; PUBREL sent on the new connection. */
  q2BeforePubrel: ReadonlySet<number>
  /** QoS 2: PUBREL written, the socket destroyed at once; PUBREL sent again. */
  q2AfterPubrel: ReadonlySet<number>
}

/** The sending side: numbered messages 1..n at QoS 1 and QoS 2, one exchange at a time. */
export class FaultyPublisher extends PersistentPeer {
  #messageId = 0

  constructor(
    open: Open,
    clientId: string,
    version: Version,
    private readonly faults: PublisherFaults,
  ) {
    super(open, clientId, version)
  }

  protected sessionLost(): void {
    throw new Error('the publisher session was not present')
  }

  async run(n: number): Promise<void> {
    for (let number = 1; number <= n; number++) {
      await this.#qos1(number)
      await this.#qos2(number)
    }
  }

  async #qos1(number: number): Promise<void> {
    const publish = this.#publish(Q1_TOPIC, 1, number)
    this.peer.send(publish)
    if (this.faults.q1AfterPublish.has(number)) {
      await this.#kill()
      this.peer.send({ ...publish, dup: true })
    }
    await this.#ack('puback', publish.messageId!)
    if (this.faults.q1BeforePuback.has(number)) {
      await this.#kill()
      this.peer.send({ ...publish, dup: true })
      await this.#ack('puback', publish.messageId!)
    }
  }

  async #qos2(number: number): Promise<void> {
    const publish = this.#publish(Q2_TOPIC, 2, number)
    const id = publish.messageId!
    this.peer.send(publish)
    await this.#ack('pubrec', id)
    if (this.faults.q2BeforePubrec.has(number)) {
      await this.#kill()
      this.peer.send({ ...publish, dup: true })
      await this.#ack('pubrec', id)
    }
    if (this.faults.q2BeforePubrel.has(number)) await this.#kill()
    this.peer.send({ cmd: 'pubrel', messageId: id })
    let recovering = false
    if (this.faults.q2AfterPubrel.has(number)) {
      await this.#kill()
      this.peer.send({ cmd: 'pubrel', messageId: id })
      recovering = true
    }
    // MQTT 5.0: when the broker had read the first PUBREL, the id is released and PUBCOMP says 0x92
    // (Packet Identifier not found), which during recovery is no error.
    await this.#ack('pubcomp', id, recovering ? 0x92 : undefined)
  }

  #publish(topic: string, qos: 1 | 2, number: number): IPublishPacket {
    return {
      cmd: 'publish',
      topic,
      payload: Buffer.from(String(number)),
      qos,
      messageId: ++this.#messageId,
      dup: false,
      retain: false,
    }
  }

  async #ack(cmd: 'puback' | 'pubrec' | 'pubcomp', id: number, allowed?: number): Promise<void> {
    const packet = await this.peer.expect(cmd)
    if (packet.messageId !== id) throw new Error(`${cmd} for packet id ${packet.messageId}, not ${id}`)
    const reasonCode = (packet as { reasonCode?: number }).reasonCode ?? 0
    if (reasonCode >= 0x80 && reasonCode !== allowed)
      throw new Error(`${cmd} ${id} with reason code 0x${reasonCode.toString(16)}`)
  }

  async #kill(): Promise<void> {
    this.peer.destroy()
    this.kills++
    await this.connect()
  }
}
