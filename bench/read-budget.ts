/**
 * Read budgets (issue 29, "Bounded by construction"): the issue's "done when" measurement. A
 * store holding 10 000 info-history entries (their things' `info` carries 1 kB strings) and
 * 10 000 alerts is seeded through the worker's own classes, then the real worker
 * (`dist/worker.js`) runs in its own process on it. From a read-only key:
 *
 * 1. regex shapes alone (`.*.{100}x` against 1 kB info strings, `(a+)+$`, a `$or` of as many
 *    regexes as the query caps allow, found by asking the query check itself), a few runs each:
 *    median and max answer time (target < 100 ms on the things; the history shapes scan 10 000
 *    entries and are reported as they are);
 * 2. 16 concurrent worst-case history/query requests, repeated for ~30 s, while a second client
 *    pings every 50 ms: the worker stays alive, its peak RSS (VmHWM, target < 400 MB), ping
 *    p50/p99 (target p99 < 1 s), the longest answer (target ≤ 10 s) and the outcomes.
 *
 * Writes bench/results/read-budget.json and prints a table; stops by itself and removes its
 * temp dirs.
 *
 *   npm run build && node dist/bench/read-budget.js [--seconds 30] [--entries 10000] [--concurrency 16] [--runs 5]
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import HyperDHT from 'hyperdht'
import WrkContainerRackKehua from '../workers/kehua.rack.container.wrk'
import { errorCode } from '../workers/core/errors'
import { RpcClient } from '../workers/rpc/client'
import { errorCodeOfReply } from '../workers/rpc/codec'
import { HEAVY_READS, MAX_REPLY_BYTES, MAX_REPLY_FRAME_BYTES } from '../workers/rpc/limits'
import { ALERTS_LOG } from '../workers/tpl/thing/logs/log-names'
import { assertSafeQuery } from '../workers/tpl/thing/query/select'
import { MAX_SCAN_ENTRIES, READ_BUDGET_MS } from '../workers/core/read-budget'
import { INFO_HISTORY_LOG } from '../workers/tpl/thing/logs/log-names'
import { MAX_LOG_TIME_MS } from '../workers/tpl/thing/logs/time-log'
import { benchRoot } from './root'
import { machine, numberFlag, procRssMb, quantile, round, sortedCopy, table, writeResult } from './proc'

const WTYPE = 'wrk-container-rack-kehua'
const RACK = 'budget'
const THINGS = 100
const WORKER_JS = path.resolve(__dirname, '..', 'worker.js')
const RO_SEED = Buffer.alloc(32, 0x41)
const PINGER_SEED = Buffer.alloc(32, 0x42)
const keyOf = (seed: Buffer): string => HyperDHT.keyPair(seed).publicKey.toString('hex')

/** 1 kB strings: `n…` (no `x`: `.*.{100}x` must try every start) and `a…a!` (`(a+)+$` fails at the end). */
const N_KB = 'n'.repeat(1024)
const A_KB = 'a'.repeat(1023) + '!'

const TARGETS = { vmHwmMb: 400, pingP99Ms: 1000, answerMaxMs: 10_000, regexMs: 100 }

/** VmHWM (peak resident set) of a process in MB, from /proc/<pid>/status. */
function procHwmMb (pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : NaN
  } catch {
    return NaN
  }
}

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

// ---- the store ---------------------------------------------------------------------------------

