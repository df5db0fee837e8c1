/**
 * Requests per snapshot and snapshot time of MicroBTContainer against the mock container, with
 * 0, 2, 5 and 10 ms added to every Modbus reply, at several pipelining windows (maxInFlight 1 is
 * the JavaScript original's strictly serial way of talking to the device; 4 is the default);
 * then the lossy-link scenarios of ./lossy-link.ts. Each row also gives its floor: the time the
 * request schedule needs when every reply takes exactly the added latency and nothing else
 * costs anything (`floorRounds` × latency).
 *
 *   npm run bench   (or: node dist/bench/snapshot.js [--iterations 30] [--snapshots 200]
 *                    [--serial-snapshots 30] [--lossy-only | --no-lossy])
 *   npm run bench -- --fleet 1000 [--minutes 5 …]   the fleet benchmark instead (./fleet.ts)
 *
 * Writes bench/results/snapshot.json (and lossy-link.json).
 */
import { performance } from 'node:perf_hooks'
import { createServer } from '../mock/server'
import { MicroBTContainer } from '../workers/lib/container'
import { CDU_UNIT, planReads, snapshotRanges, type ContainerVendor, type UnitId } from '../workers/lib/registers'
import { fleetCli } from './fleet'
import { LOSSY_TIMEOUT_MS, formatLossyRows, runLossyBench } from './lossy-link'
import { machine, numberFlag, quantile, round, sortedCopy, writeResult } from './proc'

export interface Row {
  vendor: string
  latencyMs: number
  maxInFlight: number
  requests: number
  /** Reply rounds the schedule needs (see floorRounds). */
  floorRounds: number
  floorMs: number
  medianMs: number
  p95Ms: number
}

/** The default window (MicroBTContainer → ModbusTcpClient). */
export const DEFAULT_MAX_IN_FLIGHT = 4
const LATENCIES = [0, 2, 5, 10]
const WINDOWS = [1, 4, 8, 16, 24]

/**
 * How many reply times a snapshot takes when every reply takes the same time and nothing else
 * costs anything, following the container's schedule: the CDU's first request alone; then the
 * CDU's other requests and every other unit's first request; a unit's other requests once its
 * first answered; at most `window` in flight, first come first sent (the client's queue).
 */
export function floorRounds (vendor: ContainerVendor, window: number): number {
  const byUnit = new Map<UnitId, number>()
  for (const r of planReads(snapshotRanges(vendor))) byUnit.set(r.unit, (byUnit.get(r.unit) ?? 0) + 1)
  const cdu = byUnit.get(CDU_UNIT) ?? 0
  // a request: its unit and whether it is that unit's first
  type Req = { unit: UnitId, first: boolean }
  const queue: Req[] = []
  for (let i = 1; i < cdu; i++) queue.push({ unit: CDU_UNIT, first: false })
  for (const [unit] of byUnit) if (unit !== CDU_UNIT) queue.push({ unit, first: true })
  // time in units of one reply; the probe answered at 1
  let now = 1
  const inFlight: Array<{ done: number, req: Req }> = []
  const MAX_STEPS = 10_000
  for (let step = 0; step < MAX_STEPS && (queue.length > 0 || inFlight.length > 0); step++) {
    while (inFlight.length < window && queue.length > 0) inFlight.push({ done: now + 1, req: queue.shift() as Req })
    inFlight.sort((a, b) => a.done - b.done)
    const next = inFlight.shift()
    if (next === undefined) break
    now = next.done
    if (next.req.first) for (let i = 1; i < (byUnit.get(next.req.unit) ?? 0); i++) queue.push({ unit: next.req.unit, first: false })
  }
  return now
}

async function measure (vendor: ContainerVendor, latencyMs: number, maxInFlight: number, iterations: number): Promise<Row> {
  const mock = createServer({ type: vendor, port: 0, tickMs: 0, seed: 1 })
  const { port } = await mock.start()
  mock.setFault({ delayMs: latencyMs })
  const container = new MicroBTContainer({ vendor, address: '127.0.0.1', port, username: 'admin', password: 'admin', maxInFlight, timeout: 5000 })
  try {
    for (let i = 0; i < 3; i++) await container.getSnap()
    const times: number[] = []
    const before = mock.stats.requests
    for (let i = 0; i < iterations; i++) {
      const t0 = performance.now()
      const snap = await container.getSnap()
      times.push(performance.now() - t0)
      if (!snap.success) throw new Error(`snapshot failed: ${JSON.stringify(snap)}`)
    }
    const sorted = sortedCopy(times)
    const rounds = floorRounds(vendor, maxInFlight)
    return {
      vendor,
      latencyMs,
      maxInFlight,
      requests: (mock.stats.requests - before) / iterations,
      floorRounds: rounds,
      floorMs: rounds * latencyMs,
      medianMs: round(quantile(sorted, 0.5), 1),
      p95Ms: round(quantile(sorted, 0.95), 1)
    }
  } finally {
    await container.close()
    await mock.exit()
  }
}

export async function runSnapshotBench (iterations: number): Promise<Row[]> {
  const rows: Row[] = []
  for (const latencyMs of LATENCIES) {
    for (const maxInFlight of WINDOWS) rows.push(await measure('kehua', latencyMs, maxInFlight, iterations))
  }
  for (const latencyMs of [0, 10]) rows.push(await measure('wonderint', latencyMs, DEFAULT_MAX_IN_FLIGHT, iterations))
  return rows
}

export function formatRows (rows: Row[]): string {
  const lines = ['| vendor | added latency | maxInFlight | requests / snapshot | floor (rounds × latency) | median ms | p95 ms | median / floor |', '|---|---|---|---|---|---|---|---|']
  for (const r of rows) {
    const vsFloor = r.floorMs > 0 ? `${(r.medianMs / r.floorMs).toFixed(2)}×` : '—'
    lines.push(`| ${r.vendor} | ${r.latencyMs} ms | ${r.maxInFlight}${r.maxInFlight === DEFAULT_MAX_IN_FLIGHT ? ' (default)' : ''} | ${r.requests} | ${r.floorRounds} × ${r.latencyMs} = ${r.floorMs} ms | ${r.medianMs.toFixed(1)} | ${r.p95Ms.toFixed(1)} | ${vsFloor} |`)
  }
  return lines.join('\n')
}

async function main (): Promise<void> {
  if (process.argv.includes('--fleet')) {
    // `npm run bench -- --fleet 1000 [fleet flags]`: the fleet benchmark (./fleet.ts)
    return await fleetCli()
  }
  const iterations = numberFlag('--iterations', 30)
  const snapshots = numberFlag('--snapshots', 200)
  const serialSnapshots = numberFlag('--serial-snapshots', 30)
  const lossyOnly = process.argv.includes('--lossy-only')
  const skipLossy = process.argv.includes('--no-lossy')
  if (!lossyOnly) {
    const rows = await runSnapshotBench(iterations)
    console.log(`snapshot benchmark, ${iterations} snapshots per row, node ${process.version}`)
    console.log(formatRows(rows))
    const file = await writeResult('snapshot', { date: new Date().toISOString().slice(0, 10), machine: machine(), iterations, rows })
    console.log(`written ${file}`)
  }
  if (!skipLossy) {
    const rows = await runLossyBench({ snapshots, serialSnapshots })
    console.log(`\nlossy link, request timeout ${LOSSY_TIMEOUT_MS} ms, node ${process.version}`)
    console.log(formatLossyRows(rows))
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
