import {
  type Client,
  type Done,
  type IConnectPacket,
  type IPublishPacket,
  type ISubscribePacket,
  type IUnsubscribePacket,
  Middleware,
  type Next,
  type Packet,
  type ProtocolVersion,
  SubscriptionTrie,
  serializePacket,
  validateTopicFilter,
  validateTopicName,
} from '@mqtt-stack/core'

/**
 * A deliberately small broker on core alone: CONNECT, SUBSCRIBE, UNSUBSCRIBE, PUBLISH delivered at QoS 0,
 * PINGREQ and DISCONNECT. It stands in for the built-in middlewares until they exist; it keeps no sessions,
 * no retained messages and no wills.
 */
export class MiniBroker extends Middleware {
  readonly #clients = new Map<string, Client>()
  readonly #subscriptions = new SubscriptionTrie<Client>()
  readonly #filters = new Map<Client, Set<string>>()
  #nextId = 0

  override install(client: Client): void {
    client.once('close', () => this.#forget(client))
  }

  override handle(client: Client, packet: Packet, next: Next, done: Done): void {
    if (packet.cmd !== 'connect' && !client.connackSent) {
      // The first packet from a client must be CONNECT [MQTT-3.1.0-1]
      client.close()
      return done()
    }
    switch (packet.cmd) {
      case 'connect':
        this.#connect(client, packet)
        break
      case 'publish':
        this.#publish(client, packet)
        break
      case 'subscribe':
        this.#subscribe(client, packet)
        break
      case 'unsubscribe':
        this.#unsubscribe(client, packet)
        break
      case 'pubrel':
        client.write({ cmd: 'pubcomp', messageId: packet.messageId! })
        break
      case 'pingreq':
        client.write({ cmd: 'pingresp' })
        break
      case 'disconnect':
        client.close()
        break
      default:
        return next()
    }
    done()
  }

  #connect(client: Client, packet: IConnectPacket): void {
    if (client.connackSent) {
      // A second CONNECT is a protocol violation [MQTT-3.1.0-2]
      client.close(0x82)
      return
    }
    client.id = packet.clientId || `mini-${++this.#nextId}`
    this.#clients.get(client.id)?.close(0x8e) // session taken over [MQTT-3.1.4-2]
    this.#clients.set(client.id, client)
    if (client.protocolVersion === 5) {
      const properties = packet.clientId ? {} : { assignedClientIdentifier: client.id }
      client.write({ cmd: 'connack', reasonCode: 0, sessionPresent: false, properties })
    } else {
      client.write({ cmd: 'connack', returnCode: 0, sessionPresent: false })
    }
  }

  #publish(client: Client, packet: IPublishPacket): void {
    if (validateTopicName(packet.topic)) {
      client.close(0x90)
      return
    }
    if (packet.qos === 1) client.write({ cmd: 'puback', messageId: packet.messageId! })
    if (packet.qos === 2) client.write({ cmd: 'pubrec', messageId: packet.messageId! })
    const forward: IPublishPacket = {
      cmd: 'publish',
      topic: packet.topic,
      payload: packet.payload,
      qos: 0,
      dup: false,
      retain: false,
    }
    // Serialise once per protocol version and write the same bytes to every subscriber.
    const bytes: Partial<Record<ProtocolVersion, Buffer>> = {}
    this.#subscriptions.forEachMatch(packet.topic, (subscriber) => {
      const version = subscriber.protocolVersion
      bytes[version] ??= serializePacket(forward, version)
      subscriber.writeBuffer(bytes[version], 0)
    })
  }

  #subscribe(client: Client, packet: ISubscribePacket): void {
    const granted = packet.subscriptions.map(({ topic }) => {
      if (validateTopicFilter(topic, { shared: false })) return 0x80
      this.#subscriptions.add(topic, client.id, client)
      this.#filtersOf(client).add(topic)
      return 0
    })
    client.write({ cmd: 'suback', messageId: packet.messageId!, granted })
  }

  #unsubscribe(client: Client, packet: IUnsubscribePacket): void {
    for (const topic of packet.unsubscriptions) {
      this.#subscriptions.remove(topic, client.id)
      this.#filtersOf(client).delete(topic)
    }
    client.write({
      cmd: 'unsuback',
      messageId: packet.messageId!,
      granted: packet.unsubscriptions.map(() => 0),
    })
  }

  #filtersOf(client: Client): Set<string> {
    let filters = this.#filters.get(client)
    if (!filters) {
      filters = new Set()
      this.#filters.set(client, filters)
    }
    return filters
  }

  /** Forgets a closed client and its subscriptions, unless a newer connection has taken its id. */
  #forget(client: Client): void {
    const filters = this.#filters.get(client)
    this.#filters.delete(client)
    if (this.#clients.get(client.id) !== client) return
    this.#clients.delete(client.id)
    for (const filter of filters ?? []) this.#subscriptions.remove(filter, client.id)
  }
}
