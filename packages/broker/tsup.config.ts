import { defineConfig } from 'tsup'
import { packageBuild } from '../../tsup.shared.js'

// Two entry points: the library, and the `mqtt-stack` command (dist/cli.js, with a shebang from its source).
export default defineConfig({ ...packageBuild, entry: ['src/index.ts', 'src/cli.ts'] })
