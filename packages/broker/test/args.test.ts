import { describe, expect, it } from 'vitest'
import { parseCliArgs } from '../src/cli/args.js'

describe('parseCliArgs', () => {
  it('leaves host and port to the config (or 127.0.0.1:1883) when nothing is given', () => {
    expect(parseCliArgs([], {})).toMatchObject({ host: undefined, port: undefined, config: undefined })
  })
  it('takes PORT and HOST from the environment', () => {
    expect(parseCliArgs([], { PORT: '1999', HOST: '::1' })).toMatchObject({ host: '::1', port: 1999 })
  })
  it('prefers --port and --host flags over the environment', () => {
    expect(parseCliArgs(['-p', '2000', '--host', '0.0.0.0'], { PORT: '1999', HOST: '::1' })).toMatchObject({
      host: '0.0.0.0',
      port: 2000,
    })
  })
  it('reads --config, --quiet, --log-format and --help', () => {
    expect(parseCliArgs(['-c', 'b.yaml', '-q', '--log-format', 'json', '-h'], {})).toEqual({
      config: 'b.yaml',
      quiet: true,
      logFormat: 'json',
      help: true,
      host: undefined,
      port: undefined,
    })
  })
  it('refuses a port that is not a whole number in range, an unknown format and unknown flags', () => {
    expect(() => parseCliArgs(['--port', 'http'], {})).toThrow(/invalid port "http"/)
    expect(() => parseCliArgs([], { PORT: '70000' })).toThrow(/invalid port "70000"/)
    expect(() => parseCliArgs([], { PORT: ' ' })).toThrow(/invalid port " "/)
    expect(() => parseCliArgs(['--log-format', 'xml'], {})).toThrow(/invalid --log-format "xml"/)
    expect(() => parseCliArgs(['--prot', '1'], {})).toThrow(/--prot.*see --help/)
  })
})
