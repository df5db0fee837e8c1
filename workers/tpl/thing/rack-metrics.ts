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

export class RackMetrics {
  private readonly rounds: Counter
  private readonly roundSeconds: Histogram

  constructor (registry: Registry, things: () => readonly ThingState[], values: readonly MetricValue[]) {
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
    perThing('thing_last_collection_age_seconds', 'Seconds since the thing\'s last collection', (s) => typeof s.last.ts === 'number' ? (Date.now() - s.last.ts) / 1000 : null)
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
    for (const v of values) perThing(v.name, v.help, (s) => { const x = valueAt(s.last.snap, v.path); return typeof x === 'number' ? x : null })
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
    this.rounds = new Counter({ name: 'collection_rounds_total', help: 'Collection rounds run', registers: [registry] })
    this.roundSeconds = new Histogram({ name: 'collection_round_seconds', help: 'Duration of a collection round (every thing collected once)', buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], registers: [registry] })
  }

  round (seconds: number): void {
    this.rounds.inc()
    this.roundSeconds.observe(seconds)
  }
}
