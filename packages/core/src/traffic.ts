/**
 * What the connections of a Stack have read and written since it was made, counted by core as it reads,
 * decodes and writes (`stack.traffic`): for `$SYS` topics and metrics. Plain counters, read whenever wanted;
 * counting allocates nothing.
 */
export class Traffic {
  /** Bytes read from the streams of every connection. */
  bytesReceived = 0
  /** Bytes handed to the streams of every connection (writes refused or dropped are not counted). */
  bytesSent = 0
  /** MQTT packets decoded, of every type. */
  packetsReceived = 0
  /** MQTT packets written, of every type. */
  packetsSent = 0
  /** PUBLISH packets decoded. */
  publishReceived = 0
  /** PUBLISH packets written. */
  publishSent = 0
}
