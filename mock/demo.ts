/**
 * `npm run demo`: a local HyperDHT bootstrap node, one Kehua and one Wonderint mock container
 * (with the mock control API), the two real worker processes, and a walkthrough of the RPC
 * calls an operator makes — register, read a snapshot, set fan thresholds by tag, switch a
 * socket, raise an alert through the control API and clear it — each printed as the `mbt-rpc`
 * (or `curl`) command that repeats it from another terminal while the demo runs.
 *
 * On a terminal one screen is redrawn in place (cursor home, clear), at most 80 columns wide
 * (commands wrap; the latest steps stay on an 80×24 screen); piped, the output scrolls, and each
 * table is printed once the rack stats (the workers' own aggregate) agree with it. `--once` runs
 * the walkthrough and exits 0 (the test suite does). Ctrl-C stops everything and removes the
 * temporary folder (request files with the mock credentials included), also when stdout is a
 * pipe whose reader (`| tee`) was stopped by the same Ctrl-C. Requests, key handling and printing
 * are the CLI's (workers/cli/rpc.ts); the printed commands find each worker by its status file
 * (`--root … --rack …`: the key and the DHT bootstrap), as an operator's would.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import createTestnet from 'hyperdht/testnet'
import { createControlServer, createServer } from './server'
import { callRpc, createClient, formatFailure, keyFromStatusFile, mbtRpcCommand, type Outcome } from '../workers/cli/rpc'
import { CONTAINER_VENDORS } from '../workers/lib/registers/profiles'

const ROOT = path.resolve(__dirname, '..', '..')
const ONCE = process.argv.includes('--once')
const TTY = process.stdout.isTTY === true
const VENDORS = CONTAINER_VENDORS
/** The live view's refresh period; the workers collect every 2 s. */
const REFRESH_MS = 1000
/** circulating_pump_fault (critical): system error bit 3. */
const ALERT_BIT = 3

interface DemoWorker { vendor: string, key: string, name: string, things: Thing[], stats: unknown }
interface Alert { name: string, severity: string, description?: string }
interface Thing {
  id: string
  code: string
  last?: { snap?: { stats?: Record<string, unknown> } | null, alerts?: Alert[] | null, err?: string | null }
}
type Cdu = Record<string, number | string | undefined>
interface Specific { cdu?: Cdu, pdu_data?: Array<{ sockets?: Array<{ enabled: boolean }> }> }

let stopping = false
/** stdout's reader went away (EPIPE, e.g. `| tee` stopped by Ctrl-C): nothing more is printed, the cleanup goes on. */
let stdoutGone = false
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  stdoutGone = true
  if (err.code !== 'EPIPE') process.stderr.write(`demo: stdout: ${err.message}\n`)
  void stopAll().then(() => process.exit(0))
})
/** A line on stdout unless its reader is gone. */
function out (text: string): void {
  if (!stdoutGone) process.stdout.write(text + '\n')
}
const cleanup: Array<() => Promise<unknown> | void> = []
let stopped: Promise<void> | null = null
function stopAll (): Promise<void> {
  stopped ??= (async () => {
    stopping = true
    for (const fn of cleanup.reverse()) await Promise.resolve().then(fn).catch(() => {})
    if (TTY && !stdoutGone) process.stdout.write('\x1b[?25h')
  })()
  return stopped
}

// ------------------------------------------------------------------ the screen

const header: string[] = []
const steps: Array<{ title: string, command: string, result: string }> = []
const notes: string[] = []
const workers: DemoWorker[] = []

const num = (v: unknown, digits = 1): string => typeof v === 'number' ? v.toFixed(digits) : '-'
/** The screen's width: every line of the table and the header fits 80 columns. */
const WIDTH = 80
const COLUMNS = ['container'.padEnd(18), 'status'.padEnd(7), 'kW'.padStart(7), 'in°C'.padStart(5), 'out°C'.padStart(5),
  'fan°C'.padStart(9), 'sockets'.padStart(7), 'alerts'].join(' ')
const fit = (line: string): string => line.length <= WIDTH ? line : `${line.slice(0, WIDTH - 1)}…`

