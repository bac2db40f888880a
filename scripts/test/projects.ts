/**
 * What the projects of the consumer tests (consumer, release-rehearsal) run: a broker assembled from a subset
 * of the packages, and the configuration file of `mqtt-stack --config`.
 */

/**
 * The subset broker's middlewares in the order of use, each from its own package: the built-ins that QoS 0,
 * 1 and 2 need (the root README's "any subset works"), without @mqtt-stack/broker.
 */
const SUBSET_MIDDLEWARES = [
  ['MemoryBackend', '@mqtt-stack/memory-backend'],
  ['Connection', '@mqtt-stack/connection'],
  ['KeepAlive', '@mqtt-stack/keepalive'],
  ['SessionManager', '@mqtt-stack/session-manager'],
  ['InboundManager', '@mqtt-stack/inbound-manager'],
  ['OutboundManager', '@mqtt-stack/outbound-manager'],
  ['SubscriptionManager', '@mqtt-stack/subscription-manager'],
] as const

/** The packages the subset broker imports. */
export const SUBSET = ['@mqtt-stack/core', ...SUBSET_MIDDLEWARES.map(([, name]) => name)]

/** A third-party middleware for the subset broker: its class, from its package, and the callback it declares. */
export interface Plugin {
  className: string
  packageName: string
  /** A callback with `ctx.packet`: the broker answers it by printing `<callback> <topic>`. */
  callback: string
}

/**
 * broker.mjs: a Stack of the subset's middlewares (and `plugin`, just before InboundManager ends the PUBLISH
 * chain) on a TCP server of 127.0.0.1 at a free port; prints `listening on mqtt://127.0.0.1:<port>`.
 */
export function subsetBroker(plugin?: Plugin): string {
  const middlewares: Array<readonly [string, string]> = [...SUBSET_MIDDLEWARES]
  if (plugin !== undefined) {
    const at = middlewares.findIndex(([middleware]) => middleware === 'InboundManager')
    middlewares.splice(at, 0, [`${plugin.className}({ every: 1 })`, plugin.packageName])
  }
  const construct = (middleware: string) => (middleware.includes('(') ? middleware : `${middleware}()`)
  const answer =
    plugin === undefined
      ? ''
      : `stack.use({
  ${plugin.callback}(ctx, _store, next) {
    console.log(\`${plugin.callback} \${ctx.packet.topic}\`)
    next()
  },
})
`
  return `import { createServer } from 'node:net'
import { Stack } from '@mqtt-stack/core'
${middlewares.map(([middleware, name]) => `import { ${middleware.replace(/\(.*/, '')} } from '${name}'`).join('\n')}

const stack = new Stack()${middlewares.map(([middleware]) => `.use(new ${construct(middleware)})`).join('')}
${answer}const server = createServer(stack.handler()).listen(0, '127.0.0.1', () => {
  console.log(\`listening on mqtt://127.0.0.1:\${server.address().port}\`)
})
`
}

/** broker.yaml for `mqtt-stack --config broker.yaml`: one MQTT listener on 127.0.0.1 at a free port. */
export const BROKER_YAML =
  'listeners:\n  - type: mqtt\n    host: 127.0.0.1\n    port: 0\nallowAnonymous: true\n'
