/**
 * Credentials kept apart (workers/tpl/thing/registry/secret-opts.ts): the registry writes the secret opts
 * keys to their own bee under a reference, never into the record, encrypted with a key of
 * their own; a restart puts them back; changing them writes a new entry and shreds the old; a
 * legacy main bee and a plaintext secrets bee are migrated into fresh ones and cleared; after a
 * rotation and a forget, no file of the store holds the old password.
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { StoreFacility, type Bee } from '../../../../workers/facs/store'
import { ThingRegistry } from '../../../../workers/tpl/thing/registry/registry'
import { LEGACY_MAIN_BEE, MIGRATED_MAIN_BEE, SEALED_SECRETS_BEE, SECRETS_BEE, SecretOpts, openMainDb } from '../../../../workers/tpl/thing/registry/secret-opts'
import { isSealed } from '../../../../workers/tpl/thing/registry/secret-keys'
import type { JsonObject, ThingRecord } from '../../../../workers/tpl/thing/types'
import { silentLogger } from '../../../../workers/core/types'

const KEYS = ['username', 'password']
let dir: string
let store: StoreFacility

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mbt-secrets-'))
  store = new StoreFacility(path.join(dir, 'store', 'x-db'))
  await store.ready()
})

afterEach(async () => {
  await store.close()
  await rm(dir, { recursive: true, force: true })
})

async function registryOn (db: Bee, secrets: SecretOpts): Promise<ThingRegistry> {
  const registry = new ThingRegistry(db.sub('things') as Bee<ThingRecord>, 'container-mbt-kehua', ['microbt'], 10_000, secrets)
  await registry.load()
  return registry
}

async function entries<T> (bee: Bee<T>): Promise<Array<{ key: string, value: T }>> {
  const out: Array<{ key: string, value: T }> = []
  for await (const e of bee.createReadStream()) out.push({ key: e.key, value: e.value })
  return out
}

describe('secret opts', () => {
  it('are written to the secrets bee, never into the record, and come back after a restart', async () => {
    const { db, secrets, name } = await openMainDb(store, KEYS, silentLogger)
    expect(name).toBe(LEGACY_MAIN_BEE)
    const registry = await registryOn(db, secrets)
    await registry.register({ id: 'a', opts: { address: '10.0.0.1', port: 502, username: 'u', password: 'p' }, info: {} })
    expect(registry.get('a').record.opts).toEqual({ address: '10.0.0.1', port: 502, username: 'u', password: 'p' })
    const [stored] = await entries(db.sub('things') as Bee<ThingRecord & { secretRef?: string }>)
    expect(stored.value.opts).toEqual({ address: '10.0.0.1', port: 502 })
    expect(stored.value.secretRef).toMatch(/^[0-9a-f-]{36}$/)
    const secretsBee = await store.getBee<JsonObject>(SEALED_SECRETS_BEE)
    const [sealed, ...none] = await entries(secretsBee)
    expect(none).toEqual([])
    expect(sealed.key).toBe(`a/${stored.value.secretRef}`)
    expect(isSealed(sealed.value)).toBe(true)
    expect(JSON.stringify(sealed.value)).not.toContain('"p"')
    expect([...(await secrets.all()).values()]).toEqual([{ username: 'u', password: 'p' }])

    const again = await registryOn(db, secrets)
    expect(again.get('a').record.opts).toEqual({ address: '10.0.0.1', port: 502, username: 'u', password: 'p' })
    expect(again.get('a').record).not.toHaveProperty('secretRef')
  })

  it('an update that keeps them keeps the entry; one that changes them replaces it; forgetting drops it', async () => {
    const { db, secrets } = await openMainDb(store, KEYS, silentLogger)
    const registry = await registryOn(db, secrets)
    await registry.register({ id: 'a', opts: { port: 1, username: 'u', password: 'p' }, info: {} })
    await registry.register({ id: 'a/b', opts: { username: 'x', password: 'y' }, info: {} })
    const readable = async (): Promise<Array<[string, JsonObject]>> => [...(await secrets.all())].filter(([k]) => !k.startsWith('a/b/'))
    const first = await readable()
    await registry.save({ ...registry.get('a').record, opts: { port: 2, username: 'u', password: 'p' } })
    expect(await readable()).toEqual(first)
    await registry.save({ ...registry.get('a').record, opts: { port: 2, username: 'u', password: 'new' } })
    await new Promise((resolve) => setTimeout(resolve, 50))
    const now = await readable()
    expect(now).toHaveLength(1)
    expect(now[0][1]).toEqual({ username: 'u', password: 'new' })
    await registry.remove('a')
    // thing `a/b` keeps its own
    expect([...(await secrets.all()).values()]).toEqual([{ username: 'x', password: 'y' }])
  })

  it('credentials still inside a record move out at load; entries nothing refers to are deleted', async () => {
    const { db, secrets } = await openMainDb(store, KEYS, silentLogger)
    await db.sub('things').put('old', { id: 'old', code: 'MBT-KEHUA-0001', type: 'container-mbt-kehua', tags: [], info: {}, opts: { port: 1, password: 'p' }, comments: [] })
    await secrets.put('ghost', { password: 'gone' })
    const registry = await registryOn(db, secrets)
    expect(registry.get('old').record.opts).toEqual({ port: 1, password: 'p' })
    const [stored] = await entries(db.sub('things') as Bee<ThingRecord>)
    expect(stored.value.opts).toEqual({ port: 1 })
    expect([...(await secrets.all()).values()]).toEqual([{ password: 'p' }])
  })

  it('a legacy main bee is copied into a fresh one without the credentials, and its blocks are cleared', async () => {
    const legacy = await store.getBee(LEGACY_MAIN_BEE)
    await legacy.sub('things').put('t', { id: 't', code: 'MBT-KEHUA-0001', type: 'container-mbt-kehua', tags: [], info: { pos: 'A1' }, opts: { port: 7, username: 'u', password: 'secret-1' }, comments: [] })
    await legacy.sub('settings').put('s', 1)
    await legacy.sub('meta_logs').put('thing-5m-t', { cur: 2 })
    const { db, name, secrets } = await openMainDb(store, KEYS, silentLogger)
    expect(name).toBe(MIGRATED_MAIN_BEE)
    expect((await db.sub('settings').get('s'))?.value).toBe(1)
    expect((await db.sub('meta_logs').get('thing-5m-t'))?.value).toEqual({ cur: 2 })
    const registry = await registryOn(db, secrets)
    expect(registry.get('t').record).toMatchObject({ info: { pos: 'A1' }, opts: { port: 7, username: 'u', password: 'secret-1' } })
    for (let i = 0; i < db.core.length; i++) {
      const block = await db.core.get(i, { wait: false })
      expect(block?.includes(Buffer.from('secret-1')), `block ${i}`).toBe(false)
    }
    const old = await store.getBee(LEGACY_MAIN_BEE)
    for (let i = 0; i < old.core.length; i++) expect(await old.core.has(i), `old block ${i}`).toBe(false)
    // the layout is remembered: the next start opens the migrated bee directly
    expect((await openMainDb(store, KEYS, silentLogger)).name).toBe(MIGRATED_MAIN_BEE)
  })

  it('a plaintext secrets bee (an older store) is encrypted into a fresh bee and the old blocks are cleared', async () => {
    const wrk = await store.getBee('wrk')
    await wrk.put('layout:main', { name: LEGACY_MAIN_BEE })
    const plain = await store.getBee<JsonObject>(SECRETS_BEE)
    await plain.put('t/00000000-0000-4000-8000-000000000001', { username: 'u', password: 'plain-secret-1' })
    const { db, secrets } = await openMainDb(store, KEYS, silentLogger)
    await db.sub('things').put('t', { id: 't', code: 'MBT-KEHUA-0001', type: 'container-mbt-kehua', tags: [], info: {}, opts: { port: 1 }, secretRef: '00000000-0000-4000-8000-000000000001', comments: [] })
    const registry = await registryOn(db, secrets)
    expect(registry.get('t').record.opts).toEqual({ port: 1, username: 'u', password: 'plain-secret-1' })
    const old = await store.getBee(SECRETS_BEE)
    for (let i = 0; i < old.core.length; i++) expect(await old.core.has(i), `old block ${i}`).toBe(false)
    const sealedBee = await store.getBee<JsonObject>(SEALED_SECRETS_BEE)
    for (let i = 0; i < sealedBee.core.length; i++) {
      const block = await sealedBee.core.get(i, { wait: false })
      expect(block?.includes(Buffer.from('plain-secret-1')), `block ${i}`).toBe(false)
    }
  })
})

describe('crypto-shredding', () => {
  /** Every file under the store directory (cores, RocksDB tables and logs, side files). */
  async function storeFilesContain (needle: string): Promise<string[]> {
    const hits: string[] = []
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        const p = path.join(d, e.name)
        if (e.isDirectory()) await walk(p)
        else if ((await readFile(p)).includes(Buffer.from(needle))) hits.push(p)
      }
    }
    await walk(store.dir)
    return hits
  }

  it('after a rotation and a forget, the old passwords are unreadable: no store file holds them, their keys are gone', async () => {
    const { db, secrets } = await openMainDb(store, KEYS, silentLogger)
    const registry = await registryOn(db, secrets)
    await registry.register({ id: 'rot', opts: { port: 1, username: 'u', password: 'rotated-away-pw' }, info: {} })
    await registry.register({ id: 'gone', opts: { port: 2, username: 'u', password: 'forgotten-thing-pw' }, info: {} })
    const keysOnDisk = async (): Promise<string[]> => (await readFile(path.join(store.dir, 'side', 'secret-keys.json'), 'utf8')).split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { k: string }).k)
    const keysBefore = await keysOnDisk()
    await registry.save({ ...registry.get('rot').record, opts: { port: 1, username: 'u', password: 'current-pw' } })
    await registry.remove('gone')
    await new Promise((resolve) => setTimeout(resolve, 50))
    // the secrets are readable only for what is live
    expect([...(await secrets.all()).values()]).toEqual([{ username: 'u', password: 'current-pw' }])
    const keysAfter = await keysOnDisk()
    expect(keysAfter).toHaveLength(1)
    expect(keysAfter[0]).toMatch(/^rot\//)
    expect(keysBefore).toHaveLength(2)
    // nothing on disk holds a password in the clear, old or current
    await store.close()
    for (const pw of ['rotated-away-pw', 'forgotten-thing-pw', 'current-pw']) expect(await storeFilesContain(pw), pw).toEqual([])
  })
})
