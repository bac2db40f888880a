import type { Done, Next } from '../callbacks.js'
import type { Client } from '../client.js'
import type { MqttStackError } from '../errors.js'
import type { MiddlewareLike } from '../middleware.js'
import type { StackOptions } from '../options.js'
import type { Packet, PacketType } from '../packets.js'
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
}

/**
 * Stands in for a session manager in unit tests: accepts every CONNECT that reaches it with CONNACK 0 in
 * the client's protocol version, sets `client.id` from the packet, and ends the chain. `accepted` lists the
 * client ids, in order.
 */
export function acceptConnections(
  options: AcceptConnectionsOptions = {},
): MiddlewareLike & { readonly accepted: string[] } {
  const accepted: string[] = []
  return {
    accepted,
    name: 'accept-connections',
    packetTypes: options.answerPings ? ['connect', 'pingreq'] : ['connect'],
    handle(client: Client, packet: Packet, _next: Next, done: Done) {
      if (packet.cmd === 'connect') {
        accepted.push(packet.clientId)
        client.id = packet.clientId
        if (client.protocolVersion === 5)
          client.write({ cmd: 'connack', reasonCode: 0, sessionPresent: false })
        else client.write({ cmd: 'connack', returnCode: 0, sessionPresent: false })
      } else if (packet.cmd === 'pingreq') {
        client.write({ cmd: 'pingresp' })
      }
      done()
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
