/**
 * Lossy-link benchmark: the real MicroBTContainer and Modbus client talk to a frozen mock
 * container through the seeded loss proxy (./loss-proxy.ts). Every snapshot is compared with a
 * loss-free snapshot of the same mock: complete (no `stats.incomplete`), exact (equal to it),
 * values misassigned (a value present but different from the loss-free one), and statuses not
 * backed by what was read.
 *
 *   node dist/bench/lossy-link.js [--snapshots 200] [--serial-snapshots 30] [--no-write]
 *   node dist/bench/snapshot.js --lossy-only [--snapshots 200] [--serial-snapshots 30]
 */
import { performance } from 'node:perf_hooks'
import { createServer } from '../mock/server'
import { MicroBTContainer, DEFAULT_RETRY } from '../workers/lib/container'
import { ModbusTcpClient } from '../workers/lib/modbus/client'
import { ERR_SNAPSHOT_INCOMPLETE, unitName, unitOrdinal, type ContainerSnapshot } from '../workers/lib/registers'
import type { Logger } from '../workers/core/types'
import { DROP, LossProxy, PASS, seededLoss, type LossPolicy } from './loss-proxy'
import { machine, numberFlag, quantile, writeResult } from './proc'

/** Request timeout of every lossy scenario (ms). */
export const LOSSY_TIMEOUT_MS = 500
const SEED = 15
const WARM_UP = 2
const DEAD_UNIT = 12

export interface LossyScenario {
  label: string
  /** Share of requests dropped. */
  drop: number
  /** Share of requests answered `delayMs` late. */
  delay: number
  delayMs: number
  retry: number
  maxInFlight: number
  snapshots: number
  /** This unit never answers. */
  deadUnit?: number
}

export interface LossyRow {
  scenario: LossyScenario
  completePct: number
  exactPct: number
  misassigned: number
  dishonestStatus: number
  medianMs: number
  p95Ms: number
  requestsPerSnapshot: number
  timeoutsPerSnapshot: number
  lateReplies: number
  /** Snapshots that ended with the client's window below the configured one. */
  windowReduced: number
  /** Window changes the client logged (warn/info). */
  windowLogs: number
  /** With a dead unit: the first snapshot after it died (its breaker still closed), ms. */
  firstDeadMs?: number
}

type Leaf = string | number | boolean | null

/** Array entries are keyed by their identity field, so a missing PDU does not shift the others. */
function entryKey (entry: unknown, i: number): string {
  if (entry !== null && typeof entry === 'object') {
    const e = entry as Record<string, unknown>
    for (const k of ['pdu', 'index', 'socket', 'name']) if (typeof e[k] === 'string') return `${k}=${e[k] as string}`
  }
  return String(i)
}

/** Every leaf of a JSON value by path. */
export function leaves (value: unknown, path = '', out = new Map<string, Leaf>()): Map<string, Leaf> {
  if (Array.isArray(value)) value.forEach((v, i) => leaves(v, `${path}[${entryKey(v, i)}]`, out))
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) leaves(v, path === '' ? k : `${path}.${k}`, out)
  else out.set(path, value as Leaf)
  return out
}

/** Paths that say how complete a snapshot is rather than what the device holds. */
function isCompletenessPath (path: string): boolean {
  return path === 'stats.status' || path.startsWith('stats.errors') || path.startsWith('stats.incomplete')
}

export interface Comparison {
  /** As complete as expected: `stats.incomplete` equal to the expected one (none, or the dead unit). */
  complete: boolean
  exact: boolean
  /** Values present in the snapshot that differ from (or are absent in) the loss-free one. */
  misassigned: number
  /** The status differs from the loss-free one without being flagged ERR_SNAPSHOT_INCOMPLETE. */
  dishonestStatus: boolean
}

export function compare (snap: ContainerSnapshot, reference: ContainerSnapshot): Comparison {
  const got = leaves(snap)
  const want = leaves(reference)
  let misassigned = 0
  for (const [path, v] of got) {
    // null marks a value that is not known (a unit or total left out), never a device value
    if (isCompletenessPath(path) || v === null) continue
    if (!want.has(path) || want.get(path) !== v) misassigned++
  }
  const flagged = (snap.stats.errors ?? []).some((e) => e.name === ERR_SNAPSHOT_INCOMPLETE)
  const exact = got.size === want.size && [...want].every(([p, v]) => got.get(p) === v)
  return {
    complete: JSON.stringify(snap.stats.incomplete) === JSON.stringify(reference.stats.incomplete),
    exact,
    misassigned,
    dishonestStatus: snap.stats.status !== reference.stats.status && !(snap.stats.status === 'error' && flagged)
  }
}

