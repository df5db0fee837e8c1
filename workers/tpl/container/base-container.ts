import { WrkError } from '../../core/errors'
import { BaseThing, type BaseThingOptions, type ThingFailureSnap, type ThingSnap } from '../thing/base-thing'

/** Controller methods callable through `queryThing` (worker.md §4). */
export const READ_METHODS = ['getSnap', 'getRealtimeData', 'validateWriteAction'] as const
export const WRITE_METHODS = ['switchSocket', 'switchContainer', 'switchCoolingSystem', 'setCoolingFanThreshold'] as const

export type ContainerReadMethod = typeof READ_METHODS[number]
export type ContainerWriteAction = typeof WRITE_METHODS[number]
export type ContainerMethod = ContainerReadMethod | ContainerWriteAction

export function isWriteAction (value: unknown): value is ContainerWriteAction {
  return typeof value === 'string' && (WRITE_METHODS as readonly string[]).includes(value)
}

// ---- Arguments of the write actions -----------------------------------------------------------

/** As sent by callers: `[pduIndex, socketIndex, enabled]`, indexes as strings, '-1' = all. */
export type SocketSwitchTuple = readonly [pdu: string, socket: string, enabled: boolean]

/** A validated socket command. */
export interface SocketCommand {
  pdu: number | 'all'
  socket: number | 'all'
  enabled: boolean
}

export interface CoolingFanThresholds {
  /** Fan running speed threshold. */
  runningSpeed?: number
  /** °C at which the cooling fans start. */
  startTemp?: number
  /** °C at which the cooling fans stop; must be below startTemp when both are given. */
  stopTemp?: number
}

export interface WriteResult {
  success: true
}

export interface NumericRange {
  min: number
  max: number
}

/** Limits the argument validators apply; a container brand gives its PDU layout. */
export interface ContainerLimits {
  pduCount: number
  socketsPerPdu: number
  runningSpeed: NumericRange
  temperature: NumericRange
}

/** Ranges of the cooling-fan thresholds when a brand does not set its own. */
export const DEFAULT_THRESHOLD_LIMITS: Pick<ContainerLimits, 'runningSpeed' | 'temperature'> = {
  runningSpeed: { min: 0, max: 100 },
  temperature: { min: -20, max: 80 }
}

export interface BaseContainerOptions extends BaseThingOptions {
  limits: Pick<ContainerLimits, 'pduCount' | 'socketsPerPdu'> & Partial<ContainerLimits>
}

interface ValidatedArgs {
  switchSocket: SocketCommand[]
  switchContainer: boolean
  switchCoolingSystem: boolean
  setCoolingFanThreshold: CoolingFanThresholds
}

const ALL = '-1'
const INDEX_PATTERN = /^\d{1,3}$/

function parseIndex (value: unknown, max: number, code: string): number | 'all' {
  if (typeof value !== 'string') throw new WrkError(code, 'index must be a string')
  if (value === ALL) return 'all'
  if (!INDEX_PATTERN.test(value)) throw new WrkError(code, `index "${value}" is not a number`)
  const n = Number(value)
  if (n < 1 || n > max) throw new WrkError(code, `index ${n} is outside 1…${max}`)
  return n
}

const THRESHOLD_KEYS: ReadonlySet<string> = new Set(['runningSpeed', 'startTemp', 'stopTemp'])

/**
 * Vendor-neutral container controller: declares the container methods, validates every write
 * action's arguments (the same checks serve `validateWriteAction` and the write itself, so
 * nothing is written unless they pass) and leaves the device work to the `apply*` methods.
 */
export abstract class BaseContainer<TSnap extends { success: true, stats: object }> extends BaseThing<TSnap> {
  static readonly READ_METHODS = READ_METHODS
  static readonly WRITE_METHODS = WRITE_METHODS

  protected readonly limits: ContainerLimits

  constructor (opts: BaseContainerOptions) {
    super(opts)
    this.limits = { ...DEFAULT_THRESHOLD_LIMITS, ...opts.limits }
  }

  /** Write actions this container implements (default: all of WRITE_METHODS). */
  protected supportedWriteActions (): readonly ContainerWriteAction[] {
    return WRITE_METHODS
  }

  /** False while the thing has no address/credentials: validation then fails with ERR_THING_NOT_INITIALIZED. */
  protected isConfigured (): boolean {
    return true
  }

  /**
   * Checks that `action` is a write action this container implements and that its arguments
   * are valid, without touching the device. Returns 1. (The rack strips an approval trailer
   * `{actionId, user}` before calling, workers/tpl/thing/action-context.ts.)
   */
  validateWriteAction (action: string, ...args: unknown[]): 1 {
    const name = this.supportedAction(action)
    if (!this.isConfigured()) throw new WrkError('ERR_THING_NOT_INITIALIZED', 'thing has no connection settings')
    this.validateArgs(name, args)
    return 1
  }

  private supportedAction (action: unknown): ContainerWriteAction {
    if (!isWriteAction(action) || !this.supportedWriteActions().includes(action)) {
      throw new WrkError('ERR_WRITE_ACTION_NOT_SUPPORTED', `write action ${String(action)} is not supported`)
    }
    return action
  }

