import { readdirSync, readFileSync } from 'node:fs'
import * as authentication from '@mqtt-stack/authentication'
import * as authorize from '@mqtt-stack/authorize'
import * as connection from '@mqtt-stack/connection'
import { Middleware, STANDARD_CALLBACK_NAMES, Stack } from '@mqtt-stack/core'
import * as inboundManager from '@mqtt-stack/inbound-manager'
import * as keepalive from '@mqtt-stack/keepalive'
import * as lastWill from '@mqtt-stack/last-will'
import * as limits from '@mqtt-stack/limits'
import * as memoryBackend from '@mqtt-stack/memory-backend'
import * as metrics from '@mqtt-stack/metrics'
import * as outboundManager from '@mqtt-stack/outbound-manager'
import * as packetEmitter from '@mqtt-stack/packet-emitter'
import * as retainManager from '@mqtt-stack/retain-manager'
import * as sessionManager from '@mqtt-stack/session-manager'
import * as subscriptionManager from '@mqtt-stack/subscription-manager'
import * as sys from '@mqtt-stack/sys'
import { describe, expect, it } from 'vitest'

/**
 * Core's README has the one table of who executes and who answers each standard callback; core itself holds
 * no built-in names at run time. This test proves the table against the packages as built.
 */
const PACKAGES: Record<string, Record<string, unknown>> = {
  authentication,
  authorize,
  connection,
  'inbound-manager': inboundManager,
  keepalive,
  'last-will': lastWill,
  limits,
  'memory-backend': memoryBackend,
  metrics,
  'outbound-manager': outboundManager,
  'packet-emitter': packetEmitter,
  'retain-manager': retainManager,
  'session-manager': sessionManager,
  'subscription-manager': subscriptionManager,
  sys,
}

/** Middlewares that refuse to be made without options. */
const CONFIGS: Record<string, object> = {
  StaticCredentials: { allowAnonymous: true },
  ScramSha256: { users: {} },
  // Its optional provider: authorizeForward.
  TopicAcl: { rules: [], checkOnForward: true },
}

const packagesDir = new URL('../../../packages/', import.meta.url)

/** Rows of the catalogue table: name → its "executed by" and "answered by" package short names. */
function table(): Map<string, { executedBy: string[]; answeredBy: string[] }> {
  const readme = readFileSync(new URL('core/README.md', packagesDir), 'utf8')
  const start = readme.search(/^\| name +\| ctx +\| store +\| executed by +\| answered by/m)
  const catalogue = readme.slice(start, readme.indexOf('\n\n', start))
  const rows = new Map<string, { executedBy: string[]; answeredBy: string[] }>()
  for (const match of catalogue.matchAll(/^\| `(\w+)` +\|[^|]*\|[^|]*\|([^|]*)\|([^|]*)\|/gm)) {
    const list = (cell: string) =>
      cell
        .split(',')
        .map((name) => name.trim())
        .map((name) => name.replace(/\(.*\)/, '').trim())
        .filter((name) => name !== '' && name !== 'any' && name !== '—')
        .sort()
    rows.set(match[1]!, { executedBy: list(match[2]!), answeredBy: list(match[3]!) })
  }
  return rows
}

/** The callbacks each package's middlewares answer, each used alone in a stack. */
function answered(): Map<string, Set<string>> {
  const result = new Map<string, Set<string>>()
  for (const [pkg, exports] of Object.entries(PACKAGES)) {
    const names = new Set<string>()
    for (const value of Object.values(exports)) {
      if (typeof value !== 'function' || !(value.prototype instanceof Middleware)) continue
      const config = CONFIGS[value.name] ?? {}
      const stack = new Stack().use(new (value as new (config: object) => Middleware)(config))
      for (const name of STANDARD_CALLBACK_NAMES) if (stack.provides(name)) names.add(name)
    }
    result.set(pkg, names)
  }
  return result
}

/**
 * The callbacks each package's source executes (`execute`, `executeThen` or `run` with the name;
 * `notifyDropped` executes `messageDropped`).
 */
function executed(): Map<string, Set<string>> {
  const result = new Map<string, Set<string>>()
  for (const pkg of Object.keys(PACKAGES)) {
    const dir = new URL(`${pkg}/src/`, packagesDir)
    const names = new Set<string>()
    for (const file of readdirSync(dir)) {
      const source = readFileSync(new URL(file, dir), 'utf8')
      for (const match of source.matchAll(/\.(?:execute|executeThen|run)\(\s*'(\w+)'/g)) names.add(match[1]!)
      if (/\.notifyDropped\(/.test(source)) names.add('messageDropped')
    }
    result.set(pkg, names)
  }
  return result
}

describe("core's README callback table, proven against the packages", () => {
  const rows = table()
  const answers = answered()
  const executes = executed()

  it('has a row for every standard callback', () => {
    expect([...rows.keys()].sort()).toEqual([...STANDARD_CALLBACK_NAMES].sort())
  })

  /** Per standard callback: the packages `has` finds, and the ones the README's `column` names. */
  function compare(has: Map<string, Set<string>>, column: 'answeredBy' | 'executedBy') {
    const packages = Object.keys(PACKAGES)
    const actual = STANDARD_CALLBACK_NAMES.map((name) => [
      name,
      packages.filter((pkg) => has.get(pkg)!.has(name)).sort(),
    ])
    const documented = STANDARD_CALLBACK_NAMES.map((name) => [name, rows.get(name)?.[column]])
    return { documented: Object.fromEntries(documented), actual: Object.fromEntries(actual) }
  }

  it('"answered by" names exactly the packages whose middlewares answer each callback', () => {
    const { documented, actual } = compare(answers, 'answeredBy')
    expect(documented).toEqual(actual)
  })

  it('"executed by" names exactly the packages whose source executes each callback', () => {
    const { documented, actual } = compare(executes, 'executedBy')
    expect(documented).toEqual(actual)
  })
})