function severities (alerts: readonly Alert[]): string {
  const count = new Map<string, number>()
  for (const a of alerts) count.set(a.severity, (count.get(a.severity) ?? 0) + 1)
  return [...count].map(([s, n]) => `${n} ${s}`).join(', ') || '-'
}

function row (t: Thing): string {
  const stats = t.last?.snap?.stats ?? {}
  const cs = (stats.container_specific ?? {}) as Specific
  const cdu = cs.cdu ?? {}
  const sockets = (cs.pdu_data ?? []).flatMap((p) => p.sockets ?? [])
  const power = typeof stats.power_w === 'number' ? stats.power_w / 1000 : undefined
  return fit([
    t.code.padEnd(18), String(stats.status ?? (t.last?.err ? 'offline' : '-')).padEnd(7), num(power).padStart(7),
    num(cdu.unit_inlet_temp_t2).padStart(5), num(cdu.unit_outlet_temp_t3).padStart(5),
    `${num(cdu.cooling_fan_start_temperature_threshold)}/${num(cdu.cooling_fan_stop_temperature_threshold)}`.padStart(9),
    `${sockets.filter((s) => s.enabled).length}/${sockets.length}`.padStart(7), severities(t.last?.alerts ?? [])
  ].join(' '))
}

interface RackStat { container_power_w_sum?: number, alerts_cnt?: Record<string, number> }
const statOf = (w: DemoWorker): RackStat | undefined => (Array.isArray(w.stats) ? w.stats[0] : undefined) as RackStat | undefined
/** Active alerts of the worker's things by severity (what `alerts_cnt` of its stats counts). */
function alertsBySeverity (w: DemoWorker): Record<string, number> {
  const out: Record<string, number> = {}
  for (const t of w.things) for (const a of t.last?.alerts ?? []) out[a.severity] = (out[a.severity] ?? 0) + 1
  return out
}
const nonZero = (m: Record<string, number> | undefined): string =>
  Object.entries(m ?? {}).filter(([, n]) => n > 0).sort().map(([k, n]) => `${n} ${k}`).join(', ')

/**
 * Whether a worker's rack stats (its last tick) say what the table says: the same alerts by
 * severity and the power sum within 1 kW (the mock's values drift a little between a tick and
 * the collection the table shows).
 */
function statsAgree (w: DemoWorker): boolean {
  const s = statOf(w)
  if (s === undefined) return false
  const power = w.things.reduce((sum, t) => sum + (typeof t.last?.snap?.stats?.power_w === 'number' ? t.last.snap.stats.power_w : 0), 0)
  return nonZero(s.alerts_cnt) === nonZero(alertsBySeverity(w)) && Math.abs((s.container_power_w_sum ?? 0) - power) < 1000
}

function table (): string[] {
  const lines = [COLUMNS]
  const active: string[] = []
  for (const w of workers) {
    for (const t of w.things) {
      lines.push(row(t))
      for (const a of t.last?.alerts ?? []) {
        active.push(fit(`  ${t.code.padEnd(18)} ${a.severity.padEnd(8)} ${a.name}  ${a.description ?? ''}`))
      }
    }
  }
  lines.push('', active.length > 0 ? 'active alerts (listThings {status: 1} → last.alerts):' : 'active alerts: none', ...active)
  lines.push('rack stats (tailLog stat-rtd t-container, each worker\'s last 2 s tick):')
  for (const w of workers) {
    const s = statOf(w)
    lines.push(fit(s === undefined
      ? `  ${w.vendor}: first tick within 2 s`
      : `  ${w.vendor.padEnd(10)} ${num((s.container_power_w_sum ?? 0) / 1000)} kW, ${nonZero(s.alerts_cnt) || 'no alerts'}`))
  }
  return lines
}

function render (): void {
  if (!TTY || stopping) return
  const lines = [...header, '', ...table(), '', 'steps — repeat any of them from another terminal while the demo runs:']
  const width = process.stdout.columns ?? WIDTH
  const height = (text: string): number => Math.max(1, Math.ceil(text.length / width))
  const stepLines = steps.map((s, i) => [fit(`${String(i + 1).padStart(2)}. ${s.title}  ${s.result}`), `    ${s.command}`])
  const budget = (process.stdout.rows ?? 50) - 2 - notes.slice(-3).length
  let used = lines.reduce((n, l) => n + height(l), 0)
  const shown: string[][] = []
  for (const s of stepLines.reverse()) {
    used += height(s[0]) + height(s[1])
    if (used > budget) break
    shown.unshift(s)
  }
  lines.push(...shown.flat(), ...notes.slice(-3), ONCE ? '' : 'Ctrl-C stops the demo')
  process.stdout.write('\x1b[H' + lines.map((l) => l + '\x1b[K').join('\n') + '\x1b[J')
}

