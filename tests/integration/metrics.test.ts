/**
 * The metrics endpoint (issue 28) against a real worker and a mock container: the OpenMetrics
 * text passes `promtool check metrics`, a real Prometheus server scrapes it and answers a query
 * of `thing_up`, `/healthz` is 200 while collections run and 503 once they stop. Tests that need
 * Debian's `prometheus` package skip with a message where it is absent (.ci/run installs it).
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupAll, createBootstrap, createRpcClient, waitFor } from '../helpers'
import { RackRpc, mockOpts, startMock, startRackInProcess, stopMocks, type InProcessRack } from '../helpers/rack'

const HAS_PROMTOOL = spawnSync('promtool', ['--version']).status === 0
const HAS_PROMETHEUS = spawnSync('prometheus', ['--version']).status === 0
if (!HAS_PROMTOOL || !HAS_PROMETHEUS) process.stderr.write('metrics.test: Debian\'s prometheus package is not installed (apt-get install prometheus): the promtool and scrape checks are skipped\n')

let rack: InProcessRack
let base: string

beforeAll(async () => {
  const { bootstrap } = await createBootstrap()
  rack = await startRackInProcess({ bootstrap, rack: 'metrics-1', files: { common: { metrics: { port: 0 } } } })
  const a = rack.worker.metrics?.address
  if (!a) throw new Error('no metrics endpoint')
  base = `http://${a.host}:${a.port}`
  const rpc = new RackRpc(createRpcClient(bootstrap), rack.key)
  const mock = await startMock('Kehua', 61)
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

  it.skipIf(!HAS_PROMTOOL)('the exposition passes promtool check metrics', async () => {
    const { body } = await text(`${base}/metrics`)
    const check = spawnSync('promtool', ['check', 'metrics'], { input: body })
    expect(check.status, check.stderr.toString() + check.stdout.toString()).toBe(0)
  })

  it.skipIf(!HAS_PROMETHEUS)('a real Prometheus server scrapes it: thing_up of the mock container is 1', async () => {
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
