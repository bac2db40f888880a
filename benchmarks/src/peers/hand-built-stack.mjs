// The built-ins assembled by hand, in the order of createBroker's default: the `stack` peer
// (stack-server.mjs) and the connect-path micro-benchmark share it.
import { Authentication, StaticCredentials } from '@mqtt-stack/authentication'
import { Authorize } from '@mqtt-stack/authorize'
import { Connection } from '@mqtt-stack/connection'
import { Stack } from '@mqtt-stack/core'
import { InboundManager } from '@mqtt-stack/inbound-manager'
import { KeepAlive } from '@mqtt-stack/keepalive'
import { LastWill } from '@mqtt-stack/last-will'
import { Limits } from '@mqtt-stack/limits'
import { OutboundManager } from '@mqtt-stack/outbound-manager'
import { RetainManager } from '@mqtt-stack/retain-manager'
import { SessionManager } from '@mqtt-stack/session-manager'
import { SubscriptionManager } from '@mqtt-stack/subscription-manager'
import { SysTopics } from '@mqtt-stack/sys'

/**
 * `backend` first, then `metrics` when given; `ops` adds the limits (the publish rate raised past any load)
 * and $SYS topics every second.
 */
export function handBuiltStack({ backend, metrics, ops = false, stackOptions }) {
  const stack = new Stack(stackOptions).use(backend)
  if (metrics) stack.use(metrics)
  stack.use(new Connection()).use(new KeepAlive())
  if (ops) stack.use(new Limits({ publishRate: 1_000_000, publishBurst: 1_000_000 }))
  stack
    .use(new Authentication())
    .use(new StaticCredentials({ allowAnonymous: true }))
    .use(new Authorize())
  if (ops) stack.use(new SysTopics({ interval: 1 }))
  return stack
    .use(new LastWill())
    .use(new SessionManager())
    .use(new RetainManager())
    .use(new InboundManager())
    .use(new OutboundManager())
    .use(new SubscriptionManager())
}
