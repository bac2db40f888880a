import type { Client } from './client.js'
import type { MqttStackError } from './errors.js'
import type { IConnectPacket, IPublishPacket } from './packets.js'
import { connackRefusal } from './reason-codes.js'

/**
 * Answers a PUBLISH the server will not accept from this client (not authorised, a topic it reserves) and
 * drops it. MQTT 5.0 says so with `reasonCode` on the PUBACK or PUBREC [MQTT-3.3.5-2]; MQTT 3.1/3.1.1 has no
 * way to say no, so the client gets the usual acknowledgement and the message goes nowhere; QoS 0 gets
 * nothing. The drop is notified as `not-authorized` (`messageDropped`).
 */
export function refusePublish(client: Client, packet: IPublishPacket, reasonCode: number): void {
  client.stack.notifyDropped('not-authorized', client, packet)
  if (packet.qos === 0) return
  const cmd = packet.qos === 1 ? 'puback' : 'pubrec'
  if (client.protocolVersion === 5) client.write({ cmd, messageId: packet.messageId!, reasonCode })
  else client.write({ cmd, messageId: packet.messageId! })
}

/**
 * Refuses a CONNECT: a CONNACK with `reasonCode` (3.1.1: the closest return code) and Session Present 0
 * [MQTT-3.2.2-4], `err` reported, then the connection closes [MQTT-3.2.2-5].
 */
export function refuseConnect(
  client: Client,
  packet: IConnectPacket,
  reasonCode: number,
  err: MqttStackError,
): void {
  client.write(connackRefusal(packet.protocolVersion ?? 4, reasonCode))
  client.stack.reportError(err, client, packet)
  client.close(undefined, err)
}
