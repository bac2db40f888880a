#!/usr/bin/env node
// `changeset version` with the 0.x rule of CONTRIBUTING.md ("Versioning"): run in the repository to version
// (the current directory), as `pnpm version-packages` does.
//
// Changesets gives a package a major bump when a peer dependency of it leaves its range, and a major of a
// 0.x package is 1.0.0: a breaking core (0.1.0 to 0.2.0) would make every built-in 1.0.0 (changesets issue
// #794, fixed only in changesets 3, which needs Node 22). Under 0.x a breaking change is a minor, so this
// assembles the release plan as `changeset version` does and turns each such forced major of a 0.x package
// into a minor (0.1.3 to 0.2.0), unless a changeset asks for the major itself (the 1.0.0 release). Then it
// applies the plan as `changeset version` does: versions, internal ranges, CHANGELOG.md files, changesets
// removed. Pre mode and snapshots are left to `changeset version` itself.
import { createRequire } from 'node:module'
import { dirname } from 'node:path'

const require = createRequire(import.meta.url)
const cliMain = require.resolve('@changesets/cli')
// The libraries `changeset version` is made of, as the installed CLI has them.
const cli = createRequire(cliMain)
const lib = (name) => {
  const module = cli(name)
  return module.default ?? module
}
const assembleReleasePlan = lib('@changesets/assemble-release-plan')
const applyReleasePlan = lib('@changesets/apply-release-plan')
const readChangesets = lib('@changesets/read')
const { read: readConfig } = cli('@changesets/config')
const { readPreState } = cli('@changesets/pre')
const { getPackages } = cli('@manypkg/get-packages')

const RANK = { none: 0, patch: 1, minor: 2, major: 3 }

/**
 * The plan with the forced majors of 0.x packages made minors: a release whose type is major, whose old
 * version is 0.x, and for which no changeset asks a major. Returns the names of the packages changed.
 */
export function zeroMajorsAsMinors(plan) {
  const asked = new Map()
  for (const changeset of plan.changesets) {
    for (const { name, type } of changeset.releases) {
      if (RANK[type] > RANK[asked.get(name) ?? 'none']) asked.set(name, type)
    }
  }
  const changed = []
  for (const release of plan.releases) {
    const [major, minor] = release.oldVersion.split('.').map(Number)
    if (release.type !== 'major' || major !== 0 || asked.get(release.name) === 'major') continue
    release.type = 'minor'
    release.newVersion = `0.${minor + 1}.0`
    changed.push(release.name)
  }
  return changed
}

async function main() {
  const cwd = process.cwd()
  const packages = await getPackages(cwd)
  const config = await readConfig(packages.root.dir, packages)
  const [changesets, preState] = await Promise.all([readChangesets(cwd), readPreState(cwd)])
  if (preState?.mode === 'pre') {
    console.error('version-packages: in pre mode, run `changeset version` (and `changeset pre exit` after)')
    process.exit(1)
  }
  if (changesets.length === 0) {
    console.log('version-packages: no unreleased changesets')
    return
  }
  const plan = assembleReleasePlan(changesets, packages, config, preState)
  for (const name of zeroMajorsAsMinors(plan)) {
    console.log(`version-packages: ${name} gets a minor, not 1.0.0: a peer dependency left its 0.x range`)
  }
  await applyReleasePlan(plan, packages, config, undefined, dirname(cliMain))
  for (const { name, oldVersion, newVersion, type } of plan.releases) {
    if (type !== 'none') console.log(`version-packages: ${name} ${oldVersion} -> ${newVersion}`)
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) await main()
