/**
 * The third-party clients of the interop tests and whether this machine has them. Without one, a describe
 * is skipped locally with a message naming the install script; in CI (`CI` set) its tests fail with it.
 */
import { spawnSync } from 'node:child_process'
import { beforeEach, describe } from 'vitest'

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
 * A describe for a third-party client: skipped (with `missing` in its title) when the client is missing and
 * CI is unset; in CI every one of its tests fails with `missing`.
 */
export function describeWithClient(title: string, missing: string | undefined, body: () => void): void {
  const skip = missing !== undefined && !process.env.CI
  describe.skipIf(skip)(skip ? `${title} (skipped: ${missing})` : title, () => {
    if (missing !== undefined) {
      beforeEach(() => {
        throw new Error(missing)
      })
    }
    body()
  })
}
