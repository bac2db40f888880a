import type { MqttConnection } from '../load/connection.js'
import { waitFor } from '../load/stats.js'

/**
 * Publishes `count` QoS 1 messages (topic of message i from `topicOf`) with at most `window` unacknowledged,
 * and resolves with the number acknowledged once all are, or once acknowledgements stall for `stallMs`.
 */
export async function publishAll(
  conn: MqttConnection,
  count: number,
  topicOf: (i: number) => Buffer,
  options: { payload: number; retain: boolean; window: number; stallMs?: number },
): Promise<number> {
  let sent = 0
  let acked = 0
  let scheduled = false
  const pump = (): void => {
    scheduled = false
    conn.socket.cork()
    while (sent < count && sent - acked < options.window && !conn.closed) {
      conn.publish(topicOf(sent), 1, options.payload, 0, sent, options.retain)
      sent++
    }
    conn.socket.uncork()
  }
  const previous = conn.onAck
  conn.onAck = () => {
    acked++
    if (!scheduled) {
      scheduled = true
      setImmediate(pump)
    }
  }
  try {
    pump()
    await waitFor(
      () => acked >= count,
      () => acked,
      options.stallMs ?? 3000,
    )
    return acked
  } finally {
    conn.onAck = previous
  }
}

/**
 * Publishes `count` QoS 1 messages of 64 B on `topic`, 100 unacknowledged at most, for persistent sessions
 * to queue; notes the ones never acknowledged.
 */
export async function publishToQueue(
  conn: MqttConnection,
  count: number,
  topic: Buffer,
  notes: string[],
): Promise<void> {
  const acked = await publishAll(conn, count, () => topic, { payload: 64, retain: false, window: 100 })
  if (acked < count) notes.push(`${count - acked} of the publisher's messages never acknowledged`)
}
