/**
 * Fleet benchmark: one real Kehua worker (its own process) polls N mock containers served by
 * `--mock-procs` mock processes (`dist/mock/server.js --bulk`), at `--interval-ms`, for
 * `--minutes`. Measured inside the worker: CPU (process.cpuUsage), RSS, event-loop delay
 * (perf_hooks.monitorEventLoopDelay), every collection tick (things skipped because their
 * previous collection was still running, collections that failed, how long the cycle took) and
 * every snapshot's latency. Last, the RPC phase (./rpc-load.ts): a bare @hyperswarm/rpc echo
 * server, then listThings {status:1, limit:100}, listThings with a projection and queryThing
 * getSnap against the worker, each for `--rpc-seconds` with `--rpc-concurrency` requests in
 * flight, while the fleet keeps being polled. During the steady phase, `listThings {status:1,
 * limit:100000, fields:{id, last.ts}}` every second (its latency) and, once per interval, every
 * thing's last collection outcome (listSampler).
 *
 *   npm run bench:fleet -- --containers 1000 --minutes 5   (= npm run bench -- --fleet 1000)
 *   (or: node dist/bench/fleet.js [--containers 1000] [--minutes 5] [--interval-ms 10000]
 *        [--mock-procs 2] [--rpc-seconds 15] [--rpc-concurrency 8] [--no-rpc] [--cpu-prof DIR] [--name fleet-1000]
 *        [--list-every-ms 1000 | --no-list] [--worker-set-flags "--heap-growing-percent=20" (v8.setFlagsFromString in the worker)]
 *        [--worker-node-args "--max-old-space-size=256"] [--heap-sampling FILE] [--heap-snapshot FILE])
 *   sweep: node dist/bench/fleet.js --sweep 50,100,250,500,1000 [--sweep-intervals 5000,30000] [--minutes 1]
 *   stat logs per tag: node dist/bench/fleet.js --stat-logs 1000 [--stat-rounds 30]   (statLogsCost below)
 *   start-up: node dist/bench/fleet.js --startup 6000 [--startup-runs 3] [--startup-root DIR (store kept and reused)]   (runStartup below)
 *   child modes: --worker <root> <things.json> [--cpu-prof DIR], spawned by the parent
 *
 * Writes bench/results/<name>.json (default fleet-<containers>).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import HyperDHT from 'hyperdht'
import { createServer } from '../mock/server'
import { StoreFacility } from '../workers/facs/store'
import { MicroBTContainer } from '../workers/lib/container'
import { RpcClient } from '../workers/rpc/client'
import { thingLogKey } from '../workers/tpl/thing/logs/log-names'
import { StatTimeLogs } from '../workers/tpl/thing/logs/stat-log'
import { StatTicks } from '../workers/tpl/thing/stats/stat-ticks'
import { TimeLogs } from '../workers/tpl/thing/logs/time-log'
import { MBT_STAT_SPEC } from '../workers/lib/stats'
import type { Snap, ThingState } from '../workers/tpl/thing/types'
import WrkContainerRackKehua from '../workers/kehua.rack.container.wrk'
import { benchRoot } from './root'
import { startMockProc, type MockProc } from './mock-procs'
import { machine, numberFlag, procCpuMs, procRssMb, quantile, round, sortedCopy, stringFlag, table, writeResult } from './proc'
import { runLoad, type LoadResult } from './rpc-load'

const DIST = path.resolve(__dirname, '..')

// ------------------------------------------------------------------------------ worker child

interface TickRecord {
  /** Index of the collection tick (1 = first). */
  tick: number
  phase: string
  startedAt: number
  /** Things whose previous collection was still running: skipped by this tick. */
  skipped: number
  /** Collections of this tick that failed (no success snapshot). */
  failed: number
  collected: number
  /** Until the last collection of this tick finished. */
  cycleMs: number
  /** Worker CPU (user + system) from this tick's start to the next one's. */
  cpuMs: number
  /** Wall time from this tick's start to the next one's. */
  wallMs: number
  rssMb: number
  heapMb: number
  /** Buffers and other memory outside the JS heap that V8 knows of. */
  externalMb: number
  heapTotalMb: number
  /** Bees (Hypercores) the store holds open. */
  openBees: number
}

interface PhaseStats {
  loop: IntervalHistogram
  snapMs: number[]
}

