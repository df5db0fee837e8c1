/**
 * `npm run demo`: a local HyperDHT bootstrap node, one Kehua and one Wonderint mock container,
 * the two real worker processes, containers registered over RPC, a live table, and control
 * actions through the same RPC calls an operator would make. `--once` runs the walkthrough and
 * exits 0 (used by the test suite). Ctrl-C stops everything.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import createTestnet from 'hyperdht/testnet'
import { createServer, type MockServer } from './server'
import { RpcClient } from '../workers/tpl/rpc/client'

const ROOT = path.resolve(__dirname, '..', '..')
const ONCE = process.argv.includes('--once')

interface DemoWorker { vendor: string, wtype: string, proc: ChildProcess, key: string, mock: MockServer }

function prepareRoot (bootstrapPort: number): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'mbt-demo-'))
  mkdirSync(path.join(root, 'config', 'facs'), { recursive: true })
  const write = (name: string, value: unknown): void => writeFileSync(path.join(root, 'config', name), JSON.stringify(value, null, 2))
  const example = (name: string): Record<string, unknown> => JSON.parse(readFileSync(path.join(ROOT, 'config', `${name}.example`), 'utf8')) as Record<string, unknown>
  write('common.json', example('common.json'))
  write('base.thing.json', { ...example('base.thing.json'), collectSnapsItvMs: 2000, storeSnapItvMs: 10000 })
  write('facs/net.config.json', { r0: { dhtOpts: { bootstrap: [`127.0.0.1:${bootstrapPort}`], host: '127.0.0.1' } } })
  return root
}

async function waitForStatus (file: string, proc: ChildProcess): Promise<string> {
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) throw new Error(`worker exited with code ${proc.exitCode}`)
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { rpcPublicKey: string }).rpcPublicKey
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`no status file ${file}`)
}

interface Listed { code: string, address: string, port: number, last?: { snap?: { stats?: Record<string, unknown> }, err?: string | null } }

function row (vendor: string, t: Listed): string {
  const stats = t.last?.snap?.stats ?? {}
  const cs = (stats.container_specific ?? {}) as { cdu?: Record<string, unknown>, pdu_data?: Array<{ sockets?: Array<{ enabled: boolean }> }> }
  const sockets = (cs.pdu_data ?? []).flatMap((p) => p.sockets ?? [])
  const on = sockets.filter((s) => s.enabled).length
  const num = (v: unknown, d = 1): string => typeof v === 'number' ? v.toFixed(d) : '-'
  return [
    t.code.padEnd(18), vendor.padEnd(10), String(stats.status ?? '-').padEnd(8),
    num(typeof stats.power_w === 'number' ? stats.power_w / 1000 : undefined).padStart(8),
    num(cs.cdu?.unit_inlet_temp_t2).padStart(7), num(cs.cdu?.cooling_fan_start_temperature_threshold).padStart(8),
    `${on}/${sockets.length}`.padStart(8), String(t.last?.err ?? '')
  ].join(' ')
}

async function main (): Promise<void> {
  const cleanup: Array<() => Promise<void> | void> = []
  const stopAll = async (): Promise<void> => {
    for (const fn of cleanup.reverse()) await Promise.resolve(fn()).catch(() => {})
  }
  process.on('SIGINT', () => { stopAll().finally(() => process.exit(0)) })
  try {
    const testnet = await createTestnet(3, { host: '127.0.0.1' })
    cleanup.push(() => testnet.destroy())
    const bootstrapPort = testnet.bootstrap[0].port
    const cli = (key: string, method: string, data: unknown): string => `$ hp-rpc-cli --bn 127.0.0.1:${bootstrapPort} -s ${key} -m ${method} -d '${JSON.stringify(data)}'`
    const root = prepareRoot(bootstrapPort)
    cleanup.push(() => rmSync(root, { recursive: true, force: true }))
    console.log(`demo root ${root}; DHT bootstrap 127.0.0.1:${bootstrapPort}`)

    const client = new RpcClient({ bootstrap: testnet.bootstrap, host: '127.0.0.1' })
    cleanup.push(() => client.close())
    const workers: DemoWorker[] = []
    for (const vendor of ['kehua', 'wonderint']) {
      const mock = createServer({ type: vendor, port: 0 })
      const { port } = await mock.start()
      cleanup.push(() => mock.exit())
      const wtype = `wrk-container-rack-${vendor}`
      const proc = spawn(process.execPath, [path.join(ROOT, 'dist', 'worker.js'), '--wtype', wtype, '--env', 'development', '--rack', `demo-${vendor}`, '--root', root], { stdio: ['ignore', 'ignore', 'inherit'] })
      cleanup.push(() => new Promise<void>((resolve) => { if (proc.exitCode !== null) return resolve(); proc.once('exit', () => resolve()); proc.kill('SIGTERM') }))
      const key = await waitForStatus(path.join(root, 'status', `${wtype}-demo-${vendor}.json`), proc)
      console.log(`started ${wtype} (rpc key ${key.slice(0, 16)}…) and a ${vendor} mock on 127.0.0.1:${port}`)
      const reg = { opts: { address: '127.0.0.1', port, username: 'admin', password: 'admin' }, info: { container: `demo-${vendor}`, pos: '1' }, tags: ['demo'] }
      // Credentials stay out of what is printed; the mock's are admin/admin.
      const { username: _u, password: _p, ...endpoint } = reg.opts
      console.log(cli(key, 'registerThing', { ...reg, opts: endpoint }) + '   # plus opts.username and opts.password')
      await client.request(key, 'registerThing', reg)
      workers.push({ vendor, wtype, proc, key, mock })
    }

    const show = async (): Promise<number> => {
      let seen = 0
      console.log(['code'.padEnd(18), 'vendor'.padEnd(10), 'status'.padEnd(8), 'kW'.padStart(8), 'inlet°C'.padStart(7), 'fanStart'.padStart(8), 'sockets'.padStart(8), 'err'].join(' '))
      for (const w of workers) {
        const things = await client.request(w.key, 'listThings', { status: true }) as Listed[]
        for (const t of things) {
          if (t.last?.snap?.stats) seen++
          console.log(row(w.vendor, t))
        }
      }
      return seen
    }
    const waitSnaps = async (): Promise<void> => {
      for (let i = 0; i < 60; i++) {
        const lists = await Promise.all(workers.map(async (w) => await client.request(w.key, 'listThings', { status: true, fields: { 'last.snap.success': 1 } }) as Listed[]))
        if (lists.every((l) => l.length === 1 && l[0].last?.snap !== undefined)) return
        await new Promise((resolve) => setTimeout(resolve, 250))
      }
      throw new Error('no snapshot within 15 s')
    }
    await waitSnaps()
    if (await show() < workers.length) throw new Error('not every container reported a snapshot')

    const k = workers[0]
    const apply = { method: 'setCoolingFanThreshold', params: [{ startTemp: 38, stopTemp: 32 }], query: { tags: 'demo' } }
    console.log('\n' + cli(k.key, 'applyThings', apply))
    console.log('→', await client.request(k.key, 'applyThings', apply))
    const [thing] = await client.request(k.key, 'listThings', { fields: { id: 1 } }) as Array<{ id: string }>
    const query = { id: thing.id, method: 'switchSocket', params: [[['1', '1', false]]] }
    console.log(cli(k.key, 'queryThing', query))
    console.log('→', await client.request(k.key, 'queryThing', query))
    await new Promise((resolve) => setTimeout(resolve, 2500))
    await show()

    if (ONCE) {
      console.log('demo finished')
      return
    }
    console.log('\nlive view every 3 s; Ctrl-C to stop')
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 3000))
      console.log('')
      await show()
    }
  } finally {
    await stopAll()
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(`demo failed: ${(err as Error).message}`)
  process.exit(1)
})

