/**
 * The rack's series on the metrics endpoint (../../facs/metrics.ts): per thing one label set
 * (`thing`, `code`, `container`) — up, status, the age of its last collection and the values an
 * operator graphs (declared by the layers above: power, temperatures, pressures) — and per
 * rack the things, the active alerts by severity and the collection rounds. Read from the
 * rack's state when Prometheus scrapes (nothing is kept per series between scrapes); no
 * per-socket series, so the cardinality is bounded by the things.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { valueAt } from './stats/stats'
import type { ThingState } from './types'
import type { SnapshotObserver } from './snapshot-loop'

/** A value of a thing's last snapshot worth a series (e.g. `container_power_watts` ← `stats.power_w`). */
export interface MetricValue {
  name: string
  help: string
  /** Dotted path in the snapshot. */
  path: string
}

const LABELS = ['thing', 'code', 'container'] as const
type Label = typeof LABELS[number]

function labelsOf (state: ThingState): Record<Label, string> {
  const r = state.record
  return { thing: r.id, code: r.code, container: typeof r.info.container === 'string' ? r.info.container : '' }
}

export class RackMetrics implements SnapshotObserver {
  private readonly rounds: Counter
  private readonly roundSeconds: Histogram
  private readonly snapSeconds: Histogram<'outcome'>
  private readonly missedIntervals: Counter
  private readonly storeSeconds: Histogram<'op'>

  /** `alertStates`: every alert of the rack as `[severity, state]` (alarm management, hidden states included). */
  constructor (
    registry: Registry, things: () => readonly ThingState[], values: readonly MetricValue[],
    alertStates?: () => Iterable<readonly [string, string]>
  ) {
    const perThing = (name: string, help: string, value: (s: ThingState) => number | null, extra: readonly string[] = []): void => {
      const g: Gauge<string> = new Gauge({
        name,
        help,
        labelNames: [...LABELS, ...extra],
        registers: [registry],
        collect () {
          g.reset()
          for (const s of things()) {
            const v = value(s)
            if (v !== null && Number.isFinite(v)) g.set(labelsOf(s), v)
          }
        }
      })
    }
    perThing('thing_up', '1 when the last collection read the thing, else 0', (s) => s.last.snap?.success === true ? 1 : 0)
    perThing('thing_last_collection_age_seconds', 'Seconds since the thing\'s last collection',
      (s) => typeof s.last.ts === 'number' ? (Date.now() - s.last.ts) / 1000 : null)
    const status = new Gauge({
      name: 'thing_status',
      help: 'The status of the thing\'s last snapshot (1 for the current one)',
      labelNames: [...LABELS, 'status'],
      registers: [registry],
      collect () {
        status.reset()
        for (const s of things()) {
          const st = valueAt(s.last.snap, 'stats.status')
          status.set({ ...labelsOf(s), status: typeof st === 'string' ? st : 'unknown' }, 1)
        }
      }
    })
    for (const v of values) {
      perThing(v.name, v.help, (s) => {
        const x = valueAt(s.last.snap, v.path)
        return typeof x === 'number' ? x : null
      })
    }
    const count = new Gauge({ name: 'things', help: 'Things registered', registers: [registry], collect () { count.set(things().length) } })
    const alerts = new Gauge({
      name: 'alerts_active',
      help: 'Active alerts of the rack by severity',
      labelNames: ['severity'],
      registers: [registry],
      collect () {
        alerts.reset()
        const by = new Map<string, number>()
        for (const s of things()) for (const a of s.last.alerts ?? []) by.set(a.severity, (by.get(a.severity) ?? 0) + 1)
        for (const [severity, n] of by) alerts.set({ severity }, n)
      }
    })
    if (alertStates) {
      const byState = new Gauge({
        name: 'alerts_state',
        help: 'Alerts of the rack by severity and state (pending, active-/cleared-(un)acknowledged, shelved, out-of-service, suppressed)',
        labelNames: ['severity', 'state'],
        registers: [registry],
        collect () {
          byState.reset()
          const by = new Map<string, number>()
          for (const [severity, state] of alertStates()) by.set(`${severity}\u0000${state}`, (by.get(`${severity}\u0000${state}`) ?? 0) + 1)
          for (const [key, n] of by) byState.set({ severity: key.split('\u0000')[0], state: key.split('\u0000')[1] }, n)
        }
      })
    }
    this.rounds = new Counter({ name: 'collection_rounds_total', help: 'Collection rounds run', registers: [registry] })
    this.roundSeconds = new Histogram({
      name: 'collection_round_seconds',
      help: 'Duration of a collection round (every thing collected once)',
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers: [registry]
    })
    this.snapSeconds = new Histogram({
      name: 'snapshot_duration_seconds',
      help: 'Duration of one thing\'s collection (its snapshot), by outcome (ok or error)',
      labelNames: ['outcome'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry]
    })
    this.missedIntervals = new Counter({
      name: 'snapshot_missed_intervals_total',
      help: 'Collection ticks a thing missed because its previous collection was still running',
      registers: [registry]
    })
    this.storeSeconds = new Histogram({
      name: 'store_write_seconds',
      help: 'Latency of the store writes of the collection (op snapshot_log: one thing-5m append)',
      labelNames: ['op'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry]
    })
  }

  collected (seconds: number, ok: boolean): void {
    this.snapSeconds.observe({ outcome: ok ? 'ok' : 'error' }, seconds)
  }

  missed (count: number): void {
    this.missedIntervals.inc(count)
  }

  stored (seconds: number): void {
    this.storeSeconds.observe({ op: 'snapshot_log' }, seconds)
  }

  round (seconds: number): void {
    this.rounds.inc()
    this.roundSeconds.observe(seconds)
  }
}
