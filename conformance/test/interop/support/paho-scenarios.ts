/**
 * Interop scenarios of the Eclipse Paho Python client (Debian's python3-paho-mqtt), over MQTT 3.1.1 and
 * MQTT 5.0. Every client is a separate process (paho/client.py) whose events the scenario reads.
 */
import { expect } from 'vitest'
import { startWatchedBroker } from '../../support/watch.js'
import { type PahoOptions, startPaho } from './paho.js'
import type { QoS, Scenarios, Version } from './spec.js'

/**
 * The interop scenarios against Paho clients of `version`, one function per test; clients.test.ts gives them
 * their titles.
 */
export function scenarios(version: Version): Scenarios {
  const persistent: Partial<PahoOptions> =
    version === 5 ? { clean: false, sessionExpiry: 60 } : { clean: false }

  /** A watched broker, and a starter of Paho clients of this version connected to it. */
  const start = async () => {
    const { broker, watch } = await startWatchedBroker()
    return { watch, paho: (options: PahoOptions) => startPaho({ ...options, port: broker.port, version }) }
  }

  return {
    async connects() {
      const { paho, watch } = await start()
      const client = paho({ clientId: 'paho-connect' })
      expect(await client.event('connected')).toEqual({
        event: 'connected',
        reasonCode: 0,
        sessionPresent: false,
      })
      await client.succeeded()
      const connect = await watch.connect('paho-connect')
      expect(connect.protocolVersion).toBe(version)
      expect(connect.clean).toBe(true)
    },
    async roundTrip(qos: QoS) {
      const { paho } = await start()
      const topic = `interop/paho/qos${qos}`
      const subscriber = paho({ clientId: 'paho-sub', subscribe: [{ topic, qos: 2 }], messages: 1 })
      expect(await subscriber.event('subscribed')).toEqual({ event: 'subscribed', granted: [2] })
      const message = { topic, payload: `hello at QoS ${qos}`, qos, retain: false }
      const publisher = paho({ clientId: 'paho-pub', publish: [message] })
      // The script leaves only once its PUBLISH is complete: PUBACK for QoS 1, PUBCOMP for QoS 2.
      await publisher.succeeded()
      expect(publisher.events('published')).toHaveLength(1)
      await subscriber.succeeded()
      expect(subscriber.messages()).toEqual([message])
    },
    async retained() {
      const { paho } = await start()
      const topic = 'interop/paho/retained'
      const kept = { topic, payload: 'kept', qos: 1, retain: true }
      await paho({ clientId: 'paho-retainer', publish: [kept] }).succeeded()
      const subscriber = paho({ clientId: 'paho-late', subscribe: [{ topic, qos: 1 }], messages: 1 })
      await subscriber.succeeded()
      expect(subscriber.messages()).toEqual([kept])
    },
    async clearRetained() {
      const { paho } = await start()
      const topic = 'interop/paho/cleared'
      const kept = { topic, payload: 'kept', qos: 1, retain: true }
      await paho({ clientId: 'paho-retainer', publish: [kept, { ...kept, payload: '' }] }).succeeded()
      // The broker sends retained messages while it handles the SUBSCRIBE, before it reads the client's
      // next packet: the marker published after the SUBACK comes first only when nothing is retained.
      const marker = { topic, payload: 'marker', qos: 1, retain: false }
      const subscriber = paho({
        clientId: 'paho-late',
        subscribe: [{ topic, qos: 1 }],
        publish: [marker],
        messages: 1,
      })
      await subscriber.succeeded()
      expect(subscriber.messages()).toEqual([marker])
    },
    async will() {
      const { paho } = await start()
      const topic = 'interop/paho/will'
      const subscriber = paho({ clientId: 'paho-watcher', subscribe: [{ topic, qos: 1 }], messages: 1 })
      await subscriber.event('subscribed')
      const will = { topic, payload: 'gone', qos: 1, retain: false }
      const dying = paho({ clientId: 'paho-dying', will, stay: true })
      expect(await dying.event('connected')).toMatchObject({ reasonCode: 0 })
      // SIGKILL: the process cannot send DISCONNECT; the kernel closes its socket.
      await dying.process.kill('SIGKILL')
      await subscriber.succeeded()
      expect(subscriber.messages()).toEqual([will])
    },
    async session() {
      const { paho, watch } = await start()
      const topic = 'interop/paho/session'
      const first = paho({ clientId: 'paho-session', ...persistent, subscribe: [{ topic, qos: 1 }] })
      expect(await first.event('connected')).toMatchObject({ reasonCode: 0, sessionPresent: false })
      await first.succeeded()
      await watch.closed('paho-session')

      const away = [1, 2].map((n) => ({ topic, payload: `while away ${n}`, qos: 1, retain: false }))
      await paho({ clientId: 'paho-pub', publish: away }).succeeded()

      // No SUBSCRIBE this time: only the session's subscription can route these messages here.
      const again = paho({ clientId: 'paho-session', ...persistent, messages: 2 })
      expect(await again.event('connected')).toMatchObject({ reasonCode: 0, sessionPresent: true })
      await again.succeeded()
      expect(again.messages()).toEqual(away)
    },
  }
}
