#!/usr/bin/env node
// Scaffolds a middleware package the way STYLE.md lays one out:
//   node scripts/new-package.mjs <short-name> <ClassName> "<one sentence on what it does>"
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const [name, className, sentence] = process.argv.slice(2)
if (!name || !/^[a-z][a-z0-9-]*$/.test(name) || !className || !sentence) {
  console.error('usage: node scripts/new-package.mjs <short-name> <ClassName> "<one sentence>"')
  process.exit(2)
}
const root = fileURLToPath(new URL('..', import.meta.url))
const dir = join(root, 'packages', name)
if (existsSync(dir)) {
  console.error(`packages/${name} exists already`)
  process.exit(1)
}
mkdirSync(join(dir, 'src'), { recursive: true })
mkdirSync(join(dir, 'test'), { recursive: true })
const json = (value) => `${JSON.stringify(value, null, 2)}\n`
const files = {
  'package.json': json({
    name: `@mqtt-stack/${name}`,
    version: '0.0.0',
    description: sentence,
    keywords: ['mqtt', 'broker', 'mqtt-stack', 'mqtt-stack-middleware'],
    license: 'MIT',
    type: 'module',
    sideEffects: false,
    engines: { node: '>=20.19' },
    exports: {
      '.': { types: './dist/index.d.ts', import: './dist/index.js' },
      './package.json': './package.json',
    },
    main: './dist/index.js',
    types: './dist/index.d.ts',
    files: ['dist'],
    scripts: { build: 'tsup', typecheck: 'tsc -p tsconfig.json', lint: 'biome check .', test: 'vitest run' },
    peerDependencies: { '@mqtt-stack/core': 'workspace:^' },
    devDependencies: { '@mqtt-stack/core': 'workspace:*' },
    publishConfig: { access: 'public' },
  }),
  'tsconfig.json': json({
    extends: '../../tsconfig.base.json',
    compilerOptions: {
      paths: {
        '@mqtt-stack/core': ['../core/src/index.ts'],
        '@mqtt-stack/core/testing': ['../core/src/testing/index.ts'],
      },
    },
    include: ['src', 'test'],
  }),
  'tsconfig.build.json': json({ extends: '../../tsconfig.base.json', include: ['src'] }),
  'tsup.config.ts': `import { defineConfig } from 'tsup'
import { packageBuild } from '../../tsup.shared.js'

export default defineConfig(packageBuild)
`,
  'vitest.config.ts': `import { packageProject } from '../../vitest.shared.js'

export default packageProject('${name}')
`,
}
for (const [file, content] of Object.entries(files)) writeFileSync(join(dir, file), content)
execFileSync(join(root, 'node_modules', '.bin', 'biome'), ['format', '--write', dir], { stdio: 'ignore' })
console.log(`created packages/${name} for ${className}; run pnpm install`)
