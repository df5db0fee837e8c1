/**
 * What `mbt-rpc` (./mbt-rpc.ts) and the demo (mock/demo.ts) share: the command line of
 * hp-rpc-cli (`-s -m -d -f -t --bn --ds`, plus `--status-file` and `--rack`), the server key
 * from a flag or a worker's status file, one request on the shared RPC client
 * (workers/rpc/client.ts: opens the channel first, retries the connect, sends the request
 * once), the reply printed pretty or raw, and the copyable command line of a request.
 *
 * Exit codes of `run`: 0 reply, 1 `[HRPC_ERR]=<code>` reply or no reply (code on stderr),
 * 2 usage error (nothing is sent).
 *
 * What a server sends is untrusted: before it reaches a terminal, control characters (C0, DEL,
 * C1 — so every ESC sequence —, bidi overrides, line separators) are printed escaped, `\u001b`
 * (escapeControls). Files read (`-f`, `--status-file`, `-f -`) are bounded: regular files only
 * (never a FIFO, device or folder, which could block or never end), at most MAX_INPUT_BYTES.
 */
import { closeSync, constants, fstatSync, openSync, readSync, readdirSync, statSync, type Stats } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { meaningOf } from '../lib/error-catalogue'
import { errorCode } from '../core/errors'
import { RpcClient } from '../rpc/client'
import { encodeRequest, errorCodeOfReply, parseReply } from '../rpc/codec'
import { DEFAULT_MAX_REQUEST_BYTES } from '../rpc/limits'

export const DEFAULT_TIMEOUT_MS = 15_000
export const EXIT_OK = 0
export const EXIT_RPC_ERROR = 1
export const EXIT_USAGE = 2
/** Bound of a file the CLI reads (a request, a status file, standard input): the worker's request limit. */
export const MAX_INPUT_BYTES = DEFAULT_MAX_REQUEST_BYTES
/** Characters of a server's error code printed before it is cut (codes are short names). */
export const MAX_CODE_CHARS = 200

export const USAGE = `Usage: mbt-rpc (-s <key> | --status-file <file> | --rack <wtype>-<rack> [--root <dir>])
               -m <method> [-d <json> | -f <file>] [-t <ms>] [--bn <host:port>]… [--ds <hex seed>]

Sends one JSON request to a worker over HyperDHT RPC and prints the reply.

  -s, --server <key>      the worker's RPC public key (64 hex characters)
      --status-file <f>   read the key (rpcPublicKey) from a worker's status file
      --rack <name>       shortcut for --status-file <root>/status/<name>.json,
                          e.g. --rack wrk-container-rack-kehua-shelf-1
      --root <dir>        the worker's root for --rack (default: the current directory)
  -m, --method <name>     RPC method, e.g. listThings (docs/rpc.md)
  -d, --data <json>       request as JSON text (default {})
  -f, --file <file>       request read from a JSON file ("-" = standard input);
                          a regular file of at most 1 MiB
  -t, --timeout <ms>      bound on the whole request, connecting included (default ${DEFAULT_TIMEOUT_MS})
      --bn <host:port>    DHT bootstrap node; repeat it or give a comma list
                          (default: the public HyperDHT bootstrap nodes)
      --ds <hex>          32-byte seed (64 hex characters) of this client's key pair,
                          for workers with an allow list (r0.allow)
      --pretty, --raw     force pretty (indented) or raw JSON output
                          (default: pretty on a terminal, raw when piped)
  -h, --help              this text

Exit status: 0 reply printed; 1 the worker answered [HRPC_ERR]=<code>, or no reply
(the code is printed on stderr); 2 usage error.`

/** A command-line mistake: printed with the usage hint, exit 2, nothing sent. */
export class UsageError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

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
}

export type ParsedArgs = { help: true } | ({ help: false } & CliRequest)

const HEX64 = /^[0-9a-f]{64}$/i
/** A status file name stem: `<wtype>-<rack>` (no path separators, no leading dot). */
const STATUS_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

