/**
 * `mbt-rpc --table` (the default on a terminal for these methods): one screen instead of
 * thousands of JSON lines — `listThings` as one row per thing with a count line, `queryThing`
 * `getSnap` as the figures an operator reads first. At most 80 columns; every text from the
 * server escaped. Other methods have no table (null: printed as JSON).
 */
import { escapeControls } from './input'

export const TABLE_WIDTH = 80
/** Rows of things shown before "… and N more". */
export const MAX_ROWS = 20

type Obj = Record<string, unknown>
const obj = (v: unknown): Obj => v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Obj : {}
const num = (v: unknown): number | null => typeof v === 'number' && Number.isFinite(v) ? v : null
const text = (v: unknown): string => escapeControls(typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v))

function cut (s: string, width: number): string {
  return s.length <= width ? s.padEnd(width) : `${s.slice(0, width - 1)}…`
}

function fixed (v: number | null, digits: number, unit = ''): string {
  return v === null ? '—' : `${v.toFixed(digits)}${unit}`
}

function age (ts: unknown, now: number): string {
  const t = num(ts)
  if (t === null) return '—'
  const s = Math.max(0, Math.round((now - t) / 1000))
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`
}

/** Column widths: id, code, container, status, power kW, alerts, error, age (sum + 7 spaces ≤ 80). */
const COLUMNS: ReadonlyArray<[string, number]> = [
  ['ID', 12], ['CODE', 15], ['CONTAINER', 10], ['STATUS', 9], ['kW', 7], ['ALERTS', 6], ['ERROR', 10], ['AGE', 4]
]

function row (cells: readonly string[]): string {
  return cells.map((c, i) => cut(c, COLUMNS[i]?.[1] ?? 8)).join(' ').trimEnd()
}

/** `listThings`: counts by status, then a row per thing (at most MAX_ROWS). */
export function thingsTable (things: unknown[], now = Date.now()): string {
  const byStatus = new Map<string, number>()
  let failing = 0
  const rows = things.map((t) => {
    const thing = obj(t)
    const last = obj(thing.last)
    const stats = obj(obj(last.snap).stats)
    const status = typeof stats.status === 'string' ? stats.status : last.snap === undefined || last.snap === null ? 'unknown' : 'offline'
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1)
    if (typeof last.err === 'string') failing++
    const power = num(stats.power_w)
    const alerts = Array.isArray(last.alerts) ? String(last.alerts.length) : '0'
    const kw = fixed(power === null ? null : power / 1000, 1)
    const err = text(last.err ?? '')
    return row([text(thing.id), text(thing.code), text(obj(thing.info).container), text(status), kw, alerts, err, age(last.ts, now)])
  })
  const counts = [...byStatus].sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => `${n} ${text(s)}`).join(', ')
  const head = `${things.length} thing${things.length === 1 ? '' : 's'}${counts ? `: ${counts}` : ''}; ${failing} failing`
  const shown = rows.slice(0, MAX_ROWS)
  const more = rows.length > MAX_ROWS ? [`… and ${rows.length - MAX_ROWS} more (--raw for all, or narrow the query)`] : []
  return [cut(head, TABLE_WIDTH).trimEnd(), row(COLUMNS.map(([h]) => h)), ...shown, ...more].join('\n')
}

/** Up to `perLine` `label value` cells a line, each cell padded to `width`. */
function grid (cells: readonly string[], width: number, perLine: number): string[] {
  const lines: string[] = []
  for (let i = 0; i < cells.length; i += perLine) lines.push(cells.slice(i, i + perLine).map((c) => cut(c, width)).join(' ').trimEnd())
  return lines
}

/** `queryThing` `getSnap`: status and power, the cooling figures, errors, missing units, meters and PDUs. */
export function snapTable (snap: unknown): string {
  const s = obj(snap)
  const stats = obj(s.stats)
  const cs = obj(stats.container_specific)
  const cdu = obj(cs.cdu)
  const powerW = num(stats.power_w)
  const lines = [
    `status ${text(stats.status ?? (s.success === false ? 'offline' : 'unknown'))}` +
      `   power ${fixed(powerW === null ? null : powerW / 1000, 2, ' kW')}` +
      `   ambient ${fixed(num(stats.ambient_temp_c), 1, ' °C')}   humidity ${fixed(num(stats.humidity_percent), 0, ' %')}`
  ]
  const cooling: Array<[string, string, number, string]> = [
    ['T1 cooling', 'cooling_temp_t1', 1, ' °C'], ['T2 inlet', 'unit_inlet_temp_t2', 1, ' °C'],
    ['P2 inlet', 'unit_inlet_pressure_p2', 2, ' bar'], ['P3 outlet', 'unit_outlet_pressure_p3', 2, ' bar']
  ]
  lines.push(...grid(cooling.filter(([, k]) => k in cdu).map(([label, k, d, u]) => `${label} ${fixed(num(cdu[k]), d, u)}`), 19, 4))
  const errors = Array.isArray(stats.errors) ? stats.errors.map((e) => text(obj(e).name ?? obj(e).msg ?? e)) : []
  lines.push(cut(`errors: ${errors.length === 0 ? 'none' : errors.join(', ')}`, TABLE_WIDTH).trimEnd())
  const unitErrors = Array.isArray(stats.unit_errors) ? stats.unit_errors.map((u) => `${text(obj(u).unit)} ${text(obj(u).reason)}`) : []
  const incomplete = unitErrors.length > 0 ? unitErrors : Array.isArray(stats.incomplete) ? stats.incomplete.map(text) : []
  if (incomplete.length > 0) lines.push(cut(`not read: ${incomplete.join(', ')}`, TABLE_WIDTH).trimEnd())
  const meterCell = (m: unknown): string => `meter ${text(obj(m).index)} ${fixed(num(obj(m).total_active_power), 2, ' kW')}`
  const meters = Array.isArray(cs.power_meters) ? cs.power_meters.map(meterCell) : []
  lines.push(...grid(meters, 19, 4))
  const pduCell = (p: unknown): string => {
    const sockets = Array.isArray(obj(p).sockets) ? obj(p).sockets as unknown[] : []
    const on = sockets.filter((x) => obj(x).enabled === true).length
    return `pdu ${text(obj(p).pdu).padStart(2)} ${on}/${sockets.length} on ${fixed(num(obj(p).total_power), 1, 'kW')}`
  }
  const pdus = Array.isArray(cs.pdu_data) ? cs.pdu_data.map(pduCell) : []
  if (pdus.length > 0) lines.push('PDUs (sockets on, power):', ...grid(pdus, 25, 3))
  return lines.join('\n')
}

/** The table of a reply, or null when the method has none. */
export function tableOf (method: string, data: unknown, value: unknown): string | null {
  if (method === 'listThings' && Array.isArray(value)) return thingsTable(value)
  if (method === 'queryThing' && obj(data).method === 'getSnap' && value !== null && typeof value === 'object') return snapTable(value)
  return null
}
