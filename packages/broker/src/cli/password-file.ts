import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto'
import type { CredentialsCheck } from '@mqtt-stack/authentication'
import { ConfigError } from './config-error.js'

/** scrypt cost of new hashes: about 50 ms and 16 MiB per check, off the event loop (libuv's pool). */
const COST = { N: 16384, r: 8, p: 1 } as const
const KEY_LENGTH = 32
const SALT_LENGTH = 16
/** `$scrypt$N=16384,r=8,p=1$<salt>$<hash>`, salt and hash in base64 without padding. */
const FORMAT = /^\$scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/

interface Hash {
  cost: ScryptOptions
  salt: Buffer
  key: Buffer
}

function derive(
  password: Buffer | string,
  salt: Buffer,
  cost: ScryptOptions,
  length: number,
): Promise<Buffer> {
  // maxmem above 128 * N * r, which scrypt needs; the default 32 MiB would refuse a higher N.
  const options = { ...cost, maxmem: 256 * (cost.N ?? COST.N) * (cost.r ?? COST.r) }
  return new Promise((resolve, reject) =>
    scrypt(password, salt, length, options, (err, key) => (err ? reject(err) : resolve(key))),
  )
}

/** A new salted scrypt hash of `password`, as a password file line holds it after `user:`. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_LENGTH)
  const key = await derive(password, salt, COST, KEY_LENGTH)
  return `$scrypt$N=${COST.N},r=${COST.r},p=${COST.p}$${b64(salt)}$${b64(key)}`
}

function b64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '')
}

function parseHash(text: string): Hash | undefined {
  const match = FORMAT.exec(text)
  if (!match) return undefined
  const [, N, r, p, salt, key] = match
  const cost = { N: Number(N), r: Number(r), p: Number(p) }
  // N a power of two, as scrypt demands; bounds keep a crafted file from asking for gigabytes.
  if (!(cost.N >= 2 && cost.N <= 2 ** 20 && (cost.N & (cost.N - 1)) === 0 && cost.r <= 32 && cost.p <= 16))
    return undefined
  return { cost, salt: Buffer.from(salt!, 'base64'), key: Buffer.from(key!, 'base64') }
}

/**
 * A password file, mosquitto_passwd style: one `username:hash` a line, `#` comments and blank lines
 * ignored. Throws a ConfigError naming the file and line of the first bad entry.
 */
export function parsePasswordFile(text: string, file: string): Map<string, string> {
  const users = new Map<string, string>()
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const colon = line.indexOf(':')
    const where = { file, line: index + 1 }
    if (colon <= 0) throw new ConfigError('expected username:hash', where)
    const username = line.slice(0, colon)
    const hash = line.slice(colon + 1)
    if (!parseHash(hash))
      throw new ConfigError(`the hash of user "${username}" is not $scrypt$N=..,r=..,p=..$salt$hash`, where)
    if (users.has(username)) throw new ConfigError(`user "${username}" appears twice`, where)
    users.set(username, hash)
  })
  return users
}

/** The file's text with `username` set to `hash` (added at the end, or replacing its line), or removed. */
export function updatePasswordFile(text: string, username: string, hash: string | undefined): string {
  const lines = text === '' ? [] : text.replace(/\r?\n$/, '').split(/\r?\n/)
  const at = lines.findIndex((line) => line.trim().startsWith(`${username}:`))
  if (hash === undefined) {
    if (at >= 0) lines.splice(at, 1)
  } else if (at >= 0) lines[at] = `${username}:${hash}`
  else lines.push(`${username}:${hash}`)
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`
}

/**
 * The users of a password file, checked with scrypt: `check` is a `StaticCredentials` check, and
 * `replace` swaps the users in place (a reload), so connected clients stay.
 */
export class PasswordTable {
  #users: ReadonlyMap<string, Hash>
  /** Checked against when the username is unknown, so that answer costs what a known one does. */
  readonly #unknown: Promise<Hash>

  constructor(users: ReadonlyMap<string, string>) {
    this.#users = compile(users)
    this.#unknown = hashPassword(randomBytes(16).toString('hex')).then((hash) => parseHash(hash)!)
  }

  get size(): number {
    return this.#users.size
  }

  replace(users: ReadonlyMap<string, string>): void {
    this.#users = compile(users)
  }

  readonly check: CredentialsCheck = async (username, password) => {
    const known = this.#users.get(username)
    const hash = known ?? (await this.#unknown)
    const key = await derive(password ?? Buffer.alloc(0), hash.salt, hash.cost, hash.key.length)
    return timingSafeEqual(key, hash.key) && known !== undefined && password !== undefined
  }
}

function compile(users: ReadonlyMap<string, string>): Map<string, Hash> {
  return new Map([...users].map(([username, text]) => [username, parseHash(text)!]))
}
