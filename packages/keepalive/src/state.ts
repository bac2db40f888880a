/** What keepalive keeps per client, in `client.state.keepalive`, from its CONNECT on. */
export class KeepAliveState {
  constructor(
    /** The keepalive the CONNECT asked for, in seconds. */
    readonly requested: number,
    /** The keepalive enforced, in seconds: `requested` capped by `maxKeepalive`; 0 is never enforced. */
    readonly interval: number,
    /** 1.5 times `interval`, in milliseconds [MQTT-3.1.2-24]; 0 when not enforced. */
    readonly timeout: number,
    /** Epoch milliseconds after which the client has been silent too long; moved on by every packet. */
    public deadline: number,
  ) {}
}

declare module '@mqtt-stack/core' {
  interface ClientState {
    /** Kept by @mqtt-stack/keepalive. */
    keepalive?: KeepAliveState
  }
}
