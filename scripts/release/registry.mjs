#!/usr/bin/env node
// A local npm registry (verdaccio) for the release rehearsal:
//   node scripts/release/registry.mjs <dir> --uplink <registry url> [--port <port>]
// Storage, users and configuration live in <dir>. Packages of the scopes @mqtt-stack and @acme are served
// from <dir> only (publishing needs a user, which anyone may add); every other package is proxied from the
// uplink (the registry npm is configured with), so that third-party dependencies install. Listens on 127.0.0.1,
// at <port> or a free port, and prints `registry listening on http://127.0.0.1:<port>/`; SIGTERM stops it.
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { runServer } from 'verdaccio'

/** The scopes the rehearsal publishes: ours and the third party's. Never proxied. */
export const LOCAL_SCOPES = ['@mqtt-stack', '@acme']

const [dirArgument, ...flags] = process.argv.slice(2)
const option = (name) => {
  const at = flags.indexOf(name)
  return at === -1 ? undefined : flags[at + 1]
}
const uplink = option('--uplink')
const port = Number(option('--port') ?? 0)
if (dirArgument === undefined || uplink === undefined || !Number.isInteger(port)) {
  console.error('usage: node scripts/release/registry.mjs <dir> --uplink <registry url> [--port <port>]')
  process.exit(2)
}
const dir = resolve(dirArgument)
mkdirSync(join(dir, 'storage'), { recursive: true })

const local = { access: '$all', publish: '$authenticated', unpublish: '$authenticated' }
const config = {
  self_path: join(dir, 'config.yaml'),
  storage: join(dir, 'storage'),
  auth: { htpasswd: { file: join(dir, 'htpasswd'), max_users: 100 } },
  uplinks: { upstream: { url: uplink, timeout: '60s', maxage: '30m' } },
  packages: {
    ...Object.fromEntries(LOCAL_SCOPES.map((scope) => [`${scope}/*`, local])),
    '**': { access: '$all', publish: '$authenticated', proxy: 'upstream' },
  },
  server: { keepAliveTimeout: 60 },
  web: { title: 'mqtt-stack release rehearsal' },
  log: { type: 'stdout', format: 'pretty', level: 'warn' },
}

const server = await runServer(config)
server.listen(port, '127.0.0.1', () => {
  console.log(`registry listening on http://127.0.0.1:${server.address().port}/`)
})
process.on('SIGTERM', () => {
  server.close(() => process.exit(0))
  server.closeAllConnections?.() // npm's and pnpm's kept-alive sockets
})
