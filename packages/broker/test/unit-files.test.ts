import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { updatePasswordFile } from '../src/cli/password-file.js'
import {
  ConfigError,
  hashPassword,
  loadConfig,
  PasswordTable,
  parseAclFile,
  parsePasswordFile,
} from '../src/index.js'

const dir = mkdtempSync(join(tmpdir(), 'mqtt-stack-config-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function file(name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

describe('loadConfig', () => {
  it('reads the schema of the issue as JSON, file names relative to the config file', () => {
    file('server.crt', 'CERT')
    file('server.key', 'KEY')
    file('ca.crt', 'CA')
    const path = file(
      'broker.json',
      JSON.stringify({
        listeners: [
          { type: 'mqtt', host: '127.0.0.1', port: 1883 },
          { type: 'ws', host: '127.0.0.1', port: 8080, path: '/mqtt' },
          { type: 'mqtts', port: 8883, cert: 'server.crt', key: 'server.key', ca: 'ca.crt' },
        ],
        allowAnonymous: true,
        passwordFile: 'passwd',
        aclFile: 'acl',
      }),
    )
    expect(loadConfig(path)).toEqual({
      options: {
        listeners: [
          { type: 'mqtt', host: '127.0.0.1', port: 1883 },
          { type: 'ws', host: '127.0.0.1', port: 8080, path: '/mqtt' },
          { type: 'mqtts', port: 8883, cert: 'CERT', key: 'KEY', ca: 'CA' },
        ],
        allowAnonymous: true,
      },
      passwordFile: join(dir, 'passwd'),
      aclFile: join(dir, 'acl'),
      log: {},
    })
  })

  it('reads YAML with limits and log settings', () => {
    const path = file(
      'a.yaml',
      'maxOfflineBytes: 1000\nmaximumQoS: 1\nlog:\n  level: debug\n  format: json\n',
    )
    expect(loadConfig(path)).toEqual({
      options: { maxOfflineBytes: 1000, maximumQoS: 1 },
      log: { level: 'debug', format: 'json' },
    })
  })

  it('reads backend type redis with its options, for the CLI to import @mqtt-stack/redis-backend', () => {
    const path = file(
      'r.yaml',
      'backend:\n  type: redis\n  url: redis://10.0.0.5:6379\n  prefix: "site-a:"\n  maxOfflineMessages: 50\n  closeTimeout: 2000\n',
    )
    expect(loadConfig(path)).toEqual({
      options: {},
      log: {},
      redis: { url: 'redis://10.0.0.5:6379', prefix: 'site-a:', maxOfflineMessages: 50, closeTimeout: 2000 },
    })
    expect(loadConfig(file('m.yaml', 'backend:\n  type: memory\n'))).toEqual({ options: {}, log: {} })
  })

  const wrong: Array<[string, string, string]> = [
    ['an unknown key', 'listeners: []\nallowAnonymus: true\n', 'b.yaml:2: allowAnonymus is not a config key'],
    [
      'a wrong listener port',
      'listeners:\n  - type: mqtt\n  - type: ws\n    port: 70000\n',
      'b.yaml:4: listeners[1].port must be a whole number from 0 to 65535',
    ],
    ['a wrong type', 'allowAnonymous: "yes"\n', 'b.yaml:1: allowAnonymous must be true or false'],
    ['an unknown listener type', 'listeners:\n  - type: udp\n', 'b.yaml:2: listeners[0].type must be one of'],
    ['a log level', 'log:\n  level: loud\n', 'b.yaml:2: log.level must be one of'],
    [
      'a missing certificate file',
      'listeners:\n  - type: mqtts\n    cert: nope.crt\n',
      'b.yaml:3: listeners[0].cert cannot be read',
    ],
    ['a YAML syntax error', 'listeners: [\n', 'b.yaml:2:'],
    ['a list at the top', '- 1\n', 'b.yaml:1: the config must be a mapping'],
    ['a backend by a bare name', 'backend: redis\n', 'b.yaml:1: backend must be memory, or a mapping'],
    [
      'an unknown backend type',
      'backend:\n  type: mongo\n',
      'b.yaml:2: backend.type must be memory or redis',
    ],
    [
      'an unknown redis key',
      'backend:\n  type: redis\n  host: x\n',
      'b.yaml:3: backend.host is not a key of the redis backend',
    ],
    [
      'a redis bound that is not a count',
      'backend:\n  type: redis\n  maxOfflineMessages: -1\n',
      'b.yaml:3: backend.maxOfflineMessages must be an integer of 0 or more',
    ],
    [
      'redis cluster nodes without ports',
      'backend:\n  type: redis\n  clusterNodes:\n    - host: a\n',
      'b.yaml:3: backend.clusterNodes must be a list of { host, port }',
    ],
    [
      'a memory bound beside the redis backend',
      'maxRetainedBytes: 10\nbackend:\n  type: redis\n',
      'b.yaml:1: maxRetainedBytes configures the memory backend',
    ],
  ]
  for (const [what, text, message] of wrong) {
    it(`names the key and the line of ${what}`, () => {
      const path = file('b.yaml', text)
      expect(() => loadConfig(path)).toThrow(ConfigError)
      expect(() => loadConfig(path)).toThrow(`${path.slice(0, -'b.yaml'.length)}${message}`)
    })
  }
})

describe('parseAclFile', () => {
  it('reads mosquitto syntax: deny rules first, then grants; topic lines under user are for that user', () => {
    const text = [
      '# comment',
      'topic read public/#',
      'pattern readwrite devices/%c/#',
      '',
      'user alice',
      'topic alice/#',
      'topic deny alice/secret',
    ].join('\n')
    expect(parseAclFile(text, 'acl')).toEqual([
      { topic: 'alice/secret', access: 'deny', users: ['alice'] },
      { topic: 'public/#', access: 'read' },
      { topic: 'devices/%c/#', access: 'readwrite' },
      { topic: 'alice/#', access: 'readwrite', users: ['alice'] },
    ])
  })

  const wrong: Array<[string, string, string]> = [
    ['an unknown keyword', 'topic a\ntopics b\n', 'acl:2: unknown keyword "topics"'],
    ['a bad filter', 'topic read a/#/b\n', 'acl:1: "a/#/b" is not a valid topic filter'],
    ['too many words', 'topic read a b\n', 'acl:1: expected: topic'],
    [
      'a placeholder in a topic line',
      'topic %c/x\n',
      'acl:1: %c and %u are substituted in pattern lines only',
    ],
    ['user without a name', 'user\n', 'acl:1: expected: user <username>'],
  ]
  for (const [what, text, message] of wrong) {
    it(`names the line of ${what}`, () => {
      expect(() => parseAclFile(text, 'acl')).toThrow(message)
    })
  }
})

describe('password files', () => {
  it('hashes with a fresh salt each time, and the table checks with scrypt', async () => {
    const one = await hashPassword('pw')
    const two = await hashPassword('pw')
    expect(one).toMatch(/^\$scrypt\$N=16384,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/)
    expect(one).not.toBe(two)
    const table = new PasswordTable(parsePasswordFile(`alice:${one}\n`, 'passwd'))
    const check = (user: string, password?: string) =>
      table.check(user, password === undefined ? undefined : Buffer.from(password), undefined as never)
    expect(await check('alice', 'pw')).toBe(true)
    expect(await check('alice', 'pw2')).toBe(false)
    expect(await check('alice')).toBe(false)
    expect(await check('bob', 'pw')).toBe(false)
    table.replace(parsePasswordFile(`bob:${two}\n`, 'passwd'))
    expect(await check('bob', 'pw')).toBe(true)
    expect(await check('alice', 'pw')).toBe(false)
  })

  const wrong: Array<[string, string, string]> = [
    ['a line without a colon', '# users\nalice\n', 'passwd:2: expected username:hash'],
    ['a hash in another format', 'alice:$6$salt$hash\n', 'passwd:1: the hash of user "alice" is not'],
    ['a cost that is not a power of two', 'alice:$scrypt$N=1000,r=8,p=1$YWJj$YWJj\n', 'passwd:1: the hash'],
    [
      'a user twice',
      'a:$scrypt$N=2,r=1,p=1$YQ$YQ\na:$scrypt$N=2,r=1,p=1$YQ$YQ\n',
      'passwd:2: user "a" appears twice',
    ],
  ]
  for (const [what, text, message] of wrong) {
    it(`names the line of ${what}`, () => {
      expect(() => parsePasswordFile(text, 'passwd')).toThrow(message)
    })
  }

  it('updates one user in place, adds at the end, removes', () => {
    const text = '# users\na:h1\nb:h2\n'
    expect(updatePasswordFile(text, 'a', 'h3')).toBe('# users\na:h3\nb:h2\n')
    expect(updatePasswordFile(text, 'c', 'h4')).toBe('# users\na:h1\nb:h2\nc:h4\n')
    expect(updatePasswordFile(text, 'a', undefined)).toBe('# users\nb:h2\n')
    expect(updatePasswordFile('', 'a', 'h')).toBe('a:h\n')
  })
})
