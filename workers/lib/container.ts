import { errorCode, WrkError } from '../core/errors'
import {
  BaseContainer,
  type BaseContainerOptions,
  type CoolingFanThresholds,
  type SocketCommand
} from '../tpl/container/base-container'
import { authResponse, bytesToRegisters, registersToBytes } from './auth'
import { ModbusTcpClient } from './modbus/client'
import type { ModbusClient, ModbusClientOptions, RequestOptions } from './modbus/types'
import {
  AUTH_CHALLENGE,
  AUTH_RESPONSE,
  CDU_CONTROL,
  CDU_UNIT,
  PDU_COUNT,
  SOCKETS_PER_PDU,
  SOCKET_CONTROL,
  SplitMemory,
  RegisterImage,
  UNIT_IDS,
  decodeSnapshot,
  isContainerVendor,
  listedParts,
  pduUnit,
  planReads,
  snapshotRanges,
  socketControlRegister,
  type ContainerSnapshot,
  type ContainerVendor,
  type ReadRequest,
  type UnitId
} from './registers'
import { CycleOutcome, UnitBreaker } from './unit-breaker'

export interface MicroBTContainerOptions extends Omit<BaseContainerOptions, 'limits'> {
  /** Controller host. Without address, port, username and password the thing stays unconnected. */
  address?: string
  port?: number
  username?: string
  password?: string
  vendor: ContainerVendor
  /** Per-request timeout (ms); client default 2000. */
  timeout?: number
  /**
   * Resends of a read that timed out, lost its connection or got a transient exception (04,
   * 05, 06, 0A, 0B; ./modbus/errors.ts `exceptionResend`), and of a control write that got no
   * acknowledgement (same unit, register and value; the writes set absolute values). Default 4
   * (`DEFAULT_RETRY`). A read sent before its unit answered in the snapshot gets at most 2 while
   * resends have not paid off lately (see `readOptions`), so a unit that stops answering on a
   * clean link costs 3 attempts, the last two once the other units are read, or one when most
   * units go silent at once on a clean link (an outage: one timeout each); a unit that failed every attempt in a snapshot gets one attempt without
   * retries in the following snapshots until it answers again (./unit-breaker.ts), and at most
   * one round of the window of such dead units is asked per snapshot, in turn, so dead units
   * cost about one timeout per snapshot however many they are.
   */
  retry?: number
  /** Minimum reconnect backoff (ms); client default 250. */
  retryInterval?: number
  /** Requests pipelined on the connection; client default 4. */
  maxInFlight?: number
  /** Merge read ranges at most this many registers apart (default 0: only touching ranges). */
  maxGap?: number
  /** Registers per read request, 1…125 (default 125). */
  maxRegsPerRequest?: number
  /**
   * Consecutive timeouts after which the client replaces the socket. Default: (units + 1) ×
   * (min(retry, 2) + 1), so that units that are absent behind a healthy link (each times out at
   * most three times per snapshot before it answers, see `readOptions`) never reset the link
   * for the others, and a silent link is still replaced as soon as with the former default.
   */
  halfOpenAfterTimeouts?: number
  /** Use this client instead of creating one (tests, benchmarks). It stays the caller's: close() does not close it. */
  client?: ModbusClient
  /** Creates the client on first use; default `new ModbusTcpClient(opts)`. */
  clientFactory?: (opts: ModbusClientOptions) => ModbusClient
}

/** One FC06 write. `reg` is the 1-based register number. */
interface RegisterWrite {
  unit: UnitId
  reg: number
  value: number
}

interface Credentials {
  username: string
  password: string
}

/**
 * Resends per request by default. 4: on a link that loses 15 % of attempts (10 % dropped, 5 %
 * answered after the timeout) a request is lost after all its attempts with probability
 * 0.15⁵ ≈ 8·10⁻⁵, so ≈ 99.7 % of 40-request snapshots are complete (2: ≈ 87 %, 3: ≈ 98 %);
 * docs/performance.md, "Lossy link".
 */
export const DEFAULT_RETRY = 4

/**
 * Retries of a read sent before its unit answered in this snapshot, while resends have not
 * paid off lately (`readOptions`): the first snapshot after a unit stops answering on a clean
 * link costs it 1 + 2 attempts whatever `retry` is, as with the former default.
 */
const FIRST_CONTACT_RETRIES = 2

/** The device flooded the link (./modbus/flood.ts): the whole snapshot fails with it. */
const FLOOD = 'ERR_MODBUS_FLOOD'
const TIMEOUT = 'ERR_MODBUS_TIMEOUT'

/**
 * Where a read stands in a snapshot: the CDU's `probe` (alone, first), the `first` reads of every
 * unit (concurrent), or a `deferred` unit asked again after its first contact met a timeout.
 */
type ReadPhase = 'probe' | 'first' | 'deferred'

/**
 * How a read failed: the unit did not answer any attempt (a timeout, a gateway's 0A/0B), it
 * answered refusing the request (another exception, a malformed reply), or the link failed.
 */
