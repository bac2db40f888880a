import { type CallbackStore, type Client, type Done, ErrorCode, type Next } from '@mqtt-stack/core'
import { acceptConnections, connectTestClient, deferred, testStack } from '@mqtt-stack/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { Authentication, StaticCredentials, type StaticCredentialsOptions } from '../src/index.js'

let cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of cleanup) await close()
  cleanup = []
})

function broker(options: Partial<StaticCredentialsOptions>, ...after: object[]) {
  const { stack, errors } = testStack()
  const session = acceptConnections()
  stack.use(new StaticCredentials(options))
  for (const middleware of after) stack.use(middleware)
  stack.use(new Authentication()).use(session)
  cleanup.push(() => stack.close())
  return { stack, errors, session }
}

/** Connects with these credentials and returns the CONNACK return code. */
async function returnCode(
  stack: ReturnType<typeof broker>['stack'],
  username?: string,
  password?: string | Buffer,
) {
  const t = connectTestClient(stack)
  const connack = await t.connect({
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password: Buffer.from(password) }),
  })
  return connack.returnCode
}

const USERS = { alice: 'correct horse', bob: 'battery staple', empty: '' }

describe('StaticCredentials', () => {
  describe('users', () => {
    it('accepts a known user with the right password, and gives the username as store.user', async () => {
      const { stack, session } = broker({ users: USERS })
      const t = connectTestClient(stack)
      expect(
        await t.connect({ clientId: 'a', username: 'alice', password: Buffer.from('correct horse') }),
      ).toMatchObject({ returnCode: 0 })
      expect(session.accepted).toEqual(['a'])
      expect(t.client.state.authentication).toEqual({ user: 'alice' })
    })

    const wrong: Array<[string, string | undefined]> = [
      ['a wrong password of the same length', 'correct horsf'],
      ['a shorter prefix of the password', 'correct'],
      ['a longer password that starts with it', 'correct horse!'],
      ['an empty password', ''],
      ['no password at all', undefined],
      ["another user's password", 'battery staple'],
      ['the password in another case', 'CORRECT HORSE'],
    ]
    for (const [what, password] of wrong) {
      it(`refuses ${what} with 0x04, comparing in constant time`, async () => {
        const { stack, session } = broker({ users: USERS })
        expect(await returnCode(stack, 'alice', password)).toBe(0x04)
        expect(session.accepted).toEqual([])
      })
    }

    it('compares bytes: a password that is not UTF-8 never matches by accident', async () => {
      const { stack } = broker({ users: { u: '\ufffd' } })
      expect(await returnCode(stack, 'u', Buffer.from([0xff]))).toBe(0x04)
      expect(await returnCode(stack, 'u', '\ufffd')).toBe(0)
    })

    it('accepts an empty password when that is the stored one, but not a missing password', async () => {
      const { stack } = broker({ users: USERS })
      expect(await returnCode(stack, 'empty', '')).toBe(0)
      expect(await returnCode(stack, 'empty')).toBe(0x04)
    })

    it('refuses unknown users, including names of Object.prototype members', async () => {
      const { stack } = broker({ users: USERS })
      for (const name of ['mallory', '__proto__', 'toString', 'constructor', 'hasOwnProperty', '']) {
        expect(await returnCode(stack, name, 'correct horse')).toBe(0x04)
        expect(await returnCode(stack, name, '')).toBe(0x04)
      }
    })

    it('refuses a CONNECT without a username: 0x05', async () => {
      const { stack } = broker({ users: USERS })
      expect(await returnCode(stack)).toBe(0x05)
    })

    it('reads the table once: changing the object afterwards changes nothing', async () => {
      const users: Record<string, string> = { alice: 'one' }
      const { stack } = broker({ users })
      users.alice = 'two'
      users.eve = 'x'
      expect(await returnCode(stack, 'alice', 'one')).toBe(0)
      expect(await returnCode(stack, 'alice', 'two')).toBe(0x04)
      expect(await returnCode(stack, 'eve', 'x')).toBe(0x04)
    })
  })

  describe('allowAnonymous', () => {
    it('accepts a CONNECT without a username when on', async () => {
      const { stack } = broker({ users: USERS, allowAnonymous: true })
      const t = connectTestClient(stack)
      expect(await t.connect()).toMatchObject({ returnCode: 0 })
      expect(t.client.state.authentication).toEqual({ user: undefined })
    })

    it('still checks the credentials of a client that gives a username', async () => {
      const { stack } = broker({ users: USERS, allowAnonymous: true })
      expect(await returnCode(stack, 'alice', 'nope')).toBe(0x04)
      expect(await returnCode(stack, 'alice', 'correct horse')).toBe(0)
    })

    it('is off by default', async () => {
      const { stack } = broker({ users: USERS })
      expect(await returnCode(stack)).toBe(0x05)
    })
  })

  describe('open mode (neither users nor check)', () => {
    it('accepts any username and password, as mosquitto with allow_anonymous does', async () => {
      const { stack } = broker({ allowAnonymous: true })
      expect(await returnCode(stack)).toBe(0)
      expect(await returnCode(stack, 'someone', 'pw')).toBe(0)
      expect(await returnCode(stack, 'other')).toBe(0)
      const t = connectTestClient(stack)
      await t.connect({ username: 'foo', password: Buffer.from('bar') })
      expect(t.client.state.authentication).toEqual({ user: 'foo' })
    })

    it('still refuses a CONNECT without a username when allowAnonymous is off: 0x05', async () => {
      const { stack } = broker({})
      expect(await returnCode(stack)).toBe(0x05)
      expect(await returnCode(stack, 'someone', 'pw')).toBe(0)
    })
  })

  describe('check', () => {
    it('gets the username, the password bytes and the client; only true accepts', async () => {
      const calls: Array<[string, Buffer | undefined, Client]> = []
      const { stack } = broker({
        check: (username, password, client) => {
          calls.push([username, password, client])
          return password?.toString() === `${username}!`
        },
      })
      const t = connectTestClient(stack)
      expect(await t.connect({ username: 'carol', password: Buffer.from('carol!') })).toMatchObject({
        returnCode: 0,
      })
      expect(calls).toEqual([['carol', Buffer.from('carol!'), t.client]])
      expect(await returnCode(stack, 'carol', 'nope')).toBe(0x04)
    })

    it('may answer asynchronously', async () => {
      const answer = deferred<boolean>()
      const { stack } = broker({ check: () => answer.promise })
      const t = connectTestClient(stack)
      const connack = t.connect({ username: 'dave', password: Buffer.from('pw') })
      answer.resolve(true)
      expect(await connack).toMatchObject({ returnCode: 0 })
    })

    it('an asynchronous refusal refuses', async () => {
      const { stack } = broker({ check: async () => false })
      expect(await returnCode(stack, 'dave', 'pw')).toBe(0x04)
    })

    it('a truthy value that is not true does not accept', async () => {
      const { stack } = broker({ check: () => 'yes' as unknown as boolean })
      expect(await returnCode(stack, 'dave', 'pw')).toBe(0x04)
    })

    for (const [how, check] of [
      [
        'throws',
        () => {
          throw new Error('ldap down')
        },
      ],
      [
        'rejects',
        async () => {
          throw new Error('ldap down')
        },
      ],
    ] as const) {
      it(`that ${how} is an operational failure: CONNACK 0x03 and the error reported`, async () => {
        const { stack, errors } = broker({ check })
        const t = connectTestClient(stack)
        expect(await t.connect({ username: 'erin', password: Buffer.from('pw') })).toMatchObject({
          returnCode: 0x03,
        })
        await t.closed()
        expect(errors.map((e) => e.message)).toEqual(['ldap down'])
      })
    }
  })

  describe('in a chain of providers', () => {
    function second(authenticated: boolean) {
      const calls: string[] = []
      return {
        calls,
        name: 'second-provider',
        authenticateConnection(
          ctx: { username: string | undefined },
          store: CallbackStore<'authenticateConnection'>,
          next: Next,
          _done: Done,
        ) {
          calls.push(ctx.username ?? '')
          store.authenticated = authenticated
          next()
        },
      }
    }

    it('ends the chain when it accepts', async () => {
      const later = second(false)
      const { stack } = broker({ users: USERS }, later)
      expect(await returnCode(stack, 'alice', 'correct horse')).toBe(0)
      expect(later.calls).toEqual([])
    })

    it('lets a later provider accept what it refused', async () => {
      const later = second(true)
      const { stack } = broker({ users: USERS }, later)
      expect(await returnCode(stack, 'frank', 'pw')).toBe(0)
      expect(later.calls).toEqual(['frank'])
    })
  })

  describe('MQTT 5.0 enhanced authentication', () => {
    const V5 = { protocolVersion: 5 } as const
    /** A provider of some other method: its presence lets Authentication take CONNECTs naming a method. */
    const otherMethod = {
      name: 'other-method',
      continueAuthentication: (_ctx: unknown, _store: unknown, next: Next) => next(),
    }

    it('[MQTT-4.12.0-1] leaves a CONNECT naming an Authentication Method to its provider: open mode does not accept a method nobody supports, which gets CONNACK 0x8C', async () => {
      const { stack, session } = broker({ allowAnonymous: true }, otherMethod)
      const t = connectTestClient(stack)
      const connack = await t.connect({
        clientId: 'k',
        ...V5,
        username: 'someone',
        password: Buffer.from('pw'),
        properties: { authenticationMethod: 'GS2-KRB5' },
      })
      expect(connack).toMatchObject({ reasonCode: 0x8c })
      await t.closed()
      expect(session.accepted).toEqual([])
      // Without a method, open mode accepts as before.
      const plain = connectTestClient(stack)
      expect(
        await plain.connect({ clientId: 'p', ...V5, username: 'u', password: Buffer.from('pw') }),
      ).toMatchObject({ reasonCode: 0 })
      expect(session.accepted).toEqual(['p'])
    })
  })

  describe('options', () => {
    const invalid: Array<[string, Partial<StaticCredentialsOptions>]> = [
      ['both users and check', { users: {}, check: () => true }],
      ['users that is not an object', { users: 'alice:pw' as unknown as Record<string, string> }],
      ['a password that is not a string', { users: { alice: 42 as unknown as string } }],
      ['check that is not a function', { check: true as unknown as () => boolean }],
      ['allowAnonymous that is not a boolean', { users: {}, allowAnonymous: 'yes' as unknown as boolean }],
    ]
    for (const [what, options] of invalid) {
      it(`throws MQS_ERR_INVALID_OPTION for ${what}`, () => {
        expect(() => new StaticCredentials(options)).toThrow(
          expect.objectContaining({ code: ErrorCode.INVALID_OPTION }),
        )
      })
    }

    it('answers authenticateConnection and nothing else', () => {
      const { stack } = testStack()
      stack.use(new StaticCredentials({ users: {} }))
      expect(stack.provides('authenticateConnection')).toBe(true)
      expect(stack.provides('authorizePublish')).toBe(false)
    })
  })
})