// ---------------------------------------------------------------------------------------------
// Untrusted text and bounded input

/** C0, DEL, C1, the bidi embeddings/overrides/isolates and U+2028/U+2029. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

/**
 * `text` safe for a terminal: each control character as `\uXXXX` (ESC → `\u001b`), except
 * those in `keep` (e.g. the newlines of indented JSON). Inside a JSON string this spelling means
 * the same character, so escaped JSON stays the same JSON.
 */
export function escapeControls (text: string, keep = ''): string {
  return text.replace(CONTROL, (c) => keep.includes(c) ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** A file the CLI refuses to read (not a regular file, too large); the message completes "file X is …". */
export class InputRefused extends Error {
  constructor (readonly reason: string) {
    super(reason)
    this.name = 'InputRefused'
  }
}

function kindOf (st: Stats): string {
  if (st.isDirectory()) return 'a directory'
  if (st.isFIFO()) return 'a FIFO (named pipe)'
  if (st.isCharacterDevice()) return 'a character device'
  if (st.isBlockDevice()) return 'a block device'
  if (st.isSocket()) return 'a socket'
  return 'not a regular file'
}

function tooLarge (maxBytes: number): InputRefused {
  return new InputRefused(`larger than ${maxBytes} bytes (the worker's request limit)`)
}

/** Reads from `fd` until its end, failing past `maxBytes`. */
function readBounded (fd: number, maxBytes: number): Buffer {
  const chunks: Buffer[] = []
  let total = 0
  const buf = Buffer.alloc(64 * 1024)
  for (;;) {
    let n: number
    try {
      n = readSync(fd, buf, 0, buf.length, null)
    } catch (err) {
      // a non-blocking standard input with nothing yet: wait a little, read again
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
        continue
      }
      throw err
    }
    if (n === 0) break
    total += n
    if (total > maxBytes) throw tooLarge(maxBytes)
    chunks.push(Buffer.from(buf.subarray(0, n)))
  }
  return Buffer.concat(chunks, total)
}

/**
 * A regular file's text, at most `maxBytes`: a FIFO, a device, a socket or a folder is refused
 * before it is opened (opening a FIFO waits for a writer, a device may never end), and again
 * after (it may have been swapped meanwhile). Errno failures are thrown as they are; the others
 * as InputRefused.
 */
export function readInputFile (file: string, maxBytes = MAX_INPUT_BYTES): string {
  const before = statSync(file)
  if (!before.isFile()) throw new InputRefused(`${kindOf(before)}, not a regular file`)
  if (before.size > maxBytes) throw tooLarge(maxBytes)
  const fd = openSync(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0))
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) throw new InputRefused(`${kindOf(st)}, not a regular file`)
    // read up to the bound whatever the size said (files of /proc say 0, a file may grow)
    return readBounded(fd, maxBytes).toString('utf8')
  } finally {
    closeSync(fd)
  }
}

/** Standard input (`-f -`), at most `maxBytes`: a pipe is fine, an endless one is cut off. */
export function readStdinBounded (maxBytes = MAX_INPUT_BYTES): string {
  return readBounded(0, maxBytes).toString('utf8')
}

/** Why reading failed, for "cannot read …": the errno code, or the refusal. */
function readFailure (what: string, err: unknown): string {
  if (err instanceof InputRefused) {
    const hint = what.startsWith('file ') ? ' (give a regular file, or -f - for standard input)' : ''
    return `${what} is ${err.reason}${hint}`
  }
  return `cannot read ${what} (${(err as NodeJS.ErrnoException).code ?? String(err)})`
}

// ---------------------------------------------------------------------------------------------
// Command line

/** `--bn` values (repeated, or comma lists) → `host:port` strings. */
export function parseBootstrap (values: readonly string[]): string[] {
  const nodes = values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '')
  for (const node of nodes) {
    const m = /^(.+):(\d{1,5})$/.exec(node)
    if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new UsageError(`--bn ${node}: expected host:port`)
  }
  if (nodes.length === 0) throw new UsageError('--bn: expected host:port')
  return nodes
}

