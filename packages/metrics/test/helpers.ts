import type { Client, Done, MiddlewareLike, Next, Packet } from '@mqtt-stack/core'

/** One sample line of the Prometheus text format: name, labels, value. */
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** Parses the Prometheus text format (version 0.0.4): samples, and the TYPE of each metric family. */
export function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    const type = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (type) {
      types.set(type[1]!, type[2]!)
      continue
    }
    if (line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!match) throw new Error(`not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[pair[1]!] = pair[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
    samples.push({ name: match[1]!, labels, value: Number(match[3]) })
  }
  return { samples, types }
}

/** The value of the sample `name` whose labels include `labels`; undefined when there is none. */
export function sampleValue(samples: readonly Sample[], name: string, labels: Record<string, string> = {}) {
  const found = samples.filter(
    (sample) =>
      sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  )
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} samples`)
  return found[0]?.value
}

/**
 * A tiny broker for the tests, as fakes: accepts every CONNECT but one from user `mallory` (CONNACK 5, a
 * 3.1.1 auth failure), keeps SUBSCRIBEs (SUBACK), relays each PUBLISH to the subscribers of its exact topic
 * (PUBACK for QoS 1), refuses PUBLISH to `denied` as not authorized (notified as a drop), answers PINGREQ.
 */
export function tinyBroker(): MiddlewareLike {
  const subscribers = new Map<string, Set<Client>>()
  let nextId = 1
  return {
    name: 'tiny-broker',
    handle(client: Client, packet: Packet, _next: Next, done: Done) {
      switch (packet.cmd) {
        case 'connect':
          if (packet.username === 'mallory') {
            client.write({ cmd: 'connack', returnCode: 5, sessionPresent: false })
            client.close()
            return done()
          }
          client.id = packet.clientId
          client.write({ cmd: 'connack', returnCode: 0, sessionPresent: false })
          return done()
        case 'subscribe':
          for (const { topic } of packet.subscriptions) {
            const set = subscribers.get(topic) ?? new Set()
            set.add(client)
            subscribers.set(topic, set)
          }
          client.write({
            cmd: 'suback',
            messageId: packet.messageId!,
            granted: packet.subscriptions.map((s) => s.qos),
          })
          return done()
        case 'publish':
          if (packet.topic === 'denied') {
            client.stack.notifyDropped('not-authorized', client, packet)
            if (packet.qos === 1) client.write({ cmd: 'puback', messageId: packet.messageId! })
            return done()
          }
          for (const subscriber of subscribers.get(packet.topic) ?? []) {
            subscriber.write({
              cmd: 'publish',
              topic: packet.topic,
              payload: packet.payload,
              qos: packet.qos,
              retain: false,
              dup: false,
              ...(packet.qos > 0 ? { messageId: nextId++ } : {}),
            })
          }
          if (packet.qos === 1) client.write({ cmd: 'puback', messageId: packet.messageId! })
          return done()
        case 'disconnect':
          client.close()
          return done()
        default:
          return done()
      }
    },
  }
}
