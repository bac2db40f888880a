import type { Client, MqttStackError, Packet, Stack } from '../src/index.js'

/** Listens to the stack's `error` event and keeps what it reports. */
export function collectErrors(stack: Stack) {
  const errors: MqttStackError[] = []
  const contexts: Array<{ client: Client | undefined; packet: Packet | undefined }> = []
  stack.on('error', (err, client, packet) => {
    errors.push(err)
    contexts.push({ client, packet })
  })
  return { stack, errors, contexts }
}
