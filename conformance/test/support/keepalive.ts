/**
 * A raw peer's side of keepalive, the same in MQTT 3.1.1 and 5.0: how long after its last packet a silent
 * client is closed, measured on the test's clock, and a client that pings within its keepalive.
 */
import type { Packet } from '@mqtt-stack/core'
import type { PacketPeer } from '@mqtt-stack/core/testing'
import { expect } from 'vitest'

/**
 * Sends a PINGREQ, takes its PINGRESP, then sends nothing more. Resolves with the milliseconds from just
 * before that last packet was written to the broker's end of the connection, and the packets the broker
 * sent after the PINGRESP. The broker heard the PINGREQ after it was written, so the time measured is never
 * less than the silence the broker measured.
 */
export async function silentUntilClosed(peer: PacketPeer): Promise<{ silence: number; after: Packet[] }> {
  const last = performance.now()
  peer.send({ cmd: 'pingreq' })
  await peer.expect('pingresp')
  const before = peer.received.length
  await peer.closed()
  return { silence: performance.now() - last, after: peer.received.slice(before) }
}

/**
 * Sends `count` PINGREQs, each `every` ms after the PINGRESP to the one before: a client keeping its
 * keepalive, as [MQTT-3.1.2-23] (5.0: [MQTT-3.1.2-20]) asks. The pause between two is that client's
 * behaviour under test, not a wait for the broker. Every PINGREQ must be answered, with nothing else.
 */
export async function pingEvery(peer: PacketPeer, every: number, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, every))
    peer.send({ cmd: 'pingreq' })
    await peer.expect('pingresp')
  }
  expect(peer.isClosed).toBe(false)
}
