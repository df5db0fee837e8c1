/**
 * Replication lag on loopback: a master and a read replica (real Kehua worker classes, in this
 * process, on a local HyperDHT testnet at 127.0.0.1, replicating over Hyperswarm). Each round
 * registers one thing on the master (the registerThing handler: store write acknowledged) and
 * times until the replica serves it (it is in the registry listThings reads). Rounds run one
 * after another; the first sync is not counted.
 *
 *   npm run bench:replica   (or: node dist/bench/replica-lag.js [--rounds 200])
 */
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { benchRoot } from './root'
import { numberFlag, quantile } from './proc'
import WrkContainerRackKehua from '../workers/kehua.rack.container.wrk'

async function main (): Promise<void> {
  const rounds = numberFlag('--rounds', 200)
  const bench = await benchRoot({ replicaDiscoveryKey: 'b7'.repeat(32), collectSnapsItvMs: 3_600_000 })
  const conf = path.join(bench.root, 'config', 'base.thing.json')
  const master = new WrkContainerRackKehua({ wtype: 'wrk-container-rack-kehua', env: 'development', rack: 'lag-master', root: bench.root })
  let replica: WrkContainerRackKehua | null = null
  try {
    await master.start()
    master.logger.level = 'warn'
    // the replica's configuration names the master (read at its start)
    const base = JSON.parse(await readFile(conf, 'utf8')) as Record<string, unknown>
    await writeFile(conf, JSON.stringify({ ...base, replicaRpcPublicKey: master.net.rpcPublicKey.toString('hex') }))
    replica = new WrkContainerRackKehua({ wtype: 'wrk-container-rack-kehua', env: 'development', rack: 'lag-replica', root: bench.root, slave: true })
    await replica.start()
    replica.logger.level = 'warn'
    const r = replica
    const visible = async (id: string, timeoutMs: number): Promise<void> => {
      const deadline = Date.now() + timeoutMs
      while (!(r.replication.view?.ready === true && r.registry.has(id))) {
        if (Date.now() > deadline) throw new Error(`thing ${id} not on the replica within ${timeoutMs} ms`)
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
    const t0 = performance.now()
    await master.callRpc('registerThing', { id: 'warm-up', opts: {}, info: {} })
    await visible('warm-up', 60_000)
    const firstSync = performance.now() - t0
    const lags: number[] = []
    for (let i = 0; i < rounds; i++) {
      const id = `t-${i}`
      const start = performance.now()
      await master.callRpc('registerThing', { id, opts: {}, info: { container: `bay-${i % 10}`, pos: `A${i}` } })
      await visible(id, 10_000)
      lags.push(performance.now() - start)
    }
    lags.sort((a, b) => a - b)
    const fmt = (v: number): string => v.toFixed(1)
    process.stdout.write([
      `first sync (replica start → first thing visible): ${firstSync.toFixed(0)} ms`,
      '| rounds | median ms | p95 ms | max ms |',
      '|---|---|---|---|',
      `| ${rounds} | ${fmt(quantile(lags, 0.5))} | ${fmt(quantile(lags, 0.95))} | ${fmt(lags[lags.length - 1])} |`,
      ''
    ].join('\n'))
  } finally {
    await replica?.stop()
    await master.stop()
    await bench.close()
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
