/**
 * Where `mbt-rpc` finds what it needs besides the request: the worker's key (`-s`, or a
 * worker's status file, `--status-file`/`--rack`), the DHT bootstrap (`--bn`, else the one the
 * worker wrote into its status file, else its `config/facs/net.config.json` — so no `--bn` is
 * needed next to a worker) and the client seed (`--ds`, a 0600 file `--seed-file` or
 * `MBT_RPC_SEED_FILE`, or `MBT_RPC_SEED`; never a file others can read).
 */
import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { InputRefused, readFailure, readInputFile } from './input'
import { UsageError } from './usage'

const HEX64 = /^[0-9a-f]{64}$/i
/** A status file name stem: `<wtype>-<rack>` (no path separators, no leading dot). */
const STATUS_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

/** The environment variables of the client seed. */
export const SEED_ENV = 'MBT_RPC_SEED'
export const SEED_FILE_ENV = 'MBT_RPC_SEED_FILE'

/** `--bn` values (repeated, or comma lists) → `host:port` strings. */
export function parseBootstrap (values: readonly string[], what = '--bn'): string[] {
  const nodes = values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '')
  for (const node of nodes) {
    const m = /^(.+):(\d{1,5})$/.exec(node)
    if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new UsageError(`${what} ${node}: expected host:port`)
  }
  if (nodes.length === 0) throw new UsageError(`${what}: expected host:port`)
  return nodes
}

/** Whether every bootstrap node is on this machine (then the client's DHT node binds 127.0.0.1). */
export function isLoopback (bootstrap: readonly string[]): boolean {
  return bootstrap.every((b) => /^(127\.\d+\.\d+\.\d+|localhost|\[?::1\]?):\d+$/.test(b))
}

/** A worker's status file as the CLI uses it: the key, and the bootstrap the worker uses (absent: the public DHT). */
export interface WorkerStatus { key: string, bootstrap?: string[] }

/** A `dhtOpts.bootstrap` list (`host:port` strings or `{host, port}`) → `host:port` strings; undefined when absent. */
function bootstrapList (value: unknown, what: string): string[] | undefined {
  if (value === undefined || value === null) return undefined
  if (!Array.isArray(value)) throw new UsageError(`${what}: bootstrap is not a list`)
  const node = (v: unknown): string => {
    if (typeof v === 'string') return v
    const o = (v !== null && typeof v === 'object' ? v : {}) as { host?: unknown, port?: unknown }
    return `${String(o.host)}:${String(o.port)}`
  }
  const nodes = value.map(node)
  return nodes.length === 0 ? undefined : parseBootstrap(nodes, what)
}

/** The bootstrap of a worker's `config/facs/net.config.json` (`r0.dhtOpts.bootstrap`), for status files of older workers. */
function bootstrapOfConfig (root: string): string[] | undefined {
  const file = path.join(root, 'config', 'facs', 'net.config.json')
  let conf: unknown
  try {
    conf = JSON.parse(readInputFile(file))
  } catch {
    return undefined
  }
  return bootstrapList((conf as { r0?: { dhtOpts?: { bootstrap?: unknown } } } | null)?.r0?.dhtOpts?.bootstrap, `config ${file}`)
}

/** `rpcPublicKey` and the DHT bootstrap of a worker's status file (`<root>/status/<wtype>-<rack>.json`). */
export function readWorkerStatus (file: string): WorkerStatus {
  let text: string
  try {
    text = readInputFile(file)
  } catch (err) {
    if (err instanceof InputRefused) throw new UsageError(readFailure(`status file ${file}`, err))
    const dir = path.dirname(file)
    let hint = ''
    try {
      const names = readdirSync(dir).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5))
      if (names.length > 0) hint = `; status files in ${dir}: ${names.join(', ')}`
    } catch { /* no such folder: nothing to list */ }
    throw new UsageError(`${readFailure(`status file ${file}`, err)}${hint}`)
  }
  let status: { rpcPublicKey?: unknown, dhtBootstrap?: unknown } | null
  try {
    status = JSON.parse(text) as typeof status
  } catch {
    throw new UsageError(`status file ${file} is not JSON`)
  }
  const key = status?.rpcPublicKey
  if (typeof key !== 'string' || !HEX64.test(key)) throw new UsageError(`status file ${file} has no rpcPublicKey`)
  const bootstrap = status !== null && 'dhtBootstrap' in status
    ? bootstrapList(status.dhtBootstrap, `status file ${file}`)
    : bootstrapOfConfig(path.dirname(path.dirname(file)))
  return { key: key.toLowerCase(), ...(bootstrap !== undefined ? { bootstrap } : {}) }
}

/** `rpcPublicKey` of a worker's status file. */
export function keyFromStatusFile (file: string): string {
  return readWorkerStatus(file).key
}

/** Path of the status file `--rack <name>` stands for. */
export function statusFileOfRack (name: string, root = process.cwd()): string {
  if (!STATUS_NAME.test(name)) throw new UsageError(`--rack ${name}: expected <wtype>-<rack>, e.g. wrk-container-rack-kehua-shelf-1`)
  return path.join(root, 'status', `${name}.json`)
}

/** The seed in a file: 64 hex characters, the file readable by its owner only (0600 or 0400). */
export function readSeedFile (file: string): Buffer {
  let mode: number
  try {
    mode = statSync(file).mode
  } catch (err) {
    throw new UsageError(readFailure(`seed file ${file}`, err))
  }
  if ((mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(4, '0')
    throw new UsageError(`seed file ${file} is open to group or others (mode ${octal}); a seed is a secret: chmod 600 ${file}`)
  }
  let text: string
  try {
    text = readInputFile(file, 4096).trim()
  } catch (err) {
    throw new UsageError(readFailure(`seed file ${file}`, err))
  }
  if (!HEX64.test(text)) throw new UsageError(`seed file ${file}: a seed is 64 hex characters (32 bytes)`)
  return Buffer.from(text, 'hex')
}

/**
 * The client seed: `--ds` (visible in `ps`: prefer the others), `--seed-file`, else the
 * environment (`MBT_RPC_SEED_FILE`, then `MBT_RPC_SEED`); undefined: a random key pair.
 */
export function seedOf (flags: { ds?: string, seedFile?: string }, env: NodeJS.ProcessEnv, cwd: string): Buffer | undefined {
  if (flags.ds !== undefined && flags.seedFile !== undefined) throw new UsageError('give either --ds or --seed-file, not both')
  if (flags.ds !== undefined) {
    if (!HEX64.test(flags.ds)) throw new UsageError('--ds: a seed is 64 hex characters (32 bytes)')
    return Buffer.from(flags.ds, 'hex')
  }
  const file = flags.seedFile ?? env[SEED_FILE_ENV]
  if (file !== undefined && file !== '') return readSeedFile(path.resolve(cwd, file))
  const hex = env[SEED_ENV]
  if (hex !== undefined && hex !== '') {
    if (!HEX64.test(hex.trim())) throw new UsageError(`${SEED_ENV}: a seed is 64 hex characters (32 bytes)`)
    return Buffer.from(hex.trim(), 'hex')
  }
  return undefined
}