/** A line of the screen's header; printed at once when the output scrolls. */
function head (text: string): void {
  header.push(text)
  if (!TTY) out(text)
  render()
}

function note (text: string): void {
  if (TTY) notes.push(fit(text))
  else out(text)
  render()
}

/** Piped: the table, once the rack stats agree with it (at most 15 s; else it says they lag). */
async function printTable (): Promise<void> {
  if (TTY) return
  for (const deadline = Date.now() + 15_000; !workers.every(statsAgree) && Date.now() < deadline && !stopping;) await sleep(250)
  out(table().join('\n'))
  if (!workers.every(statsAgree)) out('(the rack stats lag the table: the next tick will catch up)')
}

/** One line for a reply: the compact JSON, cut to fit 80 columns. */
function summary (outcome: Outcome): string {
  return fit(`→ ${outcome.ok ? outcome.text : formatFailure(outcome)}`)
}

async function step (title: string, command: string, action: () => Promise<string>): Promise<void> {
  if (!TTY) out(`\n== ${title}\n$ ${command}`)
  const entry = { title, command, result: '…' }
  steps.push(entry)
  render()
  entry.result = await action()
  if (!TTY) out(entry.result)
  render()
}

// ------------------------------------------------------------------ the walkthrough

function prepareRoot (bootstrap: string): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'mbt-demo-'))
  mkdirSync(path.join(root, 'config', 'facs'), { recursive: true })
  const write = (name: string, value: unknown): void => writeFileSync(path.join(root, 'config', name), JSON.stringify(value, null, 2))
  const example = (name: string): Record<string, unknown> =>
    JSON.parse(readFileSync(path.join(ROOT, 'config', `${name}.example`), 'utf8')) as Record<string, unknown>
  write('common.json', example('common.json'))
  // collect every 2 s and write the rack stats (stat-rtd, normally every 30 s) every 2 s
  write('base.thing.json', {
    ...example('base.thing.json'),
    collectSnapsItvMs: 2000,
    storeSnapItvMs: 10000,
    scheduleAddlStatConfigTfs: [['rtd', '*/2 * * * * *']]
  })
  write('facs/net.config.json', { r0: { dhtOpts: { bootstrap: [bootstrap], host: '127.0.0.1' } } })
  return root
}

