/**
 * Device faults a site meets, measured on the real MicroBTContainer (real Modbus TCP client)
 * against the mock, with the production container settings of config/base.thing.json.example
 * (timeout 2000 ms, retry 4, maxInFlight 4):
 * - flood from the first connection: the mock sends `--flood` unsolicited frames per second on
 *   every connection; time of the first getSnap to its answer, and what it answers;
 * - flood mid-run: the same fault switched on after a good snapshot; from then on a getSnap
 *   every 50 ms (a collection loop much faster than the real one): time from the flood's start
 *   until a getSnap answers the error, and until the client dropped the connection;
 * - units 2–13 silent (cooling controller fine): the time of three consecutive collections (the
 *   first one meets the units for the first time, the next ones have their breakers open) and
 *   what they report.
 * - slow containers and the lanes: a real Kehua worker (in this process, default thing settings
 *   but `collectSnapsItvMs` 1000) polls `--healthy` healthy mocks and `--slow` mocks that delay
 *   every reply 1.5 s (a collection ≈ 16 s); the worst staleness of a healthy thing (time since
 *   its newest snapshot, or since the phase started) over 25 s after registering the slow ones,
 *   and over 25 s after a restart of the worker on the same store.
 * Every answer is capped at `--cap-ms` (default 150 000, above the 120 s collection timeout).
 *
 *   npm run build && node dist/bench/device-faults.js [--flood 20000] [--cap-ms 150000] [--only flood|silent|lanes]
 *        [--slow 30] [--healthy 5]
 *
 * Writes bench/results/device-faults.json.
 */
import { performance } from 'node:perf_hooks'
import { createServer, type MockServer } from '../mock/server'
import WrkContainerRackKehua from '../workers/kehua.rack.container.wrk'
import { MicroBTContainer } from '../workers/lib/container'
import type { ContainerSnapshot } from '../workers/lib/registers'
import type { ThingSnap } from '../workers/tpl/thing/base-thing'
import { numberFlag, round, stringFlag, writeResult } from './proc'
import { benchRoot } from './root'

const CONTAINER = { timeout: 2000, retry: 4, maxInFlight: 4 }

interface Outcome {
  ms: number
  /** `ok`, the status of the failure envelope, or `capped`. */
  answer: string
  code: string | null
  status?: string
  incomplete?: string[]
}

async function startMock (): Promise<MockServer> {
  const mock = createServer({ type: 'Kehua', port: 0, tickMs: 0, seed: 7 })
  await mock.start()
  return mock
}

function container (mock: MockServer): MicroBTContainer {
  return new MicroBTContainer({ vendor: 'kehua', address: '127.0.0.1', port: mock.port, username: 'admin', password: 'admin', ...CONTAINER })
}

async function timedSnap (c: MicroBTContainer, capMs: number): Promise<Outcome> {
  const t0 = performance.now()
  let timer: NodeJS.Timeout | undefined
  const capped = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), capMs) })
  const snap: ThingSnap<ContainerSnapshot> | null = await Promise.race([c.getSnap(), capped])
  clearTimeout(timer)
  const ms = round(performance.now() - t0, 0)
  if (snap === null) return { ms, answer: 'capped', code: null }
  if (!snap.success) {
    const errors = (snap.stats as { errors?: Array<{ msg: string }> }).errors
    return { ms, answer: snap.stats.status, code: errors?.[0]?.msg ?? c.lastErrorCode }
  }
  return { ms, answer: 'ok', code: null, status: snap.stats.status, ...(snap.stats.incomplete !== undefined ? { incomplete: snap.stats.incomplete } : {}) }
}

async function floodFromFirstConnection (fps: number, capMs: number): Promise<Outcome> {
  const mock = await startMock()
  mock.setFault({ flood: fps })
  const c = container(mock)
  try {
    return await timedSnap(c, capMs)
  } finally {
    await c.close()
    await mock.exit()
  }
}

interface MidRun {
  before: Outcome
  /** From the flood's start until a getSnap answered something else than a success (capped). */
  toErrorMs: number
  /** That getSnap's answer. */
  error: Outcome
  /** getSnap calls that still succeeded after the flood started. */
  successesAfterFlood: number
  /** From the flood's start until the mock saw the connection closed. */
  droppedAfterMs: number | null
}

async function floodMidRun (fps: number, capMs: number): Promise<MidRun> {
  const mock = await startMock()
  const c = container(mock)
  try {
    const before = await timedSnap(c, capMs)
    const t0 = performance.now()
    let droppedAfterMs: number | null = null
    const watch = setInterval(() => {
      if (droppedAfterMs === null && mock.connectionCount === 0) droppedAfterMs = round(performance.now() - t0, 0)
    }, 1)
    mock.setFault({ flood: fps })
    let successesAfterFlood = 0
    let error: Outcome
    for (;;) {
      error = await timedSnap(c, capMs)
      if (error.answer !== 'ok' || performance.now() - t0 > capMs) break
      successesAfterFlood++
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const toErrorMs = round(performance.now() - t0, 0)
    clearInterval(watch)
    return { before, toErrorMs, error, successesAfterFlood, droppedAfterMs }
  } finally {
    await c.close()
    await mock.exit()
  }
}

async function silentUnits (capMs: number): Promise<Outcome[]> {
  const mock = await startMock()
  const c = container(mock)
  try {
    await timedSnap(c, capMs) // connected and complete
    mock.setFault({ silentUnits: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13] })
    const out: Outcome[] = []
    for (let i = 0; i < 3; i++) out.push(await timedSnap(c, capMs))
    return out
  } finally {
    await c.close()
    await mock.exit()
  }
}

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

