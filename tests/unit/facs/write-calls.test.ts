import { describe, expect, it } from 'vitest'
import { WriteCallsFacility, type WriteCall } from '../../../workers/facs/write-calls'
import { WrkError } from '../../../workers/core/errors'
import { MAX_REPLY_BYTES, capReply } from '../../../workers/rpc/limits'

function facility (things: WriteCall[], invalid: Set<string> = new Set(), maxBytes = MAX_REPLY_BYTES): { fac: WriteCallsFacility, validated: string[] } {
  const validated: string[] = []
  const fac = new WriteCallsFacility({
    select: async () => things,
    cap: (calls) => capReply(calls, maxBytes),
    validate: async (id, action, params) => {
      validated.push(`${id}:${action}:${JSON.stringify(params)}`)
      if (invalid.has(id)) throw new WrkError('ERR_SWITCH_SOCKET_PDU_INVALID')
      return 1
    }
  })
  fac.whitelist([['rackReboot', 2], ['switchSocket', 1]])
  return { fac, validated }
}

const THINGS: WriteCall[] = Array.from({ length: 8 }, (_, i) => ({ id: `t${i}`, tags: [`pos-${i}`] }))

describe('getWriteCalls', () => {
  it('valid: every match validated with the action and params, one call per thing', async () => {
    const { fac, validated } = facility(THINGS)
    const res = await fac.getWriteCalls({ query: {}, action: 'switchSocket', params: [[['1', '1', true]]] })
    expect(res).toEqual({ reqVotes: 1, calls: THINGS })
    expect(validated.sort()).toEqual(THINGS.map((t) => `${t.id}:switchSocket:[[["1","1",true]]]`).sort())
  })

  it('one invalid target fails the whole call with its validation error', async () => {
    const { fac } = facility(THINGS, new Set(['t5']))
    await expect(fac.getWriteCalls({ action: 'switchSocket', params: [[['13', '1', true]]] })).rejects.toMatchObject({ code: 'ERR_SWITCH_SOCKET_PDU_INVALID' })
  })

  it('an action not whitelisted: {reqVotes: 1, calls: []} and nothing validated', async () => {
    const { fac, validated } = facility(THINGS)
    expect(await fac.getWriteCalls({ action: 'resetAlarm', params: [] })).toEqual({ reqVotes: 1, calls: [] })
    expect(validated).toEqual([])
  })

  it('rackReboot with rackActionId: 2 votes, one call for the rack itself', async () => {
    const { fac, validated } = facility(THINGS)
    expect(await fac.getWriteCalls({ action: 'rackReboot', params: [], rackActionId: 'container-mbt-kehua-r1' })).toEqual({ reqVotes: 2, calls: [{ id: 'container-mbt-kehua-r1', tags: [] }] })
    expect(validated).toEqual([])
  })

  it('no match: no calls', async () => {
    const { fac } = facility([])
    expect(await fac.getWriteCalls({ action: 'switchSocket', params: [] })).toEqual({ reqVotes: 1, calls: [] })
  })

  it('pages with offset/limit: only the page is validated, nextOffset names the next page, the last page has none', async () => {
    const { fac, validated } = facility(THINGS)
    const first = await fac.getWriteCalls({ action: 'switchSocket', params: [], limit: 3 })
    expect(first).toEqual({ reqVotes: 1, calls: THINGS.slice(0, 3), nextOffset: 3 })
    expect(validated).toHaveLength(3)
    const last = await fac.getWriteCalls({ action: 'switchSocket', params: [], offset: 6, limit: 3 })
    expect(last).toEqual({ reqVotes: 1, calls: THINGS.slice(6) })
    expect(await fac.getWriteCalls({ action: 'switchSocket', params: [], offset: 8 })).toEqual({ reqVotes: 1, calls: [] })
  })

  it('a page over the byte bound is cut at a whole call (at least one) and says where to go on', async () => {
    const big: WriteCall[] = Array.from({ length: 10 }, (_, i) => ({ id: `b${i}`, tags: ['x'.repeat(200)] }))
    const { fac } = facility(big, new Set(), 1000)
    const res = await fac.getWriteCalls({ action: 'switchSocket', params: [] })
    expect(res.calls.length).toBeGreaterThan(0)
    expect(res.calls.length).toBeLessThan(10)
    expect(JSON.stringify(res.calls).length).toBeLessThanOrEqual(1000)
    expect(res.nextOffset).toBe(res.calls.length)
    const rest = await fac.getWriteCalls({ action: 'switchSocket', params: [], offset: res.nextOffset })
    expect(rest.calls[0]).toEqual(big[res.calls.length])
  })
})

describe('getWriteCalls previews', () => {
  type Preview = (id: string) => Promise<unknown>
  function withPreview (things: WriteCall[], preview: Preview, opts: { maxBytes?: number, budgetMs?: number } = {}): WriteCallsFacility {
    const fac = new WriteCallsFacility({
      select: async () => things,
      cap: (calls) => capReply(calls, opts.maxBytes ?? MAX_REPLY_BYTES),
      validate: async () => 1,
      preview: async (id) => await preview(id),
      previewBudgetMs: () => opts.budgetMs ?? 8000
    })
    fac.whitelist([['switchSocket', 1]])
    return fac
  }

  it('each call carries its thing\'s preview; a thing that cannot be read answers {error}; preview: false asks for none', async () => {
    const asked: string[] = []
    const fac = withPreview(THINGS.slice(0, 3), async (id) => {
      asked.push(id)
      if (id === 't1') throw new WrkError('ERR_MODBUS_TIMEOUT')
      return id === 't2' ? null : { writes: [{ meaning: `PDU 1 socket 1 of ${id}: off → on` }] }
    })
    const res = await fac.getWriteCalls({ action: 'switchSocket', params: [[['1', '1', true]]] })
    expect(res.calls).toEqual([
      { id: 't0', tags: ['pos-0'], preview: { writes: [{ meaning: 'PDU 1 socket 1 of t0: off → on' }] } },
      { id: 't1', tags: ['pos-1'], preview: { error: 'ERR_MODBUS_TIMEOUT' } },
      { id: 't2', tags: ['pos-2'] }
    ])
    asked.length = 0
    expect((await fac.getWriteCalls({ action: 'switchSocket', params: [], preview: false })).calls).toEqual(THINGS.slice(0, 3))
    expect(asked).toEqual([])
  })

  it('previews start only while the budget lasts; a page grown by its previews is cut again', async () => {
    const late = async (): Promise<unknown> => { await new Promise((resolve) => setTimeout(resolve, 30)); return { writes: [] } }
    const slow = withPreview(THINGS, late, { budgetMs: 20 })
    const res = await slow.getWriteCalls({ action: 'switchSocket', params: [] })
    expect(res.calls.filter((c) => (c.preview as { error?: string }).error === 'ERR_THING_READ_TIMEOUT')).toHaveLength(3)
    const big = withPreview(THINGS, async () => ({ writes: 'x'.repeat(300) }), { maxBytes: 1000 })
    const cut = await big.getWriteCalls({ action: 'switchSocket', params: [] })
    expect(cut.calls.length).toBeLessThan(THINGS.length)
    expect(cut.nextOffset).toBe(cut.calls.length)
  })
})
