/**
 * What the metrics endpoint costs (issue 28): one real Kehua worker (its own process) polls N
 * mock containers (`dist/mock/server.js --bulk` processes) at `--interval-ms`, once with the
 * endpoint off and once with it on and scraped every `--scrape-s` seconds (as Prometheus would),
 * each for `--minutes` after a warm-up of two intervals. Measured from outside the worker
 * (/proc): CPU (user + system, % of one core) and RSS (mean and max, sampled every second); per
 * scrape its duration, size and series. The machine's load average is recorded with each run:
 * on a shared machine the absolute CPU figures carry the other load, the difference between the
 * runs is the endpoint's cost.
 *
 *   npm run bench:metrics -- [--containers 1000] [--minutes 3] [--interval-ms 10000] [--scrape-s 15] [--mock-procs 2]
 *
 * Writes bench/results/metrics-<containers>.json.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import WrkContainerRackKehua from '../workers/kehua.rack.container.wrk'
import { benchRoot } from './root'
import { startMockProc } from './mock-procs'
import { machine, numberFlag, procCpuMs, procRssMb, round, table, writeResult } from './proc'

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/** Child mode: the worker with `ports.length` things, metrics as configured in its root; prints `{ready, metricsPort}`. */
async function workerChild (root: string, thingsFile: string): Promise<void> {
  const ports = JSON.parse(await readFile(thingsFile, 'utf8')) as number[]
  const worker = new WrkContainerRackKehua({ wtype: 'wrk-container-rack-kehua', env: 'development', rack: 'metrics', root })
  await worker.start()
  worker.logger.level = 'warn'
  for (let i = 0; i < ports.length; i++) {
    const opts = { address: '127.0.0.1', port: ports[i], username: 'admin', password: 'admin' }
    await worker.callRpc('registerThing', { id: `c-${i}`, opts, info: { container: `bay-${i}` } })
  }
  process.stdout.write(JSON.stringify({ ready: true, metricsPort: worker.metrics?.address.port ?? null }) + '\n')
  process.stdin.resume()
  process.stdin.on('end', () => { void worker.stop().then(() => process.exit(0)) })
}

interface Options { containers: number, minutes: number, intervalMs: number, scrapeS: number, mockProcs: number }
interface Scrape { ms: number, bytes: number, series: number, text: string }

/** A sample's value in a scrape (the first line of `name` without labels), or null. */
function sampleOf (text: string | undefined, name: string): number | null {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text ?? '')
  return m ? Number(m[1]) : null
}

