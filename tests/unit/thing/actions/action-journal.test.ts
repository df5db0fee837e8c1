/** The control action journal and the guarded call path (actions/guarded-call.ts). */
import { describe, expect, it } from 'vitest'
import { ActionJournal, type ActionRecord } from '../../../../workers/tpl/thing/actions/action-journal'
import { runGuarded } from '../../../../workers/tpl/thing/actions/guarded-call'
import type { ActionRun, GuardedController } from '../../../../workers/tpl/thing/actions/action-run'
import type { Bee } from '../../../../workers/facs/store'
import type { Logger } from '../../../../workers/core/types'
import { WrkError } from '../../../../workers/core/errors'
import { rejectionCode, thrownCode } from '../../../helpers/errors'

/** The part of a Hyperbee the journal uses, in memory. */
class MemBee {
  readonly data = new Map<string, ActionRecord>()
  async put (key: string, value: ActionRecord): Promise<void> { this.data.set(key, structuredClone(value)) }
  async del (key: string): Promise<void> { this.data.delete(key) }
  batch (): { put: (k: string, v: ActionRecord) => Promise<void>, flush: () => Promise<void> } {
    const pending: Array<[string, ActionRecord]> = []
    return {
      put: async (k, v) => { pending.push([k, structuredClone(v)]) },
      flush: async () => { for (const [k, v] of pending) this.data.set(k, v) }
    }
  }

  async * createReadStream (): AsyncGenerator<{ key: string, value: ActionRecord }> {
    for (const [key, value] of [...this.data]) yield { key, value: structuredClone(value) }
  }
}

const logs: unknown[] = []
const logger: Logger = { info: (o) => { logs.push(o) }, warn: (o) => { logs.push(o) }, debug: () => {}, error: () => {} }

async function journalOn (bee = new MemBee()): Promise<{ j: ActionJournal, bee: MemBee }> {
  const j = new ActionJournal(() => logger)
  await j.open(bee as unknown as Bee<ActionRecord>)
  return { j, bee }
}

const rec = (actionId: string, thingId = 't-1'): Omit<ActionRecord, 'status' | 'startedAt' | 'updatedAt' | 'progress'> =>
  ({ key: `${thingId}/${actionId}`, actionId, thingId, method: 'switchSocket', user: 'op', background: false })

describe('ActionJournal', () => {
  it('a record left running (the worker was killed) is interrupted at the next open, and stored so', async () => {
    const { j, bee } = await journalOn()
    await j.start(rec('a-1'))
    j.progress('t-1/a-1', { phase: 'switching', batches: 12, batchesDone: 3, written: 60, skipped: 0 })
    await new Promise((resolve) => setImmediate(resolve))
    // no close(): as after kill -9
    const { j: again } = await journalOn(bee)
    expect(again.list({ actionId: 'a-1' })).toMatchObject([{ status: 'interrupted', progress: { batchesDone: 3, written: 60 } }])
    expect(bee.data.get('t-1/a-1')?.status).toBe('interrupted')
  })

  it('close() interrupts what runs; later reports and finishes are ignored', async () => {
    const { j, bee } = await journalOn()
    await j.start(rec('a-2'))
    await j.close()
    j.progress('t-1/a-2', { phase: 'switching', batches: 2, batchesDone: 2, written: 40, skipped: 0 })
    await j.finish('t-1/a-2', 'done', { result: { success: true } })
    expect(bee.data.get('t-1/a-2')?.status).toBe('interrupted')
    await expect(rejectionCode(j.start(rec('a-3')))).resolves.toBe('ERR_THING_CLOSED')
  })

  it('lists newest first, filters by action, thing and status; an unknown action is ERR_ACTION_NOTFOUND', async () => {
    const { j } = await journalOn()
    await j.start(rec('x', 't-1'))
    await j.start(rec('x', 't-2'))
    await j.finish('t-1/x', 'rolled_back', { error: { code: 'ERR_CONTROL_GUARD_TRIPPED', message: 'm' } })
    expect(j.list({ actionId: 'x' })).toHaveLength(2)
    expect(j.list({ status: 'running' }).map((r) => r.thingId)).toEqual(['t-2'])
    expect(j.list({ thingId: 't-1' })[0].status).toBe('rolled_back')
    expect(thrownCode(() => j.list({ actionId: 'nope' }))).toBe('ERR_ACTION_NOTFOUND')
    // the same action id running on the same thing is refused
    await expect(rejectionCode(j.start(rec('x', 't-2')))).resolves.toBe('ERR_ACTION_RUNNING')
  })
})

