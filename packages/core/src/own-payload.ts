/** The copies of small payloads are cut from slabs of this size, kept for them alone. */
const SLAB_SIZE = 16 * 1024
/** A payload larger than this gets an allocation of its own. */
const SLAB_MAX = 1024
/** The slabs handed out, so that a copy cut from one is known as owned. */
const slabs = new WeakSet<ArrayBufferLike>()
let slab: Buffer | undefined
let used = 0

/**
 * Makes the payload of a message that is kept past its packet's processing (retained, queued offline,
 * inflight, a will, waiting for a slow subscriber) its own: a decoded payload is a view of the socket chunk
 * it was read from, and keeping a 10-byte view would keep the whole chunk (tens of KiB) alive. A payload that
 * takes less than half of the memory it keeps alive is copied; the packet is changed in place and returned.
 *
 * A small copy is cut from a slab used for such copies only (an `ArrayBuffer` of its own costs over a
 * microsecond to allocate; Node's shared pool would mix it with short-lived buffers, whose 8 KiB slab it
 * would pin). Stored messages kept together share a slab; one that outlives its neighbours keeps at most
 * 16 KiB alive.
 */
export function ownPayload<T extends { payload: Buffer | string }>(packet: T): T {
  const payload = packet.payload
  if (typeof payload === 'string' || owned(payload)) return packet
  packet.payload = copyOf(payload)
  return packet
}

function owned(payload: Buffer): boolean {
  return payload.byteLength * 2 >= payload.buffer.byteLength || slabs.has(payload.buffer)
}

function copyOf(payload: Buffer): Buffer {
  const size = payload.byteLength
  if (size > SLAB_MAX) {
    const own = Buffer.allocUnsafeSlow(size)
    own.set(payload)
    return own
  }
  if (slab === undefined || used + size > SLAB_SIZE) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE)
    slabs.add(slab.buffer)
    used = 0
  }
  const copy = slab.subarray(used, used + size)
  copy.set(payload)
  // 8-byte aligned, as Node's own pool does.
  used += (size + 7) & ~7
  return copy
}
