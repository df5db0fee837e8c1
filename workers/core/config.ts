import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { WrkError } from './errors'

export const ENVS = ['production', 'development', 'staging', 'test'] as const
export type Env = typeof ENVS[number]

export type { JsonObject } from './types'
import type { JsonObject } from './types'

/**
 * Loads `config/<env>.<name>.json` if it exists, else `config/<name>.json`. A top-level key equal
 * to the env name selects that section. `name` may contain a folder (`facs/net.config`).
 * Missing required file or bad JSON → ERR_CONFIG_* naming the file.
 */
export function loadConfig (root: string, env: Env, name: string, opts: { required?: boolean } = {}): JsonObject {
  return loadOptionalConfig(root, env, name, opts) ?? {}
}

/** As {@link loadConfig}, but null when the file is missing (and not required). */
export function loadOptionalConfig (root: string, env: Env, name: string, opts: { required?: boolean } = {}): JsonObject | null {
  const dir = path.join(root, 'config', path.dirname(name))
  const base = path.basename(name)
  const envFile = path.join(dir, `${env}.${base}.json`)
  const plainFile = path.join(dir, `${base}.json`)
  const file = existsSync(envFile) ? envFile : plainFile
  if (!existsSync(file)) {
    if (opts.required) throw new WrkError('ERR_CONFIG_MISSING', `missing config file ${plainFile} (run ./setup-config.sh)`)
    return null
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new WrkError('ERR_CONFIG_INVALID', `invalid JSON in config file ${file}: ${(err as Error).message}`)
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new WrkError('ERR_CONFIG_INVALID', `config file ${file} must hold a JSON object`)
  }
  const section = (parsed as JsonObject)[env]
  if (section !== null && typeof section === 'object' && !Array.isArray(section)) return section as JsonObject
  return parsed as JsonObject
}
