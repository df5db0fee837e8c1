/**
 * The metrics endpoint (issue 28) against a real worker and a mock container: the OpenMetrics
 * text passes `promtool check metrics`, a real Prometheus server scrapes it and answers a query
 * of `thing_up`, `/healthz` is 200 while collections run and 503 once they stop. Tests that need
 * Debian's `prometheus` package skip with a message where it is absent (.ci/run installs it).
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupAll, createBootstrap, createRpcClient, waitFor } from '../helpers'
import { RackRpc, mockOpts, startMock, startRackInProcess, stopMocks, type InProcessRack } from '../helpers/rack'
import type { MockServer } from '../../mock/types'

const HAS_PROMTOOL = spawnSync('promtool', ['--version']).status === 0
const HAS_PROMETHEUS = spawnSync('prometheus', ['--version']).status === 0
if (!HAS_PROMTOOL || !HAS_PROMETHEUS) process.stderr.write('metrics.test: Debian\'s prometheus package is not installed (apt-get install prometheus): the promtool and scrape checks are skipped\n')

let rack: InProcessRack
let base: string
let rpc: RackRpc
let mock: MockServer

interface UnitView { unit: number, name: string, breaker: string, requests: number, replies: number, timeouts: number, retries: number, exceptions: Record<string, number>, replySeconds: { count: number, sum: number, buckets: number[] }, lastError: string | null }
interface LinkView { id: string, connected: boolean, reconnects: number, units: UnitView[] }

beforeAll(async () => {
  const { bootstrap } = await createBootstrap()
  rack = await startRackInProcess({ bootstrap, rack: 'metrics-1', files: { common: { metrics: { port: 0 } } } })
  const a = rack.worker.metrics?.address
  if (!a) throw new Error('no metrics endpoint')
  base = `http://${a.host}:${a.port}`
  rpc = new RackRpc(createRpcClient(bootstrap), rack.key)
  mock = await startMock('Kehua', 61)
  await rpc.call('registerThing', { id: 'm1', opts: mockOpts(mock), info: { container: 'bay-m1' } })
  await rpc.call('registerThing', { id: 'm2', opts: {}, info: { container: 'bay-m2' } })
  await rpc.waitLast('m1', (l) => l.snap?.success === true)
  await rpc.call('listThings', {})
})

afterAll(async () => {
  await stopMocks()
  await cleanupAll()
})

async function text (url: string): Promise<{ status: number, body: string, type: string | null }> {
  const res = await fetch(url)
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') }
}

describe('metrics endpoint', () => {
  it('serves per-thing, per-rack, RPC and process series, bound to 127.0.0.1', async () => {
    expect(rack.worker.metrics?.address.host).toBe('127.0.0.1')
    const { status, body } = await text(`${base}/metrics`)
    expect(status).toBe(200)
    expect(body).toMatch(/^thing_up\{thing="m1",code="MBT-KEHUA-\d{4}",container="bay-m1"\} 1$/m)
    expect(body).toMatch(/^thing_up\{thing="m2",code="MBT-KEHUA-\d{4}",container="bay-m2"\} 0$/m)
    expect(body).toMatch(/^container_power_watts\{thing="m1",[^}]*\} \d+/m)
    expect(body).toMatch(/^container_inlet_temperature_celsius\{thing="m1",[^}]*\} -?\d/m)
    expect(body).toMatch(/^thing_status\{thing="m1",[^}]*status="running"\} 1$/m)
    expect(body).toMatch(/^things 2$/m)
    expect(body).toMatch(/^rpc_requests_total\{method="registerThing",outcome="ok"\} 2$/m)
    expect(body).toMatch(/^collection_rounds_total \d+/m)
    expect(body).toMatch(/^nodejs_eventloop_lag_p99_seconds /m)
    // no per-socket series
    expect(body).not.toMatch(/socket/)
    expect((await text(`${base}/nope`)).status).toBe(404)
  })

  it('per container and Modbus unit: attempts, timeouts, retries, breaker, reply-time histogram; collection and store series', async () => {
    // a snapshot is stored after `last` shows it: the first store write may still be under way
    const stored = /^store_write_seconds_count\{op="snapshot_log"\} [1-9]/m
    await waitFor(async () => stored.test((await text(`${base}/metrics`)).body), 20_000, 100)
    const { body } = await text(`${base}/metrics`)
    expect(body).toMatch(/^modbus_unit_requests_total\{thing="m1",code="MBT-KEHUA-\d{4}",container="bay-m1",unit="fcdu"\} [1-9]\d*$/m)
    expect(body).toMatch(/^modbus_unit_requests_total\{thing="m1",[^}]*unit="pdu12"\} [1-9]/m)
    expect(body).toMatch(/^modbus_unit_timeouts_total\{thing="m1",[^}]*unit="fcdu"\} 0$/m)
    expect(body).toMatch(/^modbus_unit_retries_total\{thing="m1",[^}]*unit="fcdu"\} \d+$/m)
    expect(body).toMatch(/^modbus_unit_breaker_open\{thing="m1",[^}]*unit="fcdu"\} 0$/m)
    expect(body).toMatch(/^modbus_unit_reply_seconds_bucket\{thing="m1",[^}]*unit="fcdu",le="\+Inf"\} [1-9]/m)
    expect(body).toMatch(/^modbus_unit_reply_seconds_count\{thing="m1",[^}]*unit="fcdu"\} [1-9]/m)
    expect(body).toMatch(/^modbus_reconnects_total\{thing="m1",[^}]*\} 0$/m)
    // the unconnected thing has no link series
    expect(body).not.toMatch(/^modbus_unit_requests_total\{thing="m2"/m)
    expect(body).toMatch(/^snapshot_duration_seconds_count\{outcome="ok"\} [1-9]/m)
    expect(body).toMatch(/^snapshot_duration_seconds_count\{outcome="error"\} [1-9]/m)
    expect(body).toMatch(/^snapshot_missed_intervals_total \d+$/m)
    expect(body).toMatch(/^store_write_seconds_count\{op="snapshot_log"\} [1-9]/m)
  })

  it('getLinkHealth answers the same per-unit figures for one thing; an unknown id is ERR_THING_NOTFOUND', async () => {
    const h = await rpc.call<LinkView>('getLinkHealth', { id: 'm1' })
    expect(h).toMatchObject({ id: 'm1', connected: true, reconnects: 0 })
    expect(h.units.map((u) => u.name)).toContain('fcdu')
    const fcdu = h.units.find((u) => u.name === 'fcdu') as UnitView
    expect(fcdu).toMatchObject({ unit: 1, breaker: 'closed', timeouts: 0, lastError: null })
    expect(fcdu.replies).toBeGreaterThan(0)
    expect(fcdu.replySeconds.count).toBe(fcdu.replies)
    expect(fcdu.replySeconds.buckets).toHaveLength(5)
    expect(await rpc.call<LinkView>('getLinkHealth', { id: 'm2' })).toEqual({ id: 'm2', connected: false, reconnects: 0, units: [] })
    expect(await rpc.error('getLinkHealth', { id: 'nope' })).toBe('ERR_THING_NOTFOUND')
    expect(await rpc.error('getLinkHealth', {})).toBe('ERR_THING_NOTFOUND')
  })

  it('silenced PDUs: timeouts rise for exactly those units, the snapshot names them with the reason', async () => {
    const before = await rpc.call<LinkView>('getLinkHealth', { id: 'm1' })
    await mock.apply({ silentUnits: [17, 18] })
    const last = await rpc.waitLast('m1', (l) => {
      const e = (l.snap?.stats as { unit_errors?: unknown[] } | undefined)?.unit_errors
      return Array.isArray(e) && e.length === 2
    }, 15_000)
    expect((last.snap?.stats as { unit_errors?: unknown[] }).unit_errors).toEqual([
      { unit: 'pdu09', reason: 'ERR_MODBUS_TIMEOUT' }, { unit: 'pdu10', reason: 'ERR_MODBUS_TIMEOUT' }
    ])
    const after = await rpc.call<LinkView>('getLinkHealth', { id: 'm1' })
    const timeouts = (v: LinkView): Record<string, number> => Object.fromEntries(v.units.map((u) => [u.name, u.timeouts]))
    const rose = Object.entries(timeouts(after)).filter(([name, n]) => n > (timeouts(before)[name] ?? 0)).map(([name]) => name)
    expect(rose.sort()).toEqual(['pdu09', 'pdu10'])
    expect(after.units.find((u) => u.name === 'pdu09')?.lastError).toBe('ERR_MODBUS_TIMEOUT')
    const { body } = await text(`${base}/metrics`)
    expect(body).toMatch(/^modbus_unit_timeouts_total\{thing="m1",[^}]*unit="pdu09"\} [1-9]/m)
    await mock.apply({ silentUnits: [] })
  })

  it('getWrkExtData says the version of the package', async () => {
    const version = (JSON.parse(await readFile(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version
    expect(await rpc.call('getWrkExtData', {})).toMatchObject({ vendor: 'kehua', version })
  })

  it('the status file is refreshed with the last collection time, thing count and failing count', async () => {
    rack.worker.refreshStatus()
    const status = rack.worker.readStatus()
    expect(status).toMatchObject({ things: 2, failing: 1, version: expect.stringMatching(/^\d+\.\d+\.\d+/) })
    expect(Date.now() - (status.lastCollectionAt as number)).toBeLessThan(30_000)
    expect(Date.now() - (status.statusAt as number)).toBeLessThan(5_000)
  })

  it.skipIf(!HAS_PROMTOOL)('the exposition passes promtool check metrics', async () => {
    const { body } = await text(`${base}/metrics`)
    const check = spawnSync('promtool', ['check', 'metrics'], { input: body })
    expect(check.status, check.stderr.toString() + check.stdout.toString()).toBe(0)
  })

  it.skipIf(!HAS_PROMETHEUS)('a real Prometheus server scrapes it: thing_up of the mock container is 1, the per-unit reply histogram', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mbt-prom-'))
    const target = base.replace('http://', '')
    await writeFile(path.join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: mbt\n    static_configs:\n      - targets: ['${target}']\n`)
    const port = 19000 + Math.floor(Math.random() * 5000)
    const prom = spawn('prometheus', [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' })
    try {
      const value = await waitFor(async () => {
        const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent('thing_up{thing="m1"}')}`).catch(() => null)
        if (!res?.ok) return null
        const json = await res.json() as { data?: { result?: Array<{ value: [number, string] }> } }
        return json.data?.result?.[0]?.value[1] ?? null
      }, 30_000, 250)
      expect(value).toBe('1')
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent('modbus_unit_reply_seconds_bucket{thing="m1",unit="fcdu"}')}`)
      const buckets = (await res.json() as { data: { result: Array<{ metric: { le: string } }> } }).data.result.map((r) => r.metric.le)
      expect(buckets.sort()).toEqual(['+Inf', '0.025', '0.1', '0.25', '1', '2.5'].sort())
    } finally {
      prom.kill('SIGTERM')
      await new Promise((resolve) => prom.once('exit', resolve))
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('/healthz is 200 while collection rounds end, 503 with a reason once they stop', async () => {
    const ok = await text(`${base}/healthz`)
    expect(ok.status).toBe(200)
    expect(JSON.parse(ok.body)).toMatchObject({ ok: true, reason: 'collecting' })
    rack.worker.interval.clear('collectSnaps')
    const down = await waitFor(async () => {
      const h = await text(`${base}/healthz`)
      return h.status === 503 ? h : null
    }, 10_000, 100)
    expect(JSON.parse(down.body)).toMatchObject({ ok: false, reason: 'no collection round ended recently' })
  })
})