/** Seeds the store in this process through the worker's own classes, then stops that worker. */
async function seed (root: string, entries: number): Promise<void> {
  const worker = new WrkContainerRackKehua({ wtype: WTYPE, env: 'development', rack: RACK, root })
  await worker.start()
  worker.logger.level = 'silent'
  try {
    for (let i = 0; i < THINGS; i++) {
      await worker.callRpc('registerThing', { id: `h-${i}`, opts: {}, info: { container: `bay-${i}`, pos: `P${i}`, note: N_KB, a: A_KB, b: 'b'.repeat(1024), c: 'c'.repeat(1024) } })
    }
    const t0 = Date.now() - entries * 1000 - 60_000
    for (let i = 0; i < entries; i++) {
      const ts = t0 + i * 1000
      await worker.logs.append(INFO_HISTORY_LOG, ts, {
        ts, id: `h-${i % THINGS}`, changes: { note: { oldValue: 'o'.repeat(1024), newValue: 'p'.repeat(1024) }, a: { oldValue: 'q'.repeat(1024), newValue: 'r'.repeat(1024) } }, user: 'operator'
      })
    }
    for (let i = 0; i < entries; i++) {
      const createdAt = t0 + i * 1000
      await worker.logs.append(ALERTS_LOG, createdAt, {
        name: 'circulating_pump_fault',
        code: 'circulating_pump_fault',
        description: 'Circulating pump fault',
        severity: 'critical',
        createdAt,
        uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        message: 'm'.repeat(200),
        thingId: `h-${i % THINGS}`
      })
    }
  } finally {
    await worker.stop()
  }
}

// ---- the query caps, asked of the query check itself ------------------------------------------

function orOf (n: number, path: string, pattern: string): Record<string, unknown> {
  return { $or: Array.from({ length: n }, () => ({ [path]: { $regex: pattern } })) }
}

function accepted (query: unknown): boolean {
  try {
    assertSafeQuery(query)
    return true
  } catch {
    return false
  }
}

/** The widest `$or` of `pattern` the query check accepts (0: none; 10 000 = the request bound). */
function widestOr (pattern: string): number {
  let lo = 0
  let hi = 10_000
  if (accepted(orOf(hi, 'x', pattern))) return hi
  while (lo + 1 < hi) {
    const mid = Math.floor((lo + hi) / 2)
    if (accepted(orOf(mid, 'x', pattern))) lo = mid
    else hi = mid
  }
  return lo
}

/** Of the candidates, the most hostile pattern among those with the widest accepted `$or`, and that width. */
function maxRegexOr (): { pattern: string, n: number } {
  const candidates = ['.*.{100}x', '(n+)+x', '.*.*x', '.*n.*x', '.*x', 'n+x', 'x']
  const widths = candidates.map((pattern) => ({ pattern, n: widestOr(pattern) }))
  const n = Math.max(...widths.map((w) => w.n))
  return widths.find((w) => w.n === n) ?? { pattern: 'x', n }
}

// ---- requests ------------------------------------------------------------------------------------

interface Shape { label: string, method: string, body: unknown, target?: number }

/**
 * The `n`-th sending of a shape: a listThings gets a limit of its own (same meaning), so that the
 * list cache (an identical request while no thing changed gets the page computed before) never
 * answers it.
 */
function nth (shape: Shape, n: number): Shape {
  if (shape.method !== 'listThings') return shape
  return { ...shape, body: { ...(shape.body as Record<string, unknown>), limit: 100_000 + (n % 900_000) } }
}
interface Answer { outcome: string, ms: number, bytes: number }

async function ask (client: RpcClient, key: string, shape: Shape, timeoutMs = 60_000): Promise<Answer> {
  const t0 = performance.now()
  try {
    const text = await client.requestRaw(key, shape.method, Buffer.from(JSON.stringify(shape.body)), timeoutMs)
    const ms = performance.now() - t0
    const code = text.startsWith('"[HRPC_ERR]=') ? errorCodeOfReply(JSON.parse(text)) : null
    return { outcome: code ?? 'result', ms, bytes: Buffer.byteLength(text) }
  } catch (err) {
    return { outcome: `no answer (${errorCode(err)})`, ms: performance.now() - t0, bytes: 0 }
  }
}