/** Whether every bootstrap node is on this machine (then the client's DHT node binds 127.0.0.1). */
export function isLoopback (bootstrap: readonly string[]): boolean {
  return bootstrap.every((b) => /^(127\.\d+\.\d+\.\d+|localhost|\[?::1\]?):\d+$/.test(b))
}

/** `rpcPublicKey` of a worker's status file (`status/<wtype>-<rack>.json`). */
export function keyFromStatusFile (file: string): string {
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
  let status: unknown
  try {
    status = JSON.parse(text)
  } catch {
    throw new UsageError(`status file ${file} is not JSON`)
  }
  const key = (status as { rpcPublicKey?: unknown } | null)?.rpcPublicKey
  if (typeof key !== 'string' || !HEX64.test(key)) throw new UsageError(`status file ${file} has no rpcPublicKey`)
  return key.toLowerCase()
}

/** Path of the status file `--rack <name>` stands for. */
export function statusFileOfRack (name: string, root = process.cwd()): string {
  if (!STATUS_NAME.test(name)) throw new UsageError(`--rack ${name}: expected <wtype>-<rack>, e.g. wrk-container-rack-kehua-shelf-1`)
  return path.join(root, 'status', `${name}.json`)
}

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

/** The command line (without node and the script) → what to send. Throws `UsageError`. */
export function parseCommandLine (argv: readonly string[], opts: { cwd?: string, readStdin?: () => string } = {}): ParsedArgs {
  let values: Record<string, string | string[] | boolean | undefined>
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        server: { type: 'string', short: 's' },
        method: { type: 'string', short: 'm' },
        data: { type: 'string', short: 'd' },
        file: { type: 'string', short: 'f' },
        timeout: { type: 'string', short: 't' },
        bn: { type: 'string', multiple: true },
        ds: { type: 'string' },
        'status-file': { type: 'string' },
        rack: { type: 'string' },
        root: { type: 'string' },
        pretty: { type: 'boolean' },
        raw: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      }
    }))
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (values.help === true) return { help: true }
  const str = (name: string): string | undefined => values[name] as string | undefined

  const sources = (['server', 'status-file', 'rack'] as const).filter((n) => str(n) !== undefined)
  if (sources.length === 0) throw new UsageError('no server key: give -s <key>, --status-file <file> or --rack <wtype>-<rack>')
  if (sources.length > 1) throw new UsageError(`give one of -s, --status-file, --rack (got ${sources.map((n) => `--${n}`).join(', ')})`)
  if (str('root') !== undefined && str('rack') === undefined) throw new UsageError('--root only goes with --rack')
  let key: string
  const server = str('server')
  if (server !== undefined) {
    if (!HEX64.test(server)) throw new UsageError('-s: a server key is 64 hex characters')
    key = server.toLowerCase()
  } else {
    const rack = str('rack')
    const file = rack !== undefined
      ? statusFileOfRack(rack, path.resolve(opts.cwd ?? process.cwd(), str('root') ?? '.'))
      : path.resolve(opts.cwd ?? process.cwd(), str('status-file') as string)
    key = keyFromStatusFile(file)
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
  const bootstrap = bn === undefined ? undefined : parseBootstrap(bn)
  const ds = str('ds')
  if (ds !== undefined && !HEX64.test(ds)) throw new UsageError('--ds: a seed is 64 hex characters (32 bytes)')
  if (values.pretty === true && values.raw === true) throw new UsageError('give either --pretty or --raw')
  const pretty = values.pretty === true ? true : values.raw === true ? false : undefined

  return { help: false, key, method, data, timeoutMs, bootstrap, seed: ds === undefined ? undefined : Buffer.from(ds, 'hex'), pretty }
}

