/**
 * Guarded control of one MicroBT container (what `runAction`/`previewAction` of the
 * controller do): every action is planned on a fresh read of the registers it writes, writes
 * that change nothing are skipped, socket power-ups are staged under guards (./staged.ts),
 * setpoints are checked against the vendor's ranges and the device's current values, and a
 * switch-off of a container under load needs `force`. A dry run plans and answers the preview
 * without writing anything.
 */
import { WrkError } from '../../core/errors'
import type { CoolingFanThresholds, SocketCommand } from '../../tpl/container/base-container'
import type { ActionRun } from '../../tpl/thing/actions/action-run'
import type { JsonObject } from '../../tpl/thing/types'
import type { ModbusLogger } from '../modbus/types'
import type { ContainerVendor } from '../registers/types'
import { setpointRanges, type ControlConf } from './conf'
import type { RegisterWrite } from './device-writer'
import { readGuards, type GuardLimits } from './guards'
import { controlSettings, type ControlSettings } from './options'
import { planMainControl, planSetpoints, planSockets, previewEntry, readSetpoints, type DeviceReader, type PlannedWrite } from './plan'
import { checkSetpoints } from './setpoints'
import { batchCount, switchStaged } from './staged'

/** A validated action: the method and its checked argument. */
export type ControlAction =
  | { method: 'switchSocket', arg: SocketCommand[] }
  | { method: 'switchContainer' | 'switchCoolingSystem', arg: boolean }
  | { method: 'setCoolingFanThreshold', arg: CoolingFanThresholds }

export interface ContainerControlDeps {
  vendor: ContainerVendor
  reader: DeviceReader
  /** The authenticated write (the controller's control write). */
  write: (writes: readonly RegisterWrite[]) => Promise<void>
  conf: () => ControlConf
  /** The `water_max_inlet_temp_warn` threshold in effect (°C), null when not configured. */
  inletMaxC: () => number | null
  logger: ModbusLogger
  sleep?: (ms: number) => Promise<void>
}

export interface ActionPlan {
  writes: PlannedWrite[]
  settings: ControlSettings
}

function sleepUnref (ms: number): Promise<void> {
  return new Promise((resolve) => { setTimeout(resolve, ms).unref() })
}

export class ContainerControl {
  constructor (private readonly d: ContainerControlDeps) {}

  /** Plans `action` on a fresh read and applies the checks a run would (nothing is written). */
  async plan (action: ControlAction, options: unknown): Promise<ActionPlan> {
    const conf = this.d.conf()
    const settings = controlSettings(options, conf)
    switch (action.method) {
      case 'switchSocket':
        return { writes: await planSockets(this.d.reader, action.arg), settings }
      case 'switchContainer':
      case 'switchCoolingSystem': {
        const what = action.method === 'switchContainer' ? 'container' : 'cooling system'
        const writes = await planMainControl(this.d.reader, action.arg, what)
        if (!action.arg && writes.some((w) => !w.noop)) await this.checkSwitchOff(conf, settings)
        return { writes, settings }
      }
      case 'setCoolingFanThreshold': {
        const current = await readSetpoints(this.d.reader)
        checkSetpoints(action.arg, current, setpointRanges(conf, this.d.vendor), conf)
        return { writes: planSetpoints(action.arg, current), settings }
      }
    }
  }

  /** The preview of a dry run and of `getWriteCalls`. */
  async preview (action: ControlAction, options: unknown): Promise<JsonObject> {
    const { writes, settings } = await this.plan(action, options)
    const changes = writes.filter((w) => !w.noop).length
    const entries = writes.map(previewEntry) as unknown as JsonObject[]
    const out: JsonObject = { method: action.method, writes: entries, changes, noops: writes.length - changes }
    if (action.method === 'switchSocket') {
      out.batches = batchCount(writes, settings)
      out.batchSize = settings.batchSize
      out.batchDelayMs = settings.batchDelayMs
      out.maxPowerW = settings.maxPowerW
      out.onBreach = settings.onBreach
    }
    return out
  }

  async run (action: ControlAction, options: unknown, run: ActionRun): Promise<JsonObject> {
    if (run.dryRun) {
      const preview = await this.preview(action, options)
      this.audit(run, 'dry run', { method: action.method, changes: preview.changes as number })
      return { success: true, dryRun: true, actionId: run.actionId, preview }
    }
    // a power-up reads its first guards along with the plan's fresh read
    const firstReading = action.method === 'switchSocket' && action.arg.some((c) => c.enabled) ? readGuards(this.d.reader) : undefined
    firstReading?.catch(() => {})
    const { writes, settings } = await this.plan(action, options)
    const changes = writes.filter((w) => !w.noop)
    const skipped = writes.length - changes.length
    if (action.method !== 'switchSocket' || (batchCount(writes, settings) <= 1 && !changes.some((w) => w.socket?.on === true))) {
      await this.d.write(changes)
      this.audit(run, 'written', { method: action.method, written: changes.length, skipped })
      return skipped > 0 ? { success: true, written: changes.length, skipped } : { success: true }
    }
    const batches = batchCount(writes, settings)
    if (batches > 1) await run.record()
    const outcome = await switchStaged(writes, {
      reader: this.d.reader,
      write: this.d.write,
      limits: this.guardLimits(settings),
      settings,
      run,
      audit: (event, fields) => this.audit(run, event, fields),
      sleep: this.d.sleep ?? sleepUnref,
      ...(firstReading !== undefined ? { firstReading } : {})
    })
    const summary: JsonObject = {
      written: outcome.written,
      skipped: outcome.skipped,
      batches: outcome.batches,
      batchesDone: outcome.batchesDone,
      guards: outcome.guards as unknown as JsonObject | null
    }
    if (outcome.status !== 'done') {
      const why = outcome.breaches.map((b) => b.message).join('; ')
      const what = outcome.status === 'rolled_back'
        ? `${outcome.rolledBack} sockets switched on were switched off again`
        : 'stopped without rollback'
      throw new WrkError('ERR_CONTROL_GUARD_TRIPPED', `${why} after ${outcome.batchesDone} of ${outcome.batches} batches: ${what}`)
    }
    return batches > 1 || skipped > 0 ? { success: true, actionId: run.actionId, ...summary } : { success: true }
  }

  private guardLimits (settings: ControlSettings): GuardLimits {
    return { maxPowerW: settings.maxPowerW, inletMaxC: this.d.inletMaxC(), pressureBar: this.d.conf().pressureBar }
  }

  /** `switchContainer false` / `switchCoolingSystem false` while the meters read more than the configured power needs `force`. */
  private async checkSwitchOff (conf: ControlConf, settings: ControlSettings): Promise<void> {
    const above = conf.forceSwitchOffAboveW
    if (above === null || settings.force) return
    const { powerW } = await readGuards(this.d.reader)
    if (powerW > above) {
      const why = `the container draws ${powerW} W (more than ${above} W): switching it off needs {force: true}`
      throw new WrkError('ERR_CONTROL_FORCE_REQUIRED', why)
    }
  }

  private audit (run: ActionRun, event: string, fields: JsonObject): void {
    this.d.logger.info({ audit: true, actionId: run.actionId, user: run.user, event, ...fields }, `control action ${event}`)
  }
}
