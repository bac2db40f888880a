#!/usr/bin/env node
// Starts a third-party middleware package, `@scope/mqtt-stack-<name>`, from templates/plugin:
//   node scripts/new-plugin.mjs <dir> --scope @acme --name hello [--class Hello] [--prefix acmeHello]
//                                     [--description "One sentence on what it does."]
// Copies the template into <dir> (new or empty; relative to the current directory), fills its
// placeholders and prints the next steps. The package is standalone: it builds and tests with npm
// outside this repository, against @mqtt-stack/core from the registry (a peer dependency on the
// current core version, and a dev dependency for its tests).
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const TEMPLATE = join(REPO, 'templates', 'plugin')
const USAGE =
  'usage: node scripts/new-plugin.mjs <dir> --scope @acme --name hello [--class Hello] [--prefix acmeHello] [--description "..."]'

const words = (text) => text.split(/[^A-Za-z0-9]+/).filter(Boolean)
const capital = (word) => word[0].toUpperCase() + word.slice(1)

/**
 * The placeholder values for a plugin: `scope` (`@acme` or `acme`) and `name` (kebab case) are required;
 * the class name, the callback prefix and the description have defaults derived from them.
 */
export function placeholders({ scope, name, className, prefix, description }) {
  if (!scope || !name) throw new Error('--scope and --name are required')
  const scopeName = scope.replace(/^@/, '')
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(scopeName)) throw new Error(`"${scope}" is not an npm scope`)
  if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(name))
    throw new Error(`--name "${name}" must be kebab case: lower-case letters, digits and dashes`)
  const CLASS = className ?? words(name).map(capital).join('')
  if (!/^[A-Z][A-Za-z0-9]*$/.test(CLASS))
    throw new Error(`--class "${CLASS}" must be a PascalCase identifier`)
  const [first, ...rest] = words(`${scopeName}-${name}`).map((word) => word.toLowerCase())
  const PREFIX = prefix ?? first + rest.map(capital).join('')
  if (!/^[a-z][A-Za-z0-9]*$/.test(PREFIX))
    throw new Error(`the callback prefix "${PREFIX}" is not a camelCase identifier: pass --prefix`)
  const core = JSON.parse(readFileSync(join(REPO, 'packages', 'core', 'package.json'), 'utf8'))
  const PACKAGE_NAME = `@${scopeName}/mqtt-stack-${name}`
  return {
    PACKAGE_NAME,
    NAME: name,
    MIDDLEWARE_NAME: `${words(scopeName).join('-').toLowerCase()}-${name}`,
    CLASS,
    PREFIX,
    ERROR_CODE_PREFIX: `${words(`${scopeName}_${name}`).join('_').toUpperCase()}_ERR_`,
    CORE_RANGE: `^${core.version}`,
    DESCRIPTION: description ?? `${CLASS}: a middleware for mqtt-stack brokers.`,
  }
}

/** Replaces every `__KEY__` of `values` in `text`; JSON files get JSON-escaped values. */
function fill(text, values, file) {
  return text.replace(/__([A-Z][A-Z_]*?)__/g, (token, key) => {
    if (!(key in values)) return token
    const value = values[key]
    if (file.endsWith('.json')) return JSON.stringify(value).slice(1, -1)
    return value.replaceAll('*/', '*\\/')
  })
}

function* templateFiles(dir, base = dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* templateFiles(path, base)
    else yield relative(base, path)
  }
}

/** Writes the plugin package into `dir` and returns the files written (relative to `dir`). */
export function newPlugin(dir, options) {
  const values = placeholders(options)
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new Error(`${dir} exists and is not empty`)
  const written = []
  for (const file of templateFiles(TEMPLATE)) {
    const target = fill(file, values, '')
    const text = fill(readFileSync(join(TEMPLATE, file), 'utf8'), values, file)
    const left = /__[A-Z][A-Z_]*__/.exec(text)
    if (left) throw new Error(`templates/plugin/${file}: unknown placeholder ${left[0]}`)
    mkdirSync(join(dir, target, '..'), { recursive: true })
    writeFileSync(join(dir, target), text)
    written.push(target)
  }
  return { values, files: written.sort() }
}

function parseArgs(argv) {
  const options = {}
  const positional = []
  const flags = {
    '--scope': 'scope',
    '--name': 'name',
    '--class': 'className',
    '--prefix': 'prefix',
    '--description': 'description',
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--help' || arg === '-h') return { help: true }
    if (arg in flags) {
      if (argv[i + 1] === undefined) throw new Error(`${arg} needs a value`)
      options[flags[arg]] = argv[++i]
    } else if (arg.startsWith('--')) throw new Error(`unknown option ${arg}`)
    else positional.push(arg)
  }
  if (positional.length !== 1) throw new Error('give exactly one target directory')
  return { dir: resolve(positional[0]), options }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const args = parseArgs(process.argv.slice(2))
    if (args.help) {
      console.log(USAGE)
      process.exit(0)
    }
    const { values, files } = newPlugin(args.dir, args.options)
    console.log(`created ${values.PACKAGE_NAME} (class ${values.CLASS}) in ${args.dir}:`)
    for (const file of files) console.log(`  ${file}`)
    console.log(`\nnext: cd ${args.dir} && npm install && npm test && npm run build`)
  } catch (err) {
    console.error(`new-plugin: ${err.message}\n${USAGE}`)
    process.exit(2)
  }
}