/**
 * The shared client on a DHT node of its own, destroyed by `close()`. With loopback bootstrap
 * nodes (a local testnet, the demo) the node binds 127.0.0.1 and says it is not firewalled:
 * on loopback every node is reachable, and a firewalled client's first connect to a freshly
 * started worker stalls (~13 s) where a reachable one opens at once.
 */
/** A client for the CLI and the demo; on a loopback bootstrap its node binds 127.0.0.1 and is reachable. */
export function createClient (opts: { bootstrap?: string[], seed?: Buffer } = {}): RpcClient {
  const loopback = opts.bootstrap !== undefined && isLoopback(opts.bootstrap)
  return new RpcClient({ bootstrap: opts.bootstrap, seed: opts.seed, ...(loopback ? { host: '127.0.0.1', firewalled: false } : {}) })
}

export type Outcome =
  | { ok: true, value: unknown, text: string }
  /** `reply`: the worker answered `[HRPC_ERR]=code`; `transport`: no usable reply. */
  | { ok: false, kind: 'reply' | 'transport', code: string, message: string }

/** One request, sent once; never throws. */
export async function callRpc (client: RpcClient, key: string, method: string, data: unknown, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Outcome> {
  try {
    const text = await client.requestRaw(key, method, encodeRequest(data), timeoutMs)
    const value = parseReply(text)
    const code = errorCodeOfReply(value)
    if (code !== null) return { ok: false, kind: 'reply', code, message: meaningOf(code) }
    return { ok: true, value, text }
  } catch (err) {
    return { ok: false, kind: 'transport', code: errorCode(err), message: err instanceof Error ? err.message : String(err) }
  }
}

export { meaningOf }

/**
 * A reply for stdout: indented JSON, or the text as the worker sent it — both with control
 * characters escaped (the same JSON: in valid JSON text they can only be in strings, or be
 * whitespace: a carriage return is printed as a space).
 */
export function formatReply (outcome: { value: unknown, text: string }, pretty: boolean): string {
  return pretty ? escapeControls(JSON.stringify(outcome.value, null, 2), '\n') : escapeControls(outcome.text.replace(/\r/g, ' '), '\n\t')
}

/** A server's error code for one line: control characters escaped, cut past MAX_CODE_CHARS. */
function printableCode (code: string): string {
  const cut = code.length > MAX_CODE_CHARS ? `${code.slice(0, MAX_CODE_CHARS)}… (${code.length} characters)` : code
  return escapeControls(cut)
}

/** The stderr line(s) of a failed request: the code first (what the server sent is escaped). */
export function formatFailure (outcome: { kind: 'reply' | 'transport', code: string, message: string }): string {
  const code = printableCode(outcome.code)
  const message = escapeControls(outcome.message)
  if (outcome.kind === 'reply') return message === '' ? code : `${code}: ${message}`
  const hint = /TIMEOUT|CONNECT/.test(outcome.code)
    ? '\nhint: is the worker running, is --bn its DHT bootstrap (r0.dhtOpts), and is this client allowed (r0.allow, --ds)?'
    : ''
  return `${code}: ${message}${hint}`
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
  /** Whether stdout is a terminal (pretty output). */
  isTTY: boolean
  cwd?: string
  readStdin?: () => string
}

/** `mbt-rpc` without the process: parses `argv`, sends the request, prints; resolves with the exit code. */
export async function run (argv: readonly string[], io: CliIo): Promise<number> {
  let args: ParsedArgs
  try {
    args = parseCommandLine(argv, { cwd: io.cwd, readStdin: io.readStdin })
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
  const client = createClient({ bootstrap: args.bootstrap, seed: args.seed })
  try {
    const outcome = await callRpc(client, args.key, args.method, args.data, args.timeoutMs)
    if (!outcome.ok) {
      io.stderr(formatFailure(outcome) + '\n')
      return EXIT_RPC_ERROR
    }
    io.stdout(formatReply(outcome, args.pretty ?? io.isTTY) + '\n')
    return EXIT_OK
  } finally {
    await client.close()
  }
}
