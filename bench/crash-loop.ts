/**
 * Crash loop: a real Kehua worker in a child process registers, updates, comments and forgets
 * things without pause, printing each acknowledged write; the parent `kill -9`s it at a random
 * moment (start-up included), opens the store itself and checks that every acknowledged write
 * is there (the one write in flight may or may not be), then starts the next child on the same
 * store. The test suite runs 20 iterations; this script runs more.
 *
 *   npm run bench:crash   (or: node dist/bench/crash-loop.js [--iterations 100] [--seed 1])
 *   child mode (spawned by the loop): node dist/bench/crash-loop.js --child <root> <rack> <seed>
 */
import { spawn } from 'node:child_process'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { StoreFacility, type Bee } from '../workers/facs/store'
import { ThingRegistry } from '../workers/tpl/thing/registry/registry'
import type { ThingRecord } from '../workers/tpl/thing/types'
import { createRng } from '../mock/rng'
import { benchRoot } from './root'
import WrkContainerRackKehua from '../workers/kehua.rack.container.wrk'

/** One line of the child's output. */
type Line =
  | { op: 'begin' | 'ack', kind: 'reg' | 'forget', id: string }
  | { op: 'begin' | 'ack', kind: 'upd', id: string, v: number }
  | { op: 'begin' | 'ack', kind: 'comment', id: string, text: string }

async function child (root: string, rack: string, seed: number): Promise<void> {
  const worker = new WrkContainerRackKehua({ wtype: 'wrk-container-rack-kehua', env: 'development', rack, root })
  await worker.start()
  worker.logger.level = 'silent'
  const rand = createRng(seed)
  const emit = (line: Line): void => { process.stdout.write(JSON.stringify(line) + '\n') }
  let n = 0
  for (;;) {
    const ids = worker.registry.all().map((s) => s.record.id)
    const pick = ids[Math.floor(rand() * ids.length)]
    const r = rand()
    if (ids.length === 0 || r < 0.4) {
      const id = `t-${seed}-${n++}`
      emit({ op: 'begin', kind: 'reg', id })
      await worker.callRpc('registerThing', { id, opts: {}, info: { v: 0 } })
      emit({ op: 'ack', kind: 'reg', id })
    } else if (r < 0.75) {
      const v = Number(worker.registry.get(pick).record.info.v ?? 0) + 1
      emit({ op: 'begin', kind: 'upd', id: pick, v })
      await worker.callRpc('updateThing', { id: pick, info: { v } })
      emit({ op: 'ack', kind: 'upd', id: pick, v })
    } else if (r < 0.85) {
      const text = `c-${n++}`
      emit({ op: 'begin', kind: 'comment', id: pick, text })
      await worker.callRpc('saveThingComment', { thingId: pick, comment: text, user: 'crash' })
      emit({ op: 'ack', kind: 'comment', id: pick, text })
    } else {
      emit({ op: 'begin', kind: 'forget', id: pick })
      await worker.callRpc('forgetThings', { query: { id: pick } })
      emit({ op: 'ack', kind: 'forget', id: pick })
    }
  }
}

/** What the acknowledged writes say each thing must look like. */
interface Expected { exists: boolean, v: number, comments: Set<string> }

export interface CrashLoopResult { iterations: number, acked: number, killedBeforeReady: number }