/** One run: the fleet, the worker (metrics on or off), warm-up, then the measurement. */
async function run (o: Options, metrics: boolean): Promise<Record<string, unknown>> {
  const bench = await benchRoot({ collectSnapsItvMs: o.intervalMs })
  const procs: ChildProcess[] = []
  try {
    if (metrics) {
      const common = JSON.parse(await readFile(path.join(bench.root, 'config', 'common.json'), 'utf8')) as Record<string, unknown>
      await writeFile(path.join(bench.root, 'config', 'common.json'), JSON.stringify({ ...common, metrics: { port: 0 } }))
    }
    const per = Math.ceil(o.containers / o.mockProcs)
    const mocks = await Promise.all(Array.from({ length: o.mockProcs },
      async (_, p) => await startMockProc(bench.root, p, p * per, Math.min(per, o.containers - p * per))))
    procs.push(...mocks.map((m) => m.proc))
    const thingsFile = path.join(bench.root, 'things.json')
    await writeFile(thingsFile, JSON.stringify(mocks.flatMap((m) => m.ports)))
    const worker = spawn(process.execPath, [__filename, '--worker', bench.root, thingsFile], { stdio: ['pipe', 'pipe', 'inherit'] })
    procs.push(worker)
    const ready = await new Promise<{ metricsPort: number | null }>((resolve, reject) => {
      worker.once('exit', (code) => reject(new Error(`worker exited (${String(code)})`)))
      createInterface({ input: worker.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        if (line.startsWith('{"ready"')) resolve(JSON.parse(line) as { metricsPort: number | null })
      })
    })
    const pid = worker.pid as number
    console.error(`${metrics ? 'metrics on' : 'metrics off'}: worker ready with ${o.containers} things; warm-up ${2 * o.intervalMs / 1000} s`)
    await sleep(2 * o.intervalMs)

    const scrapes: Scrape[] = []
    const scrape = async (): Promise<void> => {
      const t0 = performance.now()
      const text = await (await fetch(`http://127.0.0.1:${String(ready.metricsPort)}/metrics`)).text()
      const series = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length
      scrapes.push({ ms: round(performance.now() - t0), bytes: text.length, series, text })
      if (scrapes.length > 1) (scrapes.at(-2) as Scrape).text = ''
    }
    const rss: number[] = []
    const cpu0 = procCpuMs(pid)
    const wall0 = Date.now()
    const load0 = os.loadavg()
    let nextScrape = metrics ? Date.now() : Infinity
    while (Date.now() - wall0 < o.minutes * 60_000) {
      rss.push(procRssMb(pid))
      if (Date.now() >= nextScrape) {
        nextScrape += o.scrapeS * 1000
        await scrape()
      }
      await sleep(1000)
    }
    const cpuPct = (procCpuMs(pid) - cpu0) / (Date.now() - wall0) * 100
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
    return {
      metrics: metrics ? `scraped every ${o.scrapeS} s` : 'off',
      cpuPctOfOneCore: round(cpuPct, 1),
      rssMeanMb: round(mean(rss)),
      rssMaxMb: round(Math.max(...rss)),
      scrapes: scrapes.length,
      scrapeMsMean: round(mean(scrapes.map((s) => s.ms))),
      scrapeMsMax: round(Math.max(0, ...scrapes.map((s) => s.ms))),
      scrapeKb: round(mean(scrapes.map((s) => s.bytes)) / 1024),
      series: scrapes.at(-1)?.series ?? 0,
      // as the worker itself counts them, since it started (warm-up included)
      missedIntervals: sampleOf(scrapes.at(-1)?.text, 'snapshot_missed_intervals_total'),
      eventLoopP99Ms: round((sampleOf(scrapes.at(-1)?.text, 'nodejs_eventloop_lag_p99_seconds') ?? NaN) * 1000),
      loadAvg1mBefore: round(load0[0] ?? NaN, 2),
      loadAvg1mAfter: round(os.loadavg()[0] ?? NaN, 2)
    }
  } finally {
    for (const p of procs.reverse()) {
      if (p.exitCode !== null) continue
      p.stdin?.end()
      p.kill('SIGTERM')
      await new Promise((resolve) => {
        const t = setTimeout(() => { p.kill('SIGKILL'); resolve(null) }, 10_000)
        p.once('exit', () => { clearTimeout(t); resolve(null) })
      })
    }
    await bench.close()
  }
}

async function main (): Promise<void> {
  if (process.argv[2] === '--worker') return await workerChild(process.argv[3] as string, process.argv[4] as string)
  const o: Options = {
    containers: numberFlag('--containers', 1000),
    minutes: numberFlag('--minutes', 3),
    intervalMs: numberFlag('--interval-ms', 10_000),
    scrapeS: numberFlag('--scrape-s', 15),
    mockProcs: numberFlag('--mock-procs', 2)
  }
  const runs = [await run(o, false), await run(o, true)]
  const result = { bench: 'metrics', date: new Date().toISOString(), machine: machine(), options: o, runs }
  const file = await writeResult(`metrics-${o.containers}`, result)
  const header = ['metrics', 'CPU % of a core', 'RSS mean MB', 'RSS max MB', 'scrape ms mean/max', 'scrape kB', 'series', 'missed', 'load avg 1 m']
  console.log(table(header, runs.map((r) => [
    String(r.metrics), String(r.cpuPctOfOneCore), String(r.rssMeanMb), String(r.rssMaxMb), `${String(r.scrapeMsMean)}/${String(r.scrapeMsMax)}`,
    String(r.scrapeKb), String(r.series), String(r.missedIntervals ?? '—'), `${String(r.loadAvg1mBefore)}→${String(r.loadAvg1mAfter)}`
  ])))
  console.log(`\n${file}`)
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
