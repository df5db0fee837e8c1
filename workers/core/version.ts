/**
 * The version of this package (package.json), for the start log, getWrkExtData and
 * `mbt-rpc --version`: found by walking up from this file (workers/core in the sources,
 * dist/workers/core once built). '0.0.0-unknown' when no package.json of this package is found.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'

const NAME = 'miningos-wrk-container-microbt'
let cached: string | null = null

export function packageVersion (): string {
  if (cached !== null) return cached
  let dir = __dirname
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown, version?: unknown }
      if (pkg.name === NAME && typeof pkg.version === 'string') return (cached = pkg.version)
    } catch {}
    dir = path.dirname(dir)
  }
  return (cached = '0.0.0-unknown')
}
