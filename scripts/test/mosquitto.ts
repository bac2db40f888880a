/**
 * mosquitto_pub to mosquitto_sub through a broker, for the tests that run a broker as a user installs it
 * (consumer, release-rehearsal): one message of a QoS over MQTT 3.1.1 or 5.0, and the packets each client
 * logged, checked against what the QoS requires.
 */
import { execFile, spawnSync } from 'node:child_process'
import { promisify } from 'node:util'
import { expect, onTestFinished } from 'vitest'
import { start, stop } from './processes.js'

const run = promisify(execFile)

/** mosquitto-clients come from scripts/install-test-deps.sh; under CI a missing one fails, elsewhere skips. */
export function hasMosquittoClients(): boolean {
  const missing = ['mosquitto_pub', 'mosquitto_sub'].filter(
    (program) => (spawnSync(program, ['--help']).error as NodeJS.ErrnoException)?.code === 'ENOENT',
  )
  if (missing.length > 0 && process.env.CI === 'true')
    throw new Error(`${missing.join(' and ')} missing: run scripts/install-test-deps.sh`)
  return missing.length === 0
}

/** The two protocol versions, as test titles say them and as mosquitto's `-V` takes them. */
export const VERSIONS = [
  ['3.1.1', 'mqttv311'],
  ['5.0', 'mqttv5'],
] as const

/** The packets of mosquitto's `-d` log, in order: `> PUBLISH q1` sent, `< PUBACK` received. */
function packets(lines: string[]): string[] {
  return lines.flatMap((line) => {
    const match = /^Client \S+ (sending|received) ([A-Z]+)(?: \(d\d, q(\d))?/.exec(line)
    if (match === null) return []
    return [
      `${match[1] === 'sending' ? '>' : '<'} ${match[2]}${match[3] === undefined ? '' : ` q${match[3]}`}`,
    ]
  })
}

/** What the sender of a PUBLISH of each QoS sends and receives after it; the receiver's is the mirror. */
const ACKS = [[], ['< PUBACK'], ['< PUBREC', '> PUBREL', '< PUBCOMP']] as const
const mirror = (packet: string) => `${packet.startsWith('<') ? '>' : '<'}${packet.slice(1)}`

/**
 * Subscribes with mosquitto_sub on `topic`, publishes one message with mosquitto_pub, and expects the
 * message delivered once, at the QoS, with the acknowledgements of that QoS on both sides. Call it in a test.
 */
export async function exchange(port: number, flag: 'mqttv311' | 'mqttv5', qos: 0 | 1 | 2, topic: string) {
  const message = `QoS ${qos} over ${flag}`
  const common = ['-h', '127.0.0.1', '-p', String(port), '-V', flag, '-q', String(qos), '-t', topic, '-d']
  // stdbuf: mosquitto_sub's stdout is a pipe, and its `Subscribed` line must come before it exits.
  const sub = start('stdbuf', ['-oL', 'mosquitto_sub', ...common, '-C', '1', '-W', '5'])
  onTestFinished(() => stop(sub))
  const received: string[] = []
  await new Promise<void>((resolve, reject) => {
    sub.lines.on('line', (line) => {
      received.push(line)
      if (line.startsWith('Subscribed (mid')) resolve()
    })
    sub.closed.then(() => reject(new Error(`mosquitto_sub ended:\n${received.join('\n')}`)))
  })
  const pub = await run('mosquitto_pub', [...common, '-m', message], { timeout: 10_000 })
  expect(await sub.closed, sub.stderr()).toBe(0)

  expect(received.find((line) => line.startsWith('Subscribed'))).toMatch(new RegExp(`: ${qos}$`))
  expect(received.filter((line) => !/^(Client|Subscribed) /.test(line))).toEqual([message])
  expect(packets(pub.stdout.split('\n'))).toEqual([
    '> CONNECT',
    '< CONNACK',
    `> PUBLISH q${qos}`,
    ...ACKS[qos],
    '> DISCONNECT',
  ])
  expect(packets(received)).toEqual([
    '> CONNECT',
    '< CONNACK',
    '> SUBSCRIBE',
    '< SUBACK',
    `< PUBLISH q${qos}`,
    ...ACKS[qos].map(mirror),
    '> DISCONNECT',
  ])
}
