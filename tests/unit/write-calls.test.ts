import { describe, expect, it } from 'vitest'
import { WriteCallsFacility, type WriteCall } from '../../workers/facs/write-calls'
import { WrkError } from '../../workers/core/errors'
import { MAX_REPLY_BYTES, capReply } from '../../workers/rpc/limits'

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