function regexShapes (or: { pattern: string, n: number }): Shape[] {
  const things = TARGETS.regexMs
  return [
    { label: 'listThings info.note ~ .*.{100}x', method: 'listThings', body: { query: { 'info.note': { $regex: '.*.{100}x' } } }, target: things },
    { label: 'getThingsCount info.note ~ .*.*.*x', method: 'getThingsCount', body: { query: { 'info.note': { $regex: `${'.*'.repeat(10)}x` } } }, target: things },
    { label: 'listThings info.a ~ (a+)+$', method: 'listThings', body: { query: { 'info.a': { $regex: '(a+)+$' } } }, target: things },
    { label: 'getThingsCount info.a ~ ^(a|a)*$', method: 'getThingsCount', body: { query: { 'info.a': { $regex: '^(a|a)*$' } } }, target: things },
    { label: `listThings $or of ${or.n} × ${or.pattern}`, method: 'listThings', body: { query: orOf(or.n, 'info.note', or.pattern), limit: 1_000_000 }, target: things },
    { label: 'listThings $or of 10 000 regexes', method: 'listThings', body: { query: orOf(10_000, 'info.note', 'n{10}x') }, target: things },
    { label: 'history info offset 49 999, no query (the scan alone)', method: 'getHistoricalLogs', body: { logType: 'info', offset: 49_999, limit: 50_000 } },
    { label: 'history info thing.info.note ~ .*.{100}x', method: 'getHistoricalLogs', body: { logType: 'info', limit: 50_000, query: { 'thing.info.note': { $regex: '.*.{100}x' } } } },
    { label: 'history info thing.info.a ~ (a+)+$', method: 'getHistoricalLogs', body: { logType: 'info', limit: 50_000, query: { 'thing.info.a': { $regex: '(a+)+$' } } } },
    { label: `history alerts $or of ${or.n} × ${or.pattern}`, method: 'getHistoricalLogs', body: { logType: 'alerts', query: orOf(or.n, 'thing.info.note', or.pattern) } }
  ]
}

function loadShapes (or: { pattern: string, n: number }): Shape[] {
  return [
    { label: 'history info query {} limit 50 000', method: 'getHistoricalLogs', body: { logType: 'info', query: {}, limit: 50_000 } },
    { label: 'history alerts whole range, no limit', method: 'getHistoricalLogs', body: { logType: 'alerts', start: 0, end: MAX_LOG_TIME_MS } },
    { label: 'history info offset 49 999', method: 'getHistoricalLogs', body: { logType: 'info', offset: 49_999, limit: 50_000 } },
    { label: 'history alerts start=end=MAX_LOG_TIME_MS', method: 'getHistoricalLogs', body: { logType: 'alerts', start: MAX_LOG_TIME_MS, end: MAX_LOG_TIME_MS } },
    { label: 'history alerts end > MAX_LOG_TIME_MS', method: 'getHistoricalLogs', body: { logType: 'alerts', start: 0, end: 1e21 } },
    { label: 'history info ~ .*.{100}x', method: 'getHistoricalLogs', body: { logType: 'info', limit: 50_000, query: { 'thing.info.note': { $regex: '.*.{100}x' } } } },
    { label: 'history info ~ (a+)+$', method: 'getHistoricalLogs', body: { logType: 'info', limit: 50_000, query: { 'thing.info.a': { $regex: '(a+)+$' } } } },
    { label: `history alerts $or ${or.n} regexes`, method: 'getHistoricalLogs', body: { logType: 'alerts', query: orOf(or.n, 'thing.info.note', or.pattern) } },
    { label: 'history info changes ~ $nor/$elemMatch', method: 'getHistoricalLogs', body: { logType: 'info', limit: 50_000, query: { $nor: [{ 'changes.note.newValue': { $regex: '.*x' } }, { 'thing.tags': { $elemMatch: { $regex: '.*.*y' } } }] } } },
    { label: 'listThings limit 1e6 status ~ regex', method: 'listThings', body: { limit: 1_000_000, status: 1, query: { 'info.note': { $regex: '.*.{100}x' } } } },
    { label: 'getThingsCount $or regexes', method: 'getThingsCount', body: { query: orOf(or.n, 'info.note', or.pattern) } }
  ]
}

// ---- the worker process --------------------------------------------------------------------------

interface WorkerProc { pid: number, key: string, alive: () => boolean, stop: () => Promise<number | null>, stderr: () => string }

