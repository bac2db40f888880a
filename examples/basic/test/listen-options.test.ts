import { describe, expect, it } from 'vitest'
import { listenOptions } from '../src/listen-options.js'

describe('listenOptions', () => {
  it('defaults to 127.0.0.1:1883', () => {
    expect(listenOptions([], {})).toEqual({ host: '127.0.0.1', port: 1883 })
  })
  it('takes PORT and HOST from the environment', () => {
    expect(listenOptions([], { PORT: '1999', HOST: '::1' })).toEqual({ host: '::1', port: 1999 })
  })
  it('prefers --port and --host flags over the environment', () => {
    expect(listenOptions(['--port', '2000', '--host', '0.0.0.0'], { PORT: '1999', HOST: '::1' })).toEqual({
      host: '0.0.0.0',
      port: 2000,
    })
  })
  it('refuses a port that is not a whole number in range, and unknown flags', () => {
    expect(() => listenOptions(['--port', 'http'], {})).toThrow(/invalid port "http"/)
    expect(() => listenOptions([], { PORT: '70000' })).toThrow(/invalid port "70000"/)
    expect(() => listenOptions(['--prot', '1'], {})).toThrow()
  })
})
