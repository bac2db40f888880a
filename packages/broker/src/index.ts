/**
 * @packageDocumentation
 * A complete MQTT broker from mqtt-stack's built-ins: `createBroker()` assembles every built-in in the
 * documented order and serves it on TCP, TLS and WebSocket listeners. The package's `mqtt-stack` command
 * runs one from a config file.
 */

export { CertificateUsername } from './certificate-username.js'
export { parseAclFile } from './cli/acl-file.js'
export { type LoadedConfig, loadConfig } from './cli/config.js'
export { ConfigError } from './cli/config-error.js'
export { hashPassword, PasswordTable, parsePasswordFile } from './cli/password-file.js'
export { runCli } from './cli/run.js'
export { limitYoungGeneration, SEMI_SPACE_MIB, type YoungGenerationOptions } from './cli/young-generation.js'
export { ConnectionLog, type ConnectionLogOptions } from './connection-log.js'
export { type Broker, createBroker, createStack } from './create-broker.js'
export { createLineSink, type LineSink } from './line-sink.js'
export type {
  ListenerAddress,
  ListenerOptions,
  ListenerType,
  MqttListenerOptions,
  MqttsListenerOptions,
  TlsListenerOptions,
  WsListenerOptions,
  WssListenerOptions,
} from './listeners/options.js'
export { WebSocketStream } from './listeners/websocket-stream.js'
export {
  type BrokerLogger,
  createLogger,
  defaultSink,
  type LogFormat,
  type LoggerOptions,
  type LogLevel,
} from './logger.js'
export type { BrokerOptions } from './options.js'
