import type { TopicAccess, TopicAclRule } from '@mqtt-stack/authorize'
import { validateTopicFilter } from '@mqtt-stack/core'
import { ConfigError } from './config-error.js'

const ACCESS: ReadonlySet<string> = new Set<TopicAccess>(['read', 'write', 'readwrite', 'deny'])

/**
 * An ACL file in mosquitto's syntax, as TopicAcl rules:
 *
 *     # comment
 *     topic read public/#           every client (before any `user` line)
 *     pattern readwrite devices/%c/#  every client, wherever it stands; %c client id, %u username
 *     user alice
 *     topic alice/#                 only alice; no access word means readwrite
 *
 * As in mosquitto, a `deny` that matches wins over any grant, and what nothing grants is denied: deny rules
 * go first, then the grants (their order does not matter then). Unlike mosquitto, `topic` lines before the
 * first `user` line apply to every client, not only to anonymous ones. Throws a ConfigError naming the line.
 */
export function parseAclFile(text: string, file: string): TopicAclRule[] {
  const denies: TopicAclRule[] = []
  const grants: TopicAclRule[] = []
  let user: string | undefined
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const where = { file, line: index + 1 }
    const [keyword = '', ...rest] = line.split(/\s+/)
    if (keyword === 'user') {
      if (rest.length !== 1) throw new ConfigError('expected: user <username>', where)
      user = rest[0]
      return
    }
    if (keyword !== 'topic' && keyword !== 'pattern')
      throw new ConfigError(`unknown keyword "${keyword}": expected topic, pattern or user`, where)
    const [first, second, ...extra] = rest
    const hasAccess = first !== undefined && ACCESS.has(first) && second !== undefined
    const access = (hasAccess ? first : 'readwrite') as TopicAccess
    const topic = hasAccess ? second : first
    if (topic === undefined || extra.length > 0 || (!hasAccess && second !== undefined))
      throw new ConfigError(`expected: ${keyword} [read|write|readwrite|deny] <topic filter>`, where)
    if (keyword === 'topic' && /%[cu]/.test(topic))
      throw new ConfigError('%c and %u are substituted in pattern lines only', where)
    // Checked as TopicAcl checks it, here so that the error names the line.
    const problem = validateTopicFilter(topic.replace(/%[cu]/g, 'x'), { shared: false })
    if (problem) throw new ConfigError(`"${topic}" is not a valid topic filter (${problem})`, where)
    const rule: TopicAclRule =
      keyword === 'topic' && user !== undefined ? { topic, access, users: [user] } : { topic, access }
    ;(access === 'deny' ? denies : grants).push(rule)
  })
  return [...denies, ...grants]
}
