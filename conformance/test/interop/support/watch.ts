/**
 * The broker's own view of the interop clients, through the example broker's packet emitter: the CONNECT
 * packets it parsed (so a test knows which protocol version a third-party client really spoke) and the
 * connections it saw close (so a test waits for the broker, never for time, before the next step).
 */
import { EventEmitter } from 'node:events'
import type { Client, Packet, PacketOf } from '@mqtt-stack/core'
import { type RunningBroker, startBroker } from '../../support/broker.js'
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
   * Resolves once the broker has seen a connection of `clientId` close. Its clean-up (session kept, will
   * published) runs from the same close event, before the broker reads anything from another socket.
   */
  closed(clientId: string): Promise<string> {
    return this.closes.waitFor((id) => id === clientId, `close of ${clientId}'s connection`)
  }
}

/** The default example broker on a free port, watched; closed after the test by the shared harness. */
export async function startWatchedBroker(): Promise<{ broker: RunningBroker; watch: BrokerWatch }> {
  const watch = new BrokerWatch()
  const broker = await startBroker({ emitter: watch.emitter })
  return { broker, watch }
}
