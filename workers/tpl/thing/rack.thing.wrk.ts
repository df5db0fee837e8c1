/**
 * Third layer: a rack of things. It owns the configuration, the lifecycle and the extension
 * points, and wires its collaborators: the registry and its methods, the controllers, the
 * snapshot loop, controller calls, comments, logs and settings. It knows nothing of the device
 * type: subclasses say how to connect (`connectThing`) and which controller methods exist.
 */
import { z } from 'zod'
import { TetherWrkBase } from '../tether-wrk-base'
import { WrkError } from '../../core/errors'
import type { Bee } from '../../facs/store'
import { capReply } from '../../rpc/limits'
import { defineMethod, type RpcKind, type RpcMethod } from '../../rpc/method'
import { WriteCallsFacility } from '../../facs/write-calls'
import { writeCallsMethod } from './write-call-method'
import { MININGOS_NET_CONF_KEYS, MiningOsNetFacility, parseMiningOsNetConf } from '../../facs/miningos-net'
import { AlertBook } from './alerts/alert-book'
import { NO_ALARM_DEFAULTS, alarmBeesOf, alertDeclarations, type AlarmDefaults } from './alerts/alarm-rpc'
import type { AlertConf, AlertSpec } from './alerts/engine'
import { ThingComments } from './comments'
import { ControllerCalls } from './controller-calls'
import { ThingControllers } from './controllers'
import { DhcpAssigner, type DhcpLease, type PendingRelease } from './dhcp/dhcp'
import { LogMethods } from './logs/log-methods'
import type { RackHooks, RackParts } from './rack-parts'
import { OVER_LIMITS_WARNING, ThingRegistry } from './registry/registry'
import { RegistryMethods } from './registry/registry-methods'
import type { ReplicaParts } from './replica/replica'
import { RackReplication } from './replica/rack-replication'
import { Rollups, parseRollups } from './stats/rollups'
import { WrkSettings, extDataMethod, rebootMethod } from './settings'
import { RackMetrics, type MetricValue } from './rack-metrics'
import type { Health } from '../../facs/metrics'
import { withAlertParams } from './alerts/alert-params'
import { SnapshotLoop } from './snapshot-loop'
import { thingLogKey } from './logs/log-names'
import { StatTimeLogs } from './logs/stat-log'
import { StatTicks, THING_TIMEFRAMES, mergeTimeframes, parseTimeframes, type Timeframe } from './stats/stat-ticks'
import type { StatSpec } from './stats/stats'
import { THING_CONF_DEFAULTS, THING_CONF_KEYS, parseThingConf, type ThingConf } from './thing-conf'
import type { KeySpec } from '../../core/config-keys'
import type { TimeLogs, LogMeta } from './logs/time-log'
import { KeyedLock, mapLimit } from '../../core/async'
import type { JsonObject, Snap, ThingRecord, ThingState } from './types'
import { SERVED_DURING_RESTORE, StartGate } from './start-gate'

export abstract class WrkThingRack extends TetherWrkBase implements RackParts, RackHooks {
  thingConf: ThingConf = { ...THING_CONF_DEFAULTS }
  globalConf: JsonObject | null = null
  registry!: ThingRegistry
  logs!: TimeLogs
  readonly thingLock = new KeyedLock()
  readonly controllers = new ThingControllers(this)
  readonly snapshots = new SnapshotLoop(this, this.controllers)
  readonly things = new RegistryMethods(this, this.controllers)
  readonly alerts: AlertBook = new AlertBook(this, {
    conf: () => this.alertConf(), specs: () => this.alertSpecs(), defaults: () => this.alarmDefaults()
  })

  readonly stats = new StatTicks(this, () => this.statSpec())
  private readonly rollups = new Rollups(this)
  private readonly settings = new WrkSettings(this, { thingType: () => this.getThingType(), alertConf: () => this.configuredAlerts() })
  private readonly calls = new ControllerCalls(this, this.things)
  writeCalls!: WriteCallsFacility
  readonly dhcp: DhcpAssigner = new DhcpAssigner(this, this.controllers, {
    client: () => this.ctx.slave ? null : this.miningosNet,
    retryMinMs: () => this.thingConf.collectSnapsItvMs,
    retryMaxMs: () => this.miningosNet?.conf.dhcpRetryMaxMs ?? 600_000
  })

  miningosNet!: MiningOsNetFacility
  /** Read replicas: the master's side, or (`--slave`) the copy of the master. */
  readonly replication: RackReplication = new RackReplication(this, this.ctx.slave === true)
  private masterRackId: string | null = null
  private rackMetrics: RackMetrics | null = null
  private lastRoundAt: number | null = null
  private readonly startedAt = Date.now()
  private readonly startGate = new StartGate()