/** The worker: registers the things, instruments the loop, answers `phase <name>` and `report` on stdin. */
async function workerChild (root: string, thingsFile: string, heapFile: string | undefined, noStats: boolean): Promise<void> {
  // `--worker-set-flags`: V8 flags set by the process itself at start, as an entry point could do
  const runtimeFlags = process.env.MBT_BENCH_V8_FLAGS
  if (runtimeFlags) (await import('node:v8')).setFlagsFromString(runtimeFlags)
  const heapProfile = heapFile !== undefined ? await startHeapSampling(heapFile) : null
  const ports = JSON.parse(await readFile(thingsFile, 'utf8')) as Array<{ port: number }>
  const worker = new WrkContainerRackKehua({ wtype: 'wrk-container-rack-kehua', env: 'development', rack: 'fleet', root })
  await worker.start()
  worker.logger.level = 'warn'
  for (let i = 0; i < ports.length; i++) {
    await worker.callRpc('registerThing', {
      id: `c-${i}`,
      opts: { address: '127.0.0.1', port: ports[i]?.port, username: 'admin', password: 'admin' },
      info: { container: `bay-${i}` }
    })
  }

  // `--no-stats`: the snapshot path alone (collection, decode, alerts, `last`, thing-5m appends), no stat ticks
  if (noStats) worker.statSpec = () => null
  const phases = new Map<string, PhaseStats>()
  let phase = 'warmup'
  const stats = (name: string): PhaseStats => {
    let s = phases.get(name)
    if (!s) {
      s = { loop: monitorEventLoopDelay({ resolution: 10 }), snapMs: [] }
      phases.set(name, s)
    }
    return s
  }
  const setPhase = (name: string): void => {
    stats(phase).loop.disable()
    phase = name
    stats(phase).loop.enable()
  }
  stats(phase).loop.enable()

  // every snapshot: latency and outcome
  const collect = worker.collectThingSnap.bind(worker)
  let tickFailed = 0
  let tickCollected = 0
  worker.collectThingSnap = async (state: ThingState) => {
    const t0 = performance.now()
    const snap = await collect(state)
    stats(phase).snapMs.push(performance.now() - t0)
    tickCollected++
    if (!snap.success) tickFailed++
    return snap
  }

  // every tick: skipped things, cycle time, CPU and memory until the next tick
  const ticks: TickRecord[] = []
  const cycle = worker.collectSnaps.bind(worker)
  let tick = 0
  let lastCpu = process.cpuUsage()
  let lastWall = performance.now()
  let open: TickRecord | null = null
  worker.collectSnaps = async () => {
    const now = performance.now()
    const cpu = process.cpuUsage()
    if (open) {
      open.cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000
      open.wallMs = now - lastWall
      ticks.push(open)
      process.stdout.write(JSON.stringify({ tick: open }) + '\n')
    }
    lastCpu = cpu
    lastWall = now
    const mem = process.memoryUsage()
    const rec: TickRecord = {
      tick: ++tick,
      phase,
      startedAt: Date.now(),
      skipped: worker.registry.all().filter((s) => s.collecting).length,
      failed: 0,
      collected: 0,
      cycleMs: NaN,
      cpuMs: NaN,
      wallMs: NaN,
      rssMb: round(mem.rss / 2 ** 20, 1),
      heapMb: round(mem.heapUsed / 2 ** 20, 1),
      externalMb: round(mem.external / 2 ** 20, 1),
      heapTotalMb: round(mem.heapTotal / 2 ** 20, 1),
      openBees: worker.store.openCount
    }
    open = rec
    tickFailed = 0
    tickCollected = 0
    await cycle()
    rec.cycleMs = round(performance.now() - now, 1)
    rec.failed = tickFailed
    rec.collected = tickCollected
  }

  process.stdout.write(JSON.stringify({ ready: true, key: worker.net.rpcPublicKey.toString('hex'), things: worker.registry.size }) + '\n')
  for await (const line of createInterface({ input: process.stdin })) {
    const [cmd, arg] = line.split(' ')
    if (cmd === 'phase' && arg !== undefined) setPhase(arg)
    if (cmd === 'report') {
      const out: Record<string, unknown> = {}
      for (const [name, s] of phases) {
        const sorted = sortedCopy(s.snapMs)
        out[name] = {
          snapshots: s.snapMs.length,
          snapP50Ms: round(quantile(sorted, 0.5), 1),
          snapP99Ms: round(quantile(sorted, 0.99), 1),
          snapMaxMs: round(sorted[sorted.length - 1] ?? NaN, 1),
          loopP50Ms: round(s.loop.percentile(50) / 1e6, 1),
          loopP99Ms: round(s.loop.percentile(99) / 1e6, 1),
          loopMaxMs: round(s.loop.max / 1e6, 1)
        }
      }
      process.stdout.write(JSON.stringify({ report: out }) + '\n')
    }
    if (cmd === 'heapsnapshot' && arg !== undefined) {
      const v8 = await import('node:v8')
      v8.writeHeapSnapshot(arg)
      process.stdout.write(JSON.stringify({ heapsnapshot: arg }) + '\n')
    }
    if (cmd === 'stop') break
  }
  if (heapProfile !== null) await heapProfile()
  await worker.stop()
  process.exit(0)
}

/**
 * `--heap-sampling FILE`: V8's sampling heap profiler over the whole run, objects collected by
 * the garbage collector included, written to FILE (.heapprofile, opens in Chrome DevTools).
 */
