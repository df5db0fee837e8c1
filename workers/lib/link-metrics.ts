/**
 * The per-unit link series of the metrics endpoint, read from each container's LinkHealth
 * (./link-health.ts) when Prometheus scrapes: per thing and Modbus unit the attempts, timeouts,
 * resends, exception replies by code, the breaker state and the reply-time histogram; per thing
 * the reconnects. Labels `thing`, `code`, `container` (as the rack's series) and `unit` (its
 * registers.md name): at most 20 units per container, 5 histogram buckets, exception codes only
 * once seen — bounded by the things (about 240 series per container). A forgotten thing's
 * series go with it (nothing is kept between scrapes).
 *
 * Written as Prometheus text directly (the endpoint appends it to prom-client's): at 1000
 * containers that is ~250 000 lines, which prom-client's sample objects made cost seconds and
 * hundreds of MB per scrape; here each unit's label text is built once and kept while the
 * thing's labels stay (docs/performance.md, "Metrics endpoint").
 */
import { REPLY_BUCKETS_S, type LinkReport, type UnitFigures } from './link-health'

export interface LinkSource {
  /** The same object for a thing at every scrape (its LinkHealth): its label text is kept with it. */
  key: object
  labels: { thing: string, code: string, container: string }
  report: LinkReport
}

/** A label value as the text format wants it: backslash, double quote and newline escaped. */
function escapeLabel (value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

/** Per thing: its label text, and per unit the same with `unit` — kept while the thing's labels stay. */
const labelCache = new WeakMap<object, { id: string, base: string, units: Map<string, string> }>()

function labelsOf (s: LinkSource, unit?: string): string {
  const { thing, code, container } = s.labels
  const id = `${thing}\u0000${code}\u0000${container}`
  let entry = labelCache.get(s.key)
  if (entry === undefined || entry.id !== id) {
    const base = `thing="${escapeLabel(thing)}",code="${escapeLabel(code)}",container="${escapeLabel(container)}"`
    entry = { id, base, units: new Map() }
    labelCache.set(s.key, entry)
  }
  if (unit === undefined) return entry.base
  let text = entry.units.get(unit)
  if (text === undefined) {
    text = `${entry.base},unit="${escapeLabel(unit)}"`
    entry.units.set(unit, text)
  }
  return text
}

type Family = [name: string, help: string, type: 'counter' | 'gauge' | 'histogram', lines: (s: LinkSource, out: string[]) => void]

function perUnit (name: string, value: (u: UnitFigures) => number): (s: LinkSource, out: string[]) => void {
  return (s, out) => { for (const u of s.report.units) out.push(`${name}{${labelsOf(s, u.name)}} ${value(u)}`) }
}

const HIST = 'modbus_unit_reply_seconds'
const BUCKET_LABELS = [...REPLY_BUCKETS_S.map(String), '+Inf']

const FAMILIES: readonly Family[] = [
  ['modbus_unit_requests_total', 'Modbus attempts sent to the unit (resends included)', 'counter',
    perUnit('modbus_unit_requests_total', (u) => u.requests)],
  ['modbus_unit_timeouts_total', 'Modbus attempts to the unit that got no reply within the timeout', 'counter',
    perUnit('modbus_unit_timeouts_total', (u) => u.timeouts)],
  ['modbus_unit_retries_total', 'Modbus requests to the unit resent (after a timeout or a transient exception)', 'counter',
    perUnit('modbus_unit_retries_total', (u) => u.retries)],
  ['modbus_unit_exceptions_total', 'Modbus exception replies of the unit by exception code', 'counter', (s, out) => {
    for (const u of s.report.units) {
      const labels = labelsOf(s, u.name)
      for (const [code, n] of Object.entries(u.exceptions)) {
        out.push(`modbus_unit_exceptions_total{${labels},exception="${escapeLabel(code)}"} ${n}`)
      }
    }
  }],
  ['modbus_unit_breaker_open', '1 while the unit gets one attempt per snapshot until it answers again (breaker open), else 0', 'gauge',
    perUnit('modbus_unit_breaker_open', (u) => u.breaker === 'open' ? 1 : 0)],
  [HIST, 'Time from sending an attempt to the unit to its reply', 'histogram', (s, out) => {
    for (const u of s.report.units) {
      const labels = labelsOf(s, u.name)
      const r = u.replySeconds
      BUCKET_LABELS.forEach((le, i) => out.push(`${HIST}_bucket{${labels},le="${le}"} ${i < r.buckets.length ? r.buckets[i] : r.count}`))
      out.push(`${HIST}_sum{${labels}} ${r.sum}`, `${HIST}_count{${labels}} ${r.count}`)
    }
  }],
  ['modbus_reconnects_total', 'Modbus TCP reconnects of the container\'s connection', 'counter',
    (s, out) => { out.push(`modbus_reconnects_total{${labelsOf(s)}} ${s.report.reconnects}`) }]
]

/** The link series of `sources` as Prometheus text (each family's HELP and TYPE, then its samples). */
export function renderLinkMetrics (sources: readonly LinkSource[]): string {
  const out: string[] = []
  for (const [name, help, type, lines] of FAMILIES) {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    for (const s of sources) lines(s, out)
  }
  return out.join('\n') + '\n'
}
