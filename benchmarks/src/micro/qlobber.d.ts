// Minimal types for the parts of qlobber 8 the micro benchmarks use (qlobber ships no types).

declare module 'qlobber' {
  export interface QlobberOptions {
    separator?: string
    wildcard_one?: string
    wildcard_some?: string
    match_empty_levels?: boolean
    max_words?: number
    max_wildcard_somes?: number
    cache_adds?: boolean | Map<string, unknown>
    cache_splits?: number
  }

  export class Qlobber<V = unknown> {
    constructor(options?: QlobberOptions)
    add(topic: string, value: V): this
    remove(topic: string, value?: V): this
    match(topic: string): V[]
    clear(): this
  }
}

declare module 'qlobber/aedes/qlobber-sub.js' {
  import type { QlobberOptions } from 'qlobber'

  namespace QlobberSub {
    interface Subscription {
      clientId: string
      topic: string
      qos?: number
      rh?: number
      rap?: boolean
      nl?: boolean
    }
    /** What `match` returns: a fresh object per matching client. */
    interface Match {
      clientId: string
      qos?: number
      rh?: number
      rap?: boolean
      nl?: boolean
    }
  }

  /** The Qlobber subclass aedes-persistence uses: one entry per (topic, clientId), like SubscriptionTrie. */
  class QlobberSub {
    constructor(options?: QlobberOptions)
    subscriptionsCount: number
    add(topic: string, value: QlobberSub.Subscription): this
    remove(topic: string, value: Pick<QlobberSub.Subscription, 'clientId' | 'topic'>): this
    match(topic: string): QlobberSub.Match[]
  }

  export = QlobberSub
}