async function startHeapSampling (file: string): Promise<() => Promise<void>> {
  const { Session } = await import('node:inspector')
  const session = new Session()
  session.connect()
  const post = async (method: string, params: object = {}): Promise<unknown> => await new Promise((resolve, reject) => {
    session.post(method, params, (err, res) => { if (err) reject(err); else resolve(res) })
  })
  await post('HeapProfiler.enable')
  await post('HeapProfiler.startSampling', { samplingInterval: 65536, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
  return async () => {
    const res = await post('HeapProfiler.stopSampling') as { profile: unknown }
    await writeFile(file, JSON.stringify(res.profile))
    session.disconnect()
  }
}

// ------------------------------------------------------------------------------ parent

interface Child {
  proc: ChildProcess
  next: () => Promise<Record<string, unknown>>
  send: (line: string) => void
  onMessage: (fn: (msg: Record<string, unknown>) => void) => void
}

/** A child process speaking JSON lines on stdout (lines with pino's `level` are log lines, printed). */
function child (args: string[], nodeArgs: string[] = []): Child {
  const proc = spawn(process.execPath, [...nodeArgs, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
  const queue: Array<Record<string, unknown>> = []
  const waiters: Array<(m: Record<string, unknown>) => void> = []
  const listeners: Array<(m: Record<string, unknown>) => void> = []
  let exited = false
  const rl = createInterface({ input: proc.stdout as NodeJS.ReadableStream })
  rl.on('line', (text) => {
    let msg: Record<string, unknown>
    try {
      msg = JSON.parse(text) as Record<string, unknown>
    } catch {
      process.stderr.write(`[child] ${text}\n`)
      return
    }
    if ('level' in msg) {
      process.stderr.write(`[worker log] ${text.slice(0, 300)}\n`)
      return
    }
    for (const l of listeners) l(msg)
    if ('tick' in msg) return
    const w = waiters.shift()
    if (w) w(msg)
    else queue.push(msg)
  })
  proc.once('exit', () => { exited = true; for (const w of waiters.splice(0)) w({ exited: true }) })
  return {
    proc,
    next: async () => {
      const q = queue.shift()
      if (q) return q
      if (exited) throw new Error(`child ${args.join(' ')} exited`)
      return await new Promise((resolve) => waiters.push(resolve))
    },
    send: (line) => { proc.stdin?.write(line + '\n') },
    onMessage: (fn) => { listeners.push(fn) }
  }
}

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

interface FleetOptions {
  containers: number
  minutes: number
  intervalMs: number
  mockProcs: number
  rpc: boolean
  rpcSeconds: number
  rpcConcurrency: number
  cpuProf?: string
  heapSampling?: string
  /** The worker without stat ticks (its statSpec null): what the snapshot path alone costs. */
  noStats?: boolean
  /** Extra node flags of the worker process (`--worker-node-args "--max-semi-space-size=32"`). */
  workerNodeArgs?: string[]
  /** Writes a heap snapshot of the worker at the end of the measurement (`--heap-snapshot FILE`). */
  heapSnapshot?: string
  /** During the steady phase: `listThings` of every thing's id and last.ts every this many ms (0: none). */
  listEveryMs: number
  name: string
}

/** The listing the issue measures: every thing's id and `last.ts`. */
const LIST_ALL_TS = { status: 1, limit: 100_000, fields: { id: 1, 'last.ts': 1 } }
/** The same with the outcome of each thing's last collection (the "fresh but no success" check). */
const LIST_ALL_OUTCOME = { status: 1, limit: 100_000, fields: { id: 1, 'last.ts': 1, 'last.snap.success': 1, 'last.err': 1 } }

interface ListedLast { id: string, last?: { ts?: number, err?: string | null, snap?: { success?: boolean } | null } }

/** One look at every thing's last collection. */
interface OutcomeSample {
  at: number
  things: number
  /** Things whose last.ts changed since the previous look (collected in between). */
  fresh: number
  /** Of those, the ones whose last collection did not succeed. */
  freshFailed: number
  errors: Record<string, number>
}

/**
 * While the fleet is polled: LIST_ALL_TS every `everyMs` (its latency), and LIST_ALL_OUTCOME
 * once per collection interval (how many things were collected since the previous look, and
 * how many of those failed, by code). A look where most fresh things failed is a collection
 * round that failed as a whole; its worker ticks tell whether the worker saw it too.
 */
function listSampler (client: RpcClient, key: string, everyMs: number, intervalMs: number): { stop: () => Promise<Record<string, unknown>> } {
  let running = true
  const latencies: number[] = []
  let errors = 0
  let firstError: string | null = null
  let replyBytes = 0
  const samples: OutcomeSample[] = []
  const latency = (async () => {
    while (running) {
      const t0 = performance.now()
      try {
        const reply = await client.request(key, 'listThings', LIST_ALL_TS, { timeoutMs: 10_000 })
        latencies.push(performance.now() - t0)
        replyBytes = Buffer.byteLength(JSON.stringify(reply))
      } catch (err) {
        errors++
        firstError ??= (err as Error).message
      }
      await sleep(Math.max(0, everyMs - (performance.now() - t0)))
    }
  })()
  const outcome = (async () => {
    let prev = new Map<string, number>()
    while (running) {
      const t0 = performance.now()
      try {
        const items = await client.request(key, 'listThings', LIST_ALL_OUTCOME, { timeoutMs: 10_000 }) as ListedLast[]
        const sample: OutcomeSample = { at: Date.now(), things: items.length, fresh: 0, freshFailed: 0, errors: {} }
        const seen = new Map<string, number>()
        for (const t of items) {
          const ts = t.last?.ts ?? 0
          seen.set(t.id, ts)
          if (prev.size === 0 || ts === prev.get(t.id)) continue
          sample.fresh++
          if (t.last?.snap?.success !== true) {
            sample.freshFailed++
            const code = t.last?.err ?? (t.last?.snap ? 'no error code' : 'no snapshot')
            sample.errors[code] = (sample.errors[code] ?? 0) + 1
          }
        }
        if (prev.size > 0) samples.push(sample)
        prev = seen
      } catch {
        // a look that failed is not counted (the latency loop counts errors)
      }
      await sleep(Math.max(0, intervalMs - (performance.now() - t0)))
    }
  })()
  return {
    stop: async () => {
      running = false
      await Promise.all([latency, outcome])
      const sorted = sortedCopy(latencies)
      const failedRounds = samples.filter((x) => x.fresh > 0 && x.freshFailed >= x.fresh / 2)
      return {
        request: LIST_ALL_TS,
        everyMs,
        requests: latencies.length,
        errors,
        firstError,
        p50Ms: round(quantile(sorted, 0.5), 1),
        p99Ms: round(quantile(sorted, 0.99), 1),
        maxMs: round(sorted[sorted.length - 1] ?? NaN, 1),
        replyBytes,
        outcome: {
          request: LIST_ALL_OUTCOME,
          samples: samples.length,
          freshPerSampleMin: samples.length > 0 ? Math.min(...samples.map((x) => x.fresh)) : null,
          freshFailedTotal: samples.reduce((a, x) => a + x.freshFailed, 0),
          freshFailedMax: samples.length > 0 ? Math.max(...samples.map((x) => x.freshFailed)) : null,
          failedRounds
        }
      }
    }
  }
}

export async function runFleet (o: FleetOptions): Promise<Record<string, unknown>> {
  const bench = await benchRoot({ collectSnapsItvMs: o.intervalMs })
  const mocks: MockProc[] = []
  let worker: Child | null = null
  let echo: Child | null = null
  const client = new RpcClient({ bootstrap: bench.bootstrap, host: '127.0.0.1' })
  try {
    const per = Math.ceil(o.containers / o.mockProcs)
    const t0 = Date.now()
    const started = await Promise.all(Array.from({ length: o.mockProcs }, async (_, p) => {
      const first = p * per
      const count = Math.min(per, o.containers - first)
      return count > 0 ? await startMockProc(bench.root, p, first, count) : null
    }))
    for (const m of started) if (m) mocks.push(m)
    const ports = mocks.flatMap((m) => m.ports)
    console.error(`${ports.length} mock containers in ${mocks.length} processes (${Date.now() - t0} ms)`)
    const thingsFile = path.join(bench.root, 'things.json')
    await writeFile(thingsFile, JSON.stringify(ports.map((port) => ({ port }))))

    const nodeArgs = [...(o.cpuProf !== undefined ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProf] : []), ...(o.workerNodeArgs ?? [])]
    const heapArgs = [...(o.heapSampling !== undefined ? ['--heap-sampling', o.heapSampling] : []), ...(o.noStats === true ? ['--no-stats'] : [])]
    worker = child([__filename, '--worker', bench.root, thingsFile, ...heapArgs], nodeArgs)
    const ready = await worker.next()
    if (ready.ready !== true) throw new Error(`worker did not start: ${JSON.stringify(ready)}`)
    const key = String(ready.key)
    console.error(`worker ready with ${String(ready.things)} things (${Date.now() - t0} ms)`)
    const ticks: TickRecord[] = []
    worker.onMessage((m) => {
      if (!('tick' in m)) return
      const t = m.tick as TickRecord
      ticks.push(t)
      console.error(`tick ${t.tick} ${t.phase}: cycle ${t.cycleMs} ms, collected ${t.collected}, failed ${t.failed}, skipped ${t.skipped}, cpu ${round(t.cpuMs / t.wallMs * 100, 1)} %, rss ${t.rssMb} MB (heap ${t.heapMb} of ${t.heapTotalMb}, external ${t.externalMb}, ${t.openBees} bees)`)
    })

    // warm-up: two ticks (connections, the first thing-5m append of every thing)
    const waitTicks = async (n: number): Promise<void> => {
      const target = ticks.length + n
      const deadline = Date.now() + (n + 2) * o.intervalMs + 120_000
      while (ticks.length < target && Date.now() < deadline) await sleep(100)
    }
    await waitTicks(2)

    const mockCpu0 = mocks.map((m) => procCpuMs(m.proc.pid ?? 0))
    const measureMs = o.minutes * 60_000
    const tStart = Date.now()
    const rpcResults: LoadResult[] = []
    let rpcWindow: { start: number, end: number } | null = null
    const rpcTicks = o.rpc ? Math.ceil((5 * o.rpcSeconds * 1000 + 5000) / o.intervalMs) + 1 : 0
    const steadyTicks = Math.max(1, Math.round(measureMs / o.intervalMs) - rpcTicks)
    // the RPC phase comes last: a phase is one stretch of time (an event-loop histogram disabled and
    // enabled again would count the time in between as one delay)
    worker.send('phase steady')
    const sampler = o.listEveryMs > 0 ? listSampler(client, key, o.listEveryMs, o.intervalMs) : null
    await waitTicks(steadyTicks)
    const listing = sampler ? await sampler.stop() : null
    if (o.rpc) {
      echo = child([path.join(__dirname, 'rpc-load.js'), '--echo', JSON.stringify(bench.bootstrap)])
      const echoKey = String((await echo.next()).key)
      await client.request(echoKey, 'echo', {})
      await client.request(key, 'ping', {})
      worker.send('phase rpc')
      rpcWindow = { start: Date.now(), end: 0 }
      const load = { seconds: o.rpcSeconds, concurrency: o.rpcConcurrency }
      // (five runs of rpcSeconds each: the echo, the three worker requests, the sized echo)
      const limit100 = { status: 1, limit: 100 }
      const projected = { status: 1, fields: { id: 1, 'last.snap.stats.status': 1 } }
      rpcResults.push(await runLoad(client, echoKey, 'bare @hyperswarm/rpc echo', 'echo', projected, load))
      rpcResults.push(await runLoad(client, key, 'listThings {status:1, limit:100}', 'listThings', limit100, load))
      rpcResults.push(await runLoad(client, key, 'listThings {status:1, fields:{id, last.snap.stats.status}}', 'listThings', projected, load))
      rpcResults.push(await runLoad(client, key, 'queryThing getSnap', 'queryThing', { id: 'c-0', method: 'getSnap', params: [] }, load))
      const projectedBytes = rpcResults[2]?.replyBytes ?? 0
      rpcResults.push(await runLoad(client, echoKey, `bare echo, ${projectedBytes}-byte reply (the projected page's size)`, 'echoSized', { bytes: projectedBytes }, load))
      rpcWindow.end = Date.now()
      for (const r of rpcResults) console.error(`${r.label}: ${r.requestsPerSecond} req/s, p99 ${r.p99Ms} ms, ${r.errors} errors`)
    }
    while (Date.now() - tStart < measureMs) await sleep(250)
    await waitTicks(1)
    const mockCpuMs = mocks.map((m, i) => procCpuMs(m.proc.pid ?? 0) - (mockCpu0[i] ?? 0))
    const mockRss = mocks.map((m) => procRssMb(m.proc.pid ?? 0))
    const measuredMs = Date.now() - tStart
    if (o.heapSnapshot !== undefined) {
      worker.send(`heapsnapshot ${o.heapSnapshot}`)
      for (let i = 0; i < 5; i++) if ('heapsnapshot' in await worker.next()) break
    }
    worker.send('report')
    let report: Record<string, unknown> = {}
    for (let i = 0; i < 5; i++) {
      const msg = await worker.next()
      if ('report' in msg) { report = msg.report as Record<string, unknown>; break }
    }

    // ticks that started in the measured window
    const measured = ticks.filter((t) => t.startedAt >= tStart && t.startedAt < tStart + measuredMs)
    const steady = measured.filter((t) => t.phase === 'steady')
    const during = measured.filter((t) => t.phase === 'rpc')
    const sum = (ts: TickRecord[], f: (t: TickRecord) => number): number => ts.reduce((a, t) => a + f(t), 0)
    const cpuPct = (ts: TickRecord[]): number => round(sum(ts, (t) => t.cpuMs) / sum(ts, (t) => t.wallMs) * 100, 1)
    const cpuPerSnap = (ts: TickRecord[]): number => round(sum(ts, (t) => t.cpuMs) / Math.max(1, sum(ts, (t) => t.collected)), 2)
    const missed = (ts: TickRecord[]): number => ts.filter((t) => t.skipped > 0 || t.failed > 0 || t.collected < o.containers || t.cycleMs >= o.intervalMs).length
    const steadyReport = report.steady as Record<string, number> | undefined
    const rpcReport = report.rpc as Record<string, number> | undefined
    const echoRps = rpcResults[0]?.requestsPerSecond ?? NaN
    const result = {
      name: o.name,
      date: new Date().toISOString().slice(0, 10),
      machine: machine(),
      settings: { containers: o.containers, intervalMs: o.intervalMs, minutes: o.minutes, mockProcesses: mocks.length, thingQueryConcurrency: 25, maxInFlight: 4, rpcSeconds: o.rpc ? o.rpcSeconds : 0, rpcConcurrency: o.rpcConcurrency, workerNodeArgs: o.workerNodeArgs ?? [], statTicks: o.noStats !== true },
      measuredSeconds: round(measuredMs / 1000, 0),
      ticks: measured.length,
      missedTicks: missed(measured),
      skippedCollections: sum(measured, (t) => t.skipped),
      failedSnapshots: sum(measured, (t) => t.failed),
      cycleMsP50: round(quantile(sortedCopy(measured.map((t) => t.cycleMs)), 0.5), 0),
      cycleMsMax: round(Math.max(...measured.map((t) => t.cycleMs)), 0),
      listThings: listing,
      steady: {
        ticks: steady.length,
        workerCpuPercent: cpuPct(steady),
        cpuMsPerSnapshot: cpuPerSnap(steady),
        rssMbMax: Math.max(...steady.map((t) => t.rssMb)),
        heapMbMax: Math.max(...steady.map((t) => t.heapMb)),
        snapshotP50Ms: steadyReport?.snapP50Ms,
        snapshotP99Ms: steadyReport?.snapP99Ms,
        eventLoopDelayP99Ms: steadyReport?.loopP99Ms,
        eventLoopDelayMaxMs: steadyReport?.loopMaxMs
      },
      rpcPhase: o.rpc
        ? {
            ticks: during.length,
            missedTicks: missed(during),
            workerCpuPercent: cpuPct(during),
            rssMbMax: Math.max(...during.map((t) => t.rssMb)),
            snapshotP50Ms: rpcReport?.snapP50Ms,
            snapshotP99Ms: rpcReport?.snapP99Ms,
            eventLoopDelayP99Ms: rpcReport?.loopP99Ms,
            eventLoopDelayMaxMs: rpcReport?.loopMaxMs,
            projectedRatioToEcho: round((rpcResults[2]?.requestsPerSecond ?? NaN) / echoRps, 2),
            projectedRatioToSizedEcho: round((rpcResults[2]?.requestsPerSecond ?? NaN) / (rpcResults[4]?.requestsPerSecond ?? NaN), 2),
            results: rpcResults.map((r) => ({ ...r, ratioToEcho: round(r.requestsPerSecond / echoRps, 2) }))
          }
        : null,
      mocks: { cpuPercentPerProcess: mockCpuMs.map((ms) => round(ms / measuredMs * 100, 1)), rssMb: mockRss.map((r) => round(r, 0)) }
    }
    return result
  } finally {
    if (worker) {
      worker.send('stop')
      await Promise.race([new Promise((resolve) => worker?.proc.once('exit', resolve)), sleep(30_000)])
      if (worker.proc.exitCode === null) worker.proc.kill('SIGKILL')
    }
    if (echo) {
      echo.proc.stdin?.end()
      echo.proc.kill('SIGTERM')
    }
    for (const m of mocks) m.proc.kill('SIGTERM')
    await client.close()
    await bench.close()
  }
}

export function formatFleet (r: Record<string, any>): string { // eslint-disable-line @typescript-eslint/no-explicit-any
  const s = r.steady
  const lines = [table(
    ['containers', 'interval', 'measured', 'ticks', 'missed', 'failed snapshots', 'worker CPU % of a core', 'CPU ms / snapshot', 'RSS MB (max)', 'snapshot p50 ms', 'snapshot p99 ms', 'event-loop delay p99 ms', 'cycle p50 / max ms', 'mock CPU % per process'],
    [[r.settings.containers, `${r.settings.intervalMs / 1000} s`, `${r.measuredSeconds} s`, r.ticks, r.missedTicks, r.failedSnapshots, s.workerCpuPercent, s.cpuMsPerSnapshot, s.rssMbMax, s.snapshotP50Ms, s.snapshotP99Ms, s.eventLoopDelayP99Ms, `${r.cycleMsP50} / ${r.cycleMsMax}`, r.mocks.cpuPercentPerProcess.join(', ')]]
  )]
  if (r.listThings) {
    const l = r.listThings
    const oc = l.outcome
    lines.push('', `listThings ${JSON.stringify(l.request)} every ${l.everyMs} ms while the fleet is polled: ${l.requests} requests, p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms, max ${l.maxMs} ms, ${l.errors} errors, ${l.replyBytes} bytes`)
    lines.push(`every thing's last collection, ${oc.samples} looks one interval apart: at least ${oc.freshPerSampleMin} things collected between looks; ${oc.freshFailedTotal} collections without success (at most ${oc.freshFailedMax} in one look); rounds failed as a whole: ${oc.failedRounds.length}`)
  }
  if (r.rpcPhase) {
    const p = r.rpcPhase
    lines.push('', `RPC phase (${p.ticks} ticks, ${p.missedTicks} missed; worker CPU ${p.workerCpuPercent} %, snapshot p99 ${p.snapshotP99Ms} ms, event-loop delay p99 ${p.eventLoopDelayP99Ms} ms; projected listThings / echo ${p.projectedRatioToEcho}, / same-size echo ${p.projectedRatioToSizedEcho}):`, '')
    lines.push(table(['request', 'in flight', 'requests/s', 'ratio to echo', 'p50 ms', 'p99 ms', 'reply bytes', 'items', 'errors'],
      p.results.map((x: LoadResult & { ratioToEcho: number }) => [x.label, x.concurrency, x.requestsPerSecond, x.ratioToEcho, x.p50Ms, x.p99Ms, x.replyBytes, x.replyItems ?? '', x.errors])))
  }
  return lines.join('\n')
}

/**
 * `--sweep 50,100,250,500,1000 [--sweep-intervals 5000,30000]`: short runs without the RPC
 * phase (`--minutes`, default 1), one per fleet size at `--interval-ms`, then one per extra
 * interval at the largest size; one table, bench/results/fleet-sweep.json.
 */
async function sweep (sizes: number[], intervals: number[], base: Omit<FleetOptions, 'containers' | 'name' | 'intervalMs' | 'rpc'> & { intervalMs: number }): Promise<void> {
  const runs: Array<Record<string, any>> = [] // eslint-disable-line @typescript-eslint/no-explicit-any
  const plan: Array<[number, number]> = [...sizes.map((n): [number, number] => [n, base.intervalMs]), ...intervals.map((i): [number, number] => [Math.max(...sizes), i])]
  for (const [containers, intervalMs] of plan) {
    console.error(`--- ${containers} containers at ${intervalMs / 1000} s`)
    runs.push(await runFleet({ ...base, containers, intervalMs, rpc: false, name: `sweep-${containers}-${intervalMs}` }))
  }
  const rows = runs.map((r) => ({
    containers: r.settings.containers,
    intervalS: r.settings.intervalMs / 1000,
    snapshotsPerS: round(r.settings.containers / (r.settings.intervalMs / 1000), 1),
    missedTicks: r.missedTicks,
    workerCpuPercent: r.steady.workerCpuPercent,
    cpuMsPerSnapshot: r.steady.cpuMsPerSnapshot,
    rssMbMax: r.steady.rssMbMax,
    heapMbMax: r.steady.heapMbMax,
    snapshotP50Ms: r.steady.snapshotP50Ms,
    snapshotP99Ms: r.steady.snapshotP99Ms,
    eventLoopDelayP99Ms: r.steady.eventLoopDelayP99Ms,
    cycleMsP50: r.cycleMsP50
  }))
  console.log(table(['containers', 'interval', 'snapshots/s', 'missed', 'worker CPU %', 'CPU ms / snapshot', 'RSS MB max', 'heap MB max', 'snapshot p50 / p99 ms', 'loop delay p99 ms', 'cycle p50 ms'],
    rows.map((x) => [x.containers, `${x.intervalS} s`, x.snapshotsPerS, x.missedTicks, x.workerCpuPercent, x.cpuMsPerSnapshot, x.rssMbMax, x.heapMbMax, `${x.snapshotP50Ms} / ${x.snapshotP99Ms}`, x.eventLoopDelayP99Ms, x.cycleMsP50])))
  console.log(`\nwritten ${await writeResult('fleet-sweep', { date: new Date().toISOString().slice(0, 10), machine: machine(), minutesPerRun: base.minutes, rows })}`)
}

// ------------------------------------------------------------------------------ start-up

/**
 * `--startup N [--startup-runs 3]`: start-up with N registered things, from process start to the
 * first RPC answer. A preparation run (in this process) registers N containers (no device
 * answers: port 9), stores one real Kehua snapshot per thing in its `thing-5m` log and one active
 * alert, and stops. Then each run starts the worker as an operator does (`node dist/worker.js`),
 * asks `ping` every 20 ms until it answers, then `listThings {status:1, limit:100000,
 * fields:{id:1,'last.ts':1}}` (every thing must have its `last` restored), and stops it.
 */
export async function runStartup (things: number, runs: number, keepRoot?: string): Promise<Record<string, unknown>> {
  // one `container-<name>` stat tag per thing: more than the default maxStatTags (5000) allows
  const bench = await benchRoot({ collectSnapsItvMs: 60_000, maxStatTags: Math.max(5000, things + 10) })
  const client = new RpcClient({ bootstrap: bench.bootstrap, host: '127.0.0.1' })
  const rack = 'startup'
  try {
    const t0 = Date.now()
    // `--startup-root DIR`: the store is kept there and reused by later runs (a store cannot be moved)
    const root = keepRoot ?? bench.root
    if (keepRoot !== undefined) await cp(path.join(bench.root, 'config'), path.join(keepRoot, 'config'), { recursive: true, force: true })
    const storeDir = path.join(root, 'store', `${rack}-db`)
    let key: string
    if (keepRoot !== undefined && existsSync(storeDir)) {
      const store = new StoreFacility(storeDir)
      await store.ready()
      key = HyperDHT.keyPair(await store.getSeed('rpc')).publicKey.toString('hex')
      await store.close()
    } else {
      key = await prepareStartupStore(root, rack, things)
      console.error(`${things} things registered, each with a stored snapshot and an active alert (${Date.now() - t0} ms)`)
    }
    const rows: Array<Record<string, number>> = []
    for (let run = 0; run < runs; run++) rows.push(await timeStartup(root, rack, key, client, things))
    const med = (f: (r: Record<string, number>) => number): number => round(quantile(sortedCopy(rows.map(f)), 0.5), 0)
    return {
      name: `fleet-startup-${things}`,
      date: new Date().toISOString().slice(0, 10),
      machine: machine(),
      things,
      runs: rows,
      medianFirstAnswerMs: med((r) => r.firstAnswerMs),
      medianListedMs: med((r) => r.listedMs)
    }
  } finally {
    await client.close()
    await bench.close()
  }
}

/** One real snapshot of a Kehua container (an in-process mock, seed 1): what every thing's `last` holds. */
async function oneKehuaSnap (): Promise<Snap> {
  const mock = createServer({ type: 'Kehua', port: 0, tickMs: 0, seed: 1 })
  const { port } = await mock.start()
  const container = new MicroBTContainer({ vendor: 'kehua', address: '127.0.0.1', port, username: 'admin', password: 'admin', timeout: 5000 })
  try {
    return await container.getSnap()
  } finally {
    await container.close()
    await mock.exit()
  }
}

async function prepareStartupStore (root: string, rack: string, count: number): Promise<string> {
  const snap = await oneKehuaSnap()
  const worker = new WrkContainerRackKehua({ wtype: 'wrk-container-rack-kehua', env: 'development', rack, root })
  await worker.start()
  worker.logger.level = 'warn'
  try {
    const ts = Date.now()
    for (let i = 0; i < count; i++) {
      const id = `c-${i}`
      await worker.callRpc('registerThing', { id, opts: { address: '127.0.0.1', port: 9, username: 'admin', password: 'admin' }, info: { container: `bay-${i}` } })
      await worker.logs.append(thingLogKey(id), ts, { ts, err: null, snap })
      await worker.logs.release(thingLogKey(id))
      const alert = { name: 'high_inlet_temp_unit', code: 'high_inlet_temp_unit', description: 'Unit inlet water temperature is high', severity: 'critical' as const, createdAt: ts, uuid: `u-${i}` }
      await worker.alerts.record(worker.registry.get(id), [], [alert])
    }
    return worker.net.rpcPublicKey.toString('hex')
  } finally {
    await worker.stop()
  }
}

/** One start of the worker process: ms from spawn to its first answers. */
async function timeStartup (root: string, rack: string, key: string, client: RpcClient, things: number): Promise<Record<string, number>> {
  const t0 = performance.now()
  const nodeArgs = stringFlag('--cpu-prof') !== undefined ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(stringFlag('--cpu-prof') as string)] : []
  const proc = spawn(process.execPath, [...nodeArgs, path.join(DIST, 'worker.js'), '--wtype', 'wrk-container-rack-kehua', '--env', 'development', '--rack', rack, '--root', root], { stdio: ['ignore', 'pipe', 'inherit'] })
  const marks: Record<string, number> = {}
  let loaded: Record<string, unknown> = {}
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    try {
      const msg = JSON.parse(text) as { msg?: string }
      if (msg.msg === 'things loaded') { marks.thingsLoadedMs = performance.now() - t0; loaded = msg }
      if (msg.msg === 'worker started') marks.workerStartedMs = performance.now() - t0
    } catch {
      // not a log line
    }
  })
  try {
    let firstAnswerMs = NaN
    while (Number.isNaN(firstAnswerMs) && performance.now() - t0 < 120_000) {
      try {
        await client.request(key, 'ping', { n: 1 }, { timeoutMs: 2000 })
        firstAnswerMs = performance.now() - t0
      } catch {
        await sleep(20)
      }
    }
    const list = await client.request(key, 'listThings', { status: 1, limit: 100_000, fields: { id: 1, 'last.ts': 1 } }, { timeoutMs: 10_000 }) as Array<{ last?: { ts?: number } }>
    const listedMs = performance.now() - t0
    const restored = list.filter((t) => typeof t.last?.ts === 'number').length
    if (list.length !== things || restored !== things) throw new Error(`listed ${list.length} things, ${restored} restored (expected ${things})`)
    const phases = (loaded.startMs ?? {}) as Record<string, number>
    const row = { firstAnswerMs: round(firstAnswerMs, 0), listedMs: round(listedMs, 0), ...Object.fromEntries(Object.entries(marks).map(([k, v]) => [k, round(v, 0)])), ...phases }
    console.error(`start-up: ${JSON.stringify(row)}`)
    return row
  } finally {
    proc.kill('SIGTERM')
    await Promise.race([new Promise((resolve) => proc.once('exit', resolve)), sleep(30_000)])
    if (proc.exitCode === null) proc.kill('SIGKILL')
  }
}

