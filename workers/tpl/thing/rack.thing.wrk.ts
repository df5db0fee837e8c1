/**
 * Third layer: a rack of things. It owns the configuration, the lifecycle and the extension
 * points, and wires its collaborators: the registry and its methods, the controllers, the
 * snapshot loop, controller calls, comments, logs and settings. It knows nothing of the device
 * type: subclasses say how to connect (`connectThing`) and which controller methods exist.
 */
import { z } from 'zod'
import { TetherWrkBase } from '../tether-wrk-base'
import type { WorkerContext } from '../wrk-base'
import { WrkError } from '../errors'
import type { Bee } from '../../facs/store'
import { defineMethod } from '../rpc/method'
import { WriteCallsFacility } from '../../facs/write-calls'
import { AlertBook } from './alert-book'
import type { Alert, AlertConf, AlertSpec } from './alerts'
import { ThingComments } from './comments'
import { ControllerCalls } from './controller-calls'
import { ThingControllers } from './controllers'
import { LogMethods } from './log-methods'
import type { RackHooks, RackParts } from './rack-parts'
import { ThingRegistry } from './registry'
import { RegistryMethods } from './registry-methods'
import { WrkSettings } from './settings'
import { SnapshotLoop } from './snapshot-loop'
import { StatTicks, THING_TIMEFRAMES, mergeTimeframes, type Timeframe } from './stat-ticks'
import type { StatSpec } from './stats'
import { THING_CONF_DEFAULTS, parseThingConf, type ThingConf } from './thing-conf'
import { TimeLogs, type LogMeta } from './time-log'
import { KeyedLock, mapLimit } from './util'
import type { JsonMap, Snap, ThingRecord, ThingState } from './types'

const writeCallsSchema = z.object({
  query: z.record(z.string(), z.unknown()).optional(),
  action: z.string().min(1).max(128),
  params: z.array(z.unknown()).max(1000).optional(),
  rackActionId: z.string().min(1).max(256).optional()
})

/** `scheduleAddlStatConfigTfs`: `[[name, cron], …]`; anything else is a configuration error. */
function parseTimeframes (value: unknown): Timeframe[] {
  if (value === undefined) return []
  const ok = Array.isArray(value) && value.every((t) => Array.isArray(t) && t.length === 2 && typeof t[0] === 'string' && /^[A-Za-z0-9]+$/.test(t[0]) && typeof t[1] === 'string')
  if (!ok) throw new WrkError('ERR_CONFIG_INVALID', 'config base.thing.json: scheduleAddlStatConfigTfs must be [[name, cron], …]')
  return value as Timeframe[]
}

export class WrkThingRack extends TetherWrkBase implements RackParts, RackHooks {
  thingConf: ThingConf = { ...THING_CONF_DEFAULTS }
  registry!: ThingRegistry
  logs!: TimeLogs
  readonly thingLock = new KeyedLock()
  readonly controllers = new ThingControllers(this)
  readonly snapshots = new SnapshotLoop(this, this.controllers)
  readonly things = new RegistryMethods(this, this.controllers)
  readonly alerts: AlertBook = new AlertBook(this, { conf: () => this.alertConf(), specs: () => this.alertSpecs() })
  readonly stats = new StatTicks(this, () => this.statSpec())
  private readonly settings = new WrkSettings(this)
  private readonly calls = new ControllerCalls(this, this.things)
  writeCalls!: WriteCallsFacility

  constructor (ctx: WorkerContext) {
    super(ctx)
    const calls = this.calls
    this.registerRpc(
      ...this.alerts.declarations(),
      defineMethod({
        name: 'getWriteCalls',
        kind: 'read',
        summary: 'The things a whitelisted control action would touch (each validated first) and the votes it needs.',
        params: writeCallsSchema,
        result: z.object({ reqVotes: z.number().int(), calls: z.array(z.object({ id: z.string(), tags: z.array(z.string()) })) }),
        errors: ['ERR_QUERY_INVALID', 'ERR_THING_NOT_INITIALIZED', 'ERR_THING_METHOD_NOTFOUND', ...this.controllerErrors()],
        handler: (req) => this.writeCalls.getWriteCalls(req)
      }),
      ...this.things.declarations(() => this.net.rpcPublicKey.toString('hex')),
      ...calls.declarations(),
      ...new ThingComments(this).declarations(),
      ...new LogMethods(this).declarations(),
      ...this.settings.declarations(),
      defineMethod({ name: 'getWrkExtData', kind: 'read', summary: 'Worker-type specific data.', result: z.record(z.string(), z.unknown()), errors: [], handler: (req) => this.getWrkExtData(req) }),
      defineMethod({ name: 'rackReboot', kind: 'write', summary: 'Replies 1, then stops the worker (the CLI exits 1 so a supervisor restarts it).', result: z.literal(1), errors: [], handler: () => this.rackReboot() })
    )
  }

  get hooks (): RackHooks {
    return this
  }

  get rackId (): string {
    return `${this.getThingType()}-${this.ctx.rack}`
  }

  // ---- extension points for the layers above (RackHooks) ---------------------------------

  getThingType (): string {
    return 'thing'
  }

  /** Tags every thing of this worker carries (besides the `t-<type>` ones). */
  getThingTags (): string[] {
    return []
  }

  selectThingInfo (_record: ThingRecord): JsonMap {
    return {}
  }

  readMethods (): readonly string[] {
    return ['getSnap']
  }

