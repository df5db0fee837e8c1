/**
 * Fleet benchmark: one real Kehua worker (its own process) polls N mock containers served by
 * `--mock-procs` mock processes (`dist/mock/server.js --bulk`), at `--interval-ms`, for
 * `--minutes`. Measured inside the worker: CPU (process.cpuUsage), RSS, event-loop delay
 * (perf_hooks.monitorEventLoopDelay), every collection tick (things skipped because their
 * previous collection was still running, collections that failed, how long the cycle took) and
 * every snapshot's latency. Last, the RPC phase (./rpc-load.ts): a bare @hyperswarm/rpc echo
 * server, then listThings {status:1, limit:100}, listThings with a projection and queryThing
 * getSnap against the worker, each for `--rpc-seconds` with `--rpc-concurrency` requests in
 * flight, while the fleet keeps being polled.
 *
 *   npm run bench:fleet -- --containers 1000 --minutes 5   (= npm run bench -- --fleet 1000)
 *   (or: node dist/bench/fleet.js [--containers 1000] [--minutes 5] [--interval-ms 10000]
 *        [--mock-procs 2] [--rpc-seconds 15] [--rpc-concurrency 8] [--no-rpc] [--cpu-prof DIR] [--name fleet-1000]
 *        [--worker-node-args "--max-old-space-size=256"] [--heap-sampling FILE] [--heap-snapshot FILE])
 *   sweep: node dist/bench/fleet.js --sweep 50,100,250,500,1000 [--sweep-intervals 5000,30000] [--minutes 1]
 *   child modes: --worker <root> <things.json> [--cpu-prof DIR], spawned by the parent
 *
 * Writes bench/results/<name>.json (default fleet-<containers>).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { RpcClient } from '../workers/tpl/rpc/client'
import type { ThingState } from '../workers/tpl/thing/types'
import WrkContainerRackKehua from '../workers/kehua.rack.container.wrk'
import { benchRoot } from './root'
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

interface MockProc { proc: ChildProcess, ports: number[] }

/** One mock process serving `count` Kehua containers on ephemeral ports. */
async function startMockProc (dir: string, index: number, first: number, count: number): Promise<MockProc> {
  const file = path.join(dir, `bulk-${index}.json`)
  await writeFile(file, JSON.stringify(Array.from({ length: count }, (_, i) => ({ type: 'Kehua', port: 0, id: String(first + i), seed: first + i + 1 }))))
  const proc = spawn(process.execPath, [path.join(DIST, 'mock', 'server.js'), '--bulk', file], { stdio: ['ignore', 'pipe', 'inherit'] })
  const ports: number[] = []
  const rl = createInterface({ input: proc.stdout as NodeJS.ReadableStream })
  await new Promise<void>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`mock process ${index} exited (${String(code)})`)))
    rl.on('line', (line) => {
      const m = /listening on [^:]+:(\d+)/.exec(line)
      if (m) ports.push(Number(m[1]))
      if (ports.length === count) resolve()
    })
  })
  rl.close()
  proc.stdout?.resume()
  return { proc, ports }
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
  name: string
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
    await waitTicks(steadyTicks)
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

/** The command line (also `npm run bench -- --fleet N`, see ./snapshot.ts). */
export async function fleetCli (): Promise<void> {
  const argv = process.argv
  const sizes = stringFlag('--sweep')
  if (sizes !== undefined) {
    const list = (v: string | undefined): number[] => (v ?? '').split(',').filter((x) => x !== '').map(Number).filter((n) => Number.isInteger(n) && n > 0)
    return await sweep(list(sizes), list(stringFlag('--sweep-intervals')), {
      minutes: numberFlag('--minutes', 1),
      intervalMs: numberFlag('--interval-ms', 10_000),
      mockProcs: numberFlag('--mock-procs', 2),
      rpcSeconds: 0,
      rpcConcurrency: 0
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
    ...(stringFlag('--cpu-prof') !== undefined ? { cpuProf: path.resolve(stringFlag('--cpu-prof') as string) } : {}),
    ...(stringFlag('--worker-node-args') !== undefined ? { workerNodeArgs: (stringFlag('--worker-node-args') as string).split(' ').filter((a) => a !== '') } : {}),
    ...(stringFlag('--heap-snapshot') !== undefined ? { heapSnapshot: path.resolve(stringFlag('--heap-snapshot') as string) } : {}),
    ...(stringFlag('--heap-sampling') !== undefined ? { heapSampling: path.resolve(stringFlag('--heap-sampling') as string) } : {}),
    name: stringFlag('--name') ?? `fleet-${containers}`
  }
  const result = await runFleet(opts)
  console.log(formatFleet(result))
  console.log(`\nwritten ${await writeResult(opts.name, result)}`)
}

async function main (): Promise<void> {
  const argv = process.argv
  if (argv[2] === '--worker') return await workerChild(argv[3] as string, argv[4] as string, stringFlag('--heap-sampling'), argv.includes('--no-stats'))
  await fleetCli()
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
