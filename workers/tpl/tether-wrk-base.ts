import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import type pino from 'pino'
import { WrkBase, type WorkerContext } from './wrk-base'
import { errorCode, WrkError } from '../core/errors'
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
import { decodeRequest, encodeError, encodeResult } from '../rpc/codec'
import { DEFAULT_MAX_REQUEST_BYTES, HEAVY_READS, MAX_REPLY_FRAME_BYTES, assertPlainJson } from '../rpc/limits'
import { Limiter } from '../core/async'
import { defineMethod, kindOf, parseParams, type RpcKind, type RpcMethod } from '../rpc/method'

/** The keys of common.json. */
const COMMON_KEYS: KeySpec = { dir_log: true, debug: true, metrics: METRICS_CONF_KEYS }

/**
 * Second layer: the facilities every MiningOS worker has (logger, store, net, interval,
 * scheduler) and the JSON RPC surface on top of `@hyperswarm/rpc`.
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
  private readonly rpcMethods = new Map<string, RpcMethod>()
  private maxRequestBytes = DEFAULT_MAX_REQUEST_BYTES
  private rpcSealed = false
  /** Methods declared `heavy` share it: bounded concurrency, bounded queue (ERR_BUSY). */
  private readonly heavyReads = new Limiter(HEAVY_READS.concurrency, { maxQueue: HEAVY_READS.maxQueue, maxWaitMs: HEAVY_READS.maxWaitMs, code: 'ERR_BUSY' })

  constructor (ctx: WorkerContext) {
    super(ctx)
    this.registerRpc(
      defineMethod({ name: 'ping', kind: 'read', summary: 'Answers with the request payload.', result: z.unknown(), errors: [], handler: (req) => req }),
      defineMethod({ name: 'echo', kind: 'read', summary: 'Answers with the request payload.', result: z.unknown(), errors: [], handler: (req) => req }),
      defineMethod({ name: 'getInstanceId', kind: 'read', summary: 'The random id of this worker process (as in the status file).', result: z.string(), errors: [], handler: () => this.instanceId }),
      defineMethod({
        name: 'backupStore',
        kind: 'write',
        summary: 'Writes a consistent backup of the store to `<root>/backups/<rack>-<time>.mbtbak` (0600) while the worker runs; restore it with `mbt-store restore`.',
        params: z.object({}),
        result: z.object({ file: z.string(), bees: z.number().int(), entries: z.number().int(), created: z.number().int() }),
        errors: ['ERR_STORE_WRITE_FAILED'],
        handler: async () => await this.backupStore()
      })
    )
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
      if (!Number.isInteger(max) || max < 1024) throw new WrkError('ERR_CONFIG_INVALID', 'config facs/net.config.json: r0.maxRequestBytes must be an integer ≥ 1024')
      this.maxRequestBytes = max
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
      this.rpcRequests = new Counter({ name: 'rpc_requests_total', help: 'RPC requests by method and outcome (ok or the ERR_* code)', labelNames: ['method', 'outcome'], registers: [this.metrics.registry] })
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
      this.logger.warn({ file, key, suggestion }, `config ${file}: unknown key ${key}${suggestion !== null ? ` (did you mean ${suggestion}?)` : ''}; it is ignored`)
    }
  }

  protected override async onStart (): Promise<void> {
    await super.onStart()
    this.rpcSealed = true
    for (const [method, decl] of this.rpcMethods) {
      this.net.respond(method, (payload, caller) => this.dispatch(decl, payload, caller))
    }
    this.saveStatus({
      rpcPublicKey: this.net.rpcPublicKey.toString('hex'),
      rpcClientKey: this.net.rpcClientKey.toString('hex'),
      instanceId: this.instanceId
    })
    this.logger.info({ rpcPublicKey: this.net.rpcPublicKey.toString('hex'), storeDir: this.storeDir }, 'worker started')
  }

  protected override async onStop (): Promise<void> {
    this.logger?.info('worker stopping')
    await super.onStop()
  }

  /** Declares RPC methods; only before start (the layers' constructors), later it throws. */
  registerRpc (...decls: RpcMethod[]): void {
    if (this.rpcSealed) throw new WrkError('ERR_RPC_REGISTER_AFTER_START', `cannot register ${decls.map((d) => d.name).join(', ')} after start`)
    for (const decl of decls) this.rpcMethods.set(decl.name, decl)
  }

  /** Every declared method, in declaration order (docs and the OpenRPC document are built from it). */
  rpcDeclarations (): RpcMethod[] {
    return [...this.rpcMethods.values()]
  }

  rpcKind (method: string, req: unknown = {}): RpcKind | undefined {
    const decl = this.rpcMethods.get(method)
    return decl ? kindOf(decl, req) : undefined
  }

  /** Calls a method in-process exactly as a remote caller with full access would. */
  async callRpc (method: string, req: unknown): Promise<unknown> {
    const decl = this.rpcMethods.get(method)
    if (!decl) throw new WrkError('ERR_METHOD_INVALID', `unknown method ${method}`)
    this.admit(decl, req)
    return await this.invoke(decl, req)
  }

  /** The handler on the validated request; a heavy read waits for a slot of the heavy-read limiter. */
  private async invoke (decl: RpcMethod, req: unknown): Promise<unknown> {
    const params = parseParams(decl, req)
    if (decl.heavy) return await this.heavyReads.run(async () => await decl.handler(params))
    return await decl.handler(params)
  }

  /** What every request goes through before its handler, whoever calls: plain JSON, its kind, the layer's refusal. */
  private admit (decl: RpcMethod, req: unknown): RpcKind {
    assertPlainJson(req)
    const kind = kindOf(decl, req)
    const refused = this.refusal(decl.name, kind)
    if (refused !== null) throw new WrkError(refused)
    return kind
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
    const decl = this.rpcMethods.get(method)
    return decl ? await this.dispatch(decl, payload, caller) : encodeError('ERR_METHOD_INVALID')
  }

  private async dispatch (decl: RpcMethod, payload: Buffer, caller: Buffer | null): Promise<Buffer> {
    const method = decl.name
    if (payload.length > this.maxRequestBytes) return encodeError('ERR_REQUEST_TOO_LARGE')
    let req: unknown
    try {
      req = decodeRequest(payload)
    } catch {
      return encodeError('ERR_FACS_NET_DATA_FORMAT')
    }
    const callerKey = caller ? caller.toString('hex') : null
    let kind: RpcKind = 'write'
    try {
      if (this.isStopping) throw new WrkError('ERR_WRK_STOPPING')
      kind = this.admit(decl, req)
      if (kind === 'write' && this.net.accessOf(caller) !== 'full') throw new WrkError('ERR_PERMISSION_DENIED')
      const res = await this.invoke(decl, req)
      if (kind === 'write') this.audit(method, req, callerKey, 'ok')
      const reply = encodeResult(res)
      this.rpcRequests?.inc({ method, outcome: 'ok' })
      if (reply.length <= MAX_REPLY_FRAME_BYTES) return reply
      this.logger.warn({ method, bytes: reply.length }, 'rpc reply over the frame bound refused')
      return encodeError('ERR_REPLY_TOO_LARGE')
    } catch (err) {
      const code = errorCode(err)
      this.rpcRequests?.inc({ method, outcome: code })
      if (kind === 'write') this.audit(method, req, callerKey, code)
      if (code === 'ERR_INTERNAL') this.logger.error({ err, method }, 'rpc method failed')
      else this.logger.debug({ method, code }, 'rpc method refused')
      return encodeError(code)
    }
  }

  private audit (method: string, req: unknown, caller: string | null, outcome: string): void {
    const r = (req !== null && typeof req === 'object' ? req : {}) as Record<string, unknown>
    this.logger.info({
      audit: true,
      method,
      outcome,
      thingId: typeof r.id === 'string' ? r.id : typeof r.thingId === 'string' ? r.thingId : undefined,
      action: typeof r.method === 'string' ? r.method : undefined,
      user: typeof r.user === 'string' ? r.user : undefined,
      caller
    }, 'rpc write')
  }
}
