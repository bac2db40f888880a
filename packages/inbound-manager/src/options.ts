/** Options of `new InboundManager(options)`. */
export interface InboundManagerOptions {
  /** Most levels a topic name may have; a PUBLISH with more is a protocol violation. */
  maxTopicLevels: number
}

export const DEFAULTS: Readonly<InboundManagerOptions> = Object.freeze({
  maxTopicLevels: 128,
})
