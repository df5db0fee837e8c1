/**
 * The command line of `mbt-rpc`: hp-rpc-cli's flags (`-s -m -d -f -t --bn --ds`) plus
 * `--status-file`/`--rack`, `--seed-file`, the output flags and `--version` → what to send
 * (./sources.ts finds the key, bootstrap and seed). Mistakes throw UsageError (exit 2).
 */
import path from 'node:path'
import { parseArgs } from 'node:util'
import { readFailure, readInputFile, readStdinBounded } from './input'
import { parseBootstrap, readWorkerStatus, seedOf, statusFileOfRack } from './sources'
import { DEFAULT_TIMEOUT_MS, UsageError } from './usage'

/** How a reply is printed: undefined = by the terminal and the method (a table where there is one). */
export type OutputMode = 'table' | 'pretty' | 'raw'

export interface CliRequest {
  key: string
  method: string
  data: unknown
  timeoutMs: number
  /** `host:port` strings; absent = the public bootstrap nodes. */
  bootstrap?: string[]
  seed?: Buffer
  /** undefined: by the terminal. */
  pretty?: boolean
  /** `--table` (undefined: by the terminal). */
  table?: boolean
}

export type ParsedArgs = { help: true } | { version: true, help: false } | ({ help: false, version?: false } & CliRequest)

const HEX64 = /^[0-9a-f]{64}$/i

function readData (opts: { data?: string, file?: string }, readStdin: () => string): unknown {
  if (opts.data !== undefined && opts.file !== undefined) throw new UsageError('give either -d or -f, not both')
  let text: string
  let what: string
  if (opts.file !== undefined) {
    what = opts.file === '-' ? 'standard input' : `file ${opts.file}`
    try {
      text = opts.file === '-' ? readStdin() : readInputFile(opts.file)
    } catch (err) {
      throw new UsageError(readFailure(what, err))
    }
  } else if (opts.data !== undefined) {
    what = '-d'
    text = opts.data
  } else {
    return {}
  }
  if (text.trim() === '') return {}
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw new UsageError(`${what} is not JSON: ${(err as Error).message}`)
  }
}

const OPTIONS = {
  server: { type: 'string', short: 's' },
  method: { type: 'string', short: 'm' },
  data: { type: 'string', short: 'd' },
  file: { type: 'string', short: 'f' },
  timeout: { type: 'string', short: 't' },
  bn: { type: 'string', multiple: true },
  ds: { type: 'string' },
  'seed-file': { type: 'string' },
  'status-file': { type: 'string' },
  rack: { type: 'string' },
  root: { type: 'string' },
  pretty: { type: 'boolean' },
  raw: { type: 'boolean' },
  table: { type: 'boolean' },
  version: { type: 'boolean', short: 'V' },
  help: { type: 'boolean', short: 'h' }
} as const

export interface ParseOptions {
  cwd?: string
  readStdin?: () => string
  /** Where MBT_RPC_SEED / MBT_RPC_SEED_FILE are read (default: none, so that tests never see the caller's). */
  env?: NodeJS.ProcessEnv
}

/** The command line (without node and the script) → what to send. Throws `UsageError`. */
export function parseCommandLine (argv: readonly string[], opts: ParseOptions = {}): ParsedArgs {
  let values: Record<string, string | string[] | boolean | undefined>
  try {
    ({ values } = parseArgs({ args: [...argv], strict: true, allowPositionals: false, options: OPTIONS }))
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (values.help === true) return { help: true }
  if (values.version === true) return { help: false, version: true }
  const str = (name: string): string | undefined => values[name] as string | undefined
  const cwd = opts.cwd ?? process.cwd()

  const sources = (['server', 'status-file', 'rack'] as const).filter((n) => str(n) !== undefined)
  if (sources.length === 0) throw new UsageError('no server key: give -s <key>, --status-file <file> or --rack <wtype>-<rack>')
  if (sources.length > 1) throw new UsageError(`give one of -s, --status-file, --rack (got ${sources.map((n) => `--${n}`).join(', ')})`)
  if (str('root') !== undefined && str('rack') === undefined) throw new UsageError('--root only goes with --rack')
  let key: string
  let workerBootstrap: string[] | undefined
  const server = str('server')
  if (server !== undefined) {
    if (!HEX64.test(server)) throw new UsageError('-s: a server key is 64 hex characters')
    key = server.toLowerCase()
  } else {
    const rack = str('rack')
    const file = rack !== undefined
      ? statusFileOfRack(rack, path.resolve(cwd, str('root') ?? '.'))
      : path.resolve(cwd, str('status-file') as string)
    const status = readWorkerStatus(file)
    key = status.key
    workerBootstrap = status.bootstrap
  }

  const method = str('method')
  if (method === undefined || method.trim() === '') throw new UsageError('missing -m <method>')
  const data = readData({ data: str('data'), file: str('file') }, opts.readStdin ?? (() => readStdinBounded()))

  let timeoutMs = DEFAULT_TIMEOUT_MS
  const timeout = str('timeout')
  if (timeout !== undefined) {
    timeoutMs = Number(timeout)
    if (!/^\d+$/.test(timeout) || timeoutMs < 1 || timeoutMs > 3_600_000) throw new UsageError('-t: a timeout in ms, 1…3600000')
  }
  const bn = values.bn as string[] | undefined
  const bootstrap = bn === undefined ? workerBootstrap : parseBootstrap(bn)
  const seed = seedOf({ ds: str('ds'), seedFile: str('seed-file') }, opts.env ?? {}, cwd)
  const modes = (['pretty', 'raw', 'table'] as const).filter((m) => values[m] === true)
  if (modes.length > 1) throw new UsageError(`give one of --pretty, --raw, --table (got ${modes.map((m) => `--${m}`).join(', ')})`)
  const pretty = values.pretty === true ? true : values.raw === true ? false : undefined

  return { help: false, key, method, data, timeoutMs, bootstrap, seed, pretty, ...(values.table === true ? { table: true } : {}) }
}