async function startWorker (root: string, previousInstance: string | undefined): Promise<WorkerProc> {
  const proc = spawn(process.execPath, [WORKER_JS, '--wtype', WTYPE, '--env', 'development', '--rack', RACK, '--root', root], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => { err = (err + chunk).slice(-20_000) })
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  const killOnExit = (): void => { if (proc.exitCode === null) proc.kill('SIGKILL') }
  process.once('exit', killOnExit)
  const alive = (): boolean => proc.exitCode === null && proc.signalCode === null
  const statusFile = path.join(root, 'status', `${WTYPE}-${RACK}.json`)
  const deadline = Date.now() + 30_000
  for (;;) {
    if (!alive()) throw new Error(`the worker exited before it was ready: ${err.slice(-2000)}`)
    try {
      const status = JSON.parse(await readFile(statusFile, 'utf8')) as { instanceId?: string, rpcPublicKey?: string }
      if (status.instanceId !== undefined && status.instanceId !== previousInstance && status.rpcPublicKey !== undefined) {
        return {
          pid: proc.pid as number,
          key: status.rpcPublicKey,
          alive,
          stderr: () => err,
          stop: async () => {
            if (alive()) proc.kill('SIGTERM')
            const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
            const code = await exited
            clearTimeout(timer)
            process.removeListener('exit', killOnExit)
            return code
          }
        }
      }
    } catch {
      // not written yet
    }
    if (Date.now() > deadline) throw new Error('the worker wrote no status within 30 s')
    await sleep(50)
  }
}

// ---- main ----------------------------------------------------------------------------------------

interface Tally { n: number, outcomes: Record<string, number>, maxMs: number, times: number[], maxBytes: number }

