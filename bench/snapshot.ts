/**
 * Requests per snapshot and snapshot time of MicroBTContainer against the mock container, at
 * 0 ms and 10 ms of added latency per Modbus reply, pipelined (maxInFlight 4) and strictly
 * serial (maxInFlight 1, the JavaScript original's way of talking to the device); then the
 * lossy-link scenarios of ./lossy-link.ts.
 *
 *   npm run bench   (or: node dist/bench/snapshot.js [--iterations 30] [--snapshots 200]
 *                    [--serial-snapshots 30] [--lossy-only | --no-lossy])
 */
import { performance } from 'node:perf_hooks'
import { createServer } from '../mock/server'
import { MicroBTContainer } from '../workers/lib/container'
import { LOSSY_TIMEOUT_MS, formatLossyRows, runLossyBench } from './lossy-link'

interface Row { vendor: string, latencyMs: number, maxInFlight: number, requests: number, medianMs: number, p95Ms: number }

function quantile (sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

async function measure (vendor: 'kehua' | 'wonderint', latencyMs: number, maxInFlight: number, iterations: number): Promise<Row> {
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
    times.sort((a, b) => a - b)
    return { vendor, latencyMs, maxInFlight, requests: (mock.stats.requests - before) / iterations, medianMs: quantile(times, 0.5), p95Ms: quantile(times, 0.95) }
  } finally {
    await container.close()
    await mock.exit()
  }
}

export async function runSnapshotBench (iterations: number): Promise<Row[]> {
  const rows: Row[] = []
  for (const vendor of ['kehua', 'wonderint'] as const) {
    for (const latencyMs of [0, 10]) {
      for (const maxInFlight of [4, 1]) rows.push(await measure(vendor, latencyMs, maxInFlight, iterations))
    }
  }
  return rows
}

export function formatRows (rows: Row[]): string {
  const lines = ['| vendor | added latency | maxInFlight | requests / snapshot | median ms | p95 ms |', '|---|---|---|---|---|---|']
  for (const r of rows) lines.push(`| ${r.vendor} | ${r.latencyMs} ms | ${r.maxInFlight} | ${r.requests} | ${r.medianMs.toFixed(1)} | ${r.p95Ms.toFixed(1)} |`)
  return lines.join('\n')
}

function flag (name: string, fallback: number): number {
  const idx = process.argv.indexOf(name)
  if (idx < 0) return fallback
  const n = Number(process.argv[idx + 1])
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} needs a positive integer`)
  return n
}

async function main (): Promise<void> {
  const iterations = flag('--iterations', 30)
  const snapshots = flag('--snapshots', 200)
  const serialSnapshots = flag('--serial-snapshots', 30)
  const lossyOnly = process.argv.includes('--lossy-only')
  const skipLossy = process.argv.includes('--no-lossy')
  if (!lossyOnly) {
    const rows = await runSnapshotBench(iterations)
    console.log(`snapshot benchmark, ${iterations} snapshots per row, node ${process.version}`)
    console.log(formatRows(rows))
  }
  if (!skipLossy) {
    const rows = await runLossyBench({ snapshots, serialSnapshots })
    console.log(`\nlossy link, request timeout ${LOSSY_TIMEOUT_MS} ms, node ${process.version}`)
    console.log(formatLossyRows(rows))
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
