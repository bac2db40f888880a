import {
  type CallbackHandlers,
  type Client,
  type Done,
  type IPublishPacket,
  Middleware,
  type MqttStackError,
  type Next,
  type Packet,
} from '@mqtt-stack/core'
import { DEFAULTS, type LastWillOptions } from './options.js'
import { LastWillState, type Will } from './state.js'

/**
 * Keeps the will of a CONNECT and publishes it, once, through `relayMessage` when the connection ends
 * uncleanly; drops it when the client sent DISCONNECT.
 */
export class LastWill extends Middleware<LastWillOptions> {
  override readonly name = 'last-will'
  override readonly packetTypes = ['connect'] as const
  override readonly requires = ['relayMessage'] as const

  constructor(options: Partial<LastWillOptions> = {}) {
    super(options, DEFAULTS)
  }

  override handle(client: Client, packet: Packet, next: Next, _done: Done): void {
    // Only the first CONNECT counts: a second one is a protocol violation (connection ends it), and must
    // never replace or duplicate the will (LESSONS 6).
    if (packet.cmd === 'connect' && client.state.lastWill === undefined) {
      client.state.lastWill = new LastWillState(packet.will)
    }
    next()
  }

  override callbacks(): CallbackHandlers {
    return {
      uncleanDisconnect(ctx, _store, next) {
        publishWill(ctx.client, next)
      },
      cleanDisconnect(ctx, _store, next) {
        // [MQTT-3.1.2-10] [MQTT-3.14.4-3] After DISCONNECT the will is discarded without being published.
        const state = ctx.client.state.lastWill
        if (state !== undefined) state.will = undefined
        next()
      },
    }
  }
}

/** [MQTT-3.1.2-8] The will is published when the connection closes without DISCONNECT, exactly once. */
function publishWill(client: Client, next: Next): void {
  const state = client.state.lastWill
  const will = state?.will
  // A will belongs to an accepted connection only [MQTT-3.1.2-8]: no CONNACK, no will.
  if (state === undefined || will === undefined || state.published || !client.connackSent) {
    next()
    return
  }
  // [MQTT-3.1.2-10] Removed once published; marked first, so a second unclean end publishes nothing.
  state.published = true
  state.will = undefined
  const packet = willPacket(will)
  if (!client.stack.provides('authorizePublish')) {
    relay(client, packet, next)
    return
  }
  client.stack.execute('authorizePublish', { client, packet }, {}, (err, store) => {
    if (err) {
      // Not authorised to be sure: the will is dropped, the failure reported, the disconnect chain goes on.
      client.stack.reportError(err, client, packet)
      next()
      return
    }
    if (store.authorized === false) {
      next()
      return
    }
    relay(client, packet, next)
  })
}

/**
 * A failure of the relay is reported, and the disconnect chain goes on: the middlewares after this one
 * (session-manager) must still end the session, or routes would point at a dead connection (LESSONS 7).
 */
function relay(client: Client, packet: IPublishPacket, next: Next): void {
  client.stack.execute(
    'relayMessage',
    { client, packet, topic: packet.topic, payload: packet.payload },
    {},
    (err: MqttStackError | null) => {
      if (err) client.stack.reportError(err, client, packet)
      next()
    },
  )
}

/** [MQTT-3.1.2-16] [MQTT-3.1.2-17] The will's QoS and retain flag are those of the published message. */
function willPacket(will: Will): IPublishPacket {
  return {
    cmd: 'publish',
    topic: will.topic,
    payload: will.payload,
    qos: will.qos ?? 0,
    retain: will.retain ?? false,
    dup: false,
  }
}
