/**
 * Interop scenarios of MQTT.js (the npm `mqtt` client), over MQTT 3.1.1 and MQTT 5.0.
 */
import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt'
import { afterEach, expect } from 'vitest'
import { EVENT_TIMEOUT, Inbox } from '../../support/inbox.js'
import { startWatchedBroker } from '../../support/watch.js'
import type { QoS, Scenarios, Version } from './spec.js'

interface Received {
  topic: string
  payload: string
  qos: number
  retain: boolean
}

interface Connected {
  client: MqttClient
  connack: IConnackPacket
  /** Every message the client received, from the moment it connected. */
  messages: Inbox<Received>
}

const clients: MqttClient[] = []

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true)))
})

/**
 * An MQTT.js client that never reconnects on its own. Its message listener is in place before the CONNACK,
 * so messages a resumed session sends right after it are not missed.
 */
async function connectClient(url: string, options: IClientOptions): Promise<Connected> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: EVENT_TIMEOUT, ...options })
  clients.push(client)
  const messages: Inbox<Received> = new Inbox((): string => JSON.stringify(messages.items))
  client.on('message', (topic, payload, packet) => {
    messages.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain })
  })
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    const settle = () => {
      clearTimeout(timer)
      client.off('error', fail)
      client.off('close', closed)
    }
    const fail = (err: Error) => {
      settle()
      reject(err)
    }
    const closed = () => fail(new Error('the connection closed before the CONNACK'))
    const timer = setTimeout(() => fail(new Error(`no CONNACK within ${EVENT_TIMEOUT} ms`)), EVENT_TIMEOUT)
    client.on('error', fail)
    client.on('close', closed)
    client.once('connect', (packet) => {
      settle()
      resolve(packet)
    })
  })
  return { client, connack, messages }
}

/**
 * The interop scenarios against MQTT.js clients of `version`, one function per test; clients.test.ts gives them
 * their titles.
 */
export function scenarios(version: Version): Scenarios {
  const base: IClientOptions = { protocolVersion: version }
  const persistent: IClientOptions =
    version === 5 ? { clean: false, properties: { sessionExpiryInterval: 60 } } : { clean: false }

  /** A watched broker, and a way to connect MQTT.js clients of this version to it. */
  const start = async () => {
    const { broker, watch } = await startWatchedBroker()
    return { watch, connect: (options: IClientOptions) => connectClient(broker.url, { ...base, ...options }) }
  }

  return {
    async connects() {
      const { connect, watch } = await start()
      const { connack } = await connect({ clientId: 'js-connect' })
      expect(version === 5 ? connack.reasonCode : connack.returnCode).toBe(0)
      expect(connack.sessionPresent).toBe(false)
      const packet = await watch.connect('js-connect')
      expect(packet.protocolVersion).toBe(version)
      expect(packet.clean).toBe(true)
    },

    async roundTrip(qos: QoS) {
      const { connect } = await start()
      const topic = `interop/js/qos${qos}`
      const subscriber = await connect({ clientId: 'js-sub' })
      const granted = await subscriber.client.subscribeAsync(topic, { qos: 2 })
      expect(granted.map((grant) => grant.qos)).toEqual([2])
      const publisher = await connect({ clientId: 'js-pub' })
      // Resolves once the flow is complete, with MQTT.js's last packet of it: the PUBLISH a PUBACK answered
      // (QoS 1), the PUBREL a PUBCOMP answered (QoS 2).
      const last = await publisher.client.publishAsync(topic, `hello at QoS ${qos}`, { qos })
      expect(last?.cmd).toBe([undefined, 'publish', 'pubrel'][qos])
      const message = await subscriber.messages.waitFor(() => true, 'message')
      expect(message).toEqual({ topic, payload: `hello at QoS ${qos}`, qos, retain: false })
    },

    async retained() {
      const { connect } = await start()
      const topic = 'interop/js/retained'
      const publisher = await connect({ clientId: 'js-retainer' })
      await publisher.client.publishAsync(topic, 'kept', { qos: 1, retain: true })
      const subscriber = await connect({ clientId: 'js-late' })
      await subscriber.client.subscribeAsync(topic, { qos: 1 })
      const message = await subscriber.messages.waitFor(() => true, 'retained message')
      expect(message).toEqual({ topic, payload: 'kept', qos: 1, retain: true })
    },

    async clearRetained() {
      const { connect } = await start()
      const topic = 'interop/js/cleared'
      const publisher = await connect({ clientId: 'js-retainer' })
      await publisher.client.publishAsync(topic, 'kept', { qos: 1, retain: true })
      await publisher.client.publishAsync(topic, '', { qos: 1, retain: true })
      // The broker sends retained messages while it handles the SUBSCRIBE, before it reads the client's
      // next packet: the marker published after the SUBACK comes first only when nothing is retained.
      const subscriber = await connect({ clientId: 'js-late' })
      await subscriber.client.subscribeAsync(topic, { qos: 1 })
      await subscriber.client.publishAsync(topic, 'marker', { qos: 1 })
      await subscriber.messages.waitFor((message) => message.payload === 'marker', 'marker')
      expect(subscriber.messages.items).toEqual([{ topic, payload: 'marker', qos: 1, retain: false }])
    },

    async will() {
      const { connect } = await start()
      const topic = 'interop/js/will'
      const subscriber = await connect({ clientId: 'js-watcher' })
      await subscriber.client.subscribeAsync(topic, { qos: 1 })
      const dying = await connect({
        clientId: 'js-dying',
        will: { topic, payload: Buffer.from('gone'), qos: 1, retain: false },
      })
      // The socket goes away as in a network failure: no DISCONNECT is sent.
      dying.client.stream.destroy()
      const will = await subscriber.messages.waitFor(() => true, 'will message')
      expect(will).toEqual({ topic, payload: 'gone', qos: 1, retain: false })
    },

    async session() {
      const { connect, watch } = await start()
      const topic = 'interop/js/session'
      const first = await connect({ ...persistent, clientId: 'js-session' })
      expect(first.connack.sessionPresent).toBe(false)
      await first.client.subscribeAsync(topic, { qos: 1 })
      await first.client.endAsync()
      await watch.closed('js-session')

      const publisher = await connect({ clientId: 'js-pub' })
      await publisher.client.publishAsync(topic, 'while away 1', { qos: 1 })
      await publisher.client.publishAsync(topic, 'while away 2', { qos: 1 })

      // No SUBSCRIBE this time: only the session's subscription can route these messages here.
      const again = await connect({ ...persistent, clientId: 'js-session' })
      expect(again.connack.sessionPresent).toBe(true)
      await again.messages.waitFor((message) => message.payload === 'while away 2', 'second queued message')
      expect(again.messages.items).toEqual([
        { topic, payload: 'while away 1', qos: 1, retain: false },
        { topic, payload: 'while away 2', qos: 1, retain: false },
      ])
    },
  }
}
