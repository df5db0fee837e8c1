/**
 * Control benchmark (issue 27). One Kehua worker (in this process) polls `--containers` mock
 * containers every `--interval-ms`, each mock answering every request `--delay-ms` late: the
 * fleet is served by `--mock-procs` mock processes, the target container by an in-process mock
 * (its write log and live values are read directly).
 *
 * 1. Write latency (request in → acknowledged by the device → reply) of `switchSocket` of one
 *    socket of the target through the RPC dispatch (`callRpc`), every `--write-every-ms` for
 *    `--seconds`: power-downs (one fresh read + one write) and power-ups (one fresh read, one
 *    guard reading of five requests, one write), half of them sent while a snapshot of the
 *    same container is in flight (`overlap`: the write has to pass its 40 polling reads).
 * 2. A guarded 240-socket power-up (12 batches of 20, `--batch-delay-ms` apart) under a cap just
 *    above what 240 sockets draw: total time, peak meter power (sampled every 20 ms) vs the cap.
 * 3. The same with power rising past the cap after the 6th batch (the mock's `extraPowerKw`):
 *    stopped and rolled back; the socket states read back from the mock and from a snapshot.
 *
 *   npm run bench:control -- [--containers 1000] [--interval-ms 10000] [--delay-ms 10] [--seconds 60]
 *     [--write-every-ms 200] [--batch-delay-ms 1000] [--mock-procs 2] [--name control-1000]
 *
 * Writes bench/results/<name>.json.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { createServer, type MockServer } from '../mock/server'
import WrkContainerRackKehua from '../workers/kehua.rack.container.wrk'
import { benchRoot } from './root'
import { startMockProc, type MockProc } from './mock-procs'
import { machine, numberFlag, quantile, round, sortedCopy, stringFlag, table, writeResult } from './proc'

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

async function post (url: string, body: unknown): Promise<void> {
  const res = await fetch(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
  if (!res.ok) throw new Error(`POST ${url}: ${res.status} ${await res.text()}`)
}

function stats (values: readonly number[]): { n: number, p50: number, p99: number, max: number } {
  const s = sortedCopy(values)
  return { n: s.length, p50: round(quantile(s, 0.5)), p99: round(quantile(s, 0.99)), max: round(s[s.length - 1] ?? Number.NaN) }
}

/** Total active power the target's four meters show (W). */
function meterPowerW (mock: MockServer): number {
  return [4, 5, 6, 7].reduce((sum, unit) => sum + mock.getRegister(unit, 57) * 10, 0)
}

/** Samples the meters every 20 ms until stopped; the peak. */
function peakSampler (mock: MockServer): { stop: () => number } {
  let peak = meterPowerW(mock)
  const timer = setInterval(() => { peak = Math.max(peak, meterPowerW(mock)) }, 20)
  return { stop: () => { clearInterval(timer); return Math.max(peak, meterPowerW(mock)) } }
}

