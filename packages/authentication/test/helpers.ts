import {
  type Client,
  type Done,
  type MqttStackError,
  type Next,
  type Packet,
  type PacketType,
  Stack,
} from '@mqtt-stack/core'

/** A stack whose reported errors are kept, not printed. */
export function testStack() {
  const errors: MqttStackError[] = []
  const stack = new Stack({ onError: (err) => errors.push(err) })
  return { stack, errors }
}

/** Stands in for session-manager: accepts every CONNECT that reaches it with CONNACK 0. */
export function fakeSessionManager() {
  const seen: string[] = []
  return {
    seen,
    name: 'fake-session-manager',
    packetTypes: ['connect'] as PacketType[],
    handle(client: Client, packet: Packet, _next: Next, done: Done) {
      if (packet.cmd !== 'connect') return done()
      seen.push(packet.clientId)
      client.id = packet.clientId
      if (client.protocolVersion === 5) client.write({ cmd: 'connack', reasonCode: 0, sessionPresent: false })
      else client.write({ cmd: 'connack', returnCode: 0, sessionPresent: false })
      done()
    },
  }
}

/** Records every packet of the given types that reaches it. */
export function recorder(types: PacketType[]) {
  const packets: Packet[] = []
  return {
    packets,
    name: 'recorder',
    packetTypes: types,
    handle(_client: Client, packet: Packet, _next: Next, done: Done) {
      packets.push(packet)
      done()
    },
  }
}

/** A promise with its resolve and reject, for providers that answer later. */
export function deferred<T>() {
  let resolve!: (value: T) => void
  let reject!: (err: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}
