/** Each payload view copied so far, to its copy: a fan-out keeps one copy for all its subscribers. */
const copies = new WeakMap<Buffer, Buffer>()

/**
 * Makes the payload of a message that is kept past its packet's processing (retained, queued offline,
 * inflight, a will, waiting for a slow subscriber) its own: a decoded payload is a view of the socket chunk
 * it was read from, and keeping a 10-byte view would keep the whole chunk (tens of KiB) alive. A payload
 * that takes less than half of the memory it holds is copied into an allocation of its own (not Node's
 * shared pool, whose 8 KiB slabs a small copy would pin in the same way). The packet is changed in place;
 * the copies of one fan-out (packets that share the payload) share one copy. Returns the packet.
 */
export function ownPayload<T extends { payload: Buffer | string }>(packet: T): T {
  const payload = packet.payload
  if (typeof payload === 'string' || payload.byteLength * 2 >= payload.buffer.byteLength) return packet
  let copy = copies.get(payload)
  if (copy === undefined) {
    copy = Buffer.allocUnsafeSlow(payload.byteLength)
    copy.set(payload)
    copies.set(payload, copy)
  }
  packet.payload = copy
  return packet
}
