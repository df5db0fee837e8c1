/**
 * Shared test harness for the worker: a local HyperDHT testnet, throw-away project roots,
 * an RPC client that speaks like `hp-rpc-cli` (built on the worker's own client), spawned
 * `dist/worker.js` processes and in-process workers.
 *
 * Every resource created here is tracked: put `afterAll(cleanupAll)` in each test file and
 * everything still open is released even when a test failed halfway (in `afterEach` it would
 * also take down a testnet shared by the file; release per-test resources with their own
 * `close()`/`stop()`/`removeRoot()` instead). Spawned children are additionally SIGKILLed when
 * the test process exits, so a crashed run never leaves workers behind.
 *
 * Typical file:
 *   let bootstrap: DHTNodeAddress[]
 *   beforeAll(async () => { ({ bootstrap } = await createBootstrap()) })
 *   afterAll(cleanupAll)
 *   it('…', async () => {
 *     const root = await makeRoot({ bootstrap })
 *     const w = spawnWorker({ wtype: 'wrk-container-rack-kehua', rack: 'r1', root })
 *     const { rpcPublicKey } = await w.waitForStatus()
 *     expect(await createRpcClient(bootstrap).request(rpcPublicKey, 'ping', { a: 1 })).toEqual({ a: 1 })
 *     expect(await w.stop()).toBe(0)
 *   })
 *
 * Spawned-process helpers run `dist/worker.js`: build first (`npm run build`); the helpers
 * never build.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import createTestnet from 'hyperdht/testnet'
import type { DHTNodeAddress } from 'hyperdht'
import type { WorkerContext } from '../../workers/tpl/wrk-base'
import { RpcClient as SharedRpcClient } from '../../workers/rpc/client'
import { encodeRequest, errorCodeOfReply, parseReply } from '../../workers/rpc/codec'

export type { DHTNodeAddress }
export type { JsonObject } from '../../workers/core/types'
import type { JsonObject } from '../../workers/core/types'
import { sleep } from './wait'

export { sleep, waitFor } from './wait'

/** Repository root (the folder holding package.json, config/, dist/). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..')
/** The compiled CLI every spawned worker runs. */
export const WORKER_JS = path.join(REPO_ROOT, 'dist', 'worker.js')

// ---------------------------------------------------------------------------------------------
// Resource tracking

type Cleanup = () => Promise<unknown> | void

const cleanups = new Set<Cleanup>()

// One set and one exit hook per process, even when the test runner loads this module once per
// test file in the same process.
const CHILDREN = Symbol.for('miningos-wrk-container-microbt.tests.children')
const registry = globalThis as typeof globalThis & { [CHILDREN]?: Set<ChildProcess> }
const children: Set<ChildProcess> = registry[CHILDREN] ?? new Set<ChildProcess>()

function track (fn: Cleanup): Cleanup {
  cleanups.add(fn)
  return fn
}

function untrack (fn: Cleanup): void {
  cleanups.delete(fn)
}

// Last line of defence: a test process that exits (or forgets cleanupAll) must not leave workers.
if (!registry[CHILDREN]) {
  registry[CHILDREN] = children
  process.on('exit', () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        try { child.kill('SIGKILL') } catch { /* already gone */ }
      }
    }
  })
}

/**
 * Releases everything the helpers created and that was not released yet, newest first:
 * spawned workers (SIGKILL), in-process workers (stop), RPC clients, testnets, temp roots.
 * Never throws; safe to call more than once.
 */
