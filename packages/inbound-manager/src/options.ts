/** Options of `new InboundManager(options)`. */
export interface InboundManagerOptions {
  /** Most levels a topic name may have; a PUBLISH with more is a protocol violation. */
  maxTopicLevels: number
  /**
   * MQTT 5.0: the server's Receive Maximum, 1..65535: most QoS 1 and 2 PUBLISH packets a client may have
   * sent without a PUBACK or PUBCOMP from the server. Advertised in every 5.0 CONNACK; a client that sends
   * more is disconnected with 0x93. Default 1024 (see the README for why not the spec's 65535).
   */
  receiveMaximum: number
  /**
   * MQTT 5.0: the highest QoS a 5.0 client may publish with, 0, 1 or 2. Advertised in CONNACK as Maximum QoS;
   * a PUBLISH above it is answered with DISCONNECT 0x9B. 3.1/3.1.1 clients are not limited.
   */
  maxQoS: 0 | 1 | 2
  /**
   * MQTT 5.0: check that the payload of a PUBLISH with Payload Format Indicator 1 is well-formed UTF-8; one
   * that is not is refused with reason code 0x99 and not relayed.
   */
  checkPayloadFormat: boolean
}

export const DEFAULTS: Readonly<InboundManagerOptions> = Object.freeze({
  maxTopicLevels: 128,
  receiveMaximum: 1024,
  maxQoS: 2,
  checkPayloadFormat: true,
})
