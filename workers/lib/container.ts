import { errorCode, WrkError } from '../core/errors'
import { BaseContainer, type CoolingFanThresholds, type SocketCommand } from '../tpl/container/base-container'
import type { ActionRun } from '../tpl/thing/actions/action-run'
import type { JsonObject } from '../tpl/thing/types'
import type { MicroBTContainerOptions } from './container-options'
import { CONTROL_CONF_DEFAULTS, setpointRanges } from './control/conf'
import { ContainerControl, type ControlAction } from './control/container-control'
import { DeviceWriter, type Credentials, type RegisterWrite } from './control/device-writer'
import { controlSettings } from './control/options'
import { socketTargets } from './control/plan'
import { checkSetpointRanges } from './control/setpoints'
import { ModbusTcpClient } from './modbus/client'
import type { ModbusClient, ModbusClientOptions, RequestOptions } from './modbus/types'
import {
  CDU_CONTROL, CDU_UNIT, PDU_COUNT, SOCKETS_PER_PDU, SOCKET_CONTROL, SplitMemory, RegisterImage, UNIT_IDS, decodeSnapshot,
  containerVendors, isContainerVendor, listedParts, pduUnit, planReads, snapshotRanges, socketControlRegister,
  type ContainerSnapshot, type ContainerVendor, type ReadRequest, type UnitId
} from './registers'
import { CycleOutcome, UnitBreaker } from './unit-breaker'
import { FIRST_CONTACT_RETRIES, FLOOD, TIMEOUT, failureKind, isUnitFatal, readAttempts, type ReadPhase } from './read-attempts'

export type { MicroBTContainerOptions } from './container-options'

/**
 * Resends per request by default. 4: on a link that loses 15 % of attempts (10 % dropped, 5 %
 * answered after the timeout) a request is lost after all its attempts with probability
 * 0.15⁵ ≈ 8·10⁻⁵, so ≈ 99.7 % of 40-request snapshots are complete (2: ≈ 87 %, 3: ≈ 98 %);
 * docs/performance.md, "Lossy link".
 */
export const DEFAULT_RETRY = 4

const EXCEPTION_ILLEGAL_ADDRESS = 'ERR_MODBUS_EXCEPTION_02'
/** Reads of a control action: ahead of queued polls. */
const HIGH: RequestOptions = { priority: 'high' }

/**
 * A MicroBT container (Kehua or Wonderint controller) over Modbus TCP: plans and decodes
 * snapshots from the register map, authenticates before writes, and performs the container
 * controls. Arguments of every control are validated (BaseContainer) before anything is written.
 */
export class MicroBTContainer extends BaseContainer<ContainerSnapshot> {
  readonly vendor: ContainerVendor
  // ES private: never serialised or enumerated (credentials; the client holds connection internals)
  readonly #credentials: Credentials | null
  private readonly address: string | null
  private readonly port: number | null
  private readonly clientOptions: Omit<ModbusClientOptions, 'host' | 'port'>
  private readonly clientFactory: (opts: ModbusClientOptions) => ModbusClient
  #client: ModbusClient | null
  private readonly injectedClient: boolean
  private closed = false
  private readonly writer: DeviceWriter
  private readonly control: ContainerControl
  private readonly controlConf: NonNullable<MicroBTContainerOptions['control']>
  private readonly retry: number
  private readonly breaker = new UnitBreaker()
  /** `recovered()` when the previous snapshot started. */
  private recoveredMark = 0
  /** Deferred first contacts (`readAttempts`) that were answered when asked again. */
  private deferredRecovered = 0
  private readonly maxGap: number
  private readonly maxRegs: number | undefined
  private readonly splitMemory = new SplitMemory()
  /** The read plan grouped by unit, CDU first (rebuilt only after a split). */
  private plan: Array<[UnitId, ReadRequest[]]>
  private planStale = false