// ------------------------------------------------------------------------------ stat logs

/**
 * `--stat-logs N [--stat-rounds 30]`: what the stat ticks cost per tag, in the per-tag layout
 * (plain TimeLogs: one log per tag and timeframe, as before issue 31) and in the per-timeframe one
 * (StatTimeLogs). Each layout in a process of its own (`node --expose-gc`): N things with their
 * own `container-<name>` tag and the 4 rack-wide tags, every `last` a real Kehua snapshot, the
 * MicroBT stat spec; 3 warm-up rounds, then `rounds` rounds of the rtd, 20s and 1m ticks of one
 * second. Measured: CPU per tag entry written, heap (after a full GC) and RSS per tag, open bees.
 */
async function statLogsCost (tags: number, rounds: number): Promise<Record<string, unknown>> {
  const rows: Array<Record<string, unknown>> = []
  for (const layout of ['per-tag', 'per-timeframe']) {
    const c = child([__filename, '--stat-logs-child', layout, String(tags), String(rounds)], ['--expose-gc'])
    const msg = await c.next()
    rows.push(msg)
    console.error(`${layout}: ${JSON.stringify(msg)}`)
    c.proc.kill('SIGTERM')
  }
  return { name: `fleet-stat-logs-${tags}`, date: new Date().toISOString().slice(0, 10), machine: machine(), tags, rounds, rows }
}

