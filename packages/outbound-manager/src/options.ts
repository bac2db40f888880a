/** Options of `new OutboundManager(options)`. */
export interface OutboundManagerOptions {
  /**
   * Most QoS 1/2 messages sent to one client and not yet acknowledged (PUBLISH or PUBREL), 1..65535. An MQTT
   * 5.0 client's Receive Maximum lowers it for that client.
   */
  maxInflight: number
  /** Most messages waiting per client while its window is full; past it they go to `storeOfflineMessage`. */
  maxQueued: number
}

export const DEFAULTS: Readonly<OutboundManagerOptions> = Object.freeze({
  maxInflight: 100,
  maxQueued: 1000,
})
