import {
  type CallbackResult,
  type Client,
  type Done,
  type IPublishPacket,
  type Next,
  ReasonCode,
  toMqttStackError,
} from '@mqtt-stack/core'
import type { InboundManagerState } from './state.js'

/**
 * QoS 1 relays of one client that may run at once (or the Receive Maximum, when lower). A relay that waits on
 * its backend (another node's inbox, a store over the network) lets the client's next PUBLISH go on, up to
 * this many, and the PUBACKs follow the answers in the order the PUBLISH packets came [MQTT-4.6.0-2]: a
 * publisher is paced by the backend's throughput, not by one round trip per message. Past it, the client's
 * next packet waits. QoS 0 and 2 are not pipelined: such a PUBLISH waits until the relays before it are
 * answered, so what a client sends after it (a PINGREQ) is answered after its deliveries, as before.
 */
export const PIPELINE_DEPTH = 256

/**
 * A QoS 1 PUBLISH whose relay still runs while the client's next packets are processed. It is the
 * context and the store of its own `relayMessage` (`shared`: the connection's reused ones, taken by the
 * relay that was running when it went asynchronous), and what its acknowledgement needs once it is answered.
 */
export class PipelinedRelay {
  readonly topic: string
  readonly payload: IPublishPacket['payload']
  /** Store: counted by the router. */
  matched: number | undefined = undefined
  settled = false
  err: Error | null = null

  constructor(
    readonly client: Client,
    readonly packet: IPublishPacket,
  ) {
    this.topic = packet.topic
    this.payload = packet.payload
  }
}

/** A chain that waits: for room in the pipeline, or (a QoS 0 or 2 PUBLISH) for the pipeline to be empty. */
export interface ParkedChain {
  /** Set: the PUBLISH is processed again once the pipeline is empty; unset: the chain ends on room. */
  packet: IPublishPacket | undefined
  next: Next
  done: Done
}

/** Ends the chain of a relay that went on in the pipeline now, or once there is room. */
export function release(state: InboundManagerState, next: Next, done: Done): void {
  if (state.pipeline.length < state.depth) done()
  else state.parked = { packet: undefined, next, done }
}

/** Answers of pipelined relays with their own context: one function for every relay, no closure each. */
export const onPipelined: CallbackResult<'relayMessage'> = (err, store) => {
  const relay = store as PipelinedRelay
  settle(relay, err)
}

/** A pipelined relay was answered: the acknowledgements that are due now go out, in order. */
export function settle(relay: PipelinedRelay, err: Error | null, matched = relay.matched): void {
  relay.settled = true
  relay.err = err
  relay.matched = matched
  const state = relay.client.state.inboundManager
  if (state !== undefined) acknowledge(relay.client, state)
}

/**
 * Acknowledges the answered relays at the head of the pipeline, in order; a failed one ends the connection
 * (its PUBLISH and those after it stay unacknowledged, to be sent again). Then a parked chain goes on.
 */
function acknowledge(client: Client, state: InboundManagerState): void {
  if (state.acknowledging) return
  state.acknowledging = true
  const pipeline = state.pipeline
  while (pipeline.length > 0 && pipeline[0]!.settled) {
    const relay = pipeline.shift()!
    if (relay.err) {
      client.fail(toMqttStackError(relay.err), relay.packet)
      pipeline.length = 0
      break
    }
    if (!client.closed) {
      const ack = state.puback
      ack.messageId = relay.packet.messageId ?? 0
      ack.reasonCode =
        relay.matched === 0 && client.protocolVersion === 5
          ? ReasonCode.NO_MATCHING_SUBSCRIBERS
          : ReasonCode.SUCCESS
      client.write(ack)
    }
  }
  state.acknowledging = false
  const parked = state.parked
  if (parked === undefined) return
  if (client.closed) {
    state.parked = undefined
    parked.done()
  } else if (parked.packet === undefined ? pipeline.length < state.depth : pipeline.length === 0) {
    state.parked = undefined
    if (parked.packet === undefined) parked.done()
    else state.resume(parked.packet, parked.next, parked.done)
  }
}
