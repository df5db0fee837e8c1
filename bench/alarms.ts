/**
 * `npm run bench:alarms` (docs/performance.md "Alarm management"): side by side, the reference
 * semantics (every condition an alert at once, cleared at once, no inhibition) against the
 * MicroBT defaults, on the real AlertBook over a temp store:
 * (a) the inlet temperature oscillating ± 0.3 °C (plus noise) around its 45 °C threshold for
 *     30 simulated minutes at the default 60 s snapshot period → activations; and excursions of
 *     + 5 °C lasting 2 snapshots from 42 °C → missed ones;
 * (b) the mock's `--error` cascade → alerts in `last.alerts`, and what the rest is suppressed by;
 * (c) evaluation cost per snapshot at 1000 containers against the snapshot path (getSnap of a
 *     mock container over loopback).
 */
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { createServer } from '../mock/server'
import { StoreFacility, type Bee } from '../workers/facs/store'
import { KeyedLock } from '../workers/core/async'
import { silentLogger } from '../workers/core/types'
import { MicroBTContainer } from '../workers/lib/container'
import { MBT_ALERT_SPECS } from '../workers/lib/alerts'
import { MBT_ALARM_DEFAULTS } from '../workers/lib/alarm-defaults'
import { AlertBook } from '../workers/tpl/thing/alerts/alert-book'
import { NO_ALARM_DEFAULTS, type AlarmDefaults } from '../workers/tpl/thing/alerts/alarm-conf'
import { alarmBeesOf } from '../workers/tpl/thing/alerts/alarm-store'
import type { AlertConf } from '../workers/tpl/thing/alerts/engine'
import { ThingRegistry } from '../workers/tpl/thing/registry/registry'
import { TimeLogs, type LogMeta } from '../workers/tpl/thing/logs/time-log'
import { THING_CONF_DEFAULTS } from '../workers/tpl/thing/thing-conf'
import type { RackParts } from '../workers/tpl/thing/rack-parts'
import type { Snap, ThingRecord } from '../workers/tpl/thing/types'
import { machine, numberFlag, quantile, round, sortedCopy, table, writeResult } from './proc'

const TYPE = 'container-mbt-kehua'
const PERIOD_MS = 60_000
const EXAMPLE = path.resolve(__dirname, '..', '..', 'config', 'base.thing.json.example')
const CONF = (JSON.parse(readFileSync(EXAMPLE, 'utf8')) as { alerts: Record<string, AlertConf> }).alerts[TYPE]
/** The reference: no alarm defaults, no inhibition, no chattering or flood detection. */
const REFERENCE = { defaults: NO_ALARM_DEFAULTS, alarms: { inhibit: [], chattering: { count: 0 }, flood: { count: 0 } } }
const DEFAULTS = { defaults: MBT_ALARM_DEFAULTS, alarms: {} }

/** A rack's alert book on a temp store with a simulated clock. */
class SimRack {
  t = 1_700_000_000_000
  book!: AlertBook
  registry!: ThingRegistry
  private store!: StoreFacility

  private constructor (private readonly dir: string) {}

  static async create (semantics: { defaults: AlarmDefaults, alarms: Record<string, unknown> }, things: number): Promise<SimRack> {
    const sim = new SimRack(await mkdtemp(path.join(os.tmpdir(), 'mbt-bench-alarms-')))
    sim.store = new StoreFacility(path.join(sim.dir, 'store', 'db'))
    await sim.store.ready()
    const db = await sim.store.getBee('db')
    const logs = new TimeLogs(sim.store, db.sub('meta_logs') as Bee<LogMeta>, { maxLength: 10_000, keepCount: 3 })
    sim.registry = new ThingRegistry(db.sub('things') as Bee<ThingRecord>, TYPE, ['microbt'])
    await sim.registry.load()
    for (let i = 0; i < things; i++) await sim.registry.register({ id: `c${i}`, opts: {}, info: {} })
    const rack = { registry: sim.registry, logs, thingConf: THING_CONF_DEFAULTS, logger: silentLogger, thingLock: new KeyedLock(), rackId: 'bench' } as unknown as RackParts
    sim.book = new AlertBook(rack, { conf: () => CONF, specs: () => MBT_ALERT_SPECS, defaults: () => semantics.defaults, now: () => sim.t })
    sim.book.configure({ alarms: semantics.alarms })
    sim.book.open(alarmBeesOf(db))
    await sim.book.load()
    return sim
  }

