/**
 * Lean history: what one `thing-5m` entry costs in the store, and the disk a day of 5-minute
 * storage takes per container, with the log codec (workers/tpl/thing/logs/log-codec.ts) against the
 * encoding before it (plain JSON values). Real snapshots of the mock (Kehua and Wonderint, normal
 * and `--error`), drifting between entries; a day is 288 entries per container. Both stores are
 * read back through TimeLogs (what `tailLog`, the restore and replicas use) and must give the
 * very same JSON.
 *
 *   npm run bench:storage   (or: node dist/bench/storage.js [--containers 20] [--entries 288])
 *
 * Writes bench/results/storage.json.
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { createServer } from '../mock/server'
import { MicroBTContainer } from '../workers/lib/container'
import type { ContainerVendor } from '../workers/lib/registers/types'
import { StoreFacility, type Bee } from '../workers/facs/store'
import { encodeLogValue, isCompressed } from '../workers/tpl/thing/logs/log-codec'
import { TimeLogs, timeKey, type LogMeta } from '../workers/tpl/thing/logs/time-log'
import { machine, numberFlag, quantile, round, sortedCopy, table, writeResult } from './proc'

const FIVE_MIN = 300_000
const DAY_ENTRIES = 288

interface Sample { label: string, vendor: ContainerVendor, error: boolean }
const SAMPLES: Sample[] = [
  { label: 'Kehua', vendor: 'kehua', error: false },
  { label: 'Kehua --error', vendor: 'kehua', error: true },
  { label: 'Wonderint', vendor: 'wonderint', error: false },
  { label: 'Wonderint --error', vendor: 'wonderint', error: true }
]

/** `entries` snapshot entries of one mock container, 5 minutes of drift apart. */
async function snapshots (s: Sample, seed: number, entries: number, t0: number): Promise<unknown[]> {
  const mock = createServer({ type: s.vendor, port: 0, tickMs: 0, seed, error: s.error })
  const { port } = await mock.start()
  const c = new MicroBTContainer({ vendor: s.vendor, address: '127.0.0.1', port, username: 'admin', password: 'admin', timeout: 5000 })
  try {
    const out: unknown[] = []
    for (let i = 0; i < entries; i++) {
      for (let k = 0; k < 30; k++) mock.state.tick(10_000)
      const ts = t0 + i * FIVE_MIN
      const snap = await c.getSnap()
      if (!snap.success) throw new Error(`snapshot failed: ${JSON.stringify(snap)}`)
      out.push({ ts, err: null, snap })
    }
    return out
  } finally {
    await c.close()
    await mock.exit()
  }
}

function duBytes (dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0])
}

interface StoreRun {
  /** Growth of the store directory right after the writes (RocksDB has not compacted yet). */
  bytes: number
  /** The same after a full compaction: what stays on disk. */
  bytesCompacted: number
  writeMsPerEntry: number
  readMsPerEntry: number
  identical: boolean
}

/** A full RocksDB compaction of the store (the store's own storage, reached through Corestore). */
async function compact (store: StoreFacility): Promise<void> {
  const storage = (store as unknown as { store: { storage: { db: { compactRange: () => Promise<void> }, rocks: { compactRange: () => Promise<void> } } } }).store.storage
  await storage.db.compactRange()
  await storage.rocks.compactRange()
}

/** Writes every container's entries into a fresh store, codec on (TimeLogs) or off (plain JSON values, as before), and reads them back. */
async function storeRun (byContainer: unknown[][], codec: boolean): Promise<StoreRun> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mbt-bench-storage-'))
  const storeDir = path.join(dir, 'store', 'bench-db')
  let store = new StoreFacility(storeDir)
  await store.ready()
  try {
    const db = await store.getBee('db')
    const meta = db.sub('meta_logs') as Bee<LogMeta>
    const logs = new TimeLogs(store, meta, { maxLength: 10_000, keepCount: 3 })
    const empty = duBytes(storeDir)
    const w0 = performance.now()
    let n = 0
    for (let c = 0; c < byContainer.length; c++) {
      const key = `thing-5m-c-${c}`
      if (codec) {
        for (const e of byContainer[c] ?? []) { await logs.append(key, (e as { ts: number }).ts, e); n++ }
      } else {
        // the encoding before the codec: the value as JSON through Hyperbee's json encoding
        await meta.put(key, { cur: 0 })
        const bee = await store.getBee(`log:${key}:0`)
        for (const e of byContainer[c] ?? []) { await bee.put(timeKey((e as { ts: number }).ts), e); n++ }
      }
    }
    const writeMs = performance.now() - w0
    await store.close()
    const bytes = duBytes(storeDir) - empty
    store = new StoreFacility(storeDir)
    await store.ready()
    await compact(store)
    await store.close()
    const bytesCompacted = duBytes(storeDir) - empty
    // read back (a fresh process's view) through TimeLogs: the same JSON as written
    store = new StoreFacility(storeDir)
    await store.ready()
    const logs2 = new TimeLogs(store, (await store.getBee('db')).sub('meta_logs') as Bee<LogMeta>, { maxLength: 10_000, keepCount: 3 })
    let identical = true
    const r0 = performance.now()
    for (let c = 0; c < byContainer.length; c++) {
      const back = await logs2.read(`thing-5m-c-${c}`, 0, {})
      const written = [...(byContainer[c] ?? [])].reverse()
      if (JSON.stringify(back) !== JSON.stringify(written)) identical = false
    }
    const readMs = performance.now() - r0
    return { bytes, bytesCompacted, writeMsPerEntry: round(writeMs / n, 3), readMsPerEntry: round(readMs / n, 3), identical }
  } finally {
    await store.close()
    await rm(dir, { recursive: true, force: true })
  }
}

