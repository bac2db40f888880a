/**
 * The third-party clients of the interop tests and whether this machine has them. Without one, the tests
 * that need it are skipped locally with a message naming the install script; in CI (`CI` set) they fail with it.
 */
import { spawnSync } from 'node:child_process'
import { beforeEach } from 'vitest'

const INSTALL = 'run scripts/install-test-deps.sh as root (Debian: python3-paho-mqtt, mosquitto-clients)'

/** Debian's interpreter, where python3-paho-mqtt installs: never the `python3` first on the PATH. */
export const PYTHON = '/usr/bin/python3'

/** Why the Paho Python client cannot run here, or undefined when it can. */
export function pahoMissing(): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import paho.mqtt.client'], { encoding: 'utf8' })
  if (probe.error) return `${PYTHON} not found: ${INSTALL}`
  if (probe.status !== 0) return `the Paho MQTT client is not installed for ${PYTHON}: ${INSTALL}`
  return undefined
}

/** Why mosquitto_pub / mosquitto_sub cannot run here, or undefined when they can. */
export function mosquittoClientsMissing(): string | undefined {
  for (const tool of ['mosquitto_pub', 'mosquitto_sub']) {
    // Both print their usage and exit non-zero on --help; only a spawn error means the tool is missing.
    if (spawnSync(tool, ['--help']).error) return `${tool} not found: ${INSTALL}`
  }
  // coreutils' stdbuf makes their output line-buffered on a pipe, so the test reads each line as it comes.
  if (spawnSync('stdbuf', ['--version']).error) return 'stdbuf (coreutils) not found'
  return undefined
}

/**
 * Called in a describe whose tests need a third-party client: when `missing` says why it cannot run here,
 * each test is skipped with that reason locally, and fails with it in CI (`CI` set). The describe itself
 * stays a plain `describe` with a literal title, so scripts/conformance.mjs counts its tests.
 */
export function needsClient(missing: string | undefined): void {
  if (missing === undefined) return
  beforeEach((context) => {
    if (!process.env.CI) context.skip(missing)
    throw new Error(missing)
  })
}
