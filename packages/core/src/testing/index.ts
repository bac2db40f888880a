/**
 * @packageDocumentation
 * A test harness: connects a client to a `Stack` over an in-memory duplex pair (or to a broker over TCP),
 * so a test writes packets (or raw bytes) and awaits the packets the broker sends, with no sleep.
 */

export {
  type BackendCapabilities,
  BackendHarness,
  type BackendLimits,
  type BackendTarget,
  type Delivery,
  describeBackend,
  type KitClient,
  type PublishOptions,
  type TestFunctions,
} from './backend-kit/index.js'
export {
  connectTestClient,
  connectTestSocket,
  PacketPeer,
  TestConnection,
  type TestConnectionOptions,
} from './connection.js'
export { DeferredBackend, type DeferredBackendOptions } from './deferred-backend.js'
export {
  type AcceptConnectionsOptions,
  acceptConnections,
  collectErrors,
  deferred,
  recordPackets,
  recordWrites,
  testStack,
} from './fakes.js'
export { scramClient } from './scram-client.js'
export { type TcpHarness, tcpHarness } from './tcp-harness.js'