async function statLogsChild (layout: string, tags: number, rounds: number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
  const snap = await oneKehuaSnap()
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mbt-statcost-'))
  const store = new StoreFacility(dir)
  await store.ready()
  const meta = (await store.getBee('db')).sub('meta_logs') as never
  const opts = { maxLength: 10_000, keepCount: 3 }
  const logs = layout === 'per-tag' ? new TimeLogs(store, meta, opts) : new StatTimeLogs(store, meta, opts)
  const shared = ['t-container', 't-container-mbt', 't-container-mbt-kehua', 'microbt']
  const things = Array.from({ length: tags }, (_, i) => ({
    record: { id: `c-${i}`, code: '', type: 'container-mbt-kehua', tags: [...shared, `container-bay-${i}`, `id-c-${i}`], info: { container: `bay-${i}` }, opts: {}, comments: [] },
    ctrl: null,
    last: { snap: JSON.parse(JSON.stringify(snap)) as typeof snap, alerts: [], err: null, ts: Date.now() },
    collecting: false,
    lastStoredTs: 0,
    forgotten: false
  }))
  const ticks = new StatTicks({ registry: { all: () => things }, logs } as never, () => MBT_STAT_SPEC)
  const t0 = Math.floor(Date.now() / 60_000) * 60_000
  const minute = async (i: number): Promise<void> => {
    const at = new Date(t0 + i * 60_000)
    await Promise.all(['rtd', '20s', '1m'].map(async (tf) => await ticks.build(tf, at)))
  }
  gc()
  const mem0 = process.memoryUsage()
  for (let i = 0; i < 3; i++) await minute(i)
  const cpu0 = process.cpuUsage()
  const w0 = performance.now()
  for (let i = 3; i < 3 + rounds; i++) await minute(i)
  const cpu = process.cpuUsage(cpu0)
  const wallMs = performance.now() - w0
  gc()
  const mem = process.memoryUsage()
  const entries = rounds * 3 * (tags + shared.length)
  const out = {
    layout,
    tagEntries: entries,
    cpuMsPerEntry: round3((cpu.user + cpu.system) / 1000 / entries),
    wallMsPerRound: round3(wallMs / rounds),
    // live JS heap after a full GC; memory outside the JS heap (Hypercores' native parts, RocksDB)
    heapKbPerTag: round3((mem.heapUsed - mem0.heapUsed) / 1024 / tags),
    outsideHeapKbPerTag: round3(((mem.rss - mem.heapTotal) - (mem0.rss - mem0.heapTotal)) / 1024 / tags),
    openBees: store.openCount,
    memBeforeMb: Object.fromEntries(Object.entries(mem0).map(([k, v]) => [k, round(v / 2 ** 20, 1)])),
    memAfterMb: Object.fromEntries(Object.entries(mem).map(([k, v]) => [k, round(v / 2 ** 20, 1)]))
  }
  process.stdout.write(JSON.stringify(out) + '\n')
  await store.close()
  await rm(dir, { recursive: true, force: true })
  process.exit(0)
}

