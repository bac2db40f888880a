import { afterEach } from 'vitest'
import type { Client, MqttStackError, Packet, Stack } from '../src/index.js'
import { type TcpHarness, tcpHarness as testingTcpHarness } from '../src/testing/index.js'

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

/**
 * Stacks served over real TCP on 127.0.0.1 and the raw peers connected to them, all closed after each test
 * of the file that calls this (once, at its top level).
 */
export function tcpHarness(): TcpHarness {
  const tcp = testingTcpHarness()
  afterEach(() => tcp.close())
  return tcp
}