  /** Time spent in evaluate and in record (ms). */
  readonly spent = { evaluate: 0, record: 0 }

  /** One collection of thing `id`; the alerts it shows. */
  async collect (id: string, snap: Snap): Promise<string[]> {
    const state = this.registry.get(id)
    const prev = state.last.alerts
    const t0 = performance.now()
    const alerts = this.book.evaluate(state, snap, null)
    const t1 = performance.now()
    state.last = { ...state.last, snap, alerts }
    await this.book.record(state, prev, alerts)
    this.spent.evaluate += t1 - t0
    this.spent.record += performance.now() - t1
    return (alerts ?? []).map((a) => `${a.name}/${a.uuid}`)
  }

  async close (): Promise<void> {
    await this.store.close()
    await rm(this.dir, { recursive: true, force: true })
  }
}

/** A deterministic noise source (LCG) in [-1, 1]. */
function noise (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 31 - 1
  }
}

function tempSnap (t2: number): Snap {
  return { success: true, raw_errors: [], stats: { status: 'running', container_specific: { cdu: { unit_inlet_temp_t2: t2 }, pdu_data: [] } } } as unknown as Snap
}

/** (a) activations of the inlet alert over readings, and the excursions it missed (shown on none of their snapshots). */
async function runReadings (semantics: typeof DEFAULTS, readings: number[], excursions: number[][]): Promise<{ activations: number, missed: number }> {
  const sim = await SimRack.create(semantics, 1)
  try {
    const seen = new Set<string>()
    const shownAt: boolean[] = []
    for (const value of readings) {
      const shown = (await sim.collect('c0', tempSnap(value))).filter((a) => a.startsWith('water_max_inlet_temp_warn/'))
      for (const a of shown) seen.add(a)
      shownAt.push(shown.length > 0)
      sim.t += PERIOD_MS
    }
    return { activations: seen.size, missed: excursions.filter((idx) => !idx.some((i) => shownAt[i])).length }
  } finally {
    await sim.close()
  }
}

function hovering (minutes: number): number[] {
  const n = noise(7)
  return Array.from({ length: minutes }, (_, i) => 45 + (i % 2 === 0 ? 0.3 : -0.3) + 0.05 * n())
}

function withExcursions (minutes: number, count: number): { readings: number[], excursions: number[][] } {
  const n = noise(11)
  const readings = Array.from({ length: minutes }, (_, i) => 42 + (i % 2 === 0 ? 0.3 : -0.3) + 0.05 * n())
  const excursions: number[][] = []
  for (let k = 0; k < count; k++) {
    const at = 3 + k * Math.floor((minutes - 4) / count)
    readings[at] = 47
    readings[at + 1] = 47.2
    excursions.push([at, at + 1])
  }
  return { readings, excursions }
}

async function mockSnap (error: boolean): Promise<{ snap: Snap, snapMs: number[] }> {
  const mock = createServer({ type: 'Kehua', port: 0, tickMs: 0, seed: 1, error })
  const { port } = await mock.start()
  const container = new MicroBTContainer({ vendor: 'kehua', address: '127.0.0.1', port, username: 'admin', password: 'admin', timeout: 5000 })
  try {
    for (let i = 0; i < 3; i++) await container.getSnap()
    const snapMs: number[] = []
    let snap: Snap = await container.getSnap()
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now()
      snap = await container.getSnap()
      snapMs.push(performance.now() - t0)
    }
    return { snap, snapMs }
  } finally {
    await container.close()
    await mock.exit()
  }
}

/** (b) what `last.alerts` shows of the cascade, and the causes of the rest. */
async function cascade (semantics: typeof DEFAULTS, snap: Snap): Promise<{ shown: string[], suppressed: Record<string, string> }> {
  const sim = await SimRack.create(semantics, 1)
  try {
    const shown = (await sim.collect('c0', snap)).map((a) => a.split('/')[0]).sort()
    const suppressed = Object.fromEntries(sim.book.listingOf('c0', sim.book.alarmsOf('c0')).filter((a) => a.state === 'suppressed').map((a) => [a.name, a.suppressedBy ?? '']))
    return { shown, suppressed }
  } finally {
    await sim.close()
  }
}

/**
 * (c) evaluate + record per snapshot over `things` containers, `rounds` rounds after a first
 * one (µs per snapshot: the fastest round — the least disturbed by other load on the machine —
 * and the median; evaluate and record apart, summed over all rounds).
 */