/** What a snapshot should hold when `deadUnit` (a PDU) never answers: the rest, and the unit named incomplete. */
function withoutDeadUnit (reference: ContainerSnapshot, deadUnit: number | undefined): ContainerSnapshot {
  if (deadUnit === undefined) return reference
  const cs = reference.stats.container_specific
  return {
    ...reference,
    stats: {
      ...reference.stats,
      incomplete: [unitName(deadUnit)],
      container_specific: { ...cs, pdu_data: cs.pdu_data.filter((p) => p.pdu !== String(unitOrdinal(deadUnit))) }
    }
  }
}

function policyOf (s: LossyScenario): LossPolicy {
  const loss = seededLoss({ seed: SEED, drop: s.drop, delay: s.delay, delayMs: s.delayMs })
  if (s.deadUnit === undefined) return loss
  return (f) => (f.unit === s.deadUnit ? DROP : loss(f))
}

/** Runs one scenario on its own mock and proxy. */
export async function runLossyScenario (s: LossyScenario): Promise<LossyRow> {
  const mock = createServer({ type: 'kehua', port: 0, tickMs: 0, seed: 1 })
  const { port } = await mock.start()
  const direct = new MicroBTContainer({ vendor: 'kehua', address: '127.0.0.1', port, username: 'admin', password: 'admin', timeout: 5000 })
  const proxy = new LossProxy({ targetHost: '127.0.0.1', targetPort: port, policy: () => PASS })
  let client: ModbusTcpClient | null = null
  let windowLogs = 0
  const count = (obj: object | string, msg?: string): void => {
    if (`${typeof obj === 'string' ? obj : ''}${msg ?? ''}`.includes('pipelining')) windowLogs++
  }
  const logger: Logger = { debug: () => {}, info: count, warn: count, error: () => {} }
  let container: MicroBTContainer | null = null
  try {
    const lossFree = await direct.getSnap()
    if (!lossFree.success || lossFree.stats.incomplete !== undefined) throw new Error('the loss-free reference snapshot failed')
    const reference = withoutDeadUnit(lossFree, s.deadUnit)
    await proxy.start()
    container = new MicroBTContainer({
      vendor: 'kehua',
      address: '127.0.0.1',
      port: proxy.port,
      username: 'admin',
      password: 'admin',
      timeout: LOSSY_TIMEOUT_MS,
      retry: s.retry,
      maxInFlight: s.maxInFlight,
      logger,
      clientFactory: (o) => { client = new ModbusTcpClient(o); return client }
    })
    // Warm up over a clean link (connect), then let the loss start.
    for (let i = 0; i < WARM_UP; i++) await container.getSnap()
    proxy.policy = policyOf(s)
    // A dead unit is measured once its breaker is open (its first cycle costs its retries).
    let firstDeadMs: number | undefined
    if (s.deadUnit !== undefined) {
      const t0 = performance.now()
      await container.getSnap()
      firstDeadMs = performance.now() - t0
    }
    const c = client as ModbusTcpClient | null
    if (c === null) throw new Error('no client')
    const before = { requests: c.stats.requests, timeouts: c.stats.timeouts, late: c.stats.lateReplies }
    const times: number[] = []
    let complete = 0
    let exact = 0
    let misassigned = 0
    let dishonest = 0
    let windowReduced = 0
    for (let i = 0; i < s.snapshots; i++) {
      const t0 = performance.now()
      const snap = await container.getSnap()
      times.push(performance.now() - t0)
      if (c.stats.maxInFlight < s.maxInFlight) windowReduced++
      if (!snap.success) continue // neither complete nor exact
      const cmp = compare(snap, reference)
      if (cmp.complete) complete++
      if (cmp.exact) exact++
      misassigned += cmp.misassigned
      if (cmp.dishonestStatus) dishonest++
    }
    times.sort((a, b) => a - b)
    const n = s.snapshots
    return {
      scenario: s,
      completePct: (100 * complete) / n,
      exactPct: (100 * exact) / n,
      misassigned,
      dishonestStatus: dishonest,
      medianMs: quantile(times, 0.5),
      p95Ms: quantile(times, 0.95),
      requestsPerSnapshot: (c.stats.requests - before.requests) / n,
      timeoutsPerSnapshot: (c.stats.timeouts - before.timeouts) / n,
      lateReplies: c.stats.lateReplies - before.late,
      windowReduced,
      windowLogs,
      ...(firstDeadMs !== undefined ? { firstDeadMs } : {})
    }
  } finally {
    await container?.close()
    await direct.close()
    await proxy.stop()
    await mock.exit()
  }
}

export interface LossyBenchOptions {
  /** Snapshots per scenario. */
  snapshots: number
  /** Snapshots of the strictly serial comparison row (slow). */
  serialSnapshots: number
}

