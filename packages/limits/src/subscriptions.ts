import { type CallbackHandlers, MqttStackError, ReasonCode } from '@mqtt-stack/core'
import { LimitsErrorCode } from './errors.js'
import type { EffectiveLimits } from './options.js'
import type { LimitsStats } from './stats.js'
import { topicOverLimit } from './topic-limit.js'

/** An error of this package, with the MQTT 5.0 reason code it is answered with. */
export function limitError(code: LimitsErrorCode, message: string, reasonCode: number): MqttStackError {
  return new MqttStackError(code, message, { reasonCode })
}

/**
 * The subscription limits, as callback handlers. `authorizeSubscribe`, per filter of a SUBSCRIBE: over the
 * topic limits, SUBACK 0x8F Topic Filter invalid; a new filter past `maxSubscriptionsPerClient`, SUBACK 0x97
 * Quota exceeded (3.1.1: 0x80 Failure for both). The filters a client holds are kept from `subscribeTopic`
 * (a SUBSCRIBE, or a session resumed) and `unsubscribeTopic`; the new filters of the SUBSCRIBE being
 * authorised count as held until they are routed, whichever order the subscription manager runs them in.
 */
export function subscriptionHandlers(limits: EffectiveLimits, stats: LimitsStats): CallbackHandlers {
  return {
    authorizeSubscribe: (ctx, store, next, done) => {
      const { client, packet, subscription } = ctx
      const topic = subscription.topic
      let refusal: MqttStackError | undefined
      if (topicOverLimit(topic, limits.maxTopicLength, limits.maxTopicLevels)) {
        stats.refusedTopics++
        refusal = limitError(
          LimitsErrorCode.TOPIC_LIMIT,
          `subscription of client "${client.id}" refused: filter over maxTopicLength (${limits.maxTopicLength}) or maxTopicLevels (${limits.maxTopicLevels})`,
          ReasonCode.TOPIC_FILTER_INVALID,
        )
      } else {
        const state = client.state.limits
        if (state === undefined || state.filters?.has(topic)) return next()
        if (state.subscribing !== packet) {
          state.subscribing = packet
          state.subscribingNew = 0
        }
        if ((state.filters?.size ?? 0) + state.subscribingNew < limits.maxSubscriptionsPerClient) {
          state.subscribingNew++
          return next()
        }
        stats.refusedSubscriptions++
        refusal = limitError(
          LimitsErrorCode.SUBSCRIPTION_QUOTA,
          `subscription of client "${client.id}" refused: maxSubscriptionsPerClient (${limits.maxSubscriptionsPerClient}) reached`,
          ReasonCode.QUOTA_EXCEEDED,
        )
      }
      client.stack.reportError(refusal, client, packet)
      store.authorized = false
      store.reasonCode = refusal.reasonCode!
      done()
    },
    subscribeTopic: (ctx, _store, next) => {
      const state = ctx.client.state.limits
      if (state === undefined) return next()
      state.filters ??= new Set()
      const size = state.filters.size
      state.filters.add(ctx.topic)
      // A new filter granted by the SUBSCRIBE being authorised is no longer pending: it is held now.
      if (state.filters.size > size && ctx.packet === state.subscribing && state.subscribingNew > 0)
        state.subscribingNew--
      next()
    },
    unsubscribeTopic: (ctx, _store, next) => {
      ctx.client.state.limits?.filters?.delete(ctx.topic)
      next()
    },
  }
}