  writeMethods (): readonly string[] {
    return []
  }

  controllerErrors (): readonly string[] {
    return []
  }

  secretOptKeys (): readonly string[] {
    return []
  }

  validateThingOpts (_opts: JsonMap): void {}

  async connectThing (_state: ThingState): Promise<void> {}

  async collectThingSnap (state: ThingState): Promise<Snap> {
    if (!state.ctrl) throw new WrkError('ERR_THING_NOT_INITIALIZED')
    return await state.ctrl.getSnap()
  }

  /** Threshold alert checks (raw errors of a snapshot always become alerts). */
  alertSpecs (): readonly AlertSpec[] {
    return []
  }

  /** What the stat ticks aggregate per tag. */
  statSpec (): StatSpec | null {
    return { alerts_cnt: { op: 'alerts_group_cnt', src: 'last.alerts' } }
  }

  /** Stat timeframes before `scheduleAddlStatConfigTfs`. */
  statTimeframes (): readonly Timeframe[] {
    return THING_TIMEFRAMES
  }

  /** `[action, votes]` the write-call approvals allow. */
  writeActions (): ReadonlyArray<readonly [string, number]> {
    return [['rackReboot', 2]]
  }

  /** `alerts[<thing type>]` of base.thing.json; absent → this thing type has no alerts. */
  private alertConf (): AlertConf | undefined {
    const all = this.thingConf.alerts
    const conf = all !== null && typeof all === 'object' ? (all as Record<string, unknown>)[this.getThingType()] : undefined
    return conf !== null && typeof conf === 'object' ? conf as AlertConf : undefined
  }

  async forgetThingHook (_state: ThingState): Promise<void> {}

  protected async getWrkExtData (_req: unknown): Promise<unknown> {
    return {}
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  protected override init (): void {
    super.init()
    this.thingConf = parseThingConf(this.loadConf('base.thing', true))
    this.writeCalls = this.addFacility(new WriteCallsFacility({
      select: (query) => this.things.matching(query, { limit: 100_000 }).map((s) => ({ id: s.record.id, tags: s.record.tags })),
      validate: (id, action, params) => this.calls.queryThing({ id, method: 'validateWriteAction', params: [action, ...params] })
    }))
    this.writeCalls.whitelist(this.writeActions())
  }

  protected override async onStart (): Promise<void> {
    const db = await this.store.getBee('db')
    this.settings.open(db.sub('settings'))
    this.alerts.open(db.sub('alerts_active') as Bee<Alert[]>)
    this.logs = new TimeLogs(this.store, db.sub('meta_logs') as Bee<LogMeta>, {
      maxLength: this.thingConf.logRotateMaxLength,
      keepCount: this.thingConf.logKeepCount,
      writeTimeoutMs: this.thingConf.storeTimeoutMs,
      onCorrupt: (log, gen, err) => this.logger.error({ err, log, gen }, 'corrupt log generation skipped; writes continue in a fresh one')
    })
    this.registry = new ThingRegistry(db.sub('things') as Bee<ThingRecord>, this.getThingType(), this.getThingTags(), this.thingConf.storeTimeoutMs)
    await this.registry.load()
    await mapLimit(this.registry.all(), this.thingConf.thingQueryConcurrency, async (state) => {
      await this.controllers.connect(state)
      await this.alerts.restore(state)
      await this.snapshots.restore(state)
    })
    await super.onStart()
    this.snapshots.configure()
    // The tick does not wait for slow things: each thing is collected on its own, and a thing
    // still collecting is skipped by the next tick.
    this.interval.add('collectSnaps', () => { void this.collectSnaps() }, this.thingConf.collectSnapsItvMs)
    for (const [tf, cron] of mergeTimeframes(this.statTimeframes(), parseTimeframes(this.thingConf.scheduleAddlStatConfigTfs))) {
      try {
        this.scheduler.add(`stat-${tf}`, cron, (tick) => this.stats.build(tf, tick))
      } catch (err) {
        throw new WrkError('ERR_CONFIG_INVALID', `config base.thing.json: timeframe ${tf} has an invalid cron pattern "${cron}"`, { cause: err })
      }
    }
    this.logger.info({ things: this.registry.size, rackId: this.rackId }, 'things loaded')
  }

  protected override async onStop (): Promise<void> {
    this.interval.clear('collectSnaps')
    for (const name of this.scheduler.names()) if (name.startsWith('stat-')) this.scheduler.remove(name)
    // Closing the devices first ends in-flight collections quickly instead of waiting them out.
    const things = this.registry?.all() ?? []
    await this.controllers.closeAll(things)
    await this.snapshots.settle()
    await this.controllers.closeAll(things)
    await super.onStop()
  }

  /** One collection cycle of every thing (the interval's job; tests call it directly). */
  async collectSnaps (): Promise<void> {
    await this.snapshots.collectSnaps()
  }

  /** Replies 1, then stops the worker; the CLI exits non-zero so a supervisor restarts it. */
  rackReboot (): 1 {
    setImmediate(() => {
      this.logger.warn('rackReboot requested: stopping')
      this.stop().catch((err: unknown) => this.logger.error({ err }, 'stop after rackReboot failed')).finally(() => this.onReboot())
    })
    return 1
  }

  /** What happens after a rackReboot stop; the CLI sets it to exit the process. */
  onReboot: () => void = () => {}
}

export { THING_CONF_DEFAULTS, type ThingConf } from './thing-conf'
