import { describe, expect, it } from 'vitest'
import { FilterMap } from '../src/filter-map.js'

describe('FilterMap', () => {
  it('keeps one route inline, replaces it under the same filter, and forgets it', () => {
    const routes = new FilterMap<string>()
    expect([routes.size, routes.get('a'), [...routes.values()]]).toEqual([0, undefined, []])
    routes.set('a', 'A')
    routes.set('a', 'A2')
    expect([routes.size, routes.get('a'), routes.get('b'), [...routes.values()]]).toEqual([
      1,
      'A2',
      undefined,
      ['A2'],
    ])
    expect(routes.delete('b')).toBe(false)
    expect(routes.delete('a')).toBe(true)
    expect([routes.size, routes.get('a'), [...routes.values()]]).toEqual([0, undefined, []])
  })

  it('holds many routes in the order subscribed once a second filter comes', () => {
    const routes = new FilterMap<string>()
    routes.set('a', 'A')
    routes.set('b', 'B')
    routes.set('c', 'C')
    routes.set('a', 'A2')
    expect([routes.size, routes.get('a'), routes.get('b'), [...routes.values()]]).toEqual([
      3,
      'A2',
      'B',
      ['A2', 'B', 'C'],
    ])
    expect(routes.delete('b')).toBe(true)
    expect(routes.delete('b')).toBe(false)
    expect([routes.size, [...routes.values()]]).toEqual([2, ['A2', 'C']])
    routes.clear()
    expect([routes.size, routes.get('a'), [...routes.values()]]).toEqual([0, undefined, []])
  })
})