async function waitFor (what: string, ok: () => boolean, timeoutMs = 20_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !ok();) {
    if (stopping) throw new Error('stopped')
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`)
    await sleep(200)
  }
}

async function main (): Promise<void> {
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  cleanup.push(() => testnet.destroy())
  const bn = [`127.0.0.1:${testnet.bootstrap[0].port}`]
  const root = prepareRoot(bn[0])
  cleanup.push(() => rmSync(root, { recursive: true, force: true }))
  const client = createClient({ bootstrap: bn })
  cleanup.push(() => client.close())
  const rpc = async (w: DemoWorker, method: string, data: unknown): Promise<Outcome> => await callRpc(client, w.key, method, data, 10_000)
  // as an operator next to the worker: key and DHT bootstrap from its status file
  const cmd = (w: DemoWorker, method: string, data?: unknown, file?: string): string =>
    mbtRpcCommand({ root, rack: w.name, method, data, file })

  const mocks = VENDORS.map((vendor) => createServer({ type: vendor, port: 0, id: vendor }))
  const control = createControlServer(mocks)
  cleanup.push(() => control.stop())
  const { port: controlPort } = await control.start()
  if (TTY) process.stdout.write('\x1b[?25l\x1b[2J')
  head(`MicroBT container worker demo — private DHT ${bn[0]}`)
  head(fit(`root ${root}`))
  head(`mock control API http://127.0.0.1:${controlPort} (docs/mock.md)`)
  for (const mock of mocks) {
    const { port } = await mock.start()
    cleanup.push(() => mock.exit())
    const wtype = `wrk-container-rack-${mock.id}`
    const proc: ChildProcess = spawn(process.execPath,
      [path.join(ROOT, 'dist', 'worker.js'), '--wtype', wtype, '--env', 'development', '--rack', `demo-${mock.id}`, '--root', root],
      { stdio: ['ignore', 'ignore', 'pipe'] })
    proc.stderr?.setEncoding('utf8').on('data', (text: string) => note(`${wtype}: ${text.trim()}`))
    cleanup.push(() => new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve()
      proc.once('exit', () => resolve())
      proc.kill('SIGTERM')
    }))
    const statusFile = path.join(root, 'status', `${wtype}-demo-${mock.id}.json`)
    await waitFor(`${wtype} status file`, () => {
      if (proc.exitCode !== null) throw new Error(`${wtype} exited with code ${proc.exitCode}`)
      return existsSync(statusFile)
    })
    const w: DemoWorker =
      { vendor: mock.id, key: keyFromStatusFile(statusFile), name: `${wtype}-demo-${mock.id}`, things: [], stats: undefined }
    workers.push(w)
    head(fit(`worker ${w.name}, mock 127.0.0.1:${port}`))
    // the request is a file, so the command can be repeated as printed without showing the password
    const file = path.join(root, `register-${mock.id}.json`)
    writeFileSync(file, JSON.stringify({
      opts: { address: '127.0.0.1', port, username: 'admin', password: 'admin' },
      info: { container: `demo-${mock.id}`, pos: '1' },
      tags: ['demo']
    }), { mode: 0o600 })
    await step(`register the ${mock.id} container`, cmd(w, 'registerThing', undefined, file),
      async () => summary(await rpc(w, 'registerThing', JSON.parse(readFileSync(file, 'utf8')))))
  }

  const refresh = async (): Promise<void> => {
    await Promise.all(workers.map(async (w) => {
      const [list, stats] = await Promise.all([rpc(w, 'listThings', { status: 1 }),
        rpc(w, 'tailLog', { key: 'stat-rtd', tag: 't-container' })])
      if (list.ok && Array.isArray(list.value)) w.things = list.value as Thing[]
      w.stats = stats.ok ? stats.value : undefined
    }))
    render()
  }
  let refreshing = true
  void (async () => {
    while (refreshing && !stopping) {
      await refresh().catch(() => {})
      await sleep(REFRESH_MS)
    }
  })()
  cleanup.push(() => { refreshing = false })
  const things = (): Thing[] => workers.flatMap((w) => w.things)
  const specificOf = (t: Thing): Specific => (t.last?.snap?.stats?.container_specific ?? {}) as Specific
  const socketsOn = (t: Thing): number => (specificOf(t).pdu_data ?? []).flatMap((p) => p.sockets ?? []).filter((s) => s.enabled).length

  await waitFor('a snapshot of every container',
    () => things().length === workers.length && things().every((t) => t.last?.snap?.stats !== undefined))
  await printTable()
  for (const w of workers) {
    const data = { id: w.things[0].id, method: 'getSnap', params: [] }
    await step(`read a snapshot of ${w.things[0].code}`, cmd(w, 'queryThing', data), async () => {
      const out = await rpc(w, 'queryThing', data)
      const stats = out.ok ? (out.value as { stats?: { status?: string, power_w?: number } }).stats : undefined
      return out.ok ? `→ {success: true, stats: {status: ${stats?.status ?? '-'}, power_w: ${num(stats?.power_w, 0)}, …}}` : summary(out)
    })
  }

  const [k] = workers
  // the containers tagged "demo" are on both workers: each worker sets its own
  const apply = { method: 'setCoolingFanThreshold', params: [{ startTemp: 38, stopTemp: 32 }], query: { tags: 'demo' } }
  for (const w of workers) {
    await step(`fan thresholds 38/32 °C: containers tagged "demo" on the ${w.vendor} worker`, cmd(w, 'applyThings', apply),
      async () => summary(await rpc(w, 'applyThings', apply)))
  }
  const socket = { id: k.things[0].id, method: 'switchSocket', params: [[['1', '1', false]]] }
  await step(`switch off socket 1 of PDU 1 of ${k.things[0].code}`, cmd(k, 'queryThing', socket),
    async () => summary(await rpc(k, 'queryThing', socket)))
  const before = socketsOn(k.things[0])
  const thresholds = (t: Thing): string => `${String(specificOf(t).cdu?.cooling_fan_start_temperature_threshold)}/` +
    `${String(specificOf(t).cdu?.cooling_fan_stop_temperature_threshold)}`
  await waitFor('the new thresholds of every container and the socket in a snapshot',
    () => things().every((t) => thresholds(t) === '38/32') && socketsOn(k.things[0]) < before)
  await printTable()

  const thingUrl = `http://127.0.0.1:${controlPort}/thing/${k.vendor}`
  const post = async (body: unknown): Promise<string> => {
    const res = await fetch(thingUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return `→ HTTP ${res.status}`
  }
  const curl = (body: unknown): string => `curl -s -X POST ${thingUrl} -H 'content-type: application/json' -d '${JSON.stringify(body)}'`
  const raise = { state: { systemErrorBits: [ALERT_BIT] } }
  await step(`raise an alert on the ${k.vendor} mock (system error bit ${ALERT_BIT}: circulating pump fault)`, curl(raise),
    async () => await post(raise))
  const hasAlert = (): boolean => (k.things[0].last?.alerts ?? []).some((a) => a.name === 'circulating_pump_fault')
  await waitFor('the alert in the next collection', hasAlert)
  const alerts =
    { status: 1, query: { 'last.alerts.severity': 'critical' }, fields: { code: 1, 'last.alerts.name': 1, 'last.alerts.severity': 1 } }
  await step('list the containers with a critical alert', cmd(k, 'listThings', alerts),
    async () => summary(await rpc(k, 'listThings', alerts)))
  await step('read the alert history', cmd(k, 'getHistoricalLogs', { logType: 'alerts' }),
    async () => summary(await rpc(k, 'getHistoricalLogs', { logType: 'alerts' })))
  const ack = { query: { name: 'circulating_pump_fault' }, user: 'demo', comment: 'pump checked on site' }
  await step('acknowledge the alert (alarm management, docs/alerts.md)', cmd(k, 'acknowledgeAlerts', ack),
    async () => summary(await rpc(k, 'acknowledgeAlerts', ack)))
  const acked = { query: { name: 'circulating_pump_fault' } }
  await step('list it with its state', cmd(k, 'listAlerts', acked), async () => {
    const listed = await rpc(k, 'listAlerts', acked)
    if (!listed.ok || !Array.isArray(listed.value)) return summary(listed)
    const states = (listed.value as Array<{ name?: string, state?: string, ackedBy?: string }>)
      .map((a) => `${String(a.name)}: ${String(a.state)} (${String(a.ackedBy)})`)
    return fit(`→ ${states.join(', ')}`)
  })
  await printTable()
  const clear = { state: { systemErrorBits: [] } }
  await step('clear the alert', curl(clear), async () => await post(clear))
  await waitFor('the alert to clear', () => !hasAlert())
  await printTable()
  const rtd = { key: 'stat-rtd', tag: 't-container' }
  await waitFor('the first stats tick', () => Array.isArray(k.stats))
  await step('read the rack stats (one record, rewritten on every tick)', cmd(k, 'tailLog', rtd),
    async () => summary(await rpc(k, 'tailLog', rtd)))

  if (ONCE) {
    note('demo finished')
    return
  }
  note('live: the table refreshes every second; Ctrl-C stops the demo')
  for (;;) {
    await sleep(10_000)
    if (stopping) return
    await printTable()
  }
}

const onSignal = (): void => {
  stopAll().finally(() => {
    out('\ndemo stopped')
    process.exit(0)
  })
}
process.once('SIGINT', onSignal)
process.once('SIGTERM', onSignal)
main().then(async () => { await stopAll(); process.exit(0) }, async (err: unknown) => {
  const wasStopping = stopping
  await stopAll()
  if (wasStopping) return
  console.error(`demo failed: ${(err as Error).message}`)
  process.exit(1)
})
