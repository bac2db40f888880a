import { ErrorCode, MqttStackError } from './errors.js'
import { type MiddlewareLike, nameOf } from './middleware.js'

/** How many callback names a missing-provider line lists before it counts the rest. */
const LISTED = 4

/** Whether `middleware` is the one `ref` names: by its name, or by a role it fills. */
function answersTo(middleware: MiddlewareLike, ref: string): boolean {
  return nameOf(middleware) === ref || (middleware.roles?.includes(ref) ?? false)
}

/**
 * The ordering rules the middlewares declare (`after`, `before`), checked against the order of `use()`.
 * A rule names a middleware or a role, and binds only when one that answers to it is in the stack.
 * One error lists every broken rule, each with both middlewares and the rule.
 */
export function checkOrder(middlewares: readonly MiddlewareLike[]): MqttStackError | undefined {
  const broken: string[] = []
  for (const [i, middleware] of middlewares.entries()) {
    const self = nameOf(middleware)
    for (const ref of middleware.after ?? []) {
      for (let j = i + 1; j < middlewares.length; j++) {
        const other = middlewares[j]!
        if (!answersTo(other, ref)) continue
        broken.push(`${self} must come after ${describe(other, ref)} (${self}.after names "${ref}")`)
      }
    }
    for (const ref of middleware.before ?? []) {
      for (let j = 0; j < i; j++) {
        const other = middlewares[j]!
        if (!answersTo(other, ref)) continue
        broken.push(`${self} must come before ${describe(other, ref)} (${self}.before names "${ref}")`)
      }
    }
  }
  if (broken.length === 0) return undefined
  return new MqttStackError(
    ErrorCode.WRONG_ORDER,
    `the middlewares are use()d in an order they forbid:\n  ${broken.join('\n  ')}\nChange the order of the use() calls.`,
  )
}

function describe(middleware: MiddlewareLike, ref: string): string {
  const name = nameOf(middleware)
  return name === ref ? name : `${name} (a "${ref}")`
}

/**
 * Every callback some middleware `requires` that nobody answers, grouped by what to `use()` (the
 * requirers' `providerHints`), so the error stays a few lines however many callbacks are missing.
 */
export function checkProviders(
  middlewares: readonly MiddlewareLike[],
  provides: (name: string) => boolean,
): MqttStackError | undefined {
  // hint ('' when none) -> missing callback -> who requires it
  const groups = new Map<string, Map<string, Set<string>>>()
  for (const middleware of middlewares) {
    for (const name of middleware.requires ?? []) {
      if (provides(name)) continue
      const hint = (middleware.providerHints as Record<string, string> | undefined)?.[name] ?? ''
      let group = groups.get(hint)
      if (group === undefined) {
        group = new Map()
        groups.set(hint, group)
      }
      let requirers = group.get(name)
      if (requirers === undefined) {
        requirers = new Set()
        group.set(name, requirers)
      }
      requirers.add(nameOf(middleware))
    }
  }
  if (groups.size === 0) return undefined
  const lines: string[] = []
  let count = 0
  for (const [hint, group] of groups) {
    count += group.size
    const names = [...group.keys()]
    const requirers = [...new Set([...group.values()].flatMap((set) => [...set]))].join(', ')
    const listed =
      names.slice(0, LISTED).join(', ') + (names.length > LISTED ? ` and ${names.length - LISTED} more` : '')
    lines.push(
      `use() ${hint || 'a middleware that answers them'}\n    for ${listed}\n    needed by ${requirers}`,
    )
  }
  return new MqttStackError(
    ErrorCode.MISSING_PROVIDER,
    `no middleware answers ${count === 1 ? 'a callback' : `${count} callbacks`} the stack needs:\n  ${lines.join('\n  ')}`,
  )
}
