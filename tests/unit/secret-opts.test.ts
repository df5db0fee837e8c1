/**
 * Credentials kept apart (workers/tpl/thing/secret-opts.ts): the registry writes the secret opts
 * keys to their own bee under a reference, never into the record; a restart puts them back;
 * changing them writes a new entry and drops the old; a legacy main bee is migrated into a fresh
 * one and cleared.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { StoreFacility, type Bee } from '../../workers/facs/store'
import { ThingRegistry } from '../../workers/tpl/thing/registry'
import { LEGACY_MAIN_BEE, MIGRATED_MAIN_BEE, SECRETS_BEE, SecretOpts, openMainDb } from '../../workers/tpl/thing/secret-opts'
import type { JsonObject, ThingRecord } from '../../workers/tpl/thing/types'
import { silentLogger } from '../../workers/tpl/types'

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
    const secretsBee = await store.getBee<JsonObject>(SECRETS_BEE)
    expect(await entries(secretsBee)).toEqual([{ key: `a/${stored.value.secretRef}`, value: { username: 'u', password: 'p' } }])

    const again = await registryOn(db, secrets)
    expect(again.get('a').record.opts).toEqual({ address: '10.0.0.1', port: 502, username: 'u', password: 'p' })
    expect(again.get('a').record).not.toHaveProperty('secretRef')
  })

  it('an update that keeps them keeps the entry; one that changes them replaces it; forgetting drops it', async () => {
    const { db, secrets } = await openMainDb(store, KEYS, silentLogger)
    const registry = await registryOn(db, secrets)
    await registry.register({ id: 'a', opts: { port: 1, username: 'u', password: 'p' }, info: {} })
    await registry.register({ id: 'a/b', opts: { username: 'x', password: 'y' }, info: {} })
    const secretsBee = await store.getBee<JsonObject>(SECRETS_BEE)
    const first = (await entries(secretsBee)).filter((e) => e.key.startsWith('a/') && !e.key.startsWith('a/b/'))
    await registry.save({ ...registry.get('a').record, opts: { port: 2, username: 'u', password: 'p' } })
    expect((await entries(secretsBee)).filter((e) => !e.key.startsWith('a/b/'))).toEqual(first)
    await registry.save({ ...registry.get('a').record, opts: { port: 2, username: 'u', password: 'new' } })
    await new Promise((resolve) => setTimeout(resolve, 50))
    const now = (await entries(secretsBee)).filter((e) => !e.key.startsWith('a/b/'))
    expect(now).toHaveLength(1)
    expect(now[0].value).toEqual({ username: 'u', password: 'new' })
    await registry.remove('a')
    // thing `a/b` keeps its own
    expect((await entries(secretsBee)).map((e) => e.value)).toEqual([{ username: 'x', password: 'y' }])
  })

  it('credentials still inside a record move out at load; entries nothing refers to are deleted', async () => {
    const { db, secrets } = await openMainDb(store, KEYS, silentLogger)
    await db.sub('things').put('old', { id: 'old', code: 'MBT-KEHUA-0001', type: 'container-mbt-kehua', tags: [], info: {}, opts: { port: 1, password: 'p' }, comments: [] })
    const secretsBee = await store.getBee<JsonObject>(SECRETS_BEE)
    await secretsBee.put('ghost/00000000-0000-4000-8000-000000000000', { password: 'gone' })
    const registry = await registryOn(db, secrets)
    expect(registry.get('old').record.opts).toEqual({ port: 1, password: 'p' })
    const [stored] = await entries(db.sub('things') as Bee<ThingRecord>)
    expect(stored.value.opts).toEqual({ port: 1 })
    expect((await entries(secretsBee)).map((e) => e.value)).toEqual([{ password: 'p' }])
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
})