async function main (): Promise<void> {
  const seconds = numberFlag('--seconds', 30)
  const entries = numberFlag('--entries', 10_000)
  const concurrency = numberFlag('--concurrency', 16)
  const runs = numberFlag('--runs', 5)
  const bench = await benchRoot({ collectSnapsItvMs: 600_000, storeSnapItvMs: 0 })
  let worker: WorkerProc | null = null
  const ro = new RpcClient({ bootstrap: bench.bootstrap, host: '127.0.0.1', seed: RO_SEED })
  const pinger = new RpcClient({ bootstrap: bench.bootstrap, host: '127.0.0.1', seed: PINGER_SEED })
  try {
    // only the read-only keys may call (writes from them are refused)
    const netFile = path.join(bench.root, 'config', 'facs', 'net.config.json')
    const net = JSON.parse(await readFile(netFile, 'utf8')) as { r0: Record<string, unknown> }
    net.r0.allow = [keyOf(Buffer.alloc(32, 0x40))]
    net.r0.allowReadOnly = [keyOf(RO_SEED), keyOf(PINGER_SEED)]
    await writeFile(netFile, JSON.stringify(net))

    const tSeed = performance.now()
    await seed(bench.root, entries)
    const seedMs = performance.now() - tSeed
    const seededInstance = (JSON.parse(await readFile(path.join(bench.root, 'status', `${WTYPE}-${RACK}.json`), 'utf8')) as { instanceId?: string }).instanceId
    worker = await startWorker(bench.root, seededInstance)
    const { key, pid } = worker
    await ro.request(key, 'ping', {}, { timeoutMs: 15_000 })
    await pinger.request(key, 'ping', {}, { timeoutMs: 15_000 })
    const refusedWrite = await ask(ro, key, { label: 'write', method: 'registerThing', body: { id: 'ro', opts: {} } })
    const rssStartMb = procRssMb(pid)

    // 1. regex shapes alone
    const or = maxRegexOr()
    const regexRows: Array<{ label: string, outcome: string, medianMs: number, maxMs: number, targetMs: number | null, met: boolean | null }> = []
    for (const shape of regexShapes(or)) {
      const answers: Answer[] = []
      for (let r = 0; r < runs; r++) answers.push(await ask(ro, key, nth(shape, r)))
      const times = sortedCopy(answers.map((a) => a.ms))
      const outcomes = [...new Set(answers.map((a) => a.outcome))].join(', ')
      const maxMs = times[times.length - 1] as number
      regexRows.push({ label: shape.label, outcome: outcomes, medianMs: round(quantile(times, 0.5)), maxMs: round(maxMs), targetMs: shape.target ?? null, met: shape.target === undefined ? null : maxMs < shape.target })
    }

    // 2. the load: `concurrency` requests in flight for `seconds`, pings every 50 ms, RSS sampled
    const shapes = loadShapes(or)
    const tallies = new Map<string, Tally>(shapes.map((s) => [s.label, { n: 0, outcomes: {}, maxMs: 0, times: [], maxBytes: 0 }]))
    const pings: number[] = []
    const pingFailures: string[] = []
    let rssPeakMb = rssStartMb
    let loading = true
    const sampler = setInterval(() => { rssPeakMb = Math.max(rssPeakMb, procRssMb(pid)) }, 200)
    const pingLoop = (async () => {
      while (loading) {
        const t0 = performance.now()
        try {
          await pinger.requestRaw(key, 'ping', Buffer.from('{"p":1}'), 10_000)
        } catch (err) {
          pingFailures.push(errorCode(err))
        }
        pings.push(performance.now() - t0)
        await sleep(50)
      }
    })()
    const tLoad = performance.now()
    const endAt = tLoad + seconds * 1000
    let next = 0
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (performance.now() < endAt) {
        const n = next++
        const shape = shapes[n % shapes.length] as Shape
        const a = await ask(ro, key, nth(shape, n))
        const t = tallies.get(shape.label) as Tally
        t.n++
        t.outcomes[a.outcome] = (t.outcomes[a.outcome] ?? 0) + 1
        t.maxMs = Math.max(t.maxMs, a.ms)
        t.maxBytes = Math.max(t.maxBytes, a.bytes)
        t.times.push(a.ms)
      }
    }))
    const loadMs = performance.now() - tLoad
    loading = false
    await pingLoop
    clearInterval(sampler)
    rssPeakMb = Math.max(rssPeakMb, procRssMb(pid))
    const vmHwmMb = procHwmMb(pid)
    const pingAfter = await ask(pinger, key, { label: 'ping', method: 'ping', body: { after: 1 } }, 10_000)
    const alive = worker.alive() && pingAfter.outcome === 'result'

    const all = [...tallies.values()]
    const outcomes: Record<string, number> = {}
    for (const t of all) for (const [o, n] of Object.entries(t.outcomes)) outcomes[o] = (outcomes[o] ?? 0) + n
    const answerMaxMs = Math.max(...all.map((t) => t.maxMs))
    const replyMaxBytes = Math.max(...all.map((t) => t.maxBytes))
    const sortedPings = sortedCopy(pings)
    const summary = {
      alive,
      requests: all.reduce((a, t) => a + t.n, 0),
      loadSeconds: round(loadMs / 1000),
      concurrency,
      vmHwmMb: round(vmHwmMb),
      rssStartMb: round(rssStartMb),
      rssPeakSampledMb: round(rssPeakMb),
      pingCount: pings.length,
      pingFailures: pingFailures.length,
      pingP50Ms: round(quantile(sortedPings, 0.5)),
      pingP99Ms: round(quantile(sortedPings, 0.99)),
      pingMaxMs: round(sortedPings[sortedPings.length - 1] ?? NaN),
      answerMaxMs: round(answerMaxMs),
      replyMaxBytes,
      outcomes
    }
    const met = {
      alive,
      vmHwm: vmHwmMb < TARGETS.vmHwmMb,
      pingP99: summary.pingP99Ms < TARGETS.pingP99Ms,
      answerMax: answerMaxMs <= TARGETS.answerMaxMs,
      replyFrame: replyMaxBytes <= MAX_REPLY_FRAME_BYTES,
      regexShapes: regexRows.every((r) => r.met !== false)
    }
    const result = {
      date: new Date().toISOString(),
      machine: machine(),
      command: 'npm run build && node dist/bench/read-budget.js',
      store: { things: THINGS, infoEntries: entries, alerts: entries, infoStringBytes: 1024, seedSeconds: round(seedMs / 1000) },
      bounds: { maxScanEntries: MAX_SCAN_ENTRIES, readBudgetMs: READ_BUDGET_MS, heavyReads: HEAVY_READS, maxReplyBytes: MAX_REPLY_BYTES, maxReplyFrameBytes: MAX_REPLY_FRAME_BYTES },
      targets: TARGETS,
      met,
      readOnlyWrite: refusedWrite.outcome,
      maxRegexOr: or,
      regexShapes: regexRows,
      load: summary,
      perShape: Object.fromEntries([...tallies].map(([label, t]) => [label, { n: t.n, outcomes: t.outcomes, p50Ms: round(quantile(sortedCopy(t.times), 0.5)), maxMs: round(t.maxMs), maxBytes: t.maxBytes }]))
    }
    const file = await writeResult('read-budget', result)

    const out: string[] = []
    out.push(`store: ${THINGS} things, ${entries} info-history entries, ${entries} alerts (seeded in ${round(seedMs / 1000)} s); read-only write → ${refusedWrite.outcome}`)
    out.push(`query caps: widest $or accepted = ${or.n} × /${or.pattern}/`, '')
    const cell = (v: string | number): string | number => (typeof v === 'string' ? v.replace(/\|/g, '\\|') : v)
    out.push(table(['regex shape (alone)', 'answer', `median ms (${runs} runs)`, 'max ms', 'target'],
      regexRows.map((r) => [r.label, r.outcome, r.medianMs, r.maxMs, r.targetMs === null ? '—' : `< ${r.targetMs} ms ${r.met === true ? '✓' : '✗'}`].map(cell))))
    out.push('', table(['load request', 'n', 'outcomes', 'p50 ms', 'max ms', 'max reply bytes'],
      [...tallies].map(([label, t]) => [label, t.n, Object.entries(t.outcomes).map(([o, n]) => `${o} ${n}`).join(', '), round(quantile(sortedCopy(t.times), 0.5)), round(t.maxMs), t.maxBytes])))
    out.push('', table(['figure', 'value', 'target'], [
      ['worker alive after the load', String(alive), 'true ' + (alive ? '✓' : '✗')],
      [`requests (${concurrency} in flight, ${round(loadMs / 1000)} s)`, summary.requests, '—'],
      ['outcomes', Object.entries(outcomes).map(([o, n]) => `${o} ${n}`).join(', '), 'result or ERR_*'],
      ['worker VmHWM MB', round(vmHwmMb), `< ${TARGETS.vmHwmMb} ${met.vmHwm ? '✓' : '✗'}`],
      ['worker RSS at start / sampled peak MB', `${round(rssStartMb)} / ${round(rssPeakMb)}`, '—'],
      ['ping p50 / p99 / max ms', `${summary.pingP50Ms} / ${summary.pingP99Ms} / ${summary.pingMaxMs} (${pings.length} pings, ${pingFailures.length} failed)`, `p99 < ${TARGETS.pingP99Ms} ${met.pingP99 ? '✓' : '✗'}`],
      ['longest answer ms', round(answerMaxMs), `≤ ${TARGETS.answerMaxMs} ${met.answerMax ? '✓' : '✗'}`],
      ['largest reply bytes', replyMaxBytes, `≤ ${MAX_REPLY_FRAME_BYTES} ${met.replyFrame ? '✓' : '✗'}`]
    ]))
    out.push('', `results: ${file}`)
    process.stdout.write(out.join('\n') + '\n')
  } finally {
    await ro.close().catch(() => {})
    await pinger.close().catch(() => {})
    if (worker) {
      const code = await worker.stop()
      if (code !== 0) process.stderr.write(`worker exited with ${String(code)}: ${worker.stderr().slice(-2000)}\n`)
    }
    await bench.close()
  }
}

main().catch((err: unknown) => { process.stderr.write(`${(err as Error).stack ?? String(err)}\n`); process.exit(1) })
