import type { MiddlewareLike } from '../../middleware.js'

/** Bounds the backend made by `BackendTarget.create` keeps, for the kit to check what happens past them. */
export interface BackendLimits {
  /**
   * Messages queued per disconnected persistent session. Past it, `storeOfflineMessage` keeps the queue at
   * this length, as `offlineDropPolicy` says.
   */
  maxOfflineMessages?: number
  /**
   * Which message a full offline queue loses: `'newest'` (the one being stored is refused and
   * `store.dropped` set; the queue keeps the oldest, as memory-backend does) or `'oldest'` (the head of
   * the queue makes room for it). Default `'newest'`.
   */
  offlineDropPolicy?: 'newest' | 'oldest'
  /** Unacknowledged outbound messages per session: `storeInflightMessage` of a new id past it fails. */
  maxInflightMessages?: number
  /** Retained messages in all: a new topic past it is refused; replacing or deleting one still works. */
  maxRetainedMessages?: number
}

/** What the backend under test can do beyond the contract every backend keeps. */
export interface BackendCapabilities {
  /**
   * Its storage outlives the process: `BackendTarget.restart` gives a backend on the same storage, and the
   * kit checks that sessions, subscriptions, queues, QoS 1/2 state, retained messages and wills survive it.
   */
  durable?: boolean
  /**
   * Several broker nodes share its storage: `BackendTarget.peer` gives another node's backend, and the kit
   * checks takeover across nodes, relays between them and shared subscriptions across them.
   */
  cluster?: boolean
  /** Bounds the backend made by `create` keeps (each one it declares is checked). */
  limits?: BackendLimits
  /**
   * It answers `collectStats` (what metrics and `$SYS` show): the kit checks each figure it gives (one it
   * leaves undefined is not known).
   */
  stats?: boolean
}

/** The backend under test, as `describeBackend` makes, restarts and disposes of it. */
export interface BackendTarget<B extends MiddlewareLike = MiddlewareLike> {
  /** A new backend on empty storage, for one test. */
  create(): B | Promise<B>
  /**
   * A new backend on the storage of `previous`, whose stack has been closed (and its `close()` called): a
   * restart of the broker. Required when `capabilities.durable` is set.
   */
  restart?(previous: B): B | Promise<B>
  /**
   * A backend for another broker node, running at the same time on the storage of `first`. Required when
   * `capabilities.cluster` is set.
   */
  peer?(first: B): B | Promise<B>
  /** Releases the storage of a backend after its test (its stack is closed already): drop keys, files. */
  dispose?(backend: B): void | Promise<void>
  capabilities?: BackendCapabilities
  /** How long the kit waits for a delivery the backend makes later (an answer over the network), in ms. Default 2000. */
  timeout?: number
}

/**
 * The test functions of the runner, passed in so that `@mqtt-stack/core/testing` depends on none:
 * vitest's, mocha's or `node:test`'s `describe` and `it` fit. Each test opens what it needs and closes it
 * before it ends, so no hooks are needed.
 */
export interface TestFunctions {
  describe(name: string, body: () => void): unknown
  it(name: string, body: () => Promise<void>): unknown
}