  protected override declareRpc (): RpcMethod[] {
    return [
      ...super.declareRpc(),
      ...this.afterRestore([
        ...alertDeclarations(this, this.alerts),
        writeCallsMethod(() => this.writeCalls, this.controllerErrors()),
        ...this.things.declarations(() => this.net.rpcPublicKey.toString('hex')),
        ...this.calls.declarations(),
        ...new ThingComments(this).declarations(),
        ...new LogMethods(this).declarations(),
        ...this.settings.declarations(),
        extDataMethod((req) => this.getWrkExtData(req)),
        defineMethod({
          name: 'getReplicaConf',
          kind: 'read',
          summary: 'Where a read replica finds this rack\'s data: main and log core keys, replication topic, swarm key.',
          result: z.object({
            rackId: z.string(),
            replicaDiscoveryKey: z.string().nullable(),
            swarmPublicKey: z.string().nullable(),
            metaDiscoveryKeys: z.record(z.string(), z.string())
          }),
          errors: [],
          handler: () => this.replication.replicaConf(this.logs)
        }),
        ...this.replication.declarations(),
        rebootMethod(() => this.rackReboot())
      ])
    ]
  }

  /**
   * RPC is served as soon as the registry is loaded; restoring every thing's `last` (its newest
   * stored snapshot: one log core opened per thing) comes after. Until the start is complete,
   * the methods that read `last`, the registry or the devices wait for it; the others (below)
   * answer at once.
   */
  private afterRestore (decls: RpcMethod[]): RpcMethod[] {
    return decls.map((decl) => SERVED_DURING_RESTORE.has(decl.name)
      ? decl
      : { ...decl, handler: async (req: unknown) => { await this.startGate.done; return await decl.handler(req) } })
  }

  get hooks (): RackHooks {
    return this
  }

  /** `<thing type>-<rack>`; a replica answers its master's. */
  get rackId (): string {
    return this.masterRackId ?? `${this.getThingType()}-${this.ctx.rack}`
  }

  /** Whether this process is a read replica (`--slave`). */
  get isReplica (): boolean {
    return this.ctx.slave === true
  }

  // ---- extension points for the layers above (RackHooks) ---------------------------------

  /** The thing type of this worker (`container-mbt-kehua`). */
  abstract getThingType (): string

  /** Snapshot values worth a series on the metrics endpoint (./rack-metrics.ts). */
  metricValues (): readonly MetricValue[] { return [] }

  /** The keys of base.thing.json this worker reads (unknown ones are warned about at start). */
  thingConfKeys (): KeySpec { return THING_CONF_KEYS }

  /** Alarm management defaults of the device type (per-alert settings, inhibition rules). */
  alarmDefaults (): AlarmDefaults { return NO_ALARM_DEFAULTS }

  /** Tags every thing of this worker carries (besides the `t-<type>` ones). */
  getThingTags (): string[] { return [] }

  selectThingInfo (_record: ThingRecord): JsonObject { return {} }

  readMethods (): readonly string[] { return ['getSnap'] }
  writeMethods (): readonly string[] { return [] }

  controllerErrors (): readonly string[] { return [] }

  secretOptKeys (): readonly string[] { return [] }

  validateThingOpts (_opts: JsonObject): void {}

  /** Creates `state.ctrl` from the thing's record (leaves it null when it cannot be connected). */
  abstract connectThing (state: ThingState): Promise<void>

  async collectThingSnap (state: ThingState): Promise<Snap> {
    if (!state.ctrl) throw new WrkError('ERR_THING_NOT_INITIALIZED')
    return await state.ctrl.getSnap()
  }

  /** Threshold alert checks (raw errors of a snapshot always become alerts). */
  alertSpecs (): readonly AlertSpec[] { return [] }

  /** What the stat ticks aggregate per tag. */
  statSpec (): StatSpec | null { return { alerts_cnt: { op: 'alerts_group_cnt', src: 'last.alerts' } } }

  /** Stat timeframes before `scheduleAddlStatConfigTfs`. */
  statTimeframes (): readonly Timeframe[] { return THING_TIMEFRAMES }

  /** `[action, votes]` the write-call approvals allow. */
  writeActions (): ReadonlyArray<readonly [string, number]> {
    return [['rackReboot', 2], ['shelveAlerts', 1], ['setAlertsOutOfService', 1]]
  }

  /** `alerts[<thing type>]` with the run-time `alertParams` applied; absent → this thing type has no alerts. */
  private alertConf (): AlertConf | undefined {
    const conf = this.configuredAlerts()
    return conf && withAlertParams(conf, this.settings.alertParams, this.getThingType())
  }