/** Runs the loop on a fresh root whose config points at `bootstrap`; throws on the first lost write. */
export async function runCrashLoop (opts: { root: string, iterations: number, seed: number, childJs?: string }): Promise<CrashLoopResult> {
  const childJs = opts.childJs ?? __filename
  const rand = createRng(opts.seed)
  const expected = new Map<string, Expected>()
  let acked = 0
  let killedBeforeReady = 0
  for (let it = 0; it < opts.iterations; it++) {
    const proc = spawn(process.execPath, [childJs, '--child', opts.root, 'crash', String(opts.seed * 1000 + it)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    proc.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    let pending: Line | null = null
    let lines = 0
    const reader = createInterface({ input: proc.stdout })
    reader.on('line', (text) => {
      const line = JSON.parse(text) as Line
      // the worker's own start-up log lines share stdout
      if (line.op !== 'begin' && line.op !== 'ack') return
      lines++
      if (line.op === 'begin') { pending = line; return }
      pending = null
      acked++
      const e = expected.get(line.id) ?? { exists: false, v: 0, comments: new Set<string>() }
      if (line.kind === 'reg') e.exists = true
      if (line.kind === 'forget') e.exists = false
      if (line.kind === 'upd') e.v = line.v
      if (line.kind === 'comment') e.comments.add(line.text)
      expected.set(line.id, e)
    })
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
    await new Promise((resolve) => setTimeout(resolve, 100 + Math.floor(rand() * 1400)))
    proc.kill('SIGKILL')
    await exited
    reader.close()
    if (lines === 0) killedBeforeReady++
    if (stderr.trim() !== '') throw new Error(`iteration ${it}: the child wrote to stderr:\n${stderr}`)
    await verify(path.join(opts.root, 'store', 'crash-db'), expected, pending, it)
  }
  return { iterations: opts.iterations, acked, killedBeforeReady }
}

async function verify (storeDir: string, expected: Map<string, Expected>, pending: Line | null, it: number): Promise<void> {
  const store = new StoreFacility(storeDir)
  await store.ready()
  try {
    const db = await store.getBee('db')
    const registry = new ThingRegistry(db.sub('things') as Bee<ThingRecord>, 'container-mbt-kehua', [])
    const records = new Map((await registry.load()).map((r) => [r.id, r]))
    for (const [id, e] of expected) {
      const rec = records.get(id)
      const inFlight = pending?.id === id ? pending : null
      if (e.exists && !rec && inFlight?.kind !== 'forget') throw new Error(`iteration ${it}: acknowledged thing ${id} is lost`)
      if (!e.exists && rec && !(inFlight?.kind === 'reg')) throw new Error(`iteration ${it}: forgotten thing ${id} is back`)
      if (!rec) continue
      if (Number(rec.info.v ?? 0) < e.v) throw new Error(`iteration ${it}: ${id} has v=${String(rec.info.v)}, acknowledged ${e.v}`)
      for (const c of e.comments) if (!rec.comments.some((x) => x.comment === c)) throw new Error(`iteration ${it}: ${id} lost comment ${c}`)
    }
    // what the unacknowledged write did (or not) is now part of the truth
    if (pending && records.has(pending.id)) {
      const rec = records.get(pending.id) as ThingRecord
      expected.set(pending.id, { exists: true, v: Number(rec.info.v ?? 0), comments: new Set(rec.comments.map((c) => c.comment)) })
    } else if (pending) {
      const e = expected.get(pending.id)
      if (e) e.exists = false
    }
  } finally {
    await store.close()
  }
}

async function main (): Promise<void> {
  const argv = process.argv.slice(2)
  if (argv[0] === '--child') return await child(argv[1], argv[2], Number(argv[3]))
  const flag = (name: string, fallback: number): number => { const i = argv.indexOf(name); return i < 0 ? fallback : Number(argv[i + 1]) }
  const bench = await benchRoot()
  try {
    const t0 = Date.now()
    const res = await runCrashLoop({ root: bench.root, iterations: flag('--iterations', 100), seed: flag('--seed', 1) })
    process.stdout.write(`| iterations | acknowledged writes | killed before ready | lost | s |\n|---|---|---|---|---|\n| ${res.iterations} | ${res.acked} | ${res.killedBeforeReady} | 0 | ${((Date.now() - t0) / 1000).toFixed(0)} |\n`)
  } finally {
    await bench.close()
  }
}

if (require.main === module) main().catch((err: unknown) => { process.stderr.write(`${(err as Error).stack ?? String(err)}\n`); process.exit(1) })