  protected validateArgs<A extends ContainerWriteAction> (action: A, args: readonly unknown[]): ValidatedArgs[A]
  protected validateArgs (action: ContainerWriteAction, args: readonly unknown[]): ValidatedArgs[ContainerWriteAction] {
    switch (action) {
      case 'switchSocket': return this.validateSocketCommands(args[0])
      case 'switchContainer': return this.validateEnabled(args[0], 'ERR_SWITCH_CONTAINER_ENABLED_INVALID')
      case 'switchCoolingSystem': return this.validateEnabled(args[0], 'ERR_SWITCH_COOLING_SYSTEM_ENABLED_INVALID')
      case 'setCoolingFanThreshold': return this.validateThresholds(args[0])
    }
  }

  protected validateSocketCommands (ops: unknown): SocketCommand[] {
    const code = 'ERR_SWITCH_SOCKET_INVALID_PARAMS'
    if (!Array.isArray(ops) || ops.length === 0) throw new WrkError(code, 'expected a non-empty list of [pdu, socket, enabled]')
    const maxOps = this.limits.pduCount * this.limits.socketsPerPdu
    if (ops.length > maxOps) throw new WrkError(code, `at most ${maxOps} socket commands per call`)
    return ops.map((op: unknown): SocketCommand => {
      if (!Array.isArray(op) || op.length !== 3) throw new WrkError(code, 'each entry must be [pdu, socket, enabled]')
      const [pdu, socket, enabled] = op as unknown[]
      const cmd: SocketCommand = {
        pdu: parseIndex(pdu, this.limits.pduCount, 'ERR_SWITCH_SOCKET_PDU_INVALID'),
        socket: parseIndex(socket, this.limits.socketsPerPdu, 'ERR_SWITCH_SOCKET_SOCKET_INVALID'),
        enabled: this.validateEnabled(enabled, 'ERR_SWITCH_SOCKET_ENABLED_INVALID')
      }
      return cmd
    })
  }

  protected validateEnabled (enabled: unknown, code: string): boolean {
    if (typeof enabled !== 'boolean') throw new WrkError(code, 'enabled must be a boolean')
    return enabled
  }

  protected validateThresholds (input: unknown): CoolingFanThresholds {
    const fail = (why: string): never => { throw new WrkError('ERR_COOLING_FAN_THRESHOLD_INVALID', why) }
    if (input === null || typeof input !== 'object' || Array.isArray(input)) return fail('expected an object')
    const record = input as Record<string, unknown>
    for (const key of Object.keys(record)) {
      if (!THRESHOLD_KEYS.has(key)) fail(`unknown threshold ${key}`)
    }
    const out: CoolingFanThresholds = {}
    const take = (key: keyof CoolingFanThresholds, range: NumericRange): void => {
      const value = record[key]
      if (value === undefined) return
      if (typeof value !== 'number' || !Number.isFinite(value) || value < range.min || value > range.max) {
        fail(`${key} must be a number in ${range.min}…${range.max}`)
      }
      out[key] = value as number
    }
    take('runningSpeed', this.limits.runningSpeed)
    take('startTemp', this.limits.temperature)
    take('stopTemp', this.limits.temperature)
    if (Object.keys(out).length === 0) fail('give at least one of runningSpeed, startTemp, stopTemp')
    // the product's documented example sets both to 25: equal is valid, start below stop is not
    if (out.startTemp !== undefined && out.stopTemp !== undefined && out.startTemp < out.stopTemp) {
      fail('startTemp must not be below stopTemp')
    }
    return out
  }

  // ---- Declared methods (extra trailing arguments such as {actionId, user} are ignored) -------

  // A write is reported successful only once the device acknowledged it (the apply* methods
  // resolve then); after it settles, getSnap() reads afresh (BaseThing.controlWrite).

  async switchSocket (ops: readonly SocketSwitchTuple[]): Promise<WriteResult> {
    const commands = this.validateArgs('switchSocket', [ops])
    await this.controlWrite(() => this.applySwitchSocket(commands))
    return { success: true }
  }

  async switchContainer (enabled: boolean): Promise<WriteResult> {
    const on = this.validateArgs('switchContainer', [enabled])
    await this.controlWrite(() => this.applySwitchContainer(on))
    return { success: true }
  }

  async switchCoolingSystem (enabled: boolean): Promise<WriteResult> {
    const on = this.validateArgs('switchCoolingSystem', [enabled])
    await this.controlWrite(() => this.applySwitchCoolingSystem(on))
    return { success: true }
  }

  async setCoolingFanThreshold (thresholds: CoolingFanThresholds): Promise<WriteResult> {
    const t = this.validateArgs('setCoolingFanThreshold', [thresholds])
    await this.controlWrite(() => this.applyCoolingFanThreshold(t))
    return { success: true }
  }

  /** The stats of a fresh snapshot (an error/offline envelope's stats when the device fails). */
  async getRealtimeData (..._ignored: unknown[]): Promise<TSnap['stats'] | ThingFailureSnap['stats']> {
    const snap: ThingSnap<TSnap> = await this.getSnap()
    return snap.stats
  }

  // ---- Device operations, called with validated arguments only -------------------------------

  protected abstract applySwitchSocket (commands: readonly SocketCommand[]): Promise<void>
  protected abstract applySwitchContainer (enabled: boolean): Promise<void>
  protected abstract applySwitchCoolingSystem (enabled: boolean): Promise<void>
  protected abstract applyCoolingFanThreshold (thresholds: CoolingFanThresholds): Promise<void>
}
