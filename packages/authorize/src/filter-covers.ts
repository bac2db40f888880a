const PLUS = '+'
const HASH = '#'

/**
 * Does the rule `pattern` cover the subscription `filter`: is every topic `filter` matches also matched by
 * `pattern`? A pattern level `+` covers any single filter level (`+` included), `#` covers the rest of the
 * filter (its parent level included); a filter `#` is covered only by a pattern with `#` at that depth (or a
whole pattern `+/#`, which matches what `#` does). As in
 * matching, a pattern starting with a wildcard covers no filter level starting with `$` [MQTT-4.7.2-1].
 * Both are taken as valid filters (pass the inner filter of a shared subscription).
 */
export function filterCovers(pattern: string, filter: string): boolean {
  const p = pattern.split('/')
  const f = filter.split('/')
  for (let i = 0; i < p.length; i++) {
    const level = p[i]!
    if (i === 0 && (level === PLUS || level === HASH) && f[0]!.charCodeAt(0) === 36 /* $ */) return false
    if (level === HASH) return true
    if (i >= f.length) return false
    const wanted = f[i]!
    // A filter '#' needs '#' at that depth; at the first level '+/#' is the same thing (no topic has zero levels).
    if (wanted === HASH) return i === 0 && level === PLUS && p.length === 2 && p[1] === HASH
    if (level !== PLUS && level !== wanted) return false
  }
  return p.length === f.length
}
