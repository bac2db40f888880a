/**
 * Interop: the default example broker and clients nobody here wrote, over MQTT 3.1.1 and MQTT 5.0: MQTT.js
 * (the npm `mqtt` client), the Eclipse Paho Python client (Debian's python3-paho-mqtt) and mosquitto_pub /
 * mosquitto_sub (Debian's mosquitto-clients). The scenarios of each client are in support/*-scenarios.ts;
 * here each gets its title, citing the statements of its protocol version.
 */
import { describe, it } from 'vitest'
import { scenarios as mosquitto } from './support/mosquitto-scenarios.js'
import { scenarios as mqttJs } from './support/mqtt-js-scenarios.js'
import { scenarios as paho } from './support/paho-scenarios.js'
import { QOS } from './support/spec.js'
import { mosquittoClientsMissing, needsClient, pahoMissing } from './support/tools.js'

const CLIENTS = [
  { name: 'MQTT.js', missing: undefined, scenarios: mqttJs },
  { name: 'Paho Python client', missing: pahoMissing(), scenarios: paho },
  { name: 'mosquitto_pub and mosquitto_sub', missing: mosquittoClientsMissing(), scenarios: mosquitto },
]

describe.each(CLIENTS)('interop: $name, MQTT 3.1.1', ({ missing, scenarios }) => {
  needsClient(missing)
  const scenario = scenarios(4)
  it('[MQTT-3.2.0-1] connects: CONNACK success', () => scenario.connects())
  it.each(QOS)('[MQTT-3.3.4-1] [MQTT-3.8.4-6] round trip at QoS %i to a QoS 2 subscription', (qos) =>
    scenario.roundTrip(qos),
  )
  it('[MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-8] a retained message reaches a new subscriber with the retain flag', () =>
    scenario.retained())
  it('[MQTT-3.3.1-10] [MQTT-3.3.1-11] an empty retained message clears the retained message', () =>
    scenario.clearRetained())
  it('[MQTT-3.1.2-8] the will is published when the connection drops without DISCONNECT', () =>
    scenario.will())
  it('[MQTT-3.1.2-4] [MQTT-3.1.2-5] a persistent session gets the QoS 1 messages published while away', () =>
    scenario.session())
})

describe.each(CLIENTS)('interop: $name, MQTT 5.0', ({ missing, scenarios }) => {
  needsClient(missing)
  const scenario = scenarios(5)
  it('[MQTT-3.2.0-1] connects: CONNACK success', () => scenario.connects())
  it.each(QOS)('[MQTT-3.3.4-1] [MQTT-3.8.4-8] round trip at QoS %i to a QoS 2 subscription', (qos) =>
    scenario.roundTrip(qos),
  )
  it('[MQTT-3.3.1-5] [MQTT-3.3.1-9] a retained message reaches a new subscriber with the retain flag', () =>
    scenario.retained())
  it('[MQTT-3.3.1-6] [MQTT-3.3.1-7] an empty retained message clears the retained message', () =>
    scenario.clearRetained())
  it('[MQTT-3.1.2-8] the will is published when the connection drops without DISCONNECT', () =>
    scenario.will())
  it('[MQTT-3.1.2-5] [MQTT-3.1.2-23] a persistent session gets the QoS 1 messages published while away', () =>
    scenario.session())
})
