/**
 * Interop: the default example broker and the Eclipse Paho Python client (Debian's python3-paho-mqtt), over
 * MQTT 3.1.1 and MQTT 5.0. Every client is a separate process (paho/client.py) whose events the test reads.
 */
import { expect, it } from 'vitest'
import { type PahoCommand, startPaho } from './support/paho.js'
import { SCENARIOS, VERSIONS } from './support/spec.js'
import { describeWithClient, pahoMissing } from './support/tools.js'
import { startWatchedBroker } from './support/watch.js'

const missing = pahoMissing()

for (const version of VERSIONS) {
  const spec = SCENARIOS[version]
  const persistent: Partial<PahoCommand> =
    version === 5 ? { clean: false, sessionExpiry: 60 } : { clean: false }

  describeWithClient(`interop: Paho Python client, ${spec.title}`, missing, () => {
    it(`${spec.connect} ${spec.cleanStart} connects: CONNACK success, no session present`, async () => {
      const { broker, watch } = await startWatchedBroker()
      const client = startPaho({ port: broker.port, version, clientId: 'paho-connect' })
      expect(await client.event('connected')).toEqual({
        event: 'connected',
        reasonCode: 0,
        sessionPresent: false,
      })
      await client.succeeded()
      const connect = await watch.connect('paho-connect')
      expect(connect.protocolVersion).toBe(version)
      expect(connect.clean).toBe(true)
    })

    it.each([0, 1, 2])(`${spec.qos} round trip at QoS %i to a QoS 2 subscription`, async (qos) => {
      const { broker } = await startWatchedBroker()
      const { port } = broker
      const topic = `interop/paho/qos${qos}`
      const subscriber = startPaho({
        port,
        version,
        clientId: 'paho-sub',
        subscribe: [{ topic, qos: 2 }],
        messages: 1,
      })
      expect(await subscriber.event('subscribed')).toEqual({ event: 'subscribed', granted: [2] })
      const publisher = startPaho({
        port,
        version,
        clientId: 'paho-pub',
        publish: [{ topic, payload: `hello at QoS ${qos}`, qos, retain: false }],
      })
      // The script leaves only once its PUBLISH is complete: PUBACK for QoS 1, PUBCOMP for QoS 2.
      await publisher.succeeded()
      expect(publisher.events('published')).toHaveLength(1)
      await subscriber.succeeded()
      expect(subscriber.messages()).toEqual([{ topic, payload: `hello at QoS ${qos}`, qos, retain: false }])
    })

    it(`${spec.retained} a retained message reaches a new subscriber with the retain flag`, async () => {
      const { broker } = await startWatchedBroker()
      const { port } = broker
      const topic = 'interop/paho/retained'
      await startPaho({
        port,
        version,
        clientId: 'paho-retainer',
        publish: [{ topic, payload: 'kept', qos: 1, retain: true }],
      }).succeeded()
      const subscriber = startPaho({
        port,
        version,
        clientId: 'paho-late',
        subscribe: [{ topic, qos: 1 }],
        messages: 1,
      })
      await subscriber.succeeded()
      expect(subscriber.messages()).toEqual([{ topic, payload: 'kept', qos: 1, retain: true }])
    })

    it(`${spec.clearRetained} an empty retained message clears the retained message`, async () => {
      const { broker } = await startWatchedBroker()
      const { port } = broker
      const topic = 'interop/paho/cleared'
      await startPaho({
        port,
        version,
        clientId: 'paho-retainer',
        publish: [
          { topic, payload: 'kept', qos: 1, retain: true },
          { topic, payload: '', qos: 1, retain: true },
        ],
      }).succeeded()
      // The broker sends retained messages while it handles the SUBSCRIBE, before it reads the client's
      // next packet: the marker published after the SUBACK comes first only when nothing is retained.
      const subscriber = startPaho({
        port,
        version,
        clientId: 'paho-late',
        subscribe: [{ topic, qos: 1 }],
        publish: [{ topic, payload: 'marker', qos: 1, retain: false }],
        messages: 1,
      })
      await subscriber.succeeded()
      expect(subscriber.messages()).toEqual([{ topic, payload: 'marker', qos: 1, retain: false }])
    })

    it(`${spec.will} the will is published when the connection drops without DISCONNECT`, async () => {
      const { broker } = await startWatchedBroker()
      const { port } = broker
      const topic = 'interop/paho/will'
      const subscriber = startPaho({
        port,
        version,
        clientId: 'paho-watcher',
        subscribe: [{ topic, qos: 1 }],
        messages: 1,
      })
      await subscriber.event('subscribed')
      const dying = startPaho({
        port,
        version,
        clientId: 'paho-dying',
        will: { topic, payload: 'gone', qos: 1, retain: false },
        stay: true,
      })
      expect(await dying.event('connected')).toMatchObject({ reasonCode: 0 })
      // SIGKILL: the process cannot send DISCONNECT; the kernel closes its socket.
      await dying.process.kill('SIGKILL')
      await subscriber.succeeded()
      expect(subscriber.messages()).toEqual([{ topic, payload: 'gone', qos: 1, retain: false }])
    })

    const resumed = 'a resumed session gets the QoS 1 messages published while away'
    it(`${spec.session} ${spec.sessionPresent} ${resumed}`, async () => {
      const { broker, watch } = await startWatchedBroker()
      const { port } = broker
      const topic = 'interop/paho/session'
      const first = startPaho({
        port,
        version,
        clientId: 'paho-session',
        ...persistent,
        subscribe: [{ topic, qos: 1 }],
      })
      expect(await first.event('connected')).toMatchObject({ reasonCode: 0, sessionPresent: false })
      await first.succeeded()
      await watch.closed('paho-session')

      await startPaho({
        port,
        version,
        clientId: 'paho-pub',
        publish: [
          { topic, payload: 'while away 1', qos: 1, retain: false },
          { topic, payload: 'while away 2', qos: 1, retain: false },
        ],
      }).succeeded()

      // No SUBSCRIBE this time: only the session's subscription can route these messages here.
      const again = startPaho({ port, version, clientId: 'paho-session', ...persistent, messages: 2 })
      expect(await again.event('connected')).toMatchObject({ reasonCode: 0, sessionPresent: true })
      await again.succeeded()
      expect(again.messages()).toEqual([
        { topic, payload: 'while away 1', qos: 1, retain: false },
        { topic, payload: 'while away 2', qos: 1, retain: false },
      ])
    })
  })
}
