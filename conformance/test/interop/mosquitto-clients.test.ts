/**
 * Interop: the default example broker and mosquitto_pub / mosquitto_sub (Debian's mosquitto-clients), with
 * `-V mqttv311` and `-V mqttv5`. The test reads their debug output and mosquitto_sub's JSON lines.
 */
import { expect, it } from 'vitest'
import { messages, mosquittoPub, mosquittoSub, printed, subscribed } from './support/mosquitto.js'
import { SCENARIOS, VERSIONS } from './support/spec.js'
import { describeWithClient, mosquittoClientsMissing } from './support/tools.js'
import { startWatchedBroker } from './support/watch.js'

const missing = mosquittoClientsMissing()

/** What mosquitto_pub prints when its PUBLISH is complete, per QoS. */
const COMPLETED = ['sending PUBLISH', 'received PUBACK', 'received PUBCOMP'] as const

for (const version of VERSIONS) {
  const spec = SCENARIOS[version]
  // -c: no clean session (3.1.1) / clean start 0 (5.0), where -x sets the Session Expiry Interval.
  const persistent = version === 5 ? ['-c', '-x', '60'] : ['-c']

  describeWithClient(`interop: mosquitto_pub and mosquitto_sub, ${spec.title}`, missing, () => {
    it(`${spec.connect} connects: CONNACK success`, async () => {
      const { broker, watch } = await startWatchedBroker()
      const pub = mosquittoPub(broker.port, version, [
        '-i',
        'mosq-connect',
        '-t',
        'interop/mosq/connect',
        '-n',
      ])
      await pub.succeeded()
      expect(printed(pub, 'received CONNACK (0)')).toBe(true)
      const connect = await watch.connect('mosq-connect')
      expect(connect.protocolVersion).toBe(version)
      expect(connect.clean).toBe(true)
    })

    it.each([0, 1, 2])(`${spec.qos} round trip at QoS %i to a QoS 2 subscription`, async (qos) => {
      const { broker } = await startWatchedBroker()
      const { port } = broker
      const topic = `interop/mosq/qos${qos}`
      const sub = mosquittoSub(port, version, ['-i', 'mosq-sub', '-t', topic, '-q', '2', '-C', '1'])
      expect(await subscribed(sub)).toEqual([2])
      const pub = mosquittoPub(port, version, ['-t', topic, '-m', `hello at QoS ${qos}`, '-q', String(qos)])
      await pub.succeeded()
      expect(printed(pub, COMPLETED[qos] ?? '')).toBe(true)
      await sub.succeeded()
      expect(messages(sub)).toEqual([{ topic, payload: `hello at QoS ${qos}`, qos, retain: false }])
    })

    it(`${spec.retained} a retained message reaches a new subscriber with the retain flag`, async () => {
      const { broker } = await startWatchedBroker()
      const { port } = broker
      const topic = 'interop/mosq/retained'
      await mosquittoPub(port, version, ['-t', topic, '-m', 'kept', '-q', '1', '-r']).succeeded()
      const sub = mosquittoSub(port, version, ['-t', topic, '-q', '1', '-C', '1'])
      await sub.succeeded()
      expect(messages(sub)).toEqual([{ topic, payload: 'kept', qos: 1, retain: true }])
    })

    it(`${spec.clearRetained} an empty retained message clears the retained message`, async () => {
      const { broker } = await startWatchedBroker()
      const { port } = broker
      const topic = 'interop/mosq/cleared'
      await mosquittoPub(port, version, ['-t', topic, '-m', 'kept', '-q', '1', '-r']).succeeded()
      await mosquittoPub(port, version, ['-t', topic, '-n', '-q', '1', '-r']).succeeded()
      // --retained-only prints retained messages and exits at the first live one: the marker published
      // after the SUBACK. The broker sends retained messages before it reads another packet, so a retained
      // message still stored would be printed first.
      const sub = mosquittoSub(port, version, ['-t', topic, '-q', '1', '--retained-only'])
      await subscribed(sub)
      await mosquittoPub(port, version, ['-t', topic, '-m', 'marker', '-q', '1']).succeeded()
      await sub.succeeded()
      expect(messages(sub)).toEqual([])
    })

    it(`${spec.will} the will is published when the connection drops without DISCONNECT`, async () => {
      const { broker } = await startWatchedBroker()
      const { port } = broker
      const topic = 'interop/mosq/will'
      const sub = mosquittoSub(port, version, ['-i', 'mosq-watcher', '-t', topic, '-q', '1', '-C', '1'])
      await subscribed(sub)
      const dying = mosquittoSub(port, version, [
        '-i',
        'mosq-dying',
        '-t',
        'interop/mosq/nothing',
        '--will-topic',
        topic,
        '--will-payload',
        'gone',
        '--will-qos',
        '1',
      ])
      await subscribed(dying)
      // SIGKILL: the process cannot send DISCONNECT; the kernel closes its socket.
      await dying.kill('SIGKILL')
      await sub.succeeded()
      expect(messages(sub)).toEqual([{ topic, payload: 'gone', qos: 1, retain: false }])
    })

    it(`${spec.session} a persistent session gets the QoS 1 messages published while away`, async () => {
      const { broker, watch } = await startWatchedBroker()
      const { port } = broker
      const topic = 'interop/mosq/session'
      // -E: leave (with DISCONNECT) once the SUBACK came.
      const first = mosquittoSub(port, version, [
        '-i',
        'mosq-session',
        ...persistent,
        '-t',
        topic,
        '-q',
        '1',
        '-E',
      ])
      await first.succeeded()
      expect(await subscribed(first)).toEqual([1])
      await watch.closed('mosq-session')

      for (const payload of ['while away 1', 'while away 2']) {
        await mosquittoPub(port, version, ['-t', topic, '-m', payload, '-q', '1']).succeeded()
      }

      // Subscribed to an unrelated topic only: the session's subscription routes the queued messages.
      const again = mosquittoSub(port, version, [
        '-i',
        'mosq-session',
        ...persistent,
        '-t',
        'interop/mosq/unrelated',
        '-q',
        '1',
        '-C',
        '2',
      ])
      await again.succeeded()
      expect(messages(again)).toEqual([
        { topic, payload: 'while away 1', qos: 1, retain: false },
        { topic, payload: 'while away 2', qos: 1, retain: false },
      ])
    })
  })
}
