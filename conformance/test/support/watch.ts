/**
 * The broker's own view of its clients, through the example broker's packet emitter: the CONNECT packets it
 * parsed (so a test knows which protocol version a third-party client really spoke) and the connections it
 * saw close (so a test waits for the broker, never for time, before its next step).
 */
import { EventEmitter } from 'node:events'
import type { Client, Packet, PacketOf } from '@mqtt-stack/core'
import type { BrokerOptions } from '@mqtt-stack/example-basic'
import { type RunningBroker, startBroker } from './broker.js'
import { Inbox } from './inbox.js'

export class BrokerWatch {
  /** Pass as `startBroker({ emitter })`. */
  readonly emitter = new EventEmitter()
  /** Every CONNECT the broker parsed, in order. */
  readonly connects: Inbox<PacketOf<'connect'>> = new Inbox((): string =>
    this.connects.items.map((packet) => `  ${packet.clientId} v${packet.protocolVersion}`).join('\n'),
  )
  /** The client id of every connection the broker has seen close, in order. */
  readonly closes: Inbox<string> = new Inbox((): string =>
    this.closes.items.map((id) => `  ${id}`).join('\n'),
  )
  /** How many closes of each client id the test has waited for so far. */
  readonly #awaited = new Map<string, number>()

  constructor() {
    this.emitter.on('packet', (packet: Packet) => {
      if (packet.cmd === 'connect') this.connects.push(packet)
    })
    this.emitter.on('close', (client: Client) => this.closes.push(client.id))
  }

  /** The CONNECT of `clientId`; fails if none comes. */
  connect(clientId: string): Promise<PacketOf<'connect'>> {
    return this.connects.waitFor((packet) => packet.clientId === clientId, `CONNECT from ${clientId}`)
  }

  /**
   * Resolves once the broker has seen one more connection of `clientId` close: the first call waits for its
   * first close, the second call for its second, and so on. Its clean-up (session kept, will published) runs
   * from the same close event, before the broker reads anything from another socket.
   */
  async closed(clientId: string): Promise<void> {
    const nth = (this.#awaited.get(clientId) ?? 0) + 1
    this.#awaited.set(clientId, nth)
    const count = () => this.closes.items.filter((id) => id === clientId).length
    await this.closes.waitFor(() => count() >= nth, `close number ${nth} of ${clientId}'s connections`)
  }
}

/** The default example broker on a free port, watched; closed after the test by the shared harness. */
export async function startWatchedBroker(
  options: BrokerOptions = {},
): Promise<{ broker: RunningBroker; watch: BrokerWatch }> {
  const watch = new BrokerWatch()
  const broker = await startBroker({ ...options, emitter: watch.emitter })
  return { broker, watch }
}
