import { chmodSync, mkdirSync, readFileSync, writeFileSync, renameSync, existsSync } from 'node:fs'
import path from 'node:path'
import { randomUUID } from 'node:crypto'
import { loadConfig, loadOptionalConfig, type Env, type JsonObject } from '../core/config'
import { startFacilities, stopFacilities, type Facility } from '../facs/facility'

const STATUS_DIR_MODE = 0o755
const STATUS_FILE_MODE = 0o644

export interface WorkerContext {
  wtype: string
  env: Env
  rack: string
  /** Project root holding `config/`, `status/` and `store/`. */
  root: string
  debug?: boolean
  /** In the test env the store lives under this directory. */
  tmpdir?: string
  slave?: boolean
  [flag: string]: unknown
}

/**
 * Bottom layer: configuration, facility lifecycle and the status file. Subclasses add
 * facilities in `init()` and do their own work in `onStart()`/`onStop()`.
 */
export class WrkBase {
  readonly ctx: WorkerContext
  readonly instanceId = randomUUID()
  protected readonly facilities: Facility[] = []
  private started: Facility[] = []
  private state: 'idle' | 'starting' | 'started' | 'stopping' | 'stopped' = 'idle'
  private starting: Promise<void> | null = null
  private stopping: Promise<void> | null = null

  constructor (ctx: WorkerContext) {
    this.ctx = ctx
  }

  /** Config by name (see loadConfig). */
  loadConf (name: string, required = false): JsonObject {
    return loadConfig(this.ctx.root, this.ctx.env, name, { required })
  }

  /** Config by name, or null when there is no such file. */
  loadOptionalConf (name: string): JsonObject | null {
    return loadOptionalConfig(this.ctx.root, this.ctx.env, name)
  }

  addFacility<F extends Facility> (fac: F): F {
    this.facilities.push(fac)
    return fac
  }

  get statusFile (): string {
    return path.join(this.ctx.root, 'status', `${this.ctx.wtype}-${this.ctx.rack}.json`)
  }

  readStatus (): JsonObject {
    if (!existsSync(this.statusFile)) return {}
    try {
      return JSON.parse(readFileSync(this.statusFile, 'utf8')) as JsonObject
    } catch {
      return {}
    }
  }

  /**
   * Merges `patch` into the status file atomically (write + rename). It holds public keys only
   * and stays readable by the operator's tools (mode 0644), whatever the process umask.
   */
  saveStatus (patch: JsonObject): void {
    const dir = path.dirname(this.statusFile)
    if (mkdirSync(dir, { recursive: true }) !== undefined) chmodSync(dir, STATUS_DIR_MODE)
    const next = { ...this.readStatus(), ...patch }
    const tmp = `${this.statusFile}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify(next, null, 2) + '\n')
    chmodSync(tmp, STATUS_FILE_MODE)
    renameSync(tmp, this.statusFile)
  }

  /** Creates facilities; config errors surface here, before anything is opened. */
  protected init (): void {}
  protected async onStart (): Promise<void> {}
  protected async onStop (): Promise<void> {}

  async start (): Promise<void> {
    if (this.state !== 'idle') throw new Error(`ERR_WRK_ALREADY_${this.state.toUpperCase()}`)
    this.state = 'starting'
    this.starting = this.doStart()
    await this.starting
  }

  private async doStart (): Promise<void> {
    try {
      this.init()
      this.started = await startFacilities(this.facilities)
      await this.onStart()
      this.state = 'started'
    } catch (err) {
      await stopFacilities(this.started)
      this.started = []
      this.state = 'stopped'
      throw err
    }
  }

  /**
   * Idempotent; resolves once everything is stopped, whichever call it is. A stop during
   * start waits for the start to settle, then stops what it opened.
   */
  async stop (): Promise<void> {
    if (this.state === 'starting') await this.starting?.catch(() => {})
    if (this.state === 'stopping') {
      await this.stopping
      return
    }
    if (this.state !== 'started') return
    this.state = 'stopping'
    this.stopping = this.doStop()
    await this.stopping
  }

  private async doStop (): Promise<void> {
    try {
      await this.onStop()
    } finally {
      await stopFacilities(this.started)
      this.started = []
      this.state = 'stopped'
    }
  }

  get isStarted (): boolean {
    return this.state === 'started'
  }

  get isStopping (): boolean {
    return this.state === 'stopping' || this.state === 'stopped'
  }
}
