/**
 * The wire codec: the one place where bytes become packets and packets bytes. What it refuses it reports as
 * a `CodecProblem`, never as another library's message text.
 */
export { DECODED, type DecoderSink, PacketDecoder, UNDECODABLE } from './decoder.js'
export { CodecProblem, codecError, codecProblemReason } from './problems.js'
export { serializePacket, serializeWithin } from './serialize.js'
export { type UserProperty, userPropertiesFromPairs, userPropertyPairs } from './user-properties.js'