export async function cleanupAll (): Promise<void> {
  const pending = [...cleanups].reverse()
  cleanups.clear()
  for (const fn of pending) {
    try {
      await fn()
    } catch {
      // keep releasing the rest
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Small utilities

/** Rejects with `message` if `promise` does not settle within `ms`. */
export async function withTimeout<T> (promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

function isPlainObject (value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** Recursive merge of plain objects; arrays and scalars in `patch` replace those in `base`. */
export function deepMerge (base: JsonObject, patch: JsonObject): JsonObject {
  const out: JsonObject = { ...base }
  for (const [key, value] of Object.entries(patch)) {
    const current = out[key]
    out[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// DHT testnet

export interface Bootstrap {
  /** Addresses of the testnet's bootstrap node(s), all on 127.0.0.1. */
  bootstrap: DHTNodeAddress[]
  destroy: () => Promise<void>
}

/** A local 3-node HyperDHT testnet on 127.0.0.1; nothing leaves the machine. */
export async function createBootstrap (): Promise<Bootstrap> {
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  let destroyed = false
  const destroy = async (): Promise<void> => {
    untrack(destroy)
    if (destroyed) return
    destroyed = true
    await testnet.destroy()
  }
  track(destroy)
  return { bootstrap: testnet.bootstrap.map(({ host, port }) => ({ host, port })), destroy }
}

// ---------------------------------------------------------------------------------------------
// Project roots

const roots = new Map<string, Cleanup>()

export interface MakeRootOptions {
  /** Also write `config/<env>.<name>.json` copies (what `setup-config.sh -t` does for `test`). */
  env?: string
  bootstrap: DHTNodeAddress[]
  /** Deep-merged into `config/common.json`. */
  common?: JsonObject
  /** Deep-merged into `config/base.thing.json`. */
  baseThing?: JsonObject
  /** Deep-merged into `config/facs/net.config.json`, e.g. `{ r0: { allow: [hex] } }`. */
  net?: JsonObject
  /** Any other config by name (`'facs/miningos-net.config'`, `'facs/store.config'`): deep-merged. */
  files?: Record<string, JsonObject>
}

/** `config/<name>.json` (or `config/<env>.<name>.json`) under `root`; `name` may hold a folder. */
export function configPath (root: string, name: string, env?: string): string {
  const base = path.basename(name)
  return path.join(root, 'config', path.dirname(name), env ? `${env}.${base}.json` : `${base}.json`)
}

/**
 * A throw-away project root in the OS temp dir with `config/` made from the repository's
 * `config/*.json.example` and `config/facs/*.json.example` (as `./setup-config.sh` would),
 * `r0.dhtOpts` pointing at the given bootstrap on 127.0.0.1, and the overrides deep-merged.
 * `status/` and `store/` are created by the worker itself. Removed by `cleanupAll()`.
 */
export async function makeRoot (opts: MakeRootOptions): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'mbt-wrk-'))
  const remove = async (): Promise<void> => {
    untrack(remove)
    await rm(root, { recursive: true, force: true })
  }
  track(remove)
  roots.set(root, remove)

  const overrides: Record<string, JsonObject> = {
    ...opts.files,
    'facs/net.config': deepMerge(
      { r0: { dhtOpts: { bootstrap: opts.bootstrap.map((b) => `${b.host}:${b.port}`), host: '127.0.0.1' } } },
      opts.net ?? {}
    )
  }
  if (opts.common) overrides.common = deepMerge(overrides.common ?? {}, opts.common)
  if (opts.baseThing) overrides['base.thing'] = deepMerge(overrides['base.thing'] ?? {}, opts.baseThing)

  for (const folder of ['', 'facs']) {
    const srcDir = path.join(REPO_ROOT, 'config', folder)
    await mkdir(path.join(root, 'config', folder), { recursive: true })
    for (const file of readdirSync(srcDir).filter((f) => f.endsWith('.json.example'))) {
      const name = path.posix.join(folder, file.slice(0, -'.json.example'.length))
      const example = JSON.parse(await readFile(path.join(srcDir, file), 'utf8')) as JsonObject
      const content = JSON.stringify(deepMerge(example, overrides[name] ?? {}), null, 2) + '\n'
      delete overrides[name]
      await writeFile(configPath(root, name), content)
      if (opts.env) await writeFile(configPath(root, name, opts.env), content)
    }
  }
  // Overrides for names that have no example are written as they are.
  for (const [name, content] of Object.entries(overrides)) {
    await mkdir(path.dirname(configPath(root, name)), { recursive: true })
    await writeFile(configPath(root, name), JSON.stringify(content, null, 2) + '\n')
    if (opts.env) await writeFile(configPath(root, name, opts.env), JSON.stringify(content, null, 2) + '\n')
  }
  return root
}

/** Deletes a root made by `makeRoot` now (otherwise `cleanupAll()` does). */
export async function removeRoot (dir: string): Promise<void> {
  const remove = roots.get(dir)
  roots.delete(dir)
  if (remove) await remove()
  else await rm(dir, { recursive: true, force: true })
}

/** Copies one repository example config into `root` again (e.g. after a test deleted it). */
export async function restoreExampleConfig (root: string, name: string): Promise<void> {
  await copyFile(path.join(REPO_ROOT, 'config', `${name}.json.example`), configPath(root, name))
}

// ---------------------------------------------------------------------------------------------
// RPC client

export interface RpcClient {
  /**
   * JSON request like `hp-rpc-cli` (`encodeRequest`), the reply parsed as it was sent: an error
   * reply comes back as the string `"[HRPC_ERR]=ERR_…"` (read it with `rpcErrorCode`), not thrown.
   */
  request: (publicKeyHex: string, method: string, data?: unknown, timeoutMs?: number) => Promise<unknown>
  /** Sends `raw` as is; returns the reply as text (no parsing). */
  requestRaw: (publicKeyHex: string, method: string, raw: Buffer, timeoutMs?: number) => Promise<string>
  /** The key a server sees as the caller (the client's DHT public key), hex. */
  publicKey: string
  close: () => Promise<void>
}

export interface RpcClientOptions {
  /** 32 bytes: gives the client a known, stable key (for allow-lists). Random when absent. */
  seed?: Buffer
}

/**
 * The shared client (workers/rpc/client.ts) on its own HyperDHT node bound to 127.0.0.1,
 * tracked for `cleanupAll()`. It opens one RPC channel per server key before sending (a connect
 * attempt that fails, or stalls for 5 s, is retried on a fresh connection, 3 attempts in all)
 * and reuses it until it closes; each request is sent exactly once and bounded by `timeoutMs`,
 * connect included: it rejects with `ERR_RPC_TIMEOUT` (a firewalled peer never answers), or
 * sooner with `ERR_RPC_CONNECT_FAILED` once every attempt failed (e.g. nobody serves the key).
 *
 * Timing notes: the first request to a server that was just restarted under the same key can
 * take ~4 s (hyperdht tries the stale record first), so keep timeouts there ≥ 6 s. A channel to
 * a killed process stays cached until its stream times out: use a fresh client per run.
 */
export function createRpcClient (bootstrap: DHTNodeAddress[], opts: RpcClientOptions = {}): RpcClient {
  const client = new SharedRpcClient({ bootstrap, host: '127.0.0.1', seed: opts.seed })

  let closed = false
  const close = async (): Promise<void> => {
    untrack(close)
    if (closed) return
    closed = true
    await client.close()
  }
  track(close)

  const requestRaw = async (publicKeyHex: string, method: string, raw: Buffer, timeoutMs = 10000): Promise<string> =>
    await client.requestRaw(publicKeyHex, method, raw, timeoutMs)

  return {
    publicKey: client.publicKey,
    requestRaw,
    request: async (publicKeyHex, method, data = {}, timeoutMs = 10000) =>
      parseReply(await requestRaw(publicKeyHex, method, encodeRequest(data), timeoutMs)),
    close
  }
}

/** `"[HRPC_ERR]=ERR_X"` → `'ERR_X'`; anything else → null. */
export const rpcErrorCode = errorCodeOfReply

// ---------------------------------------------------------------------------------------------
// Spawned workers

export interface WorkerStatus {
  rpcPublicKey: string
  rpcClientKey: string
  instanceId: string
  [key: string]: unknown
}

export interface ExitInfo {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface SpawnedWorker {
  proc: ChildProcess
  stdout: () => string
  stderr: () => string
  /** `<root>/status/<wtype>-<rack>.json` */
  statusFile: string
  /** Settles when the process has exited (never rejects). */
  exited: Promise<ExitInfo>
  /**
   * Resolves with the status file once it holds an instanceId other than the one present when
   * the process was spawned (a stale file from an earlier run on the same root is ignored).
   * Rejects if the process exits first or `timeoutMs` passes (the message quotes stderr).
   */
  waitForStatus: (timeoutMs?: number) => Promise<WorkerStatus>
  /** Sends `signal` and resolves with the exit code; SIGKILLs and rejects after `timeoutMs`. */
  stop: (signal?: NodeJS.Signals, timeoutMs?: number) => Promise<number | null>
  kill9: () => Promise<ExitInfo>
}

export interface SpawnWorkerOptions {
  wtype: string
  /** Omit to test the CLI's own validation. */
  rack?: string
  root: string
  env?: string
  extraArgs?: string[]
  /** Extra environment variables for the child (e.g. `DEBUG`). */
  processEnv?: NodeJS.ProcessEnv
  /**
   * Turn the CLI's final `process.exit(0)` into `process.exitCode = 0`, so after a signal the
   * process only ends if the graceful stop really released every handle (sockets, timers,
   * files). A leak then shows as a worker that does not exit, and after 3 s its stderr lists
   * the resources still active. Exits with other codes are left alone.
   */
  naturalExit?: boolean
}

/** Preloaded with `--import` for `naturalExit` (an ES module given as a data: URL). */
const NATURAL_EXIT_PRELOAD = 'data:text/javascript,' + encodeURIComponent(`
const realExit = process.exit.bind(process)
process.exit = (code) => {
  if (code !== 0 && code !== undefined) return realExit(code)
  process.exitCode = 0
  setTimeout(() => {
    process.stderr.write('natural-exit: still alive, active resources: ' + JSON.stringify(process.getActiveResourcesInfo()) + '\\n')
  }, 3000).unref()
}
`)

/**
 * Preloaded into every spawned child: it SIGKILLs itself once the test process that spawned it
 * is gone. Exit hooks in the test process are not enough: the test runner may end its worker
 * processes with a signal, and the children would live on. The timer is unref'd, so it never
 * keeps a worker alive.
 */
const ORPHAN_WATCHDOG_PRELOAD = 'data:text/javascript,' + encodeURIComponent(`
const parent = process.ppid
setInterval(() => {
  try { process.kill(parent, 0) } catch { process.kill(process.pid, 'SIGKILL') }
}, 250).unref()
`)

const OUTPUT_LIMIT = 1 << 20

function readStatusFile (file: string): WorkerStatus | null {
  if (!existsSync(file)) return null
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as unknown
    if (!isPlainObject(value) || typeof value.instanceId !== 'string' || typeof value.rpcPublicKey !== 'string') return null
    return value as WorkerStatus
  } catch {
    return null
  }
}

function tail (text: string, max = 2000): string {
  return text.length > max ? `…${text.slice(-max)}` : text
}

/**
 * Runs `node dist/worker.js` with raw CLI arguments (for argument-validation tests) and collects
 * its output. The process is tracked like every other spawned worker.
 */
export function spawnCli (
  args: string[],
  opts: { processEnv?: NodeJS.ProcessEnv, naturalExit?: boolean } = {}
): Omit<SpawnedWorker, 'statusFile' | 'waitForStatus'> {
  if (!existsSync(WORKER_JS)) throw new Error(`${WORKER_JS} is missing: run \`npm run build\` before the tests`)
  const nodeArgs = ['--import', ORPHAN_WATCHDOG_PRELOAD, ...(opts.naturalExit ? ['--import', NATURAL_EXIT_PRELOAD] : [])]
  const proc = spawn(process.execPath, [...nodeArgs, WORKER_JS, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...opts.processEnv },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  children.add(proc)
  let out = ''
  let err = ''
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => { out = (out + chunk).slice(-OUTPUT_LIMIT) })
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => { err = (err + chunk).slice(-OUTPUT_LIMIT) })

  // 'close', not 'exit': the process's output is all read by then (a refusal's stderr line included)
  const exited = new Promise<ExitInfo>((resolve) => {
    proc.once('close', (code, signal) => {
      children.delete(proc)
      resolve({ code, signal })
    })
    proc.once('error', () => {
      children.delete(proc)
      resolve({ code: null, signal: null })
    })
  })

  const isRunning = (): boolean => proc.exitCode === null && proc.signalCode === null

  const kill9 = async (): Promise<ExitInfo> => {
    untrack(kill9)
    if (isRunning()) proc.kill('SIGKILL')
    return await exited
  }
  track(kill9)

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10000): Promise<number | null> => {
    if (isRunning()) proc.kill(signal)
    try {
      const { code } = await withTimeout(exited, timeoutMs, `worker pid ${proc.pid} did not exit within ${timeoutMs} ms after ${signal}`)
      untrack(kill9)
      return code
    } catch (e) {
      await kill9()
      throw new Error(`${(e as Error).message}\nstderr: ${tail(err)}`, { cause: e })
    }
  }

  return { proc, stdout: () => out, stderr: () => err, exited, stop, kill9 }
}

/**
 * Spawns `node dist/worker.js --wtype … --env … --rack … --root <root>` (development env by
 * default). Read the RPC key with `waitForStatus()`; end it with `stop()`.
 */
export function spawnWorker (opts: SpawnWorkerOptions): SpawnedWorker {
  const { wtype, rack, root, env = 'development', extraArgs = [] } = opts
  const args = ['--wtype', wtype, '--env', env, ...(rack === undefined ? [] : ['--rack', rack]), '--root', root, ...extraArgs]
  const statusFile = path.join(root, 'status', `${wtype}-${rack ?? ''}.json`)
  const previousInstanceId = readStatusFile(statusFile)?.instanceId ?? null
  const cli = spawnCli(args, { processEnv: opts.processEnv, naturalExit: opts.naturalExit })

  const waitForStatus = async (timeoutMs = 15000): Promise<WorkerStatus> => {
    const deadline = Date.now() + timeoutMs
    let exit: ExitInfo | null = null
    void cli.exited.then((info) => { exit = info })
    for (;;) {
      const status = readStatusFile(statusFile)
      if (status && status.instanceId !== previousInstanceId) return status
      if (exit) {
        const { code, signal } = exit
        throw new Error(`worker exited (code ${String(code)}, signal ${String(signal)}) before writing ${statusFile}\nstderr: ${tail(cli.stderr())}`)
      }
      if (Date.now() >= deadline) throw new Error(`worker wrote no new status file ${statusFile} within ${timeoutMs} ms\nstderr: ${tail(cli.stderr())}`)
      await sleep(25)
    }
  }

  return { ...cli, statusFile, waitForStatus }
}

/** The pino JSON records in a worker's output (non-JSON lines, e.g. stack traces, are skipped). */
export function parseLogLines (output: string): Array<JsonObject & { level?: number, msg?: string }> {
  const records: JsonObject[] = []
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue
    try {
      const value = JSON.parse(line) as unknown
      if (isPlainObject(value)) records.push(value)
    } catch {
      // a partial line (output is capped) or not a log record
    }
  }
  return records
}

/** Reads a process's command line as `ps` shows it (`/proc/<pid>/cmdline`, NULs as spaces). */
export function processCmdline (pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+/g, ' ').trim()
}

// ---------------------------------------------------------------------------------------------
// In-process workers

export interface Lifecycle {
  start: () => Promise<void>
  stop: () => Promise<void>
}

/**
 * Constructs and starts a worker in this process; it is stopped by `cleanupAll()` unless the
 * test stops it first (stop is idempotent). A failed start rejects and leaves nothing tracked.
 */
export async function startWorkerInProcess<W extends Lifecycle> (
  WorkerClass: new (ctx: WorkerContext) => W,
  ctx: WorkerContext
): Promise<W> {
  const worker = new WorkerClass(ctx)
  const stop = async (): Promise<void> => {
    untrack(stop)
    await worker.stop()
  }
  track(stop)
  try {
    await worker.start()
  } catch (err) {
    await stop()
    throw err
  }
  return worker
}
