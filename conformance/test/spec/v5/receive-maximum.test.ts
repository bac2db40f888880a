import type { MqttStackError } from '@mqtt-stack/core'
import type { BrokerOptions } from '@mqtt-stack/example-basic'
import { describe, expect, it } from 'vitest'
import { type RunningBroker, startBroker } from '../../support/broker.js'
import { connectPacket, publishPacket } from '../../support/packets.js'
import { WirePeer } from '../../support/wire.js'
import { connect5 } from './support.js'

/**
 * A broker whose stack reports every error to `errors`, and the first with reason code 0x93 to `violated`:
 * the moment the broker has seen one PUBLISH too many, whether or not the client reads what it is sent.
 */
async function watchedBroker(
  options: BrokerOptions = {},
): Promise<{ broker: RunningBroker; errors: MqttStackError[]; violated: Promise<MqttStackError> }> {
  const errors: MqttStackError[] = []
  let report!: (err: MqttStackError) => void
  const violated = new Promise<MqttStackError>((resolve) => {
    report = resolve
  })
  const onError = (err: MqttStackError): void => {
    errors.push(err)
    if (err.reasonCode === 0x93) report(err)
  }
  return { broker: await startBroker({ ...options, stack: { onError } }), errors, violated }
}

/** A 5.0 wire peer whose CONNECT was accepted, and the Receive Maximum of its CONNACK. */
async function connected5(broker: RunningBroker, clientId: string): Promise<{ wire: WirePeer; max: number }> {
  const wire = await WirePeer.connect(broker.port, 5)
  wire.send(connect5(clientId))
  const { packet } = await wire.expect('connack')
  if (packet.cmd !== 'connack') throw new Error('no CONNACK')
  expect(packet.reasonCode).toBe(0)
  return { wire, max: packet.properties?.receiveMaximum ?? 65535 }
}

const qos2 = (messageId: number) => publishPacket('t', 'x', { qos: 2, messageId })
const qos1 = (messageId: number) => publishPacket('t', 'x', { qos: 1, messageId })

describe('MQTT 5.0 Receive Maximum, the broker as receiver (3.2.2.3.3, 3.3.4)', () => {
  it('[MQTT-3.3.4-7] advertises a bounded Receive Maximum by default, and a client that reads nothing and sends one QoS 2 PUBLISH more gets its PUBRECs, then DISCONNECT 0x93', async () => {
    const { broker, violated } = await watchedBroker()
    const { wire, max } = await connected5(broker, 'flooder')
    expect(max).toBe(1024)
    // The client reads nothing while it floods: the broker must keep reading it to see the violation.
    wire.pause()
    for (let id = 1; id <= max + 1; id++) wire.send(qos2(id))
    await violated
    wire.resume()
    for (let id = 1; id <= max; id++)
      expect((await wire.expect('pubrec')).packet).toMatchObject({ messageId: id })
    expect((await wire.expect('disconnect')).packet).toMatchObject({ reasonCode: 0x93 })
    await wire.closed()
  })

  it('[MQTT-3.3.4-7] counts a QoS 1 PUBLISH towards the Receive Maximum: one past the held QoS 2 ids is DISCONNECT 0x93', async () => {
    const { broker, violated } = await watchedBroker({ receiveMaximum: 10 })
    const { wire, max } = await connected5(broker, 'mixed')
    expect(max).toBe(10)
    wire.pause()
    for (let id = 1; id <= max; id++) wire.send(qos2(id))
    wire.send(qos1(max + 1))
    await violated
    wire.resume()
    for (let id = 1; id <= max; id++) await wire.expect('pubrec')
    expect((await wire.expect('disconnect')).packet).toMatchObject({ reasonCode: 0x93 })
    await wire.closed()
  })

  it('[MQTT-3.3.4-7] [MQTT-4.6.0-2] answers QoS 1 PUBLISH past the Receive Maximum without disconnecting, and acknowledges them all, in order', async () => {
    const { broker, errors } = await watchedBroker({ receiveMaximum: 10 })
    const { wire, max } = await connected5(broker, 'qos1')
    wire.pause()
    for (let id = 1; id <= 3 * max; id++) wire.send(qos1(id))
    wire.send({ cmd: 'pingreq' })
    wire.resume()
    // A backend that answers later lets the broker relay the next PUBLISH before the PUBACK of one: the
    // PINGRESP may come before the last PUBACKs, never a PUBACK out of order.
    const acks: number[] = []
    let pong = false
    while (acks.length < 3 * max || !pong) {
      const { packet } = await wire.next()
      if (packet.cmd === 'pingresp') pong = true
      else if (packet.cmd === 'puback') acks.push(packet.messageId ?? 0)
      else throw new Error(`unexpected ${packet.cmd}`)
    }
    expect(acks).toEqual(Array.from({ length: 3 * max }, (_, i) => i + 1))
    expect(errors).toEqual([])
  })

  it('[MQTT-3.3.4-7] keeps a client that completes its QoS 2 exchanges: Receive Maximum at a time, many times over', async () => {
    const { broker, errors } = await watchedBroker({ receiveMaximum: 10 })
    const { wire, max } = await connected5(broker, 'polite')
    for (let round = 0; round < 3; round++) {
      for (let id = 1; id <= max; id++) wire.send(qos2(id))
      for (let id = 1; id <= max; id++) await wire.expect('pubrec')
      for (let id = 1; id <= max; id++) wire.send({ cmd: 'pubrel', messageId: id })
      for (let id = 1; id <= max; id++)
        expect((await wire.expect('pubcomp')).packet).toMatchObject({ messageId: id })
    }
    wire.send({ cmd: 'pingreq' })
    await wire.expect('pingresp')
    expect(errors).toEqual([])
  })

  it('has no Receive Maximum in 3.1.1: more unreleased QoS 2 PUBLISH than the 5.0 limit are all answered', async () => {
    const { broker, errors } = await watchedBroker({ receiveMaximum: 10 })
    const wire = await WirePeer.connect(broker.port, 4)
    wire.send(connectPacket(4, 'v311'))
    const { packet: connack } = await wire.expect('connack')
    expect(connack).toMatchObject({ returnCode: 0 })
    for (let id = 1; id <= 30; id++) wire.send(qos2(id))
    wire.send({ cmd: 'pingreq' })
    for (let id = 1; id <= 30; id++) await wire.expect('pubrec')
    await wire.expect('pingresp')
    expect(errors).toEqual([])
  })
})
