/** Numbers of the wire format that several parts of the codec read: packet types and CONNECT flags. */

/** Packet types: the high four bits of the first byte (Table 2.1). */
export const CONNECT = 1
export const PUBLISH = 3
export const PUBACK = 4
export const PUBREL = 6
export const PUBCOMP = 7
export const SUBSCRIBE = 8
export const UNSUBSCRIBE = 10
export const DISCONNECT = 14
export const AUTH = 15

/** Flags of the CONNECT variable header (3.1.2.3). */
export const USERNAME = 0x80
export const PASSWORD = 0x40
export const WILL_RETAIN = 0x20
export const WILL_QOS = 0x18
export const WILL = 0x04
export const CLEAN = 0x02
