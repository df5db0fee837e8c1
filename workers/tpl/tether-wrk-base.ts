import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import type pino from 'pino'
import { WrkBase } from './wrk-base'
import { WrkError } from '../core/errors'
import { LoggingFacility } from '../facs/logging'
import { StoreFacility } from '../facs/store'
import { backupFileName, writeBackup, type BackupSummary } from '../facs/store-backup'
import { NET_CONF_KEYS, NetFacility, type NetConfig } from '../facs/net'
import { METRICS_CONF_KEYS, MetricsFacility, parseMetricsConf, type Health } from '../facs/metrics'
import { Counter } from 'prom-client'
import { unknownKeys, type KeySpec } from '../core/config-keys'
import type { JsonObject } from '../core/types'
import { IntervalFacility } from '../facs/interval'
import { SchedulerFacility } from '../facs/scheduler'
import { z } from 'zod'
import { RpcDispatcher } from '../rpc/dispatcher'
import { defineMethod, type RpcKind, type RpcMethod } from '../rpc/method'
import { packageVersion } from '../core/version'

/** How often the status file is refreshed with the layer's summary (`statusSummary`). */
export const STATUS_REFRESH_MS = 30_000

/** The keys of common.json. */
const COMMON_KEYS: KeySpec = { dir_log: true, debug: true, metrics: METRICS_CONF_KEYS }

/**
 * Second layer: the facilities every MiningOS worker has (logger, store, net, interval,
 * scheduler, metrics when configured) and the JSON RPC surface on top of `@hyperswarm/rpc`
 * (../rpc/dispatcher.ts). Each layer declares its methods in `declareRpc()`; the table is built
 * once the worker is constructed (at its first use, at the latest at start), never from a
 * constructor.
 */
export class TetherWrkBase extends WrkBase {
  logger!: pino.Logger
  store!: StoreFacility
  net!: NetFacility
  interval!: IntervalFacility
  scheduler!: SchedulerFacility
  /** The metrics endpoint, when `common.json` configures one (`metrics: {port, host?}`). */
  metrics: MetricsFacility | null = null
  private rpcRequests: Counter<'method' | 'outcome'> | null = null
  /** `facs/net.config.json` `r0`, as loaded at init. */
  protected netConf!: NetConfig
  private readonly rpc = new RpcDispatcher({
    logger: () => this.logger,
    refusal: (method, kind) => this.refusal(method, kind),
    canWrite: (caller) => this.net.accessOf(caller) === 'full',
    isStopping: () => this.isStopping,
    observe: (method, outcome) => this.rpcRequests?.inc({ method, outcome })
  })

  private declared = false
  private stoppedLogged = false

  /** The methods this layer declares (a layer above adds its own to `super.declareRpc()`). */
  protected declareRpc (): RpcMethod[] {
    const summary = 'Answers with the request payload.'
    const result = z.unknown()
    const echo = (name: string): RpcMethod => defineMethod({ name, kind: 'read', summary, result, errors: [], handler: (req) => req })
    return [
      echo('ping'),
      echo('echo'),
      defineMethod({
        name: 'getInstanceId',
        kind: 'read',
        summary: 'The random id of this worker process (as in the status file).',
        result: z.string(),
        errors: [],
        handler: () => this.instanceId
      }),
      defineMethod({
        name: 'backupStore',
        kind: 'write',
        summary: 'Writes a consistent backup of the store to `<root>/backups/<rack>-<time>.mbtbak` (0600) while the worker runs; ' +
          'restore it with `mbt-store restore`.',
        params: z.object({}),
        result: z.object({ file: z.string(), bees: z.number().int(), entries: z.number().int(), created: z.number().int() }),
        errors: ['ERR_STORE_WRITE_FAILED'],
        handler: async () => await this.backupStore()
      })
    ]
  }

  /** The dispatcher with every layer's methods declared. */
  private get table (): RpcDispatcher {
    if (!this.declared) {
      this.declared = true
      this.rpc.register(...this.declareRpc())
    }
    return this.rpc
  }

  /** Where the store and its backups live: the root, or `ctx.tmpdir` in the test env. */
  private get dataRoot (): string {
    return this.ctx.env === 'test' && typeof this.ctx.tmpdir === 'string' ? this.ctx.tmpdir : this.ctx.root
  }

  get storeDir (): string {
    return path.join(this.dataRoot, 'store', `${this.ctx.rack}-db`)
  }

  /** A backup of the running store in `<root>/backups/` (facs/store-backup.ts). */
  async backupStore (): Promise<BackupSummary> {
    const dir = path.join(this.dataRoot, 'backups')
    await mkdir(dir, { recursive: true, mode: 0o700 })
    try {
      const summary = await writeBackup(this.store, path.join(dir, backupFileName(this.ctx.rack)))
      this.logger.info({ file: summary.file, bees: summary.bees, entries: summary.entries }, 'store backup written')
      return summary
    } catch (err) {
      if (err instanceof WrkError) throw err
      throw new WrkError('ERR_STORE_WRITE_FAILED', `backup failed: ${(err as Error).message}`, { cause: err })
    }
  }