  constructor (opts: MicroBTContainerOptions) {
    super({
      ...(opts.offlineAfterMs !== undefined ? { offlineAfterMs: opts.offlineAfterMs } : {}),
      ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
      ...(opts.now !== undefined ? { now: opts.now } : {}),
      limits: { pduCount: PDU_COUNT, socketsPerPdu: SOCKETS_PER_PDU }
    })
    if (!isContainerVendor(opts.vendor)) {
      throw new WrkError('ERR_CONTAINER_VENDOR_INVALID', `vendor must be one of ${containerVendors().join(', ')}`)
    }
    this.vendor = opts.vendor
    this.address = typeof opts.address === 'string' && opts.address.length > 0 ? opts.address : null
    this.port = Number.isInteger(opts.port) && opts.port !== undefined && opts.port >= 1 && opts.port <= 0xffff ? opts.port : null
    this.#credentials = typeof opts.username === 'string' && opts.username.length > 0 && typeof opts.password === 'string'
      ? { username: opts.username, password: opts.password }
      : null
    this.#client = opts.client ?? null
    this.injectedClient = opts.client !== undefined
    this.clientFactory = opts.clientFactory ?? ((o) => new ModbusTcpClient(o))
    const retries = opts.retry ?? DEFAULT_RETRY
    this.retry = retries
    this.clientOptions = {
      retries,
      // a silent unit costs at most FIRST_CONTACT_RETRIES + 1 attempts before it answers (readAttempts)
      halfOpenAfterTimeouts: opts.halfOpenAfterTimeouts ?? (UNIT_IDS.length + 1) * (Math.min(retries, FIRST_CONTACT_RETRIES) + 1),
      ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout } : {}),
      ...(opts.retryInterval !== undefined ? { backoffMinMs: opts.retryInterval } : {}),
      ...(opts.maxInFlight !== undefined ? { maxInFlight: opts.maxInFlight } : {}),
      logger: this.logger
    }
    this.maxGap = opts.maxGap ?? 0
    this.maxRegs = opts.maxRegsPerRequest
    this.plan = this.buildPlan() // validates maxGap / maxRegsPerRequest
    this.writer = new DeviceWriter({
      client: () => this.obtainClient(),
      credentials: () => this.#credentials,
      retry: retries,
      seen: () => this.markSeen(),
      logger: this.logger
    })
    this.controlConf = opts.control ?? (() => CONTROL_CONF_DEFAULTS)
    this.control = new ContainerControl({
      vendor: this.vendor,
      reader: { read: (unit, start, count) => this.readFresh(unit, start, count) },
      write: (writes) => this.controlWrite(() => this.writer.write(writes)),
      conf: this.controlConf,
      inletMaxC: opts.inletMaxC ?? (() => null),
      logger: this.logger
    })
  }

  /** Units that get a single attempt per snapshot until they answer again (circuit breaker open). */
  get unitsOnSingleAttempt (): UnitId[] {
    return this.breaker.openUnits
  }

  /** FC03 requests one snapshot needs (40 with the default map and maxGap 0). */
  get requestsPerSnapshot (): number {
    return this.plan.reduce((n, [, requests]) => n + requests.length, 0)
  }

  protected override isConfigured (): boolean {
    return this.address !== null && this.port !== null && this.#credentials !== null
  }

  private buildPlan (): Array<[UnitId, ReadRequest[]]> {
    const requests = planReads(snapshotRanges(this.vendor), {
      maxGap: this.maxGap,
      ...(this.maxRegs !== undefined ? { maxRegs: this.maxRegs } : {}),
      splitMemory: this.splitMemory
    })
    const byUnit = new Map<UnitId, ReadRequest[]>([[CDU_UNIT, []]])
    for (const req of requests) {
      const list = byUnit.get(req.unit)
      if (list) list.push(req)
      else byUnit.set(req.unit, [req])
    }
    return [...byUnit]
  }

  private obtainClient (): ModbusClient {
    if (this.closed) throw new WrkError('ERR_THING_CLOSED', 'container controller is closed')
    if (this.address === null || this.port === null || this.#credentials === null) {
      throw new WrkError('ERR_THING_NOT_CONNECTED', 'thing has no address, port or credentials')
    }
    this.#client ??= this.clientFactory({ host: this.address, port: this.port, ...this.clientOptions })
    return this.#client
  }

  // ---- Snapshot ----------------------------------------------------------------------------

  protected async collectSnap (): Promise<ContainerSnapshot> {
    const client = this.obtainClient()
    try {
      await client.connect()
      // a fresh image per snapshot: kept ones would hold ~18 kB per container for the whole interval
      return await this.readSnapshot(client, new RegisterImage())
    } catch (err) {
      // A device that floods the link is there (it sends): its status is the error, not offline,
      // also when it flooded from its first connection on.
      if (errorCode(err) === FLOOD) this.markSeen()
      throw err
    }
  }

  private async readSnapshot (client: ModbusClient, image: RegisterImage): Promise<ContainerSnapshot> {
    const failures = new Map<UnitId, string>()
    const cycle = new CycleOutcome()
    const recoveredAtStart = this.recovered(client)
    const [[, [probe, ...cduRest]], ...others] = this.plan
    try {
      // The CDU's first request goes alone: without the CDU there is no snapshot, and a
      // controller that does not answer at all would otherwise cost the attempts of every unit.
      if (probe !== undefined) {
        await this.readUnit(client, CDU_UNIT, [probe], image, failures, cycle, 'probe')
        const code = failures.get(CDU_UNIT)
        if (code !== undefined && isUnitFatal(code)) throw new WrkError(code, 'the CDU (unit 1) did not answer')
      }
      // Dead units (breaker open) take turns: at most one round of the window of them per snapshot.
      const round = Math.max(1, client.stats.maxInFlight)
      const probes = this.breaker.pickProbes(others.map(([unit]) => unit), round)
      const units: Array<[UnitId, ReadRequest[]]> = [[CDU_UNIT, cduRest]]
      for (const entry of others) {
        const [unit] = entry
        const code = this.breaker.codeOf(unit)
        if (code !== undefined && !probes.has(unit)) failures.set(unit, code)
        else units.push(entry)
      }
      // every unit settles before the image is decoded (no read lands in it afterwards)
      await this.readUnits(client, units, image, failures, cycle, 'first')
      // Units whose first contact met a timeout on a clean link get their other attempts now,
      // unless most of the units went silent at once (more than half of those asked, and more
      // than one round) while the link lost nothing in this snapshot: an outage (a dead bus, a
      // row of PDUs without power), not loss.
      const deferred = units.filter(([unit]) => cycle.deferred.has(unit))
      const outage = deferred.length > Math.max(round, Math.floor((units.length - 1) / 2)) && this.recovered(client) === recoveredAtStart
      if (deferred.length > 0 && !outage) {
        for (const [unit] of deferred) failures.delete(unit)
        await this.readUnits(client, deferred, image, failures, cycle, 'deferred')
      }
    } finally {
      this.breaker.record(cycle)
      this.recoveredMark = recoveredAtStart
      if (this.planStale) {
        this.plan = this.buildPlan()
        this.planStale = false
      }
    }
    // a flood fails every request in flight: what was read before it is no snapshot
    if ([...failures.values()].includes(FLOOD)) throw new WrkError(FLOOD, 'the device floods the connection')
    if (failures.size > 0) this.logger.debug({ failures: Object.fromEntries(failures) }, 'units not fully read')
    if (!image.hasUnit(CDU_UNIT)) {
      throw new WrkError(failures.get(CDU_UNIT) ?? 'ERR_CDU_NO_DATA', 'the CDU (unit 1) did not answer')
    }
    return decodeSnapshot(image, this.vendor, { incomplete: [...failures.keys()] })
  }

  /** Reads several units concurrently; resolves once every one settled (rejects with the first failure, e.g. an image error). */
  private async readUnits (
    client: ModbusClient, units: ReadonlyArray<[UnitId, readonly ReadRequest[]]>, image: RegisterImage,
    failures: Map<UnitId, string>, cycle: CycleOutcome, phase: ReadPhase
  ): Promise<void> {
    const reads = units.map(([unit, requests]) => this.readUnit(client, unit, requests, image, failures, cycle, phase))
    const settled = await Promise.allSettled(reads)
    for (const r of settled) if (r.status === 'rejected') throw r.reason
  }

  /**
   * Reads one unit's requests, each with the client's retries. Until the unit has answered in
   * this snapshot they go one at a time, so a unit that is absent costs the attempts of one
   * request: after a timeout, a gateway exception (0A/0B) or a link error its remaining requests
   * are skipped. Once it answered, the rest go at once (a lost request then delays only itself).
   * How many attempts each request gets: `readAttempts`. Other units are read concurrently and
   * are not affected.
   */
  private async readUnit (
    client: ModbusClient, unit: UnitId, requests: readonly ReadRequest[], image: RegisterImage,
    failures: Map<UnitId, string>, cycle: CycleOutcome, phase: ReadPhase
  ): Promise<void> {
    const read = (req: ReadRequest): Promise<boolean> => this.readRequest(client, unit, req, image, failures, cycle, phase)
    let i = 0
    for (; i < requests.length && !cycle.answered.has(unit); i++) {
      if (!await read(requests[i])) return
    }
    await Promise.all(requests.slice(i).map(read))
  }

  /** One planned read (split and re-read when the device refuses a merged one); false when the unit's other reads should be skipped. */
  private async readRequest (
    client: ModbusClient, unit: UnitId, req: ReadRequest, image: RegisterImage,
    failures: Map<UnitId, string>, cycle: CycleOutcome, phase: ReadPhase
  ): Promise<boolean> {
    const resendsPaidOff = this.recovered(client) > this.recoveredMark
    const answered = cycle.answered.has(unit)
    const opts = readAttempts({ answered, breakerOpen: this.breaker.isOpen(unit), resendsPaidOff, retry: this.retry, phase })
    try {
      const values = await client.readHoldingRegisters(unit, req.address, req.count, opts)
      // a unit asked again after its first contact timed out: our resend paid off
      if (phase === 'deferred' && !cycle.answered.has(unit)) this.deferredRecovered++
      cycle.answered.add(unit)
      if (values.length !== req.count) throw new WrkError('ERR_MODBUS_MALFORMED_REPLY', 'register count mismatch')
      image.setBlock(unit, req.start, values)
      this.markSeen()
      return true
    } catch (err) {
      const code = errorCode(err)
      const kind = failureKind(code)
      if (kind === 'unreachable') cycle.unreachable.set(unit, code)
      else if (kind === 'answered') cycle.answered.add(unit)
      if (opts?.timeoutRetries === 0 && code === TIMEOUT) cycle.deferred.add(unit)
      if (code === EXCEPTION_ILLEGAL_ADDRESS && req.gaps.length > 0) {
        // merged across registers the device does not serve: never merge across them again
        for (const gap of req.gaps) this.splitMemory.markBadSpan(unit, gap.start, gap.end)
        this.planStale = true
        this.logger.info({ unit, gaps: req.gaps }, 'device refused a merged read; splitting it')
        const parts = planReads(listedParts(req), { maxGap: this.maxGap, maxRegs: req.count, splitMemory: this.splitMemory })
        await this.readUnit(client, unit, parts, image, failures, cycle, phase)
        return true
      }
      failures.set(unit, code)
      return !isUnitFatal(code)
    }
  }

  /** Resends that paid off on this link: the client's, and the container's own deferred reads. */
  private recovered (client: ModbusClient): number {
    return (client.stats.recovered ?? 0) + this.deferredRecovered
  }

  // ---- Writes ----------------------------------------------------------------------------

  protected async applySwitchSocket (commands: readonly SocketCommand[]): Promise<void> {
    // One write per socket at most, in first-mentioned order, with the last command's state.
    await this.writer.write([...socketTargets(commands).values()].map(({ pdu, socket, on }): RegisterWrite =>
      ({ unit: pduUnit(pdu), reg: socketControlRegister(socket), value: on ? SOCKET_CONTROL.on : SOCKET_CONTROL.off })))
  }

  protected async applySwitchContainer (enabled: boolean): Promise<void> {
    await this.writer.write([{ unit: CDU_UNIT, reg: CDU_CONTROL.systemMainControl, value: enabled ? CDU_CONTROL.on : CDU_CONTROL.off }])
  }

  /** Same register as the container switch: the main control switches the cooling system. */
  protected async applySwitchCoolingSystem (enabled: boolean): Promise<void> {
    await this.applySwitchContainer(enabled)
  }

  protected async applyCoolingFanThreshold (t: CoolingFanThresholds): Promise<void> {
    const writes: RegisterWrite[] = []
    const add = (reg: number, value: number | undefined): void => {
      if (value !== undefined) writes.push({ unit: CDU_UNIT, reg, value: Math.round(value * CDU_CONTROL.thresholdScale) & 0xffff })
    }
    add(CDU_CONTROL.fanRunningSpeedThreshold, t.runningSpeed)
    add(CDU_CONTROL.fanStartTemperatureThreshold, t.startTemp)
    add(CDU_CONTROL.fanStopTemperatureThreshold, t.stopTemp)
    await this.writer.write(writes)
  }

  // ---- Guarded actions (the RPC path: ./control/container-control.ts) -----------------------

  /**
   * The argument checks, plus the control options after the argument (`{batchSize, …}`, an
   * approval trailer `{actionId, user}` ignored) and the vendor's setpoint ranges.
   */
  override validateWriteAction (action: string, ...args: unknown[]): 1 {
    super.validateWriteAction(action, ...args)
    this.checkAction(action, args)
    return 1
  }

  private checkAction (action: string, args: readonly unknown[]): ControlAction {
    const a = this.toAction(action, args)
    controlSettings(args[1], this.controlConf())
    if (a.method === 'setCoolingFanThreshold') checkSetpointRanges(a.arg, setpointRanges(this.controlConf(), this.vendor))
    return a
  }

  private toAction (action: string, args: readonly unknown[]): ControlAction {
    switch (action) {
      case 'switchSocket': return { method: action, arg: this.validateArgs(action, args) }
      case 'switchContainer':
      case 'switchCoolingSystem': return { method: action, arg: this.validateArgs(action, args) }
      case 'setCoolingFanThreshold': return { method: action, arg: this.validateArgs(action, args) }
      default: throw new WrkError('ERR_WRITE_ACTION_NOT_SUPPORTED', `write action ${action} is not supported`)
    }
  }

  /** A write action through the guards: fresh read, no-ops skipped, staged power-ups, dry runs. */
  async runAction (method: string, params: readonly unknown[], run: ActionRun): Promise<JsonObject> {
    super.validateWriteAction(method, ...params)
    return await this.control.run(this.checkAction(method, params), params[1], run)
  }

  /** What `method` would write, from a fresh read (nothing is written). */
  async previewAction (method: string, params: readonly unknown[]): Promise<JsonObject> {
    super.validateWriteAction(method, ...params)
    return await this.control.preview(this.checkAction(method, params), params[1])
  }

  /** A read of a control action (1-based registers), ahead of queued polls. */
  private async readFresh (unit: UnitId, start: number, count: number): Promise<number[]> {
    const client = this.obtainClient()
    await client.connect()
    const values = await client.readHoldingRegisters(unit, start - 1, count, { ...HIGH, retries: this.retry })
    if (values.length !== count) throw new WrkError('ERR_MODBUS_MALFORMED_REPLY', 'register count mismatch')
    this.markSeen()
    return values
  }

  override async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    const client = this.#client
    this.#client = null
    this.writer.reset()
    // a component closes only what it created
    if (client !== null && !this.injectedClient) await client.close()
  }
}
