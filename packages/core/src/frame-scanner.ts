/**
 * Follows packet boundaries in the raw byte stream (fixed header only) so that an oversized or malformed
 * length is refused before mqtt-packet buffers the body: a hostile client cannot make the broker hold
 * 256 MB by announcing it.
 */
export type FrameProblem = 'too-large' | 'malformed-length'

const EXPECT_TYPE = 0
const READ_LENGTH = 1
const SKIP_BODY = 2

export class FrameScanner {
  #state = EXPECT_TYPE
  #length = 0
  #multiplier = 1
  #lengthBytes = 0
  #remaining = 0

  /** @param maxPacketSize the largest whole packet accepted, fixed header included (as MQTT 5.0 counts it). */
  constructor(private readonly maxPacketSize: number) {}

  scan(chunk: Uint8Array): FrameProblem | undefined {
    const size = chunk.length
    let i = 0
    while (i < size) {
      if (this.#state === EXPECT_TYPE) {
        i++
        this.#state = READ_LENGTH
        this.#length = 0
        this.#multiplier = 1
        this.#lengthBytes = 0
      } else if (this.#state === READ_LENGTH) {
        const byte = chunk[i++]!
        this.#length += (byte & 0x7f) * this.#multiplier
        this.#multiplier *= 128
        this.#lengthBytes++
        if (byte & 0x80) {
          // The Remaining Length is at most four bytes [MQTT-1.5.5-1]
          if (this.#lengthBytes === 4) return 'malformed-length'
          continue
        }
        if (1 + this.#lengthBytes + this.#length > this.maxPacketSize) return 'too-large'
        this.#remaining = this.#length
        this.#state = this.#remaining > 0 ? SKIP_BODY : EXPECT_TYPE
      } else {
        const take = Math.min(this.#remaining, size - i)
        i += take
        this.#remaining -= take
        if (this.#remaining === 0) this.#state = EXPECT_TYPE
      }
    }
    return undefined
  }
}