async function main (): Promise<void> {
  const containers = numberFlag('--containers', 1000)
  const intervalMs = numberFlag('--interval-ms', 10_000)
  const delayMs = numberFlag('--delay-ms', 10)
  const seconds = numberFlag('--seconds', 60)
  const writeEveryMs = numberFlag('--write-every-ms', 200)
  const batchDelayMs = numberFlag('--batch-delay-ms', 1000)
  const mockProcs = Math.max(1, Math.min(numberFlag('--mock-procs', 2), containers - 1))
  const name = stringFlag('--name') ?? `control-${containers}`
  const bench = await benchRoot({
    collectSnapsItvMs: intervalMs,
    storeSnapItvMs: 600_000,
    control: { batchDelayMs, minBatchDelayMs: 0, maxPowerW: 5_000_000 }
  })
  const procs: MockProc[] = []
  let target: MockServer | null = null
  let worker: WrkContainerRackKehua | null = null
  try {
    // the fleet (containers − 1) in mock processes, each answering delayMs late
    const fleet = containers - 1
    const per = Math.ceil(fleet / mockProcs)
    const ports: number[] = []
    for (let i = 0; i < mockProcs && i * per < fleet; i++) {
      const p = await startMockProc(bench.root, i, i * per, Math.min(per, fleet - i * per), { control: true, idPrefix: 'm' })
      procs.push(p)
      ports.push(...p.ports)
      for (const id of p.ids) await post(`${p.control}/thing/${id}`, { delayMs })
    }
    target = createServer({ type: 'Kehua', port: 0, host: '127.0.0.1', tickMs: 0, seed: 7, username: 'admin', password: 'admin' })
    await target.start()
    target.setFault({ delayMs })
    const mock = target
    worker = new WrkContainerRackKehua({ wtype: 'wrk-container-rack-kehua', env: 'development', rack: 'ctl', root: bench.root })
    await worker.start()
    worker.logger.level = 'warn'
    const w = worker
    const opts = (port: number): Record<string, unknown> => ({ address: '127.0.0.1', port, username: 'admin', password: 'admin' })
    for (const [i, port] of ports.entries()) await w.callRpc('registerThing', { id: `c-${i}`, opts: opts(port) })
    await w.callRpc('registerThing', { id: 'target', opts: opts(mock.port) })
    const call = async (method: string, params: unknown[]): Promise<unknown> =>
      await w.callRpc('queryThing', { id: 'target', method, params })
    console.log(`${containers} containers registered; warming up for two intervals`)
    await sleep(2 * intervalMs)

    // ---- 1. write latency under polling
    const loop = monitorEventLoopDelay({ resolution: 10 })
    loop.enable()
    const lat: Record<string, number[]> = { 'off background': [], 'on background': [], 'off overlap': [], 'on overlap': [] }
    const snapMs: number[] = []
    const deadline = Date.now() + seconds * 1000
    for (let i = 0; Date.now() < deadline; i++) {
      const on = i % 2 === 1
      const overlap = i % 4 >= 2
      if (overlap) {
        const t = performance.now()
        void call('getSnap', []).then(() => snapMs.push(performance.now() - t))
        await sleep(Math.random() * 2 * delayMs)
      }
      const t0 = performance.now()
      await call('switchSocket', [[['1', '1', on]]])
      lat[`${on ? 'on' : 'off'} ${overlap ? 'overlap' : 'background'}`].push(performance.now() - t0)
      await sleep(writeEveryMs)
    }
    loop.disable()
    const all = Object.values(lat).flat()
    const byKind = Object.fromEntries(Object.entries(lat).map(([k, v]) => [k, stats(v)]))
    const latency = { all: stats(all), ...byKind, targetSnapshotMs: stats(snapMs) }
    const rows = Object.entries(latency).map(([k, s]) => [k, s.n, s.p50, s.p99, s.max])
    console.log(table(['writes', 'n', 'p50 ms', 'p99 ms', 'max ms'], rows))

    // ---- 2. guarded 240-socket power-up
    await call('switchSocket', [[['-1', '-1', false]]])
    await sleep(50)
    const base = meterPowerW(mock)
    await call('switchSocket', [[['1', '-1', true]], { batchDelayMs: 0 }])
    const pduW = meterPowerW(mock) - base
    await call('switchSocket', [[['1', '-1', false]]])
    const cap = Math.round(base + 12.5 * pduW)
    let peak = peakSampler(mock)
    let t0 = performance.now()
    const done = await call('switchSocket', [[['-1', '-1', true]], { maxPowerW: cap }]) as Record<string, unknown>
    const powerUp = {
      totalMs: Math.round(performance.now() - t0),
      capW: cap,
      basePowerW: base,
      onePduW: pduW,
      peakPowerW: peak.stop(),
      enabledAfter: mock.state.enabledSockets(),
      batches: done.batches,
      reply: done
    }
    console.log(`240-socket power-up: ${powerUp.totalMs} ms, peak ${powerUp.peakPowerW} W vs cap ${cap} W, ${powerUp.enabledAfter} on`)

    // ---- 3. power past the cap after the 6th batch → stopped and rolled back
    await call('switchSocket', [[['-1', '-1', false]]])
    await sleep(50)
    const from = mock.writeLog.length
    const extraKw = Math.ceil((cap - base) / 1000)
    const watcher = setInterval(() => {
      const on = mock.writeLog.slice(from).filter((r) => r.value === 1).length
      if (on >= 120) void mock.apply({ live: { extraPowerKw: { value: extraKw } } })
    }, 5)
    peak = peakSampler(mock)
    t0 = performance.now()
    const err = await call('switchSocket', [[['-1', '-1', true]], { maxPowerW: cap }, { actionId: 'bench-trip' }])
      .then(() => null, (e: unknown) => e as Error & { code?: string })
    clearInterval(watcher)
    const trippedMs = Math.round(performance.now() - t0)
    const tripPeak = peak.stop()
    const [record] = await w.callRpc('getActions', { actionId: 'bench-trip' }) as Array<Record<string, unknown>>
    type SnapSockets = { stats: { container_specific: { pdu_data: Array<{ sockets?: Array<{ enabled: boolean }> }> } } }
    const snap = await call('getSnap', []) as SnapSockets
    const onInSnapshot = snap.stats.container_specific.pdu_data.flatMap((p) => p.sockets ?? []).filter((s) => s.enabled).length
    await mock.apply({ live: { extraPowerKw: null } })
    const trip = {
      code: err?.code ?? null,
      message: err?.message ?? null,
      totalMs: trippedMs,
      peakPowerW: tripPeak,
      capW: cap,
      switchedOn: mock.writeLog.slice(from).filter((r) => r.value === 1).length,
      switchedOffAgain: mock.writeLog.slice(from).filter((r) => r.value === 2).length,
      enabledOnDevice: mock.state.enabledSockets(),
      enabledInSnapshot: onInSnapshot,
      journal: { status: record?.status, progress: record?.progress }
    }
    console.log(`trip: ${trip.code} after ${trippedMs} ms: ${trip.message}`)
    console.log(`read back: ${trip.enabledOnDevice} on (device), ${onInSnapshot} on (snapshot)`)
    const loopDelay = { p50: round(loop.percentile(50) / 1e6), p99: round(loop.percentile(99) / 1e6), max: round(loop.max / 1e6) }
    const setup = { containers, intervalMs, delayMs, seconds, writeEveryMs, batchDelayMs }
    const file = await writeResult(name, { machine: machine(), ...setup, latency, eventLoopMs: loopDelay, powerUp, trip })
    console.log(`wrote ${file}`)
  } finally {
    await worker?.stop().catch(() => {})
    await target?.exit().catch(() => {})
    for (const p of procs) p.proc.kill('SIGTERM')
    await bench.close()
  }
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
