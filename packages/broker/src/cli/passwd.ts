import { readFileSync, writeFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'
import { parseArgs } from 'node:util'
import { ConfigError } from './config-error.js'
import { hashPassword, parsePasswordFile, updatePasswordFile } from './password-file.js'

export interface Terminal {
  input: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown }
  output: Writable
}

/** `mqtt-stack passwd [-D] FILE USER`, as mosquitto_passwd: sets or removes one user of a password file. */
export async function passwd(argv: string[], terminal: Terminal): Promise<string> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { delete: { type: 'boolean', short: 'D' } },
    allowPositionals: true,
    strict: true,
  })
  const [file, user] = positionals
  if (file === undefined || user === undefined || positionals.length > 2)
    throw new ConfigError('usage: mqtt-stack passwd [-D] FILE USER')
  if (user === '' || user.includes(':') || /\s/.test(user))
    throw new ConfigError(`invalid user "${user}": no colon or white space`)
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || values.delete) throw err
  }
  parsePasswordFile(text, file)
  if (values.delete) {
    writeFileSync(file, updatePasswordFile(text, user, undefined))
    return `removed ${user} from ${file}`
  }
  const password = await readPassword(terminal)
  // 0600 on creation: the hashes are salted, yet nobody else needs to read them.
  writeFileSync(file, updatePasswordFile(text, user, await hashPassword(password)), { mode: 0o600 })
  return `set the password of ${user} in ${file}`
}

async function readPassword({ input, output }: Terminal): Promise<string> {
  if (!input.isTTY) {
    const lines = createInterface({ input })
    for await (const line of lines) {
      lines.close()
      if (line === '') break
      return line
    }
    throw new ConfigError('no password on standard input')
  }
  const first = await prompt(input, output, 'Password: ')
  const second = await prompt(input, output, 'Reenter password: ')
  if (first !== second) throw new ConfigError('the passwords do not match')
  if (first === '') throw new ConfigError('empty password')
  return first
}

/** Reads one line from a terminal without echoing it. */
function prompt(input: Terminal['input'], output: Writable, question: string): Promise<string> {
  output.write(question)
  input.setRawMode?.(true)
  input.resume()
  return new Promise((resolve, reject) => {
    let typed = ''
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return finish(() => resolve(typed))
        if (char === '\u0003') return finish(() => reject(new ConfigError('cancelled')))
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1)
        else typed += char
      }
    }
    const finish = (settle: () => void) => {
      input.off('data', onData)
      input.setRawMode?.(false)
      input.pause()
      output.write('\n')
      settle()
    }
    input.on('data', onData)
  })
}