interface Staleness {
  /** Worst staleness of a healthy thing over the phase (ms). */
  worstMs: number
  /** Until every healthy thing had a snapshot of this phase (ms). */
  allFreshAfterMs: number | null
  /** Slow things in the slow lane at the phase's start / end. */
  slowLaneAtStart: number
  slowLaneAtEnd: number
}

async function lanes (slowCount: number, healthyCount: number): Promise<{ afterRegistering: Staleness, afterRestart: Staleness }> {
  const bench = await benchRoot({ collectSnapsItvMs: 1000 })
  const mocks: MockServer[] = []
  const start = async (): Promise<WrkContainerRackKehua> => {
    const w = new WrkContainerRackKehua({ wtype: 'wrk-container-rack-kehua', env: 'development', rack: 'lanes', root: bench.root })
    await w.start()
    w.logger.level = 'silent'
    return w
  }
  const opts = (m: MockServer): Record<string, unknown> => ({ address: '127.0.0.1', port: m.port, username: 'admin', password: 'admin' })
  const healthy = Array.from({ length: healthyCount }, (_, i) => `healthy-${i}`)
  const slow = Array.from({ length: slowCount }, (_, i) => `slow-${i}`)
  let worker = await start()
  const watch = async (phaseStart: number): Promise<Staleness> => {
    const slowLane = (): number => slow.filter((id) => worker.snapshots.isSlow(worker.registry.get(id))).length
    const slowLaneAtStart = slowLane()
    let worstMs = 0
    let allFreshAfterMs: number | null = null
    while (Date.now() - phaseStart < 25_000) {
      const now = Date.now()
      let fresh = 0
      for (const id of healthy) {
        const ts = worker.registry.get(id).last.ts ?? 0
        if (ts >= phaseStart) fresh++
        worstMs = Math.max(worstMs, now - Math.max(ts, phaseStart))
      }
      if (allFreshAfterMs === null && fresh === healthy.length) allFreshAfterMs = now - phaseStart
      await sleep(100)
    }
    return { worstMs, allFreshAfterMs, slowLaneAtStart, slowLaneAtEnd: slowLane() }
  }
  try {
    for (const id of healthy) {
      const m = createServer({ type: 'Kehua', port: 0, tickMs: 0, seed: 1 })
      await m.start()
      mocks.push(m)
      await worker.callRpc('registerThing', { id, opts: opts(m) })
    }
    const t = Date.now()
    while (healthy.some((id) => (worker.registry.get(id).last.ts ?? 0) < t)) await sleep(100)
    for (let i = 0; i < slowCount; i++) {
      const m = createServer({ type: 'Kehua', port: 0, tickMs: 0, seed: 2 })
      await m.start()
      m.setFault({ delayMs: 1500 })
      mocks.push(m)
    }
    const registered = Date.now()
    for (const [i, id] of slow.entries()) await worker.callRpc('registerThing', { id, opts: opts(mocks[healthyCount + i]) })
    const afterRegistering = await watch(registered)
    // every slow thing stored one (slow) collection
    while (slow.some((id) => worker.registry.get(id).lastStoredTs === 0)) await sleep(200)
    await worker.stop()
    worker = await start()
    const afterRestart = await watch(Date.now())
    return { afterRegistering, afterRestart }
  } finally {
    await worker.stop()
    await Promise.all(mocks.map(async (m) => await m.exit()))
    await bench.close()
  }
}

async function main (): Promise<void> {
  const fps = numberFlag('--flood', 20_000)
  const capMs = numberFlag('--cap-ms', 150_000)
  const only = stringFlag('--only')
  const result: Record<string, unknown> = { container: CONTAINER, floodFps: fps }
  if (only === undefined || only === 'flood') {
    const first = await floodFromFirstConnection(fps, capMs)
    console.log(`flood ${fps}/s from the first connection: ${JSON.stringify(first)}`)
    const mid = await floodMidRun(fps, capMs)
    console.log(`flood ${fps}/s mid-run: ${JSON.stringify(mid)}`)
    result.floodFirstConnection = first
    result.floodMidRun = mid
  }
  if (only === undefined || only === 'silent') {
    const silent = await silentUnits(capMs)
    console.log(`units 2–13 silent, three collections: ${JSON.stringify(silent)}`)
    result.silentUnits2to13 = silent
  }
  if (only === undefined || only === 'lanes') {
    const slow = numberFlag('--slow', 30)
    const healthy = numberFlag('--healthy', 5)
    const l = await lanes(slow, healthy)
    console.log(`${slow} slow things (1.5 s per reply), ${healthy} healthy: ${JSON.stringify(l)}`)
    result.lanes = { slow, healthy, ...l }
  }
  if (only === undefined) console.log(`written ${await writeResult('device-faults', result)}`)
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err)
  process.exit(1)
})