  /** `alerts[<thing type>]` of base.thing.json. */
  private configuredAlerts (): AlertConf | undefined {
    const all = this.thingConf.alerts
    const conf = all !== null && typeof all === 'object' ? (all as Record<string, unknown>)[this.getThingType()] : undefined
    return conf !== null && typeof conf === 'object' ? conf as AlertConf : undefined
  }

  /** Releases the thing's DHCP address; an override calls it (`super.forgetThingHook`). */
  async forgetThingHook (state: ThingState): Promise<void> {
    await this.dhcp.forget(state)
  }

  protected async getWrkExtData (_req: unknown): Promise<unknown> { return {} }

  // ---- lifecycle ---------------------------------------------------------------------------

  protected override init (): void {
    super.init()
    const baseThing = this.loadConf('base.thing', true)
    this.thingConf = parseThingConf(baseThing)
    this.warnUnknownKeys('base.thing.json', baseThing, this.thingConfKeys())
    this.globalConf = this.loadOptionalConf('global.config')
    this.alerts.configure(this.thingConf)
    this.writeCalls = this.addFacility(new WriteCallsFacility({
      select: async (query) => (await this.things.matching(query)).map((s) => ({ id: s.record.id, tags: s.record.tags })),
      cap: (calls) => capReply(calls),
      validate: (id, action, params) => this.calls.queryThing({ id, method: 'validateWriteAction', params: [action, ...params] }),
      preview: (id, action, params) => this.calls.preview(id, action, params),
      previewBudgetMs: () => this.thingConf.readBudgetMs
    }))
    this.writeCalls.whitelist(this.writeActions())
    const miningosNet = this.loadConf('facs/miningos-net.config')
    this.warnUnknownKeys('facs/miningos-net.config.json', miningosNet, MININGOS_NET_CONF_KEYS)
    this.miningosNet = this.addFacility(new MiningOsNetFacility(parseMiningOsNetConf(miningosNet.n0), this.net))
    const replication = this.replication.configure(this.netConf)
    if (replication) this.addFacility(replication)
  }

  /** On a read replica: writes, device calls and reads before the master's data arrived are refused. */
  protected override refusal (method: string, kind: RpcKind): string | null {
    return this.replication.refusal(method, kind)
  }

  protected override async onStart (): Promise<void> {
    if (this.isReplica) {
      await this.startReplica()
      return
    }
    const started = performance.now()
    const { db, secrets, source } = await this.replication.openMaster()
    await this.dhcp.open(db.sub('dhcp_leases') as Bee<DhcpLease>, db.sub('dhcp_releases') as Bee<PendingRelease>)
    this.settings.open(db.sub('settings'))
    await this.settings.restoreAlertParams()
    this.alerts.open(alarmBeesOf(db))
    await this.calls.journal.open(db.sub('control_actions'))
    // every log generation the master opens is announced to replicas (ReplicaSource); stat
    // logs are kept one per timeframe, per-tag ones of an older store read too (./stat-log.ts)
    this.logs = new StatTimeLogs(source, db.sub('meta_logs') as Bee<LogMeta>, {
      maxLength: this.thingConf.logRotateMaxLength,
      keepCount: this.thingConf.logKeepCount,
      writeTimeoutMs: this.thingConf.storeTimeoutMs,
      onCorrupt: (log, gen, err) => this.logger.error({ err, log, gen }, 'corrupt log generation skipped; writes continue in a fresh one'),
      onLegacyDropped: (tf, logs) => this.logger.info({ tf, logs }, 'per-tag stat logs out of reach removed'),
      onError: (err, what) => this.logger.warn({ err }, what)
    })
    const opened = performance.now()
    const { maxThings, maxTagsPerThing, maxStatTags } = this.thingConf
    this.registry = new ThingRegistry(db.sub('things') as Bee<ThingRecord>, this.getThingType(), this.getThingTags(),
      this.thingConf.storeTimeoutMs, secrets, { maxThings, maxTagsPerThing, maxStatTags })
    await this.registry.load()
    const loaded = performance.now()
    // served from here on (afterRestore: what needs `last` waits for the restore below)
    await super.onStart()
    const served = performance.now()
    let restored: number
    try {
      await this.restoreThings()
      restored = performance.now()
      const things = (): ThingState[] => this.registry.all()
      if (this.metrics) this.rackMetrics = new RackMetrics(this.metrics.registry, things, this.metricValues(), () => this.alerts.states())
      this.snapshots.observer = this.rackMetrics
      this.snapshots.configure()
      // The tick does not wait for slow things: each thing is collected on its own, and a thing
      // still collecting is skipped by the next tick.
      this.interval.add('collectSnaps', () => { void this.collectSnaps() }, this.thingConf.collectSnapsItvMs)
      this.stats.schedule(this.scheduler, mergeTimeframes(this.statTimeframes(), parseTimeframes(this.thingConf.scheduleAddlStatConfigTfs)))
      this.rollups.schedule(this.scheduler, parseRollups(this.thingConf.rollupLogs))
      this.replication.serveMaster(this.logs)
    } catch (err) {
      // the requests waiting for the start get its failure
      this.startGate.fail(err)
      throw err
    }
    this.startGate.open()
    const startMs = {
      store: Math.round(opened - started),
      registry: Math.round(loaded - opened),
      serve: Math.round(served - loaded),
      restore: Math.round(restored - served),
      schedule: Math.round(performance.now() - restored)
    }
    this.logger.info({ things: this.registry.size, rackId: this.rackId, replicas: this.replication.facility !== null, startMs },
      'things loaded')
    if (this.registry.size > maxThings || this.registry.statTagCount > maxStatTags) {
      this.logger.warn({ things: this.registry.size, maxThings, statTags: this.registry.statTagCount, maxStatTags }, OVER_LIMITS_WARNING)
    }
  }

