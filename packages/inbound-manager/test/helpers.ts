import type { Client, MiddlewareLike, MqttStackError, Packet, Stack } from '@mqtt-stack/core'

/** Accepts every CONNECT (client id from the packet) and answers PINGREQ, so a test can fence the output. */
export const fakeConnection: MiddlewareLike = {
  name: 'fake-connection',
  packetTypes: ['connect', 'pingreq'],
  handle(client, packet, _next, done) {
    if (packet.cmd === 'connect') {
      client.id = packet.clientId
      client.write({ cmd: 'connack', returnCode: 0, reasonCode: 0, sessionPresent: false })
    } else client.write({ cmd: 'pingresp' })
    done()
  },
}

/** Keeps what the stack reports. */
export function collectErrors(stack: Stack): MqttStackError[] {
  const errors: MqttStackError[] = []
  stack.on('error', (err) => errors.push(err))
  return errors
}

/** Records, synchronously, every packet the broker writes to `client`. */
export function recordWrites(client: Client): Packet[] {
  const written: Packet[] = []
  const write = client.write.bind(client)
  client.write = (packet, cb) => {
    written.push({ ...packet }) // a copy: acknowledgements are reused objects
    return write(packet, cb)
  }
  return written
}
