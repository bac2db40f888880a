/**
 * mosquitto_pub and mosquitto_sub (Debian's mosquitto-clients) against the example broker. Both run with
 * `-d`, whose debug lines ("received CONNACK (0)", "Subscribed (mid: 1): 2", "received PUBACK") tell the
 * test where a client is; mosquitto_sub prints each message as one JSON line (`-F %j`) and runs under
 * `stdbuf -oL` so each line arrives when printed, not when the process exits.
 */
import type { ClientProcess } from './processes.js'
import { startProcess } from './processes.js'
import type { Version } from './spec.js'

export interface MosquittoMessage {
  topic: string
  payload: string
  qos: number
  retain: boolean
}

/** mosquitto_sub's own bound, in seconds (-W): it exits (code 27) when nothing more came for that long. */
const SUB_TIMEOUT = '5'

function common(port: number, version: Version): string[] {
  return ['-h', '127.0.0.1', '-p', String(port), '-V', version === 5 ? 'mqttv5' : 'mqttv311', '-d']
}

/** Starts mosquitto_pub with `args` (topic, message, QoS...). */
export function mosquittoPub(port: number, version: Version, args: readonly string[]): ClientProcess {
  return startProcess('mosquitto_pub', 'mosquitto_pub', [...common(port, version), ...args])
}

/** Starts mosquitto_sub with `args` (topic, QoS, -C count...), messages as JSON lines, bounded by -W. */
export function mosquittoSub(port: number, version: Version, args: readonly string[]): ClientProcess {
  return startProcess('mosquitto_sub', 'stdbuf', [
    '-oL',
    'mosquitto_sub',
    ...common(port, version),
    '-F',
    '%j',
    '-W',
    SUB_TIMEOUT,
    ...args,
  ])
}

/** Resolves with the granted QoS codes once mosquitto_sub prints that its SUBACK came. */
export async function subscribed(sub: ClientProcess): Promise<number[]> {
  const line = await sub.line((text) => SUBSCRIBED.test(text), 'SUBACK ("Subscribed (mid: ...)")')
  return (SUBSCRIBED.exec(line)?.[1] ?? '').split(', ').map(Number)
}

const SUBSCRIBED = /^Subscribed \(mid: \d+\): (.*)$/

/** The messages mosquitto_sub has printed so far. */
export function messages(sub: ClientProcess): MosquittoMessage[] {
  return sub.lines.items
    .filter((line) => line.startsWith('{'))
    .map((line) => {
      const json = JSON.parse(line) as { topic: string; payload: string; qos: number; retain: number }
      return { topic: json.topic, payload: json.payload, qos: json.qos, retain: json.retain === 1 }
    })
}

/** True when a client's debug output has a line containing `text` (e.g. "received PUBCOMP"). */
export function printed(client: ClientProcess, text: string): boolean {
  return client.lines.items.some((line) => line.includes(text))
}