  /**
   * Each thing's controller, active alerts and newest stored snapshot. The log metadata and the
   * active alerts are read in one pass each (AlertBook.restore per thing would read them one by
   * one); the snapshot logs are read one thing at a time, `thingQueryConcurrency` at once.
   */
  private async restoreThings (): Promise<void> {
    await this.logs.preloadMeta(thingLogKey(''))
    const active = await this.alerts.load()
    await mapLimit(this.registry.all(), this.thingConf.thingQueryConcurrency, async (state) => {
      await this.controllers.connect(state)
      const alerts = active.get(state.record.id)
      if (alerts) state.last = { ...state.last, alerts }
      await this.snapshots.restore(state)
    })
  }

  /**
   * A read replica: no devices, no collection, no stats; the registry, logs, alerts and
   * settings are the master's, copied (ReplicaView). RPC is served at once; reads answer
   * ERR_REPLICA_NOT_READY until the master's data arrived.
   */
  private async startReplica (): Promise<void> {
    this.startGate.open()
    const settings = await this.replication.startReplica((parts) => this.adoptMaster(parts))
    await super.onStart()
    this.logger.info({ master: settings.masterRpcKey, ready: this.replication.view?.ready }, 'read replica started')
  }

  /** The master's rack as the replica copied it. */
  private adoptMaster (parts: ReplicaParts): void {
    this.masterRackId = parts.rackId
    try {
      this.thingConf = parseThingConf(parts.thingConf)
    } catch (err) {
      this.logger.warn({ err }, 'replica: the master\'s configuration does not parse; keeping this one')
    }
    this.registry = parts.registry
    this.logs = parts.logs
    this.settings.open(parts.db.sub('settings'))
    this.alerts.open(alarmBeesOf(parts.db))
  }

  protected override async onStop (): Promise<void> {
    this.interval.clear('collectSnaps')
    await this.stats.stop(this.scheduler)
    await this.rollups.stop(this.scheduler)
    if (this.logs instanceof StatTimeLogs) await this.logs.stop()
    await this.replication.close()
    // a DHCP attempt in flight ends within its timeout
    await this.dhcp.close()
    await this.calls.journal.close() // actions still running end `interrupted`
    // Closing the devices first ends in-flight collections quickly instead of waiting them out.
    const things = this.registry?.all() ?? []
    await this.controllers.closeAll(things)
    await this.snapshots.settle()
    await this.controllers.closeAll(things)
    await super.onStop()
  }

  protected override statusSummary (): JsonObject { return this.isReplica ? {} : this.snapshots.summary() }
  /** One collection cycle of every thing (the interval's job; tests call it directly). */
  async collectSnaps (): Promise<void> {
    if (this.isReplica) return
    // things waiting for a DHCP address whose pause is over ask again (in the background)
    this.dhcp.tick()
    const started = performance.now()
    await this.snapshots.collectSnaps()
    this.lastRoundAt = Date.now()
    this.rackMetrics?.round((performance.now() - started) / 1000)
  }

  /**
   * `/healthz`: started, and (on a master) a collection round ended recently — within three
   * collection intervals, or the collection timeout and one interval when that is longer.
   */
  protected override health (): Health {
    const base = super.health()
    if (!base.ok) return base
    if (this.isReplica) return this.replication.health() ?? base
    const bound = Math.max(3 * this.thingConf.collectSnapsItvMs, this.thingConf.collectSnapTimeoutMs + this.thingConf.collectSnapsItvMs)
    const since = this.lastRoundAt === null ? null : Date.now() - this.lastRoundAt
    if (since === null ? Date.now() - this.startedAt > bound : since > bound) {
      return { ok: false, reason: 'no collection round ended recently', lastRoundAgoMs: since, boundMs: bound }
    }
    return { ok: true, reason: 'collecting', lastRoundAgoMs: since, things: this.registry?.size ?? 0 }
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
