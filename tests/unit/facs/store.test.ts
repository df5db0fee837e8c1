import { mkdtemp, mkdir, rm, stat, writeFile, readdir } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MAX_STORED_VALUE_BYTES, STORE_DIR_MODE, STORE_FILE_MODE, StoreFacility, assertStorable } from '../../../workers/facs/store'

let root: string

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'mbt-store-'))
})

afterEach(async () => {
  await rm(root, { recursive: true, force: true })
})

/** Modes of every entry below `dir` (relative path → mode bits), what a store should have for each. */
async function modes (dir: string): Promise<Record<string, { mode: number, want: number }>> {
  const out: Record<string, { mode: number, want: number }> = {}
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      out[path.relative(dir, p)] = { mode: (await stat(p)).mode & 0o777, want: e.isDirectory() ? STORE_DIR_MODE : STORE_FILE_MODE }
      if (e.isDirectory()) await walk(p)
    }
  }
  await walk(dir)
  return out
}

describe('StoreFacility', () => {
  it('concurrent getBee calls of one name get one instance (one writer per core)', async () => {
    const store = new StoreFacility(path.join(root, 'store', 'a-db'))
    await store.ready()
    try {
      const bees = await Promise.all([store.getBee('x'), store.getBee('x'), store.getBee('x')])
      expect(bees[1]).toBe(bees[0])
      expect(bees[2]).toBe(bees[0])
      expect(store.openCount).toBe(1)
      await Promise.all([bees[0].put('a', 1), bees[1].put('b', 2)])
      expect((await bees[2].get('b'))?.value).toBe(2)
    } finally {
      await store.close()
    }
  })

  it('closeBee releases a bee and its data stays; a closed name reopens', async () => {
    const store = new StoreFacility(path.join(root, 'store', 'b-db'))
    await store.ready()
    try {
      const bee = await store.getBee('y')
      await bee.put('k', 'v')
      await store.closeBee('y')
      expect(store.isOpen('y')).toBe(false)
      expect(bee.closed).toBe(true)
      await store.closeBee('never-opened')
      expect((await (await store.getBee('y')).get('k'))?.value).toBe('v')
    } finally {
      await store.close()
    }
  })

  it('getBee before start fails with a named error and caches nothing', async () => {
    const store = new StoreFacility(path.join(root, 'store', 'c-db'))
    await expect(store.getBee('z')).rejects.toMatchObject({ code: 'ERR_STORE_NOT_STARTED' })
    expect(store.openCount).toBe(0)
  })

  it('the store is private: directories 0700 and files 0600, also for a store made before the rule', async () => {
    const dir = path.join(root, 'store', 'd-db')
    await mkdir(dir, { recursive: true, mode: 0o755 })
    await writeFile(path.join(dir, 'extra'), 'x', { mode: 0o644 })
    const store = new StoreFacility(dir)
    await store.ready()
    const found = await modes(dir)
    await store.close()
    expect((await stat(path.join(root, 'store'))).mode & 0o777).toBe(STORE_DIR_MODE)
    expect((await stat(dir)).mode & 0o777).toBe(STORE_DIR_MODE)
    // everything there after start, the pre-existing file and what the store created on open
    expect(Object.keys(found).length).toBeGreaterThan(2)
    for (const [p, { mode, want }] of Object.entries(found)) expect(mode.toString(8), p).toBe(want.toString(8))
    // (Corestore moves what it finds in its folder on first open; the file is there somewhere)
    const extra = Object.entries(found).find(([p]) => path.basename(p) === 'extra')
    expect(extra?.[1].mode).toBe(STORE_FILE_MODE)
  })

  it('assertStorable refuses a value over the entry limit with ERR_VALUE_TOO_LARGE, naming it', () => {
    expect(() => assertStorable({ a: 'x'.repeat(100) }, 'small')).not.toThrow()
    expect(() => assertStorable({ a: 'x'.repeat(MAX_STORED_VALUE_BYTES) }, 'the record')).toThrow(/the record is \d+ bytes/)
    try {
      assertStorable('x'.repeat(MAX_STORED_VALUE_BYTES), 'v')
    } catch (err) {
      expect((err as { code?: string }).code).toBe('ERR_VALUE_TOO_LARGE')
    }
  })
})