async function cost (semantics: typeof DEFAULTS, snaps: Snap[], things: number, rounds: number):
Promise<{ usPerSnap: number, medianUsPerSnap: number, evaluateUs: number, recordUs: number }> {
  const sim = await SimRack.create(semantics, things)
  try {
    const perSnap: number[] = []
    for (let r = 0; r < rounds + 1; r++) {
      if (r === 1) sim.spent.evaluate = sim.spent.record = 0
      const t0 = performance.now()
      for (let i = 0; i < things; i++) await sim.collect(`c${i}`, snaps[i % snaps.length])
      if (r > 0) perSnap.push((performance.now() - t0) * 1000 / things)
      sim.t += PERIOD_MS
    }
    const sorted = sortedCopy(perSnap)
    const n = things * rounds
    return {
      usPerSnap: round(sorted[0], 1),
      medianUsPerSnap: round(quantile(sorted, 0.5), 1),
      evaluateUs: round(sim.spent.evaluate * 1000 / n, 1),
      recordUs: round(sim.spent.record * 1000 / n, 1)
    }
  } finally {
    await sim.close()
  }
}

async function main (): Promise<void> {
  const things = numberFlag('--things', 1000)
  const rounds = numberFlag('--rounds', 5)
  const minutes = 30
  const hover = hovering(minutes)
  const exc = withExcursions(minutes, 5)
  const a = {
    hovering: { reference: await runReadings(REFERENCE, hover, []), defaults: await runReadings(DEFAULTS, hover, []) },
    excursions: { count: exc.excursions.length, reference: await runReadings(REFERENCE, exc.readings, exc.excursions), defaults: await runReadings(DEFAULTS, exc.readings, exc.excursions) }
  }
  const { snap: errorSnap } = await mockSnap(true)
  const { snap: okSnap, snapMs } = await mockSnap(false)
  const b = { reference: await cascade(REFERENCE, errorSnap), defaults: await cascade(DEFAULTS, errorSnap) }
  // a fleet where one container in ten is in the --error cascade
  const mix = [errorSnap, ...Array.from({ length: 9 }, () => okSnap)]
  const c = { reference: await cost(REFERENCE, mix, things, rounds), defaults: await cost(DEFAULTS, mix, things, rounds) }
  // the snapshot path's fastest collection too (same measure as the evaluation's)
  const snapPathUs = round(sortedCopy(snapMs)[0] * 1000, 0)
  const snapPathMedianUs = round(quantile(sortedCopy(snapMs), 0.5) * 1000, 0)
  const share = round(100 * c.defaults.usPerSnap / snapPathUs, 2)
  const result = { machine: machine(), things, rounds, a, b, c: { ...c, snapPathUs, snapPathMedianUs, sharePercent: share } }
  console.log(table(['figure', 'reference', 'defaults', 'goal'], [
    ['(a) activations, ±0.3 °C around 45 °C, 30 min', a.hovering.reference.activations, a.hovering.defaults.activations, '≥ 10× fewer'],
    [`(a) missed excursions of +5 °C × 2 snapshots (of ${a.excursions.count})`, a.excursions.reference.missed, a.excursions.defaults.missed, '0'],
    ['(b) alerts in last.alerts, --error cascade', b.reference.shown.length, b.defaults.shown.length, '≤ 3'],
    [`(c) µs per snapshot, ${things} containers (fastest of ${rounds} rounds)`, c.reference.usPerSnap, c.defaults.usPerSnap, `< 5 % of ${snapPathUs} µs`],
    ['(c) … median round; evaluate / record part', `${c.reference.medianUsPerSnap}; ${c.reference.evaluateUs} / ${c.reference.recordUs}`,
      `${c.defaults.medianUsPerSnap}; ${c.defaults.evaluateUs} / ${c.defaults.recordUs}`, `getSnap median ${snapPathMedianUs} µs`]
  ]))
  console.log(`(b) shown with the defaults: ${b.defaults.shown.join(', ')}`)
  console.log(`(b) suppressed: ${Object.entries(b.defaults.suppressed).map(([n, by]) => `${n} ← ${by}`).join(', ')}`)
  console.log(`(c) evaluation with the defaults = ${share} % of the snapshot path (fastest getSnap of a mock container over loopback, ${snapPathUs} µs; both the fastest of their runs)`)
  console.log(`results: ${await writeResult('alarms', result)}`)
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
