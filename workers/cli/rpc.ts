/**
 * `mbt-rpc` (./mbt-rpc.ts) without the process, and what the demo (mock/demo.ts) shares with it:
 * one request on the shared RPC client (workers/rpc/client.ts: opens the channel first, retries
 * the connect, sends the request once), the reply printed (./output.ts, ./table.ts), and the
 * copyable command line of a request. The command line: ./args.ts and ./usage.ts (flags, exit
 * codes); the key, bootstrap and seed: ./sources.ts; untrusted text and bounded files: ./input.ts.
 */
import { meaningOf } from '../lib/error-catalogue'
import { errorCode } from '../core/errors'
import { packageVersion } from '../core/version'
import { RpcClient } from '../rpc/client'
import { encodeRequest, errorCodeOfReply, parseReply } from '../rpc/codec'
import { parseCommandLine, type ParsedArgs } from './args'
import { escapeControls } from './input'
import { formatFailure, formatReply } from './output'
import { isLoopback } from './sources'
import { tableOf } from './table'
import { DEFAULT_TIMEOUT_MS, EXIT_OK, EXIT_RPC_ERROR, EXIT_USAGE, USAGE, UsageError } from './usage'

export { DEFAULT_TIMEOUT_MS, EXIT_OK, EXIT_RPC_ERROR, EXIT_USAGE, USAGE, UsageError } from './usage'
export { parseCommandLine, type CliRequest, type ParsedArgs } from './args'
export { InputRefused, MAX_INPUT_BYTES, escapeControls, readInputFile, readStdinBounded } from './input'
export { isLoopback, keyFromStatusFile, parseBootstrap, readWorkerStatus, statusFileOfRack } from './sources'
export { MAX_CODE_CHARS, formatFailure, formatReply } from './output'
export { meaningOf }

/**
 * A client for the CLI and the demo, on a DHT node of its own, destroyed by `close()`. With
 * loopback bootstrap nodes (a local testnet, the demo) the node binds 127.0.0.1 and says it is
 * not firewalled: on loopback every node is reachable, and a firewalled client's first connect
 * to a freshly started worker stalls (~13 s) where a reachable one opens at once.
 */
export function createClient (opts: { bootstrap?: string[], seed?: Buffer } = {}): RpcClient {
  const loopback = opts.bootstrap !== undefined && isLoopback(opts.bootstrap)
  return new RpcClient({ bootstrap: opts.bootstrap, seed: opts.seed, ...(loopback ? { host: '127.0.0.1', firewalled: false } : {}) })
}

export type Outcome =
  | { ok: true, value: unknown, text: string }
  /** `reply`: the worker answered `[HRPC_ERR]=code`; `transport`: no usable reply. */
  | { ok: false, kind: 'reply' | 'transport', code: string, message: string }

/** The methods a MicroBT worker of this version serves (for the answer to an unknown method). */
function knownMethods (): string[] {
  try {
    // loaded only here: it builds a worker's method table (not needed for any other reply)
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { microbtDeclarations } = require('./rpc-reference') as typeof import('./rpc-reference')
    return microbtDeclarations().map((d) => d.name)
  } catch {
    return []
  }
}

/** One request, sent once; never throws. A method the worker does not serve is ERR_METHOD_INVALID, with the valid ones. */
export async function callRpc (
  client: RpcClient, key: string, method: string, data: unknown, timeoutMs = DEFAULT_TIMEOUT_MS
): Promise<Outcome> {
  try {
    const text = await client.requestRaw(key, method, encodeRequest(data), timeoutMs)
    const value = parseReply(text)
    const code = errorCodeOfReply(value)
    if (code !== null) return { ok: false, kind: 'reply', code, message: meaningOf(code) }
    return { ok: true, value, text }
  } catch (err) {
    if ((err as { code?: unknown } | null)?.code === 'UNKNOWN_METHOD') {
      const known = knownMethods()
      const valid = known.length > 0 ? `; valid methods: ${known.join(', ')}` : ''
      return { ok: false, kind: 'reply', code: 'ERR_METHOD_INVALID', message: `the worker serves no method ${method}${valid}` }
    }
    return { ok: false, kind: 'transport', code: errorCode(err), message: err instanceof Error ? err.message : String(err) }
  }
}

/** A word for a POSIX shell: as it is when safe, else single-quoted. */
export function shellQuote (word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`
}

export interface CommandOptions {
  method: string
  /** Sent as `-d '<json>'` unless `file` is given. */
  data?: unknown
  file?: string
  key?: string
  statusFile?: string
  rack?: string
  root?: string
  bootstrap?: readonly string[]
  timeoutMs?: number
  /** Default `npx mbt-rpc`. */
  program?: string
}

/** The `mbt-rpc` command line of a request, ready to paste into a shell. */
export function mbtRpcCommand (o: CommandOptions): string {
  const words = [o.program ?? 'npx mbt-rpc']
  if (o.bootstrap !== undefined && o.bootstrap.length > 0) words.push('--bn', o.bootstrap.join(','))
  if (o.key !== undefined) words.push('-s', o.key)
  else if (o.rack !== undefined) words.push(...(o.root !== undefined ? ['--root', shellQuote(o.root)] : []), '--rack', o.rack)
  else if (o.statusFile !== undefined) words.push('--status-file', shellQuote(o.statusFile))
  words.push('-m', o.method)
  if (o.file !== undefined) words.push('-f', shellQuote(o.file))
  else if (o.data !== undefined) words.push('-d', shellQuote(JSON.stringify(o.data)))
  if (o.timeoutMs !== undefined) words.push('-t', String(o.timeoutMs))
  return words.join(' ')
}

export interface CliIo {
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** Whether stdout is a terminal (pretty output, tables). */
  isTTY: boolean
  cwd?: string
  readStdin?: () => string
  /** Where MBT_RPC_SEED / MBT_RPC_SEED_FILE are read (the process's environment for the command). */
  env?: NodeJS.ProcessEnv
}

/** `mbt-rpc` without the process: parses `argv`, sends the request, prints; resolves with the exit code. */
export async function run (argv: readonly string[], io: CliIo): Promise<number> {
  let args: ParsedArgs
  try {
    args = parseCommandLine(argv, { cwd: io.cwd, readStdin: io.readStdin, env: io.env })
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    // the message may quote a file's text or name: escaped like a server's
    io.stderr(`mbt-rpc: ${escapeControls(err.message)}\nRun mbt-rpc --help for the flags.\n`)
    return EXIT_USAGE
  }
  if (args.help) {
    io.stdout(USAGE + '\n')
    return EXIT_OK
  }
  if (args.version === true) {
    io.stdout(`mbt-rpc ${packageVersion()}\n`)
    return EXIT_OK
  }
  const client = createClient({ bootstrap: args.bootstrap, seed: args.seed })
  try {
    const outcome = await callRpc(client, args.key, args.method, args.data, args.timeoutMs)
    if (!outcome.ok) {
      io.stderr(formatFailure(outcome) + '\n')
      return EXIT_RPC_ERROR
    }
    const wantTable = args.table === true || (args.table === undefined && args.pretty === undefined && io.isTTY)
    const table = wantTable ? tableOf(args.method, args.data, outcome.value) : null
    if (args.table === true && table === null) io.stderr(`mbt-rpc: no table for ${escapeControls(args.method)}: printing JSON\n`)
    io.stdout((table ?? formatReply(outcome, args.pretty ?? io.isTTY)) + '\n')
    return EXIT_OK
  } finally {
    await client.close()
  }
}