describe('runGuarded', () => {
  interface Call { method: string, params: readonly unknown[], run: ActionRun }
  function controller (impl: (run: ActionRun) => Promise<unknown>): GuardedController & { calls: Call[] } {
    const calls: Call[] = []
    return {
      calls,
      runAction: async (method, params, run) => { calls.push({ method, params, run }); return await impl(run) },
      previewAction: async () => ({})
    }
  }

  it('takes the trailer\'s actionId and user, strips the trailer, records only when asked', async () => {
    const { j } = await journalOn()
    const ctrl = controller(async () => ({ success: true }))
    const params = [[['1', '1', true]], { actionId: 42, user: 'alice' }]
    const reply = await runGuarded(ctrl, { thingId: 't', method: 'switchSocket', params, flags: {}, journal: j, logger })
    expect(reply).toEqual({ success: true })
    expect(ctrl.calls[0].params).toEqual([[['1', '1', true]]])
    expect(ctrl.calls[0].run).toMatchObject({ actionId: '42', user: 'alice', dryRun: false })
    expect(j.list({})).toEqual([])
  })

  it('a staged action is recorded before it writes and ends with its outcome; a tripped one ends as its last phase said', async () => {
    const { j } = await journalOn()
    const ok = controller(async (run) => {
      await run.record()
      run.report({ phase: 'done', batches: 2, batchesDone: 2, written: 40, skipped: 0 })
      return { success: true }
    })
    await runGuarded(ok, { thingId: 't', method: 'switchSocket', params: [[], { actionId: 's-1' }], flags: {}, journal: j, logger })
    expect(j.list({ actionId: 's-1' })[0]).toMatchObject({ status: 'done', result: { success: true }, progress: { written: 40 } })
    const tripped = controller(async (run) => {
      await run.record()
      run.report({ phase: 'rolled_back', batches: 12, batchesDone: 4, written: 80, skipped: 0, rolledBack: 80 })
      throw new WrkError('ERR_CONTROL_GUARD_TRIPPED', 'power above the cap')
    })
    const call = { thingId: 't', method: 'switchSocket', params: [[], { actionId: 's-2' }], flags: {}, journal: j, logger }
    await expect(rejectionCode(runGuarded(tripped, call))).resolves.toBe('ERR_CONTROL_GUARD_TRIPPED')
    const error = { code: 'ERR_CONTROL_GUARD_TRIPPED', message: 'power above the cap' }
    expect(j.list({ actionId: 's-2' })[0]).toMatchObject({ status: 'rolled_back', error })
  })

  it('background: recorded and answered at once, the outcome lands in the journal; a dry run is never recorded', async () => {
    const { j } = await journalOn()
    let release!: () => void
    const gate = new Promise<void>((resolve) => { release = resolve })
    const ctrl = controller(async () => { await gate; throw new WrkError('ERR_MODBUS_TIMEOUT', 'no reply') })
    const call = { thingId: 't', method: 'switchSocket', params: [[]], flags: { background: true }, journal: j, logger }
    const reply = await runGuarded(ctrl, call) as { actionId: string }
    expect(reply).toMatchObject({ success: true, background: true, status: 'running' })
    expect(reply.actionId).toMatch(/^act-/)
    expect(j.list({ actionId: reply.actionId })[0].status).toBe('running')
    release()
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(j.list({ actionId: reply.actionId })[0]).toMatchObject({ status: 'failed', error: { code: 'ERR_MODBUS_TIMEOUT' } })
    const dry = controller(async (run) => { await run.record(); return { dryRun: run.dryRun } })
    const flags = { dryRun: true, background: true }
    const dryCall = { thingId: 't', method: 'switchSocket', params: [[], { actionId: 'd-1' }], flags, journal: j, logger }
    expect(await runGuarded(dry, dryCall)).toEqual({ dryRun: true })
    expect(() => j.list({ actionId: 'd-1' })).toThrow()
  })
})