function failureKind (code: string): 'unreachable' | 'answered' | 'link' {
  if (code === TIMEOUT || code === 'ERR_MODBUS_EXCEPTION_0A' || code === 'ERR_MODBUS_EXCEPTION_0B') return 'unreachable'
  if (code.startsWith('ERR_MODBUS_EXCEPTION_') || code === 'ERR_MODBUS_MALFORMED_REPLY') return 'answered'
  return 'link'
}

/** After these, the remaining requests of the unit are skipped for this snapshot. */
function isUnitFatal (code: string): boolean {
  return failureKind(code) !== 'answered'
}

const EXCEPTION_ILLEGAL_ADDRESS = 'ERR_MODBUS_EXCEPTION_02'
const EXCEPTION_DEVICE_FAILURE = 'ERR_MODBUS_EXCEPTION_04'
const HIGH: RequestOptions = { priority: 'high' }
/** A unit whose breaker is open: one attempt. */
const SINGLE_ATTEMPT: RequestOptions = { retries: 0 }
const FIRST_CONTACT: RequestOptions = { retries: FIRST_CONTACT_RETRIES }

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
  private authenticatedOn: number | null = null
  private writeChain: Promise<void> = Promise.resolve()
  private readonly retry: number
  private readonly breaker = new UnitBreaker()
  /** `recovered()` when the previous snapshot started. */
  private recoveredMark = 0
  /** Deferred first contacts (`readOptions`) that were answered when asked again. */
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
      throw new WrkError('ERR_CONTAINER_VENDOR_INVALID', 'vendor must be kehua or wonderint')
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
      // a silent unit costs at most FIRST_CONTACT_RETRIES + 1 attempts before it answers (readOptions)
      halfOpenAfterTimeouts: opts.halfOpenAfterTimeouts ?? (UNIT_IDS.length + 1) * (Math.min(retries, FIRST_CONTACT_RETRIES) + 1),
      ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout } : {}),
      ...(opts.retryInterval !== undefined ? { backoffMinMs: opts.retryInterval } : {}),
      ...(opts.maxInFlight !== undefined ? { maxInFlight: opts.maxInFlight } : {}),
      logger: this.logger
    }
    this.maxGap = opts.maxGap ?? 0
    this.maxRegs = opts.maxRegsPerRequest
    this.plan = this.buildPlan() // validates maxGap / maxRegsPerRequest
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
    const settled = await Promise.allSettled(units.map(([unit, requests]) => this.readUnit(client, unit, requests, image, failures, cycle, phase)))
    for (const r of settled) if (r.status === 'rejected') throw r.reason
  }

  /**
   * Reads one unit's requests, each with the client's retries. Until the unit has answered in
   * this snapshot they go one at a time, so a unit that is absent costs the attempts of one
   * request: after a timeout, a gateway exception (0A/0B) or a link error its remaining requests
   * are skipped. Once it answered, the rest go at once (a lost request then delays only itself).
   * How many attempts each request gets: `readOptions`. Other units are read concurrently and
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
    const opts = this.readOptions(client, unit, cycle, phase)
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

  /**
   * The retries of a read of `unit` (undefined: the client's, i.e. `retry`):
   * - once the unit answered in this snapshot: `retry`;
   * - before that, while its breaker is open: none (one attempt per snapshot for a dead unit);
   * - before that, when resends have paid off on this link since the previous snapshot started
   *   (`recovered` grew): `retry`, the link loses requests and a first request needs the whole
   *   budget like any other;
   * - otherwise (a clean link) at most FIRST_CONTACT_RETRIES (2): a unit that misses three
   *   attempts in a row there is more likely dead than unlucky. The CDU's probe gets them from
   *   the client; the other units' first reads (`first`) only after a transient exception, not
   *   after a timeout: a unit that meets a timeout is `deferred` and asked again once the others
   *   are read (`deferred`: the rest of the budget), unless the snapshot sees a mass outage
   *   (`readSnapshot`).
   */
  private readOptions (client: ModbusClient, unit: UnitId, cycle: CycleOutcome, phase: ReadPhase): RequestOptions | undefined {
    if (cycle.answered.has(unit)) return undefined
    if (this.breaker.isOpen(unit)) return SINGLE_ATTEMPT
    if (this.recovered(client) > this.recoveredMark) return undefined
    const budget = Math.min(this.retry, FIRST_CONTACT_RETRIES)
    if (phase === 'deferred') return { retries: Math.max(0, budget - 1) }
    if (phase === 'first' && budget > 0) return { retries: budget, timeoutRetries: 0 }
    return budget < this.retry ? FIRST_CONTACT : undefined
  }

  // ---- Writes ----------------------------------------------------------------------------

  protected async applySwitchSocket (commands: readonly SocketCommand[]): Promise<void> {
    // One write per socket at most, in first-mentioned order, with the last command's state.
    const writes = new Map<string, RegisterWrite>()
    for (const cmd of commands) {
      const pdus = cmd.pdu === 'all' ? range(1, PDU_COUNT) : [cmd.pdu]
      const sockets = cmd.socket === 'all' ? range(1, SOCKETS_PER_PDU) : [cmd.socket]
      const value = cmd.enabled ? SOCKET_CONTROL.on : SOCKET_CONTROL.off
      for (const pdu of pdus) {
        for (const socket of sockets) writes.set(`${pdu}:${socket}`, { unit: pduUnit(pdu), reg: socketControlRegister(socket), value })
      }
    }
    await this.write([...writes.values()])
  }

  protected async applySwitchContainer (enabled: boolean): Promise<void> {
    await this.write([{ unit: CDU_UNIT, reg: CDU_CONTROL.systemMainControl, value: enabled ? CDU_CONTROL.on : CDU_CONTROL.off }])
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
    await this.write(writes)
  }

  /** Writes in order, one control operation at a time (a concurrent one would spend the challenge). */
  private async write (writes: readonly RegisterWrite[]): Promise<void> {
    const client = this.obtainClient()
    const run = this.writeChain.then(() => this.writeAuthenticated(client, writes))
    this.writeChain = run.catch(() => {})
    await run
  }

  /**
   * Authenticates when the connection is new, then writes. A write without acknowledgement is
   * resent by the client to the same unit and register, up to `retry` times, on the same
   * connection; it succeeds only when acknowledged. If the link is replaced before a write was
   * sent, or (with `retry` > 0) while it was on the wire, the operation reconnects once,
   * authenticates again and goes on with that write.
   */
  private async writeAuthenticated (client: ModbusClient, writes: readonly RegisterWrite[]): Promise<void> {
    let next = 0
    let reconnects = 0
    for (;;) {
      const connectionId = await client.connect()
      const pinned: RequestOptions = { ...HIGH, connectionId, retries: this.retry }
      try {
        let justAuthenticated = false
        if (this.authenticatedOn !== connectionId) {
          await this.authenticate(client, connectionId)
          justAuthenticated = true
        }
        while (next < writes.length) {
          const w = writes[next]
          try {
            await client.writeRegister(w.unit, w.reg - 1, w.value, pinned)
          } catch (err) {
            if (errorCode(err) !== EXCEPTION_DEVICE_FAILURE) throw err
            if (justAuthenticated) {
              this.authenticatedOn = null
              throw new WrkError('ERR_AUTH_FAILED', 'the controller refused a write right after authentication')
            }
            // the controller may have dropped the session: authenticate again and retry this write once
            await this.authenticate(client, connectionId)
            justAuthenticated = true
            continue
          }
          this.markSeen()
          justAuthenticated = false
          next++
        }
        return
      } catch (err) {
        const code = errorCode(err)
        const resendable = code === 'ERR_MODBUS_CONNECTION_CHANGED' || (code === 'ERR_MODBUS_CONNECTION_CLOSED' && this.retry > 0)
        if (resendable && reconnects++ === 0) continue
        throw err
      }
    }
  }

  /**
   * Challenge (unit 1, 301–304) → response (305–320, FC16), pinned to one connection. Never logs
   * secrets. The response is never resent as such (the controller issues a new challenge after a
   * success, so a repeated response would be refused): when its acknowledgement is lost, the
   * whole exchange is repeated with a fresh challenge, up to `retry` times.
   */
  private async authenticate (client: ModbusClient, connectionId: number): Promise<void> {
    this.authenticatedOn = null
    const credentials = this.#credentials
    if (credentials === null) throw new WrkError('ERR_THING_NOT_CONNECTED', 'no credentials')
    const pinned: RequestOptions = { ...HIGH, connectionId }
    for (let attempt = 0; ; attempt++) {
      const challenge = await client.readHoldingRegisters(
        CDU_UNIT, AUTH_CHALLENGE.start - 1, AUTH_CHALLENGE.end - AUTH_CHALLENGE.start + 1, pinned)
      const response = bytesToRegisters(authResponse(registersToBytes(challenge), credentials.username, credentials.password))
      try {
        await client.writeRegisters(CDU_UNIT, AUTH_RESPONSE.start - 1, response, { ...pinned, retries: 0 })
        break
      } catch (err) {
        const code = errorCode(err)
        if (code.startsWith('ERR_MODBUS_EXCEPTION_')) {
          throw new WrkError('ERR_AUTH_FAILED', 'the controller rejected the authentication')
        }
        if (code !== 'ERR_MODBUS_TIMEOUT' || attempt >= this.retry) throw err
      }
    }
    this.markSeen()
    this.authenticatedOn = connectionId
    this.logger.debug({ connectionId }, 'authenticated')
  }

  override async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    const client = this.#client
    this.#client = null
    this.authenticatedOn = null
    // a component closes only what it created
    if (client !== null && !this.injectedClient) await client.close()
  }
}

function range (from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i)
}
