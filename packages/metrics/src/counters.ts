import {
  type Client,
  connackReasonCode,
  type DropReason,
  MqttStackError,
  PACKET_TYPES,
  ReasonCode,
} from '@mqtt-stack/core'

/** Packet type names by the type field of the fixed header (1 to 15); 0 is reserved. */
export const TYPE_NAMES: readonly string[] = ['reserved', ...PACKET_TYPES]

/** The type field of a packet by its `cmd`. */
export const TYPE_INDEX: Readonly<Record<string, number>> = Object.freeze(
  Object.fromEntries(PACKET_TYPES.map((type, i) => [type, i + 1])),
)

/** The counts of one listener: plain numbers, incremented on the hot path, read at scrape time. */
export class ListenerCounters {
  readonly listener: string
  /** Packets and bytes received, by packet type (index = type field). */
  readonly packetsIn = new Float64Array(16)
  readonly bytesIn = new Float64Array(16)
  /** Packets and bytes written, by packet type. */
  readonly packetsOut = new Float64Array(16)
  readonly bytesOut = new Float64Array(16)
  /** PUBLISH packets received from clients, by QoS. */
  readonly received = new Float64Array(3)
  /** PUBLISH packets written to clients (deliveries), by QoS. */
  readonly delivered = new Float64Array(3)
  /** Connections accepted since start. */
  connections = 0
  /** Connections open now. */
  open = 0
  /** Connections whose CONNACK accepted them, open now. */
  connected = 0
  /** QoS 1/2 messages written and not yet acknowledged, over every open connection. */
  inflight = 0
  /** CONNACKs refusing a connection for its credentials or authorization. */
  authFailures = 0
  /** Ends of accepted connections after a DISCONNECT from the client, and any other way. */
  cleanDisconnects = 0
  uncleanDisconnects = 0
  /** Unclean ends by reason (see `endReason`). */
  readonly uncleanReasons = new Map<string, number>()
  /** CONNACKs refusing a connection, by reason name. */
  readonly refused = new Map<string, number>()

  constructor(listener: string) {
    this.listener = listener
  }
}

/** Counts that belong to no listener. */
export class GlobalCounters {
  /** Messages dropped, by reason. */
  readonly dropped = new Map<DropReason, number>()
  /** Bytes the decoder could not decode, by problem (the client was closed). */
  readonly malformed = new Map<string, number>()
}

/** `NOT_AUTHORIZED` -> `not_authorized`, by reason code. */
const REASON_NAMES = new Map<number, string>(
  Object.entries(ReasonCode).map(([name, code]) => [code, name.toLowerCase()]),
)

/** MQTT 5.0 CONNACK reason codes that refuse the credentials or the right to connect. */
const AUTH_REFUSALS = new Set<number>([
  ReasonCode.BAD_USER_NAME_OR_PASSWORD,
  ReasonCode.NOT_AUTHORIZED,
  ReasonCode.BAD_AUTHENTICATION_METHOD,
])

/** The reason code of a serialised CONNACK (3.1/3.1.1 return codes as their 5.0 equivalents). */
export function connackCode(bytes: Uint8Array, protocolVersion: number): number {
  let i = 1
  while (i < bytes.length && (bytes[i]! & 0x80) !== 0) i++ // the remaining length, 1 to 4 bytes
  const code = bytes[i + 2] ?? 0 // then the acknowledge flags, then the code
  if (protocolVersion === 5) return code
  return code === 0 ? 0 : (connackReasonCode(code) ?? ReasonCode.UNSPECIFIED_ERROR)
}

/** Counts a refusing CONNACK by its (5.0) reason code. */
export function countRefusal(counters: ListenerCounters, code: number): void {
  const reason = REASON_NAMES.get(code) ?? `code_${code}`
  counters.refused.set(reason, (counters.refused.get(reason) ?? 0) + 1)
  if (AUTH_REFUSALS.has(code)) counters.authFailures++
}

/** Bytes of a packet on the wire: the type byte, the remaining length's own bytes, the rest. */
export function wireSize(remaining: number): number {
  return 1 + (remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4) + remaining
}

/**
 * Why a connection that had its CONNACK ended without a DISCONNECT: the code of the error that ended it
 * (`MQS_ERR_SLOW_CONSUMER` is `slow_consumer`, `MQS_ERR_KEEPALIVE_TIMEOUT` `keepalive_timeout`), else the
 * reason code the server closed it with (`session_taken_over`), else `connection_error` (a socket error) or
 * `connection_lost` (the peer went away, or the server closed it without saying why).
 */
export function endReason(client: Client): string {
  const { error } = client
  if (error instanceof MqttStackError) return error.code.replace(/^MQS_ERR_/, '').toLowerCase()
  const code = client.closeReasonCode
  if (code !== undefined) return REASON_NAMES.get(code) ?? `code_${code}`
  return error === undefined ? 'connection_lost' : 'connection_error'
}