  protected override init (): void {
    super.init()
    const common = this.loadConf('common', true)
    const netFile = this.loadConf('facs/net.config')
    const netConf = (netFile.r0 ?? {}) as NetConfig
    this.netConf = netConf
    if (netConf.maxRequestBytes !== undefined) {
      const max = netConf.maxRequestBytes
      if (!Number.isInteger(max) || max < 1024) {
        throw new WrkError('ERR_CONFIG_INVALID', 'config facs/net.config.json: r0.maxRequestBytes must be an integer ≥ 1024')
      }
      this.rpc.maxRequestBytes = max
    }
    const logging = this.addFacility(new LoggingFacility({
      name: `${this.ctx.wtype}-${this.ctx.rack}`,
      debug: Boolean(common.debug) || Boolean(this.ctx.debug)
    }))
    this.logger = logging.logger
    this.warnUnknownKeys('common.json', common, COMMON_KEYS)
    this.warnUnknownKeys('facs/net.config.json', netFile, { r0: NET_CONF_KEYS })
    this.store = this.addFacility(new StoreFacility(this.storeDir))
    this.net = this.addFacility(new NetFacility(netConf, {
      rpc: () => this.store.getSeed('rpc'),
      dht: () => this.store.getSeed('dht')
    }, this.logger))
    const metricsConf = parseMetricsConf(common.metrics)
    if (metricsConf) {
      this.metrics = this.addFacility(new MetricsFacility(metricsConf, () => this.health(), this.logger))
      this.rpcRequests = new Counter({
        name: 'rpc_requests_total',
        help: 'RPC requests by method and outcome (ok or the ERR_* code)',
        labelNames: ['method', 'outcome'],
        registers: [this.metrics.registry]
      })
    }
    this.interval = this.addFacility(new IntervalFacility(this.logger))
    this.scheduler = this.addFacility(new SchedulerFacility(this.logger))
  }

  /** What `/healthz` answers (a layer above adds what it knows: e.g. that collections run). */
  protected health (): Health {
    return this.isStarted ? { ok: true, reason: 'started' } : { ok: false, reason: this.isStopping ? 'stopping' : 'not started' }
  }

  /** Logs every key of a config file that nothing reads (a misspelling), with the closest valid key. */
  protected warnUnknownKeys (file: string, conf: JsonObject, spec: KeySpec): void {
    for (const { path: key, suggestion } of unknownKeys(conf, spec)) {
      this.logger.warn({ file, key, suggestion },
        `config ${file}: unknown key ${key}${suggestion !== null ? ` (did you mean ${suggestion}?)` : ''}; it is ignored`)
    }
  }

  protected override async onStart (): Promise<void> {
    await super.onStart()
    for (const decl of this.table.seal()) {
      this.net.respond(decl.name, (payload, caller) => this.rpc.serve(decl.name, payload, caller))
    }
    const version = packageVersion()
    this.saveStatus({
      rpcPublicKey: this.net.rpcPublicKey.toString('hex'),
      rpcClientKey: this.net.rpcClientKey.toString('hex'),
      instanceId: this.instanceId,
      // where mbt-rpc --rack/--status-file finds this worker's DHT (null: the public bootstrap nodes)
      dhtBootstrap: this.netConf.dhtOpts?.bootstrap?.map((b) => typeof b === 'string' ? b : `${b.host}:${b.port}`) ?? null,
      version,
      pid: process.pid,
      startedAt: Date.now(),
      ...this.statusSummary(),
      statusAt: Date.now()
    })
    this.interval.add('statusFile', () => this.refreshStatus(), STATUS_REFRESH_MS)
    this.logger.info({ version, rpcPublicKey: this.net.rpcPublicKey.toString('hex'), storeDir: this.storeDir }, 'worker started')
  }

  /** What the status file tells besides the keys, refreshed every STATUS_REFRESH_MS (a layer above: its collection). */
  protected statusSummary (): JsonObject {
    return {}
  }

  /** Rewrites the status file with the current summary and `statusAt`; a failure is logged, the worker goes on. */
  refreshStatus (): void {
    try {
      this.saveStatus({ ...this.statusSummary(), statusAt: Date.now() })
    } catch (err) {
      this.logger.warn({ err, file: this.statusFile }, 'status file not refreshed')
    }
  }

  protected override async onStop (): Promise<void> {
    this.logger?.info('worker stopping')
    this.interval?.clear('statusFile')
    await super.onStop()
  }

  /** Stops the worker (WrkBase.stop), then logs "worker stopped" once. */
  override async stop (): Promise<void> {
    const wasStarted = this.isStarted
    await super.stop()
    if (wasStarted && !this.stoppedLogged) {
      this.stoppedLogged = true
      this.logger?.info({ instanceId: this.instanceId }, 'worker stopped')
    }
  }

  /** Declares further RPC methods (before start; later it throws ERR_RPC_REGISTER_AFTER_START). */
  registerRpc (...decls: RpcMethod[]): void {
    this.table.register(...decls)
  }

  /** Every declared method, in declaration order (docs and the OpenRPC document are built from it). */
  rpcDeclarations (): RpcMethod[] {
    return this.table.declarations()
  }

  rpcKind (method: string, req: unknown = {}): RpcKind | undefined {
    return this.table.kindOf(method, req)
  }

  /** Calls a method in-process exactly as a remote caller with full access would. */
  async callRpc (method: string, req: unknown): Promise<unknown> {
    return await this.table.call(method, req)
  }

  /** A code refusing a request before its handler runs, whoever calls (e.g. a read replica refuses writes); null = go on. */
  protected refusal (_method: string, _kind: RpcKind): string | null {
    return null
  }

  /**
   * One request as the RPC server hands it over (payload bytes and the caller's key) → the
   * reply bytes; what the transport calls, and what the fuzz tests call directly.
   */
  async serveRpc (method: string, payload: Buffer, caller: Buffer | null): Promise<Buffer> {
    return await this.table.serve(method, payload, caller)
  }
}