async function main (): Promise<void> {
  const containers = numberFlag('--containers', 20)
  const entries = numberFlag('--entries', DAY_ENTRIES)
  const t0 = Date.UTC(2026, 0, 1)

  // one entry's stored value, per kind of snapshot
  const perEntry = []
  for (const s of SAMPLES) {
    const list = await snapshots(s, 7, 20, t0)
    const json = list.map((e) => Buffer.byteLength(JSON.stringify(e)))
    const stored = list.map((e) => encodeLogValue(JSON.stringify(e)))
    if (!stored.every(isCompressed)) throw new Error('a snapshot entry was not compressed')
    const sizes = sortedCopy(stored.map((b) => b.length))
    const enc0 = performance.now()
    for (const e of list) encodeLogValue(JSON.stringify(e))
    const encodeMs = (performance.now() - enc0) / list.length
    perEntry.push({ snapshot: s.label, jsonBytes: round(quantile(sortedCopy(json), 0.5), 0), storedBytesMedian: quantile(sizes, 0.5), storedBytesMax: sizes[sizes.length - 1], ratio: round(quantile(sortedCopy(json), 0.5) / quantile(sizes, 0.5), 1), encodeMs: round(encodeMs, 3) })
  }

  // a day of 5-minute storage for `containers` containers (Kehua, half of them in error mode)
  const byContainer: unknown[][] = []
  for (let c = 0; c < containers; c++) byContainer.push(await snapshots(SAMPLES[c % 2] as Sample, 100 + c, entries, t0))
  const before = await storeRun(byContainer, false)
  const after = await storeRun(byContainer, true)
  const dayFactor = DAY_ENTRIES / entries
  const perContainerDay = (r: StoreRun): number => r.bytesCompacted / containers * dayFactor
  const perContainerDayRaw = (r: StoreRun): number => r.bytes / containers * dayFactor
  const result = {
    date: new Date().toISOString().slice(0, 10),
    machine: machine(),
    entry: perEntry,
    day: {
      containers,
      entriesPerContainer: entries,
      plainJson: { ...before, kbPerContainerPerDay: round(perContainerDay(before) / 1024, 0), kbPerContainerPerDayBeforeCompaction: round(perContainerDayRaw(before) / 1024, 0) },
      codec: { ...after, kbPerContainerPerDay: round(perContainerDay(after) / 1024, 0), kbPerContainerPerDayBeforeCompaction: round(perContainerDayRaw(after) / 1024, 0) },
      fleet1000GbPerDay: { plainJson: round(perContainerDay(before) * 1000 / 2 ** 30, 2), codec: round(perContainerDay(after) * 1000 / 2 ** 30, 2) }
    }
  }
  console.log(`one thing-5m entry (node ${process.version}):`)
  console.log(table(['snapshot', 'JSON bytes', 'stored bytes (median)', 'stored bytes (max)', 'ratio', 'encode ms'], perEntry.map((e) => [e.snapshot, e.jsonBytes, e.storedBytesMedian, e.storedBytesMax, `${e.ratio}×`, e.encodeMs])))
  console.log(`\ndisk for ${entries} entries × ${containers} containers (du of the store after close):`)
  console.log(table(['encoding', 'store growth (before / after compaction)', 'kB per container per day (compacted)', 'GB per day for 1000 containers', 'write ms / entry', 'read ms / entry', 'read back identical'], [
    ['plain JSON (before)', `${before.bytes} / ${before.bytesCompacted}`, result.day.plainJson.kbPerContainerPerDay, result.day.fleet1000GbPerDay.plainJson, before.writeMsPerEntry, before.readMsPerEntry, String(before.identical)],
    ['log codec', `${after.bytes} / ${after.bytesCompacted}`, result.day.codec.kbPerContainerPerDay, result.day.fleet1000GbPerDay.codec, after.writeMsPerEntry, after.readMsPerEntry, String(after.identical)]
  ]))
  if (!before.identical || !after.identical) throw new Error('read back differs from what was written')
  console.log(`\nwritten ${await writeResult('storage', result)}`)
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
