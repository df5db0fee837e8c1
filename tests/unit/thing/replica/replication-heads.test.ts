/**
 * The head exchange (workers/facs/replication-heads.ts) between a writer core and a read copy,
 * on an in-memory protocol stream pair: one history → attached and replicated; a writer that
 * went back in time, or two histories of one length → refused by both sides, nothing crosses,
 * and the writer's core keeps accepting appends (Hypercore would otherwise freeze it).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import Corestore from 'corestore'
import Hypercore from 'hypercore'
import { afterEach, describe, expect, it } from 'vitest'
import { CoreHeads, treeHashAt, type Divergence } from '../../../../workers/facs/replication-heads'
import { waitFor } from '../../../helpers'

interface Side { heads: CoreHeads, diverged: Divergence[], attached: Hypercore[] }

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {})
})

const silent = { debug () {}, info () {}, warn () {}, error () {} } as never

async function store (primaryKey?: Buffer): Promise<Corestore> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mbt-heads-'))
  const s = new (Corestore as unknown as new (dir: string, opts: object) => Corestore)(dir, primaryKey ? { primaryKey, unsafe: true } : {})
  cleanups.push(async () => { await s.close(); await rm(dir, { recursive: true, force: true }) })
  await s.ready()
  return s
}

/** A writer core of a store with primary key `seed`: two such stores write one key (a store folder copied back). */
async function writer (seed: Buffer, blocks: string[]): Promise<Hypercore> {
  const core = (await store(seed) as unknown as { get: (o: object) => Hypercore }).get({ name: 'main' })
  await core.ready()
  for (const b of blocks) await core.append(Buffer.from(b))
  return core
}

/** Connects two sides; each offers `offer` and resolves what the other announces to it. */
function connect (a: Hypercore, b: Hypercore): { a: Side, b: Side, close: () => void } {
  const sa = Hypercore.createProtocolStream(true as never) as unknown as NodeJS.ReadWriteStream & { noiseStream: { userData: never }, destroy: () => void }
  const sb = Hypercore.createProtocolStream(false as never) as unknown as NodeJS.ReadWriteStream & { noiseStream: { userData: never }, destroy: () => void }
  sa.pipe(sb).pipe(sa)
  const side = (core: Hypercore, stream: typeof sa): Side => {
    const s: Side = { heads: null as unknown as CoreHeads, diverged: [], attached: [] }
    s.heads = new CoreHeads(stream.noiseStream.userData, Buffer.alloc(32, core === a ? 2 : 1), {
      resolve: async (dk) => dk.equals(core.discoveryKey) ? core : null,
      agreed: (c) => { s.attached.push(c); c.replicate(stream as never) },
      diverged: (d) => { s.diverged.push(d) },
      logger: silent
    })
    s.heads.offer(core)
    return s
  }
  const result = { a: side(a, sa), b: side(b, sb), close: () => { sa.destroy(); sb.destroy() } }
  cleanups.push(async () => result.close())
  return result
}

async function copyOf (s: Corestore, from: Hypercore): Promise<Hypercore> {
  const copy = (s as unknown as { get: (o: object) => Hypercore }).get({ key: from.key })
  await copy.ready()
  const link = connect(from, copy)
  copy.download({ start: 0, end: -1 })
  await waitFor(async () => copy.length === from.length && await copy.has(from.length - 1), 10_000, 20)
  link.close()
  return copy
}

describe('head exchange', () => {
  const seed = Buffer.alloc(32, 7)

  it('one history: both sides agree, the copy catches up', async () => {
    const w = await writer(seed, ['a', 'b'])
    const copy = await copyOf(await store(), w)
    await w.append([Buffer.from('c'), Buffer.from('d')])
    const link = connect(w, copy)
    await waitFor(() => link.a.attached.length === 1 && link.b.attached.length === 1, 10_000, 20)
    copy.download({ start: 0, end: -1 })
    await waitFor(() => copy.length === 4, 10_000, 20)
    expect(link.a.diverged).toEqual([])
    expect(link.b.diverged).toEqual([])
    expect(await treeHashAt(copy, 4)).toBe(await treeHashAt(w, 4))
  })

  it('a writer behind a copy of it (its folder copied back): refused by both, the writer keeps appending', async () => {
    const ahead = await writer(seed, ['a', 'b', 'x', 'y', 'z'])
    const copy = await copyOf(await store(), ahead)
    const restored = await writer(seed, ['a', 'b', 'c'])
    const conflicts: unknown[] = []
    restored.on('conflict', (...args: unknown[]) => conflicts.push(args))
    const link = connect(restored, copy)
    await waitFor(() => link.a.diverged.length === 1 && link.b.diverged.length === 1, 10_000, 20)
    expect(link.a.diverged[0]).toMatchObject({ reason: 'writer-behind', writer: true, localLength: 3, peerLength: 5, by: 'local' })
    expect(link.b.diverged[0]).toMatchObject({ reason: 'writer-behind', writer: false, localLength: 5, peerLength: 3 })
    expect(link.a.attached).toEqual([])
    expect(link.b.attached).toEqual([])
    // the writer goes past the copy's length: still refused when they meet again, never frozen
    for (const b of ['d', 'e', 'f']) await restored.append(Buffer.from(b))
    link.close()
    const again = connect(restored, copy)
    await waitFor(() => again.a.diverged.length === 1 && again.b.diverged.length === 1, 10_000, 20)
    expect(again.a.diverged[0]).toMatchObject({ reason: 'fork', localLength: 6, peerLength: 5, by: 'local' })
    expect(again.b.diverged[0]).toMatchObject({ reason: 'fork', by: 'peer' })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect((await restored.append(Buffer.from('g'))).length).toBe(7)
    expect(conflicts).toEqual([])
    expect(copy.length).toBe(5)
  })

  it('two histories of one length: refused by both (fork)', async () => {
    const other = await writer(seed, ['a', 'b', 'x'])
    const copy = await copyOf(await store(), other)
    const w = await writer(seed, ['a', 'b', 'c'])
    const link = connect(w, copy)
    await waitFor(() => link.a.diverged.length === 1 && link.b.diverged.length === 1, 10_000, 20)
    expect(link.a.diverged[0]?.reason).toBe('fork')
    expect(link.b.diverged[0]?.reason).toBe('fork')
    expect(link.a.attached).toEqual([])
    expect((await w.append(Buffer.from('d'))).length).toBe(4)
  })

  it('malformed or oversized messages are ignored', async () => {
    const w = await writer(seed, ['a'])
    const copy = await copyOf(await store(), w)
    const link = connect(w, copy)
    await waitFor(() => link.a.attached.length === 1, 10_000, 20)
    const channel = (link.b.heads as unknown as { channel: { messages: Array<{ send: (m: Buffer) => boolean }> } }).channel
    channel.messages[0]?.send(Buffer.from('not json'))
    channel.messages[0]?.send(Buffer.from(JSON.stringify({ dk: 'zz', length: -1 })))
    channel.messages[1]?.send(Buffer.alloc(4096, 0x7b))
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(link.a.diverged).toEqual([])
    expect((await w.append(Buffer.from('b'))).length).toBe(2)
  })
})
