import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { StoreFacility, type Bee } from '../../../../workers/facs/store'
import { ThingRegistry, type RegistryLimits } from '../../../../workers/tpl/thing/registry/registry'
import type { ThingRecord } from '../../../../workers/tpl/thing/types'
import { rejectionCode } from '../../../helpers/errors'

let dir: string
let store: StoreFacility

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mbt-reglimits-'))
  store = new StoreFacility(dir)
  await store.ready()
})

afterEach(async () => {
  await store.close()
  await rm(dir, { recursive: true, force: true })
})

const LIMITS: RegistryLimits = { maxThings: 5, maxTagsPerThing: 12, maxStatTags: 10 }

async function registry (limits = LIMITS): Promise<ThingRegistry> {
  const db = await store.getBee('db')
  const reg = new ThingRegistry(db.sub('things') as Bee<ThingRecord>, 'container-mbt-kehua', ['microbt'], 10_000, null, limits)
  await reg.load()
  return reg
}

// automatic tags: t-container, t-container-mbt, t-container-mbt-kehua, microbt (4 stat tags) + id-, code- (not stat tags)
describe('registry limits', () => {
  it('maxThings: one more registration is refused with ERR_THING_LIMIT and nothing is written; a forget makes room', async () => {
    const reg = await registry({ ...LIMITS, maxStatTags: 100 })
    for (let i = 0; i < 5; i++) await reg.register({ id: `t${i}`, opts: {} })
    expect(await rejectionCode(reg.register({ id: 't5', opts: {} }))).toBe('ERR_THING_LIMIT')
    expect(reg.has('t5')).toBe(false)
    await reg.remove('t0')
    await reg.register({ id: 't5', opts: {} })
    expect(reg.size).toBe(5)
  })

  it('concurrent registrations cannot pass maxThings together', async () => {
    const reg = await registry({ ...LIMITS, maxStatTags: 100 })
    const results = await Promise.allSettled(Array.from({ length: 12 }, async (_, i) => await reg.register({ id: `c${i}`, opts: {} })))
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5)
    expect(reg.size).toBe(5)
  })

  it('maxTagsPerThing counts automatic tags: too many caller tags → ERR_THING_TAGS_INVALID, on register and update', async () => {
    const reg = await registry()
    // 6 automatic + 6 caller tags = 12: allowed
    await reg.register({ id: 'a', opts: {}, tags: ['x1', 'x2', 'x3', 'x4', 'x5', 'x6'] })
    expect(reg.get('a').record.tags).toHaveLength(12)
    expect(await rejectionCode(reg.register({ id: 'b', opts: {}, tags: ['x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7'] }))).toBe('ERR_THING_TAGS_INVALID')
    expect(reg.has('b')).toBe(false)
    const prev = reg.get('a').record
    expect(await rejectionCode(reg.save({ ...prev, tags: [...prev.tags, 'x7'] }))).toBe('ERR_THING_TAGS_INVALID')
    expect(reg.get('a').record).toBe(prev)
  })

  it('maxStatTags: distinct stat tags over all things (id-/code- not counted); refused writes change nothing; freed by update and remove', async () => {
    const reg = await registry()
    await reg.register({ id: 'a', opts: {}, tags: ['s1', 's2'] }) // 4 automatic + 2 = 6 stat tags
    expect(reg.statTagCount).toBe(6)
    await reg.register({ id: 'b', opts: {}, tags: ['s1', 's3', 's4'] }) // + s3, s4 = 8
    expect(reg.statTagCount).toBe(8)
    expect(await rejectionCode(reg.register({ id: 'c', opts: {}, tags: ['s5', 's6', 's7'] }))).toBe('ERR_STAT_TAGS_LIMIT')
    expect(reg.has('c')).toBe(false)
    expect(reg.statTagCount).toBe(8)
    // shared tags cost nothing
    await reg.register({ id: 'd', opts: {}, tags: ['s1', 's2', 's3'] })
    expect(reg.statTagCount).toBe(8)
    // an update that swaps s4 for s5 keeps the count; one that adds three is refused and changes nothing
    const b = reg.get('b').record
    await reg.save({ ...b, tags: b.tags.filter((t) => t !== 's4').concat('s5') })
    expect(reg.statTagCount).toBe(8)
    const b2 = reg.get('b').record
    expect(await rejectionCode(reg.save({ ...b2, tags: [...b2.tags, 's6', 's7', 's8'] }))).toBe('ERR_STAT_TAGS_LIMIT')
    expect(reg.get('b').record).toBe(b2)
    expect(reg.statTagCount).toBe(8)
    await reg.remove('b')
    expect(reg.statTagCount).toBe(7) // s5 was only b's
    await reg.register({ id: 'c', opts: {}, tags: ['s6', 's7', 's8'] })
    expect(reg.statTagCount).toBe(10)
  })

  it('a stored registry past the limits loads whole (limits lowered in config) and counts its tags', async () => {
    const reg = await registry({ maxThings: 100, maxTagsPerThing: 64, maxStatTags: 100 })
    for (let i = 0; i < 4; i++) await reg.register({ id: `t${i}`, opts: {}, tags: [`own-${i}`] })
    const lowered = await registry({ maxThings: 2, maxTagsPerThing: 64, maxStatTags: 5 })
    expect(lowered.size).toBe(4)
    expect(lowered.statTagCount).toBe(8)
    expect(await rejectionCode(lowered.register({ id: 'x', opts: {} }))).toBe('ERR_THING_LIMIT')
  })
})
