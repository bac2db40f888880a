/**
 * MQTT 5.0 User Properties in their wire order. mqtt-packet decodes them into an object, name to value or
 * values, which cannot hold the order of a name repeated after another one (a=1, b=2, a=3 comes out as
 * a=[1, 3], b=2) nor of names that look like integers (JavaScript lists those first). The server must
 * forward them in the order received [MQTT-3.3.2-18], the will's included [MQTT-3.1.3-10]: core reads the
 * pairs from the bytes of a PUBLISH or a will that has some (and only then), builds the object from them,
 * and remembers their order beside it. A PUBLISH whose `userProperties` is such an object is written in
 * that order, as long as the object still holds exactly those pairs.
 */
import type { UserProperties } from '../packets.js'
import { fieldEnd } from './frame-checks.js'

/** One User Property: its name and value. */
export type UserProperty = readonly [name: string, value: string]

/** The pairs, in order, of each User Properties object core built (see `userPropertiesFromPairs`). */
const wireOrder = new WeakMap<object, readonly UserProperty[]>()

/**
 * A User Properties object holding `pairs`, which a PUBLISH carrying it is written with in this order
 * (see `userPropertyPairs`). For a middleware or a store that builds or restores a message whose order
 * matters; core builds the object of every PUBLISH and will it decodes this way.
 */
export function userPropertiesFromPairs(pairs: Iterable<readonly [string, string]>): UserProperties {
  const list: UserProperty[] = []
  // Without a prototype, as mqtt-packet makes it: a name such as __proto__ is a property like any other.
  const object: UserProperties = Object.create(null)
  for (const [name, value] of pairs) {
    list.push([name, value])
    const held = object[name]
    if (held === undefined) object[name] = value
    else if (Array.isArray(held)) held.push(value)
    else object[name] = [held, value]
  }
  wireOrder.set(object, list)
  return object
}

/**
 * The User Properties of `userProperties` as name-value pairs: in the order they came in, when core
 * decoded them (or `userPropertiesFromPairs` built them) and they were not changed since; otherwise in
 * the object's order.
 */
export function userPropertyPairs(userProperties: UserProperties): UserProperty[] {
  const order = recordedOrder(userProperties)
  if (order !== undefined) return order.slice()
  const pairs: UserProperty[] = []
  for (const name of Object.keys(userProperties)) {
    const value = userProperties[name]!
    if (Array.isArray(value)) for (const item of value) pairs.push([name, item])
    else pairs.push([name, value])
  }
  return pairs
}

/**
 * The recorded order of `userProperties`, if there is one and it still describes the object: each pair
 * matches one value of the object (a repeated name's values in turn), and no value is left over. A
 * middleware that changed the object in place gets the object's order, not stale pairs.
 */
export function recordedOrder(userProperties: UserProperties): readonly UserProperty[] | undefined {
  const order = wireOrder.get(userProperties)
  if (order === undefined) return undefined
  let count = 0
  for (const name of Object.keys(userProperties)) {
    const value = userProperties[name]
    count += Array.isArray(value) ? value.length : 1
  }
  if (count !== order.length) return undefined
  const taken = new Map<string, number>()
  for (const [name, value] of order) {
    if (!Object.hasOwn(userProperties, name)) return undefined
    const held = userProperties[name]
    const index = taken.get(name) ?? 0
    if ((Array.isArray(held) ? held[index] : index === 0 ? held : undefined) !== value) return undefined
    taken.set(name, index + 1)
  }
  return order
}

const USER_PROPERTY = 38

/**
 * How many bytes follow each property identifier that a client's PUBLISH or will may carry (the frame
 * checks refused any other): a fixed size, or VARIABLE (a Variable Byte Integer), FIELD (a string or
 * binary data, with its two-byte length) or PAIR (two strings).
 */
const VARIABLE = -1
const FIELD = -2
const PAIR = -3
const FOLLOWING: Readonly<Record<number, number>> = {
  1: 1, // Payload Format Indicator
  2: 4, // Message Expiry Interval
  3: FIELD, // Content Type
  8: FIELD, // Response Topic
  9: FIELD, // Correlation Data
  11: VARIABLE, // Subscription Identifier
  24: 4, // Will Delay Interval
  35: 2, // Topic Alias
  [USER_PROPERTY]: PAIR,
}

/**
 * The User Properties of the property block at `pos`, in order; undefined when it has none, or holds
 * something not expected here (then mqtt-packet's object stays as it is).
 */
function readPairs(buf: Buffer, pos: number, end: number): UserProperty[] | undefined {
  const [length, start] = varint(buf, pos, end)
  const blockEnd = start + length
  if (length < 0 || blockEnd > end) return undefined
  const pairs: UserProperty[] = []
  pos = start
  while (pos < blockEnd) {
    const following = FOLLOWING[buf[pos++]!]
    if (following === undefined) return undefined
    if (following > 0) pos += following
    else if (following === VARIABLE) pos = varint(buf, pos, blockEnd)[1]
    else if (following === FIELD) pos = fieldEnd(buf, pos, blockEnd)
    else {
      const nameEnd = fieldEnd(buf, pos, blockEnd)
      const valueEnd = fieldEnd(buf, nameEnd, blockEnd)
      if (valueEnd < 0) return undefined
      pairs.push([buf.toString('utf8', pos + 2, nameEnd), buf.toString('utf8', nameEnd + 2, valueEnd)])
      pos = valueEnd
    }
    if (pos < 0) return undefined
  }
  return pos === blockEnd && pairs.length > 0 ? pairs : undefined
}

/** The Variable Byte Integer at `pos` and where it ends; a length of -1 when it does not fit. */
function varint(buf: Buffer, pos: number, end: number): [value: number, next: number] {
  let value = 0
  let multiplier = 1
  for (let i = 0; i < 4 && pos < end; i++) {
    const byte = buf[pos++]!
    value += (byte & 0x7f) * multiplier
    if ((byte & 0x80) === 0) return [value, pos]
    multiplier *= 128
  }
  return [-1, -1]
}

/** Where the variable header of `frame` starts: after its type byte and remaining length. */
function bodyStart(frame: Buffer): number {
  let pos = 1
  while (frame[pos]! & 0x80) pos++
  return pos + 1
}

/**
 * Gives a decoded PUBLISH that has User Properties the object of its pairs in wire order (see above);
 * `frame` is the whole packet it was decoded from.
 */
export function keepPublishOrder(frame: Buffer, properties: { userProperties?: UserProperties }): void {
  const body = bodyStart(frame)
  let pos = fieldEnd(frame, body, frame.length) // the topic
  if (pos < 0) return
  if (frame[0]! & 0x06) pos += 2 // the packet identifier of QoS 1 and 2
  const pairs = readPairs(frame, pos, frame.length)
  if (pairs !== undefined) properties.userProperties = userPropertiesFromPairs(pairs)
}

/** Likewise for the will properties of a decoded 5.0 CONNECT. */
export function keepWillOrder(frame: Buffer, properties: { userProperties?: UserProperties }): void {
  const end = frame.length
  let pos = fieldEnd(frame, bodyStart(frame), end) // the protocol name
  if (pos < 0) return
  pos += 4 // level, flags, keep alive
  const [length, start] = varint(frame, pos, end) // the CONNECT's own properties
  if (length < 0) return
  pos = fieldEnd(frame, start + length, end) // the client identifier
  if (pos < 0) return
  const pairs = readPairs(frame, pos, end)
  if (pairs !== undefined) properties.userProperties = userPropertiesFromPairs(pairs)
}
