/**
 * getHistoricalLogs over a large alert history: 10 000 alerts of 100 things appended to the
 * `thing-alerts` log of a real store, then the platform's call (`{logType: 'alerts', start,
 * end}`, no limit) timed end to end in the handler, reply serialisation included.
 *
 *   npm run bench:history   (or: node dist/bench/history.js [--alerts 10000] [--runs 5])
 */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { StoreFacility, type Bee } from '../workers/facs/store'
import { AlertHistory } from '../workers/tpl/thing/alerts/alert-history'
import type { Alert } from '../workers/tpl/thing/types'
import type { RackParts } from '../workers/tpl/thing/rack-parts'
import { ThingRegistry } from '../workers/tpl/thing/registry/registry'
import { TimeLogs, type LogMeta } from '../workers/tpl/thing/logs/time-log'
import { THING_CONF_DEFAULTS } from '../workers/tpl/thing/thing-conf'
import { silentLogger } from '../workers/core/types'
import { KeyedLock } from '../workers/core/async'
import type { ThingRecord } from '../workers/tpl/thing/types'
import { numberFlag } from './proc'

async function main (): Promise<void> {
  const count = numberFlag('--alerts', 10_000)
  const runs = numberFlag('--runs', 5)
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mbt-bench-history-'))
  const store = new StoreFacility(path.join(dir, 'store', 'bench-db'))
  await store.ready()
  try {
    const db = await store.getBee('db')
    const logs = new TimeLogs(store, db.sub('meta_logs') as Bee<LogMeta>, { maxLength: THING_CONF_DEFAULTS.logRotateMaxLength, keepCount: THING_CONF_DEFAULTS.logKeepCount })
    const registry = new ThingRegistry(db.sub('things') as Bee<ThingRecord>, 'container-mbt-kehua', ['microbt'])
    for (let i = 0; i < 100; i++) await registry.register({ id: `thing-${i}`, opts: {}, info: { container: `bay-${i}`, pos: `A${i}` } })
    const rack = { registry, logs, thingConf: THING_CONF_DEFAULTS, logger: silentLogger, thingLock: new KeyedLock(), rackId: 'bench' } as unknown as RackParts
    const book = new AlertHistory(rack)
    const t0 = Date.now() - count * 1000
    for (let i = 0; i < count; i++) {
      const alert: Alert = { name: 'circulating_pump_fault', code: 'circulating_pump_fault', description: 'Circulating pump fault', severity: 'critical', createdAt: t0 + i * 1000, uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` }
      await logs.append('thing-alerts', alert.createdAt, { ...alert, thingId: `thing-${i % 100}` })
    }
    const times: number[] = []
    let bytes = 0
    for (let r = 0; r < runs; r++) {
      const start = performance.now()
      const res = await book.historicalLogs({ logType: 'alerts', start: t0, end: Date.now() })
      bytes = Buffer.byteLength(JSON.stringify(res))
      times.push(performance.now() - start)
      if (res.length !== count) throw new Error(`expected ${count} alerts, got ${res.length}`)
    }
    times.sort((a, b) => a - b)
    process.stdout.write(`| alerts in range | runs | median ms | max ms | reply bytes |\n|---|---|---|---|---|\n| ${count} | ${runs} | ${times[Math.floor(runs / 2)].toFixed(0)} | ${times[runs - 1].toFixed(0)} | ${bytes} |\n`)
  } finally {
    await store.close()
    await rm(dir, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => { process.stderr.write(`${(err as Error).stack ?? String(err)}\n`); process.exit(1) })
