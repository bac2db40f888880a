/**
 * Control packets written byte by byte, for both protocol versions: for what a serialiser refuses to
 * produce (reserved bits, ill-formed strings, missing fields, non-minimal lengths).
 */
import { varint } from '../../src/fuzz/mutations.js'

/** PINGREQ: sent after a bad packet, so a broker that ignores the bad packet answers and fails the test. */
export const PINGREQ = Buffer.from([0xc0, 0x00])

/** A Two Byte Integer: most significant byte first. */
export function u16(value: number): Buffer {
  const bytes = Buffer.alloc(2)
  bytes.writeUInt16BE(value)
  return bytes
}

/** The Variable Byte Integer encoding of a value (the fuzzer's: in the fewest bytes unless padded). */
export { varint }

/**
 * A two-byte length, then the bytes as given: an MQTT UTF-8 string (which may be ill-formed here on
 * purpose) or, in 5.0, Binary Data.
 */
export function mqttString(value: string | Uint8Array): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value)
  return Buffer.concat([u16(bytes.length), bytes])
}

/** A whole control packet: its first byte, the minimal remaining length, then the body parts. */
export function controlPacket(first: number, ...body: Uint8Array[]): Buffer {
  const rest = Buffer.concat(body)
  return Buffer.concat([Buffer.from([first]), varint(rest.length), rest])
}