function round3 (n: number): number {
  return round(n, 3)
}

/** The command line (also `npm run bench -- --fleet N`, see ./snapshot.ts). */
export async function fleetCli (): Promise<void> {
  const argv = process.argv
  if (stringFlag('--stat-logs') !== undefined) {
    const result = await statLogsCost(numberFlag('--stat-logs', 1000), numberFlag('--stat-rounds', 30))
    const rows = result.rows as Array<Record<string, number | string>>
    console.log(table(['layout', 'tag entries', 'CPU ms / entry', 'wall ms / round (rtd+20s+1m)', 'live heap kB / tag', 'outside the heap kB / tag', 'open bees'], rows.map((r) => [r.layout, r.tagEntries, r.cpuMsPerEntry, r.wallMsPerRound, r.heapKbPerTag, r.outsideHeapKbPerTag, r.openBees])))
    console.log(`\nwritten ${await writeResult(result.name as string, result)}`)
    return
  }
  const startup = stringFlag('--startup')
  if (startup !== undefined) {
    const keepRoot = stringFlag('--startup-root')
    const result = await runStartup(numberFlag('--startup', 6000), numberFlag('--startup-runs', 3), keepRoot !== undefined ? path.resolve(keepRoot) : undefined)
    console.log(table(['things', 'runs', 'first RPC answer ms (median)', 'listThings with every last restored ms (median)'], [[String(result.things), (result.runs as unknown[]).length, String(result.medianFirstAnswerMs), String(result.medianListedMs)]]))
    console.log(`\nwritten ${await writeResult(result.name as string, result)}`)
    return
  }
  const sizes = stringFlag('--sweep')
  if (sizes !== undefined) {
    const list = (v: string | undefined): number[] => (v ?? '').split(',').filter((x) => x !== '').map(Number).filter((n) => Number.isInteger(n) && n > 0)
    return await sweep(list(sizes), list(stringFlag('--sweep-intervals')), {
      minutes: numberFlag('--minutes', 1),
      intervalMs: numberFlag('--interval-ms', 10_000),
      mockProcs: numberFlag('--mock-procs', 2),
      rpcSeconds: 0,
      rpcConcurrency: 0,
      listEveryMs: 0
    })
  }
  const containers = numberFlag('--containers', numberFlag('--fleet', 1000))
  const opts: FleetOptions = {
    containers,
    minutes: numberFlag('--minutes', 5),
    intervalMs: numberFlag('--interval-ms', 10_000),
    mockProcs: numberFlag('--mock-procs', 2),
    rpc: !argv.includes('--no-rpc'),
    noStats: argv.includes('--no-stats'),
    rpcSeconds: numberFlag('--rpc-seconds', 15),
    rpcConcurrency: numberFlag('--rpc-concurrency', 8),
    listEveryMs: argv.includes('--no-list') ? 0 : numberFlag('--list-every-ms', 1000),
    ...(stringFlag('--cpu-prof') !== undefined ? { cpuProf: path.resolve(stringFlag('--cpu-prof') as string) } : {}),
    ...(stringFlag('--worker-node-args') !== undefined ? { workerNodeArgs: (stringFlag('--worker-node-args') as string).split(' ').filter((a) => a !== '') } : {}),
    ...(stringFlag('--heap-snapshot') !== undefined ? { heapSnapshot: path.resolve(stringFlag('--heap-snapshot') as string) } : {}),
    ...(stringFlag('--heap-sampling') !== undefined ? { heapSampling: path.resolve(stringFlag('--heap-sampling') as string) } : {}),
    name: stringFlag('--name') ?? `fleet-${containers}`
  }
  const setFlags = stringFlag('--worker-set-flags')
  if (setFlags !== undefined) process.env.MBT_BENCH_V8_FLAGS = setFlags
  const result = await runFleet(opts)
  if (setFlags !== undefined) (result.settings as Record<string, unknown>).workerSetFlags = setFlags
  console.log(formatFleet(result))
  console.log(`\nwritten ${await writeResult(opts.name, result)}`)
}

async function main (): Promise<void> {
  const argv = process.argv
  if (argv[2] === '--stat-logs-child') return await statLogsChild(argv[3] as string, Number(argv[4]), Number(argv[5]))
  if (argv[2] === '--worker') return await workerChild(argv[3] as string, argv[4] as string, stringFlag('--heap-sampling'), argv.includes('--no-stats'))
  await fleetCli()
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
