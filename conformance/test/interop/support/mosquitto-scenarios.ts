/**
 * Interop scenarios of mosquitto_pub and mosquitto_sub (Debian's mosquitto-clients), with `-V mqttv311` and
 * `-V mqttv5`: they read the clients' debug output and mosquitto_sub's JSON lines.
 */
import { expect } from 'vitest'
import { startWatchedBroker } from '../../support/watch.js'
import { messages, mosquittoPub, mosquittoSub, printed, subscribed } from './mosquitto.js'
import type { QoS, Scenarios, Version } from './spec.js'

/** What mosquitto_pub prints when its PUBLISH is complete, per QoS. */
const COMPLETED = ['sending PUBLISH', 'received PUBACK', 'received PUBCOMP'] as const

/**
 * The interop scenarios against mosquitto_pub and mosquitto_sub of `version`, one function per test; clients.test.ts gives them
 * their titles.
 */
export function scenarios(version: Version): Scenarios {
  // -c: no clean session (3.1.1) / clean start 0 (5.0), where -x sets the Session Expiry Interval.
  const persistent = version === 5 ? ['-c', '-x', '60'] : ['-c']

  /** A watched broker, and starters of mosquitto_pub and mosquitto_sub of this version connected to it. */
  const start = async () => {
    const { broker, watch } = await startWatchedBroker()
    return {
      watch,
      pub: (args: readonly string[]) => mosquittoPub(broker.port, version, args),
      sub: (args: readonly string[]) => mosquittoSub(broker.port, version, args),
    }
  }

  return {
    async connects() {
      const { pub, watch } = await start()
      const connecting = pub(['-i', 'mosq-connect', '-t', 'interop/mosq/connect', '-n'])
      await connecting.succeeded()
      expect(printed(connecting, 'received CONNACK (0)')).toBe(true)
      const connect = await watch.connect('mosq-connect')
      expect(connect.protocolVersion).toBe(version)
      expect(connect.clean).toBe(true)
    },
    async roundTrip(qos: QoS) {
      const { pub, sub } = await start()
      const topic = `interop/mosq/qos${qos}`
      const subscriber = sub(['-i', 'mosq-sub', '-t', topic, '-q', '2', '-C', '1'])
      expect(await subscribed(subscriber)).toEqual([2])
      const publisher = pub(['-t', topic, '-m', `hello at QoS ${qos}`, '-q', String(qos)])
      await publisher.succeeded()
      expect(printed(publisher, COMPLETED[qos] ?? '')).toBe(true)
      await subscriber.succeeded()
      expect(messages(subscriber)).toEqual([{ topic, payload: `hello at QoS ${qos}`, qos, retain: false }])
    },
    async retained() {
      const { pub, sub } = await start()
      const topic = 'interop/mosq/retained'
      await pub(['-t', topic, '-m', 'kept', '-q', '1', '-r']).succeeded()
      const subscriber = sub(['-t', topic, '-q', '1', '-C', '1'])
      await subscriber.succeeded()
      expect(messages(subscriber)).toEqual([{ topic, payload: 'kept', qos: 1, retain: true }])
    },
    async clearRetained() {
      const { pub, sub } = await start()
      const topic = 'interop/mosq/cleared'
      await pub(['-t', topic, '-m', 'kept', '-q', '1', '-r']).succeeded()
      await pub(['-t', topic, '-n', '-q', '1', '-r']).succeeded()
      // --retained-only prints retained messages and exits at the first live one: the marker published
      // after the SUBACK. The broker sends retained messages before it reads another packet, so a retained
      // message still stored would be printed first.
      const subscriber = sub(['-t', topic, '-q', '1', '--retained-only'])
      await subscribed(subscriber)
      await pub(['-t', topic, '-m', 'marker', '-q', '1']).succeeded()
      await subscriber.succeeded()
      expect(messages(subscriber)).toEqual([])
    },
    async will() {
      const { sub } = await start()
      const topic = 'interop/mosq/will'
      const subscriber = sub(['-i', 'mosq-watcher', '-t', topic, '-q', '1', '-C', '1'])
      await subscribed(subscriber)
      const will = ['--will-topic', topic, '--will-payload', 'gone', '--will-qos', '1']
      const dying = sub(['-i', 'mosq-dying', '-t', 'interop/mosq/nothing', ...will])
      await subscribed(dying)
      // SIGKILL: the process cannot send DISCONNECT; the kernel closes its socket.
      await dying.kill('SIGKILL')
      await subscriber.succeeded()
      expect(messages(subscriber)).toEqual([{ topic, payload: 'gone', qos: 1, retain: false }])
    },
    async session() {
      const { pub, sub, watch } = await start()
      const topic = 'interop/mosq/session'
      // -E: leave (with DISCONNECT) once the SUBACK came.
      const first = sub(['-i', 'mosq-session', ...persistent, '-t', topic, '-q', '1', '-E'])
      await first.succeeded()
      expect(await subscribed(first)).toEqual([1])
      await watch.closed('mosq-session')

      for (const payload of ['while away 1', 'while away 2']) {
        await pub(['-t', topic, '-m', payload, '-q', '1']).succeeded()
      }

      // Subscribed to an unrelated topic only: the session's subscription routes the queued messages.
      const unrelated = ['-t', 'interop/mosq/unrelated', '-q', '1', '-C', '2']
      const again = sub(['-i', 'mosq-session', ...persistent, ...unrelated])
      await again.succeeded()
      expect(messages(again)).toEqual([
        { topic, payload: 'while away 1', qos: 1, retain: false },
        { topic, payload: 'while away 2', qos: 1, retain: false },
      ])
    },
  }
}