const base = { drop: 0, delay: 0, delayMs: 1500, retry: DEFAULT_RETRY, maxInFlight: 4 }
/** The default `retry` before issue 29, measured side by side with the current one. */
export const FORMER_DEFAULT_RETRY = 2

export function lossyScenarios (o: LossyBenchOptions): { alone: LossyScenario[], together: LossyScenario[] } {
  const lossy = { ...base, drop: 0.1, delay: 0.05 }
  return {
    // CPU-sensitive (tens of ms per snapshot): measured one at a time
    alone: [
      { ...base, label: 'no loss', snapshots: o.snapshots },
      { ...base, label: '1 % dropped', drop: 0.01, snapshots: o.snapshots },
      { ...base, label: 'no loss, unit 12 (pdu04) dead', deadUnit: DEAD_UNIT, snapshots: Math.min(o.snapshots, 50) }
    ],
    // dominated by 500 ms timeouts: measured side by side, each on its own mock and proxy
    together: [
      { ...lossy, label: '10 % dropped + 5 % 1.5 s late', snapshots: o.snapshots },
      { ...lossy, label: '10 % dropped + 5 % 1.5 s late', retry: FORMER_DEFAULT_RETRY, snapshots: o.snapshots },
      { ...lossy, label: '10 % dropped + 5 % 1.5 s late', maxInFlight: 1, snapshots: o.serialSnapshots },
      { ...lossy, label: '10 % dropped + 5 % 1.5 s late, unit 12 (pdu04) dead', deadUnit: DEAD_UNIT, snapshots: Math.min(o.snapshots, 50) }
    ]
  }
}

export async function runLossyBench (o: LossyBenchOptions): Promise<LossyRow[]> {
  const { alone, together } = lossyScenarios(o)
  const rows: LossyRow[] = []
  for (const s of alone) rows.push(await runLossyScenario(s))
  rows.push(...await Promise.all(together.map(runLossyScenario)))
  return rows
}

const pct = (v: number): string => `${v.toFixed(1)} %`

export function formatLossyRows (rows: LossyRow[]): string {
  const lines = [
    '| link | retry | maxInFlight | snapshots | complete | exact | values misassigned | status not backed by data | median ms | p95 ms | requests / snapshot | timeouts / snapshot | late replies dropped | window reduced (snapshots) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|'
  ]
  for (const r of rows) {
    const s = r.scenario
    lines.push(`| ${s.label} | ${s.retry}${s.retry === DEFAULT_RETRY ? ' (default)' : ''} | ${s.maxInFlight} | ${s.snapshots} | ${pct(r.completePct)} | ${pct(r.exactPct)} | ${r.misassigned} | ${r.dishonestStatus} | ` +
      `${r.medianMs.toFixed(1)} | ${r.p95Ms.toFixed(1)} | ${r.requestsPerSnapshot.toFixed(1)} | ${r.timeoutsPerSnapshot.toFixed(2)} | ${r.lateReplies} | ${r.windowReduced} |`)
  }
  for (const r of rows) {
    if (r.firstDeadMs !== undefined) lines.push('', `${r.scenario.label}: complete/exact = all other units; the first snapshot after it died took ${r.firstDeadMs.toFixed(1)} ms (its retries, before the breaker opened)`)
  }
  return lines.join('\n')
}

const HELP = `Lossy-link benchmark (docs/performance.md, "Lossy link").

  node dist/bench/lossy-link.js [--snapshots N] [--serial-snapshots N] [--no-write]

  --snapshots N          snapshots per row (default 200; dead-unit rows at most 50)
  --serial-snapshots N   snapshots of the maxInFlight 1 row (default 30)
  --no-write             do not write bench/results/lossy-link.json

Rows: no loss, 1 % dropped and a dead unit one at a time; then, side by side, 10 % dropped +
5 % answered 1.5 s late at the default retry (${DEFAULT_RETRY}) and at the former default (${FORMER_DEFAULT_RETRY}), strictly
serial, and with a dead unit. Request timeout ${LOSSY_TIMEOUT_MS} ms, loss seed ${SEED}.`

async function main (): Promise<void> {
  const argv = process.argv
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(HELP)
    return
  }
  const snapshots = numberFlag('--snapshots', 200)
  const serialSnapshots = numberFlag('--serial-snapshots', 30)
  const rows = await runLossyBench({ snapshots, serialSnapshots })
  console.log(`lossy link, request timeout ${LOSSY_TIMEOUT_MS} ms, node ${process.version}`)
  console.log(formatLossyRows(rows))
  if (!argv.includes('--no-write')) {
    const file = await writeResult('lossy-link', { date: new Date().toISOString().slice(0, 10), machine: machine(), snapshots, serialSnapshots, timeoutMs: LOSSY_TIMEOUT_MS, rows })
    console.log(`written ${file}`)
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
