/**
 * @packageDocumentation
 * The core of mqtt-stack: `Stack`, `Middleware`, `Client`, the typed callback catalogue, topic tools and
 * errors. Every built-in middleware is built on this package alone.
 */
export type {
  CallbackContext,
  CallbackHandler,
  CallbackHandlers,
  CallbackName,
  CallbackResult,
  CallbackStore,
  Callbacks,
  CallbackThen,
  DeclaredCallbackName,
  Done,
  DropReason,
  InflightPacket,
  Next,
  StandardCallbackName,
  StandardCallbacks,
  StoredSession,
  Subscription,
} from './callbacks.js'
export { STANDARD_CALLBACK_NAMES } from './callbacks.js'
export { Client, type ClientEvents, type ClientState } from './client.js'
export {
  CodecProblem,
  codecProblemReason,
  serializePacket,
  type UserProperty,
  userPropertiesFromPairs,
  userPropertyPairs,
} from './codec/index.js'
export { ErrorCode, MqttStackError, type MqttStackErrorOptions, toMqttStackError } from './errors.js'
export type { HeldChain } from './held-chain.js'
export { Middleware, type MiddlewareLike, middlewareName } from './middleware.js'
export { CLIENT_DEFAULTS, type ClientOptions, type ErrorHandler, type StackOptions } from './options.js'
export { ownPayload } from './own-payload.js'
export * from './packets.js'
export {
  connackReasonCode,
  connackRefusal,
  connackReturnCode,
  isFailureCode,
  ReasonCode,
  ReturnCode,
} from './reason-codes.js'
export { refuseConnect, refusePublish } from './refusals.js'
export { type HandlerOptions, Stack, type StackEvents, type WriteObserver } from './stack.js'
export * from './topic/index.js'
export { Traffic } from './traffic.js'
