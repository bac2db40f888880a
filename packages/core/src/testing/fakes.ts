import type { Done, Next } from '../callbacks.js'
import type { Client } from '../client.js'
import type { MqttStackError } from '../errors.js'
import type { MiddlewareLike } from '../middleware.js'
import type { StackOptions } from '../options.js'
import type { IConnackPacket, Packet, PacketType } from '../packets.js'
import { Stack } from '../stack.js'

/** Keeps every error the stack reports, in order, instead of printing it. */
export function collectErrors(stack: Stack): MqttStackError[] {
  const errors: MqttStackError[] = []
  stack.on('error', (err) => errors.push(err))
  return errors
}

/** A new stack whose reported errors are kept in `errors`. */
export function testStack(options?: StackOptions): { stack: Stack; errors: MqttStackError[] } {
  const stack = new Stack(options)
  return { stack, errors: collectErrors(stack) }
}

export interface AcceptConnectionsOptions {
  /** Also answer PINGREQ with PINGRESP, so a test can fence what the broker wrote before it. */
  answerPings?: boolean
  /**
   * MQTT 5.0: the CONNACK properties `prepareConnack` starts from (when some middleware answers it). Its
   * result goes in the CONNACK, without the values that are the spec's defaults, as a session manager does.
   */
  connackProperties?: NonNullable<IConnackPacket['properties']>
}

/**
 * Stands in for a session manager in unit tests: accepts every CONNECT that reaches it with CONNACK 0 in
 * the client's protocol version, sets `client.id` from the packet, and ends the chain. `accepted` lists the
 * client ids, in order; for MQTT 5.0, `prepared` lists the properties `prepareConnack` produced.
 */
export function acceptConnections(options: AcceptConnectionsOptions = {}): MiddlewareLike & {
  readonly accepted: string[]
  readonly prepared: Array<NonNullable<IConnackPacket['properties']>>
} {
  const accepted: string[] = []
  const prepared: Array<NonNullable<IConnackPacket['properties']>> = []
  return {
    accepted,
    prepared,
    name: 'accept-connections',
    packetTypes: options.answerPings ? ['connect', 'pingreq'] : ['connect'],
    handle(client: Client, packet: Packet, _next: Next, done: Done) {
      if (packet.cmd === 'pingreq') {
        client.write({ cmd: 'pingresp' })
        return done()
      }
      if (packet.cmd !== 'connect') return done()
      accepted.push(packet.clientId)
      client.id = packet.clientId
      if (client.protocolVersion !== 5) {
        client.write({ cmd: 'connack', returnCode: 0, sessionPresent: false })
        return done()
      }
      if (!client.stack.provides('prepareConnack')) {
        client.write({ cmd: 'connack', reasonCode: 0, sessionPresent: false })
        return done()
      }
      const store = { properties: { ...options.connackProperties } }
      client.stack.execute('prepareConnack', { client, packet }, store, (err, result) => {
        prepared.push({ ...result.properties })
        const properties = { ...result.properties }
        if (properties.maximumQoS === 2) delete properties.maximumQoS
        if (properties.retainAvailable === true) delete properties.retainAvailable
        client.write({ cmd: 'connack', reasonCode: err ? 0x80 : 0, sessionPresent: false, properties })
        done()
      })
    },
  }
}

/** Records every packet of the given types that reaches it, and ends their chains. */
export function recordPackets(types: readonly PacketType[]): MiddlewareLike & { readonly packets: Packet[] } {
  const packets: Packet[] = []
  return {
    packets,
    name: 'record-packets',
    packetTypes: types,
    handle(_client: Client, packet: Packet, _next: Next, done: Done) {
      packets.push(packet)
      done()
    },
  }
}

/** Records, synchronously and as copies, every packet the broker writes to `client` with `write`. */
export function recordWrites(client: Client): Packet[] {
  const written: Packet[] = []
  const write = client.write.bind(client)
  client.write = (packet, cb) => {
    written.push({ ...packet }) // a copy: middlewares may reuse their acknowledgement objects
    return write(packet, cb)
  }
  return written
}

/** A promise with its resolve and reject, for a fake provider that answers when the test says so. */
export function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(err: unknown): void } {
  let resolve!: (value: T) => void
  let reject!: (err: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}
