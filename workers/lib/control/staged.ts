/**
 * Staged socket switching. Power-ups go in batches of `batchSize` with `batchDelayMs` between
 * them; before every batch the guards are read from the container (./guards.ts), and once
 * more after the last batch's delay when there was more than one batch. A breached guard (or
 * a guard that cannot be read) stops the action and, unless `onBreach` is `stop`, switches
 * off again the sockets this action switched on. Power-downs go first, in one write unless
 * staged. Every batch, guard reading and rollback is audited with the action id.
 */
import { errorCode } from '../../core/errors'
import type { ActionProgress, ActionRun } from '../../tpl/thing/actions/action-run'
import type { JsonObject } from '../../tpl/thing/types'
import { SOCKET_CONTROL } from '../registers'
import type { RegisterWrite } from './device-writer'
import { checkGuards, readGuards, type GuardBreach, type GuardLimits, type GuardReading } from './guards'
import type { ControlSettings } from './options'
import type { DeviceReader, PlannedWrite } from './plan'

export interface StagedDeps {
  reader: DeviceReader
  write: (writes: readonly RegisterWrite[]) => Promise<void>
  limits: GuardLimits
  settings: ControlSettings
  run: ActionRun
  audit: (event: string, fields: JsonObject) => void
  sleep: (ms: number) => Promise<void>
  /** A guard reading started with the plan's fresh read (saves a round trip before the first batch). */
  firstReading?: Promise<GuardReading>
}

export interface StagedOutcome {
  status: 'done' | 'stopped' | 'rolled_back'
  batches: number
  batchesDone: number
  written: number
  skipped: number
  rolledBack: number
  guards: GuardReading | null
  breaches: GuardBreach[]
}

function chunks<T> (items: readonly T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

const where = (batch: readonly PlannedWrite[]): string[] =>
  batch.map((w) => w.socket ? `${w.socket.pdu}:${w.socket.socket}` : `${w.unit}:${w.reg}`)

/** How many batches `plan` takes with `settings` (what a preview announces). */
export function batchCount (plan: readonly PlannedWrite[], settings: ControlSettings): number {
  const changes = plan.filter((w) => !w.noop)
  const ons = changes.filter((w) => w.socket?.on === true).length
  const offs = changes.length - ons
  const size = settings.batchSize
  return Math.ceil(ons / size) + (settings.stagePowerDown ? Math.ceil(offs / size) : Math.min(offs, 1))
}

export async function switchStaged (plan: readonly PlannedWrite[], d: StagedDeps): Promise<StagedOutcome> {
  const { settings } = d
  const changes = plan.filter((w) => !w.noop)
  const offs = changes.filter((w) => w.socket?.on !== true)
  const ons = changes.filter((w) => w.socket?.on === true)
  const offBatches = settings.stagePowerDown ? chunks(offs, settings.batchSize) : (offs.length > 0 ? [offs] : [])
  const onBatches = chunks(ons, settings.batchSize)
  const out: StagedOutcome = {
    status: 'done',
    batches: offBatches.length + onBatches.length,
    batchesDone: 0,
    written: 0,
    skipped: plan.length - changes.length,
    rolledBack: 0,
    guards: null,
    breaches: []
  }
  const switchedOn: PlannedWrite[] = []
  const report = (phase: string): void => {
    const { batches, batchesDone, written, skipped } = out
    const p: ActionProgress = { phase, batches, batchesDone, written, skipped, guards: out.guards as unknown as JsonObject | null }
    if (out.rolledBack > 0) p.rolledBack = out.rolledBack
    d.run.report(p)
  }
  const writeBatch = async (batch: PlannedWrite[], on: boolean): Promise<void> => {
    await d.write(batch)
    if (on) switchedOn.push(...batch)
    out.batchesDone++
    out.written += batch.length
    d.audit('batch', { batch: out.batchesDone, of: out.batches, on, sockets: where(batch) })
    report('switching')
  }
  /** Reads the guards; true when one is breached or unreadable. */
  let first = d.firstReading
  const breached = async (): Promise<boolean> => {
    try {
      const pending = first ?? readGuards(d.reader)
      first = undefined
      out.guards = await pending
    } catch (err) {
      out.breaches = [{ guard: 'unreadable', value: Number.NaN, limit: Number.NaN, message: `guards unreadable (${errorCode(err)})` }]
      d.audit('guards', { unreadable: errorCode(err) })
      return true
    }
    out.breaches = checkGuards(out.guards, d.limits)
    d.audit('guards', { reading: out.guards as unknown as JsonObject, breaches: out.breaches.map((b) => b.message) })
    return out.breaches.length > 0
  }
  report('switching')
  for (const [i, batch] of offBatches.entries()) {
    if (i > 0) await d.sleep(settings.batchDelayMs)
    await writeBatch(batch, false)
  }
  for (const [i, batch] of onBatches.entries()) {
    if (i > 0) {
      report('waiting')
      await d.sleep(settings.batchDelayMs)
    }
    if (await breached()) return await stop(out, switchedOn, d, report)
    await writeBatch(batch, true)
  }
  if (onBatches.length > 1) {
    report('waiting')
    await d.sleep(settings.batchDelayMs)
    if (await breached()) return await stop(out, switchedOn, d, report)
  }
  report('done')
  return out
}

/** A breached guard: stop, and switch off what this action switched on unless `onBreach` is `stop`. */
async function stop (
  out: StagedOutcome, switchedOn: readonly PlannedWrite[], d: StagedDeps, report: (phase: string) => void
): Promise<StagedOutcome> {
  out.status = 'stopped'
  if (d.settings.onBreach === 'rollback' && switchedOn.length > 0) {
    report('rolling back')
    d.audit('rollback', { sockets: where(switchedOn), breaches: out.breaches.map((b) => b.message) })
    await d.write(switchedOn.map((w) => ({ unit: w.unit, reg: w.reg, value: SOCKET_CONTROL.off })))
    out.rolledBack = switchedOn.length
    out.status = 'rolled_back'
  }
  d.audit('stopped', { status: out.status, breaches: out.breaches.map((b) => b.message), written: out.written, rolledBack: out.rolledBack })
  report(out.status)
  return out
}
