import { createHash, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { DEFAULT_RETRY, MicroBTContainer, type MicroBTContainerOptions } from '../../../workers/lib/container'
import { UNIT_IDS, planReads, snapshotRanges } from '../../../workers/lib/registers'
import type { ModbusClient, ModbusClientOptions, ModbusClientStats, RequestOptions } from '../../../workers/lib/modbus/types'
import {
  BaseContainer,
  READ_METHODS,
  WRITE_METHODS
} from '../../../workers/tpl/container/base-container'
import { KEHUA } from '../../../workers/lib/registers/profiles/kehua'
import { isActionContext, stripActionContext } from '../../../workers/tpl/thing/action-context'
import { WrkError } from '../../../workers/core/errors'
import type { Logger } from '../../../workers/core/types'

// ---- An in-memory controller behind the ModbusClient interface ----------------------------------

/** Readable ranges as listed in registers.md: anything else answers exception 02. */
const READABLE: Record<number, Array<[number, number]>> = {
  1: [[1, 4], [26, 35], [46, 65], [90, 100], [201, 212], [291, 304], [601, 623]],
  2: [[2, 4]],
  3: [[2, 16]],
  8: [[2, 14]]
}
for (const u of [4, 5, 6, 7]) READABLE[u] = [[2, 71], [73, 84]]
for (let u = 9; u <= 20; u++) READABLE[u] = [[2, 192]]

const WRITABLE: Record<number, Array<[number, number]>> = { 1: [[601, 601], [613, 615]] }
for (let u = 9; u <= 20; u++) WRITABLE[u] = [[289, 308]]

const inRanges = (ranges: Array<[number, number]> | undefined, reg: number): boolean =>
  (ranges ?? []).some(([a, b]) => reg >= a && reg <= b)

type Call =
  | { op: 'connect', result: string }
  | { op: 'read', unit: number, address: number, count: number, opts?: RequestOptions, result: string, values?: number[] }
  | { op: 'write', unit: number, address: number, value: number, opts?: RequestOptions, result: string }
  | { op: 'writeMany', unit: number, address: number, values: number[], opts?: RequestOptions, result: string }
  | { op: 'close', result: string }

const md5 = (s: string): Buffer => createHash('md5').update(s, 'utf8').digest()

function exception (hex: string): WrkError {
  return new WrkError(`ERR_MODBUS_EXCEPTION_${hex}`)
}

class FakeModbusClient implements ModbusClient {
  connectionId = 1
  connected = true
  readonly stats: ModbusClientStats = { requests: 0, responses: 0, timeouts: 0, lateReplies: 0, exceptions: 0, reconnects: 0, maxInFlight: 4 }
  readonly calls: Call[] = []
  readonly regs = new Map<number, Map<number, number>>()
  /** 'verify': wrong response → exception 04; 'reject': every auth write → exception 04; 'ignore': accepts any response but stays locked. */
  authMode: 'verify' | 'reject' | 'ignore' = 'verify'
  /** Return an error code to fail a read. */
  failRead?: (unit: number, address: number, count: number) => string | undefined
  connectError?: string
  /** Runs before every request (after recording it); may call reconnect(). */
  beforeRequest?: (call: Call) => void
  /** Most reads of one unit outstanding at once, by unit. */
  readonly peakReads = new Map<number, number>()
  private readonly outstandingReads = new Map<number, number>()
  private authenticatedOn: number | null = null

  constructor (readonly username = 'admin', readonly password = 'pw') {
    this.set(1, 1, 4).set(1, 208, 100).set(1, 201, 2530)
    for (const u of [4, 5, 6, 7]) this.set(u, 57, 1000)
    for (let u = 9; u <= 20; u++) this.set(u, 2, 1)
    this.set(2, 3, 2200).set(8, 3, 7)
    this.newChallenge()
  }

  set (unit: number, reg: number, raw: number): this {
    const m = this.regs.get(unit) ?? new Map<number, number>()
    m.set(reg, raw)
    this.regs.set(unit, m)
    return this
  }

  get (unit: number, reg: number): number {
    return this.regs.get(unit)?.get(reg) ?? 0
  }

  reconnect (): void {
    this.connectionId++
    this.authenticatedOn = null
    this.newChallenge()
  }

  /** The controller forgets the session (e.g. expired) without a reconnect. */
  dropSession (): void {
    this.authenticatedOn = null
  }

  private newChallenge (): void {
    const r = randomBytes(8)
    for (let i = 0; i < 4; i++) this.set(1, 301 + i, r.readUInt16BE(i * 2))
  }

  private expectedResponse (): number[] {
    const r = Buffer.alloc(8)
    for (let i = 0; i < 4; i++) r.writeUInt16BE(this.get(1, 301 + i), i * 2)
    const digest = createHash('sha256').update(Buffer.concat([r, md5(this.username), md5(this.password)])).digest()
    return Array.from({ length: 16 }, (_, i) => digest.readUInt16BE(i * 2))
  }

  private async run<T> (call: Call, opts: RequestOptions | undefined, body: () => T): Promise<T> {
    this.calls.push(call)
    this.stats.requests++
    try {
      this.beforeRequest?.(call)
      if (opts?.connectionId !== undefined && opts.connectionId !== this.connectionId) {
        throw new WrkError('ERR_MODBUS_CONNECTION_CHANGED')
      }
      const out = body()
      await Promise.resolve()
      return out
    } catch (err) {
      call.result = (err as WrkError).code
      throw err
    }
  }

  async connect (): Promise<number> {
    const call: Call = { op: 'connect', result: 'ok' }
    this.calls.push(call)
    if (this.connectError !== undefined) {
      call.result = this.connectError
      throw new WrkError(this.connectError)
    }
    return this.connectionId
  }

  readHoldingRegisters (unit: number, address: number, count: number, opts?: RequestOptions): Promise<number[]> {
    const call: Call = { op: 'read', unit, address, count, opts, result: 'ok' }
    const now = (this.outstandingReads.get(unit) ?? 0) + 1
    this.outstandingReads.set(unit, now)
    this.peakReads.set(unit, Math.max(now, this.peakReads.get(unit) ?? 0))
    const done = (): void => { this.outstandingReads.set(unit, (this.outstandingReads.get(unit) ?? 1) - 1) }
    return this.run(call, opts, () => {
      const code = this.failRead?.(unit, address, count)
      if (code !== undefined) throw new WrkError(code)
      const values: number[] = []
      for (let reg = address + 1; reg <= address + count; reg++) {
        if (!inRanges(READABLE[unit], reg)) throw exception('02')
        values.push(this.get(unit, reg))
      }
      call.values = values
      return values
    }).finally(done)
  }

  writeRegister (unit: number, address: number, value: number, opts?: RequestOptions): Promise<void> {
    return this.run({ op: 'write', unit, address, value, opts, result: 'ok' }, opts, () => {
      if (this.authenticatedOn !== this.connectionId) throw exception('04')
      if (!inRanges(WRITABLE[unit], address + 1)) throw exception('02')
      this.set(unit, address + 1, value & 0xffff)
    })
  }

  writeRegisters (unit: number, address: number, values: number[], opts?: RequestOptions): Promise<void> {
    return this.run({ op: 'writeMany', unit, address, values: [...values], opts, result: 'ok' }, opts, () => {
      if (unit !== 1 || address !== 304 || values.length !== 16) throw exception('02')
      if (this.authMode === 'reject') throw exception('04')
      if (this.authMode === 'ignore') return
      const expected = this.expectedResponse()
      if (values.some((v, i) => v !== expected[i])) throw exception('04')
      this.authenticatedOn = this.connectionId
      this.newChallenge() // refreshed after each successful authentication
    })
  }

  async close (): Promise<void> {
    this.calls.push({ op: 'close', result: 'ok' })
  }

  reads (unit?: number): Array<Extract<Call, { op: 'read' }>> {
    return this.calls.filter((c): c is Extract<Call, { op: 'read' }> => c.op === 'read' && (unit === undefined || c.unit === unit))
  }

  writes (): Array<[number, number, number]> {
    return this.calls
      .filter((c): c is Extract<Call, { op: 'write' }> => c.op === 'write' && c.result === 'ok')
      .map((c) => [c.unit, c.address, c.value])
  }

  /** Compact trace of the request kinds: 'auth-read', 'auth-write', 'write', 'read', 'connect'. */
  trace (): string[] {
    return this.calls.map((c) => {
      if (c.op === 'read' && c.unit === 1 && c.address === 300) return `auth-read#${c.opts?.connectionId ?? '-'}:${c.result}`
      if (c.op === 'writeMany') return `auth-write#${c.opts?.connectionId ?? '-'}:${c.result}`
      if (c.op === 'write') return `write#${c.opts?.connectionId ?? '-'}:${c.result}`
      return `${c.op}:${c.result}`
    })
  }
}

function make (opts: Partial<MicroBTContainerOptions> = {}, fake = new FakeModbusClient()): { c: MicroBTContainer, fake: FakeModbusClient } {
  const c = new MicroBTContainer({
    address: '10.0.0.1', port: 502, username: 'admin', password: 'pw', vendor: 'kehua', client: fake, ...opts
  })
  return { c, fake }
}

async function rejectsWith (p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toMatchObject({ code })
}

function throwsWith (fn: () => unknown, code: string): void {
  expect(fn).toThrow(expect.objectContaining({ code }))
}

/** The read requests of one Kehua snapshot, as `unit:address+count`, in plan order (the planner's own tests: registers-plan). */
function plannedReads (maxGap = 0): string[] {
  return planReads(snapshotRanges(KEHUA), { maxGap }).map((r) => `${r.unit}:${r.address}+${r.count}`)
}

// ---- Tests ---------------------------------------------------------------------------------

/** Valid arguments of every declared write method (a method declared later fails to compile here). */
const VALID_WRITE_ARGS: Record<typeof WRITE_METHODS[number], unknown[]> = {
  switchSocket: [[['1', '1', true]]],
  switchContainer: [true],
  switchCoolingSystem: [false],
  setCoolingFanThreshold: [{ startTemp: 30 }]
}

describe('declared methods', () => {
  it('every declared read answers without authenticating or writing; every declared write authenticates and writes', async () => {
    expect(BaseContainer.READ_METHODS).toBe(READ_METHODS)
    expect(BaseContainer.WRITE_METHODS).toBe(WRITE_METHODS)
    const call = (c: MicroBTContainer, m: string, ...args: unknown[]): Promise<unknown> =>
      (async () => await (c as unknown as Record<string, (...a: unknown[]) => unknown>)[m](...args))()
    for (const m of READ_METHODS) {
      const { c, fake } = make()
      const args = m === 'validateWriteAction' ? ['switchContainer', true] : []
      await call(c, m, ...args)
      expect(fake.calls.filter((x) => x.op === 'write' || x.op === 'writeMany'), m).toEqual([])
    }
    for (const m of WRITE_METHODS) {
      const { c, fake } = make()
      await expect(call(c, m, ...VALID_WRITE_ARGS[m]), m).resolves.toEqual({ success: true })
      expect(fake.calls.filter((x) => x.op === 'writeMany'), m).toHaveLength(1)
      expect(fake.writes().length, m).toBeGreaterThan(0)
    }
  })
})

describe('snapshot', () => {
  it('reads the planned requests only, inside the listed ranges, without auth or writes', async () => {
    const { c, fake } = make()
    expect(c.requestsPerSnapshot).toBe(plannedReads().length)
    const snap = await c.getSnap()
    expect(snap.success).toBe(true)
    if (!snap.success) return
    expect(snap.stats.container_specific.cdu.unit_inlet_temp_t2).toBe(25.3)
    expect(snap.stats.status).toBe('running')
    expect(snap.stats.power_w).toBe(40000)
    expect(snap.stats.container_specific.pdu_data).toHaveLength(12)
    expect(snap.config.container_specific.diag?.software_version).toBe(7)
    const reads = fake.reads()
    expect(reads.map((r) => `${r.unit}:${r.address}+${r.count}`).sort()).toEqual(plannedReads().sort())
    expect(reads.every((r) => r.result === 'ok')).toBe(true)
    expect(reads.some((r) => r.unit === 1 && r.address === 300)).toBe(false)
    expect(fake.calls.filter((x) => x.op === 'write' || x.op === 'writeMany')).toEqual([])
    expect(c.lastSeen).not.toBeNull()
  })

  it("a unit's first read goes alone; once the unit answered, its other reads go at once", async () => {
    const { c, fake } = make()
    await c.getSnap()
    expect(fake.peakReads.get(1)).toBe(4) // the probe, then 90–100, 201–212, 291–300, 601–623 together
    expect(fake.peakReads.get(9)).toBe(1) // 2–126 alone, then 127–192
    expect(fake.reads(9)).toHaveLength(2)
  })

  it('getRealtimeData returns the stats of a fresh snapshot', async () => {
    const { c, fake } = make()
    const stats = await c.getRealtimeData({ actionId: 1, user: 'x' })
    expect(stats).toMatchObject({ status: 'running', ambient_temp_c: 22 })
    expect(fake.reads()).toHaveLength(c.requestsPerSnapshot)
  })

  it('concurrent getSnap calls share one collection', async () => {
    const { c, fake } = make()
    const [a, b] = await Promise.all([c.getSnap(), c.getSnap()])
    expect(a).toBe(b)
    expect(fake.reads()).toHaveLength(c.requestsPerSnapshot)
  })

  it('a unit that times out or answers 0A/0B is skipped after one request; the others are complete', async () => {
    const { c, fake } = make()
    fake.failRead = (unit) => ({ 5: 'ERR_MODBUS_TIMEOUT', 12: 'ERR_MODBUS_EXCEPTION_0B', 3: 'ERR_MODBUS_EXCEPTION_0A' } as Record<number, string>)[unit]
    for (let cycle = 1; cycle <= 2; cycle++) {
      fake.calls.length = 0
      const snap = await c.getSnap()
      expect(snap.success).toBe(true)
      if (!snap.success) return
      // powermeter02 has 2 requests: its first, never its second; in the first cycle its timed-out
      // first contact is asked again once the others are read (the rest of its attempts)
      expect(fake.reads(5)).toHaveLength(cycle === 1 ? 2 : 1)
      expect(fake.reads(5).every((r) => r.address === 1)).toBe(true)
      expect(fake.reads(12)).toHaveLength(1)
      expect(fake.reads(3)).toHaveLength(1)
      expect(fake.reads(4)).toHaveLength(2)
      expect(fake.reads(9)).toHaveLength(2)
      expect(fake.reads(1)).toHaveLength(5)
      // henv has one request; 5 and 12 lose their second
      expect(fake.reads()).toHaveLength(c.requestsPerSnapshot - 2 + (cycle === 1 ? 1 : 0))
      const cs = snap.stats.container_specific
      expect(cs.power_meters.map((m) => m.index)).toEqual(['01', '03', '04'])
      expect(cs.pdu_data.map((p) => p.pdu)).toEqual(['1', '2', '3', '5', '6', '7', '8', '9', '10', '11', '12'])
      expect(cs.env).toEqual({ temperature: 22, humidity: 0 })
      expect(snap.stats.power_w).toBeNull()
    }
  })

  it('other exceptions only lose that request; the unit\'s next request is still read', async () => {
    const { c, fake } = make()
    fake.failRead = (unit, address) => (unit === 9 && address === 1 ? 'ERR_MODBUS_EXCEPTION_04' : undefined)
    const snap = await c.getSnap()
    expect(fake.reads(9)).toHaveLength(2)
    if (!snap.success) throw new Error('snapshot failed')
    const pdu1 = snap.stats.container_specific.pdu_data[0]
    expect(pdu1.pdu).toBe('1')
    expect(pdu1.status).toBeUndefined() // reg 2 was in the refused request
    expect(pdu1.access_control_alarm).toHaveLength(8) // 158–165 came with the second request
  })

  it('passes a half-open threshold above the unit count, so absent units never reset the link', async () => {
    const seen: ModbusClientOptions[] = []
    const fake = new FakeModbusClient()
    const c = new MicroBTContainer({
      address: 'ctrl.local',
      port: 5020,
      username: 'admin',
      password: 'pw',
      vendor: 'wonderint',
      timeout: 1500,
      retry: 0,
      retryInterval: 300,
      maxInFlight: 8,
      clientFactory: (o) => { seen.push(o); return fake }
    })
    expect(seen).toHaveLength(0) // created lazily
    await c.getSnap()
    await c.getSnap()
    expect(seen).toHaveLength(1)
    expect(seen[0]).toMatchObject({ host: 'ctrl.local', port: 5020, timeoutMs: 1500, retries: 0, backoffMinMs: 300, maxInFlight: 8 })
    // every unit but one silent costs one timeout each with retry 0: never enough to replace the link
    expect(seen[0].halfOpenAfterTimeouts).toBeGreaterThan(UNIT_IDS.length)
    expect(JSON.stringify(seen[0])).not.toContain('pw')
  })

  it('defaults: DEFAULT_RETRY read retries; silent units never cost the half-open threshold, which stops growing with retry at 2', async () => {
    /** The timeouts (attempts of every timed-out read) of a first snapshot with `silent` units not answering, and the threshold. */
    const firstSnapshot = async (retry: number | undefined, silent: readonly number[]): Promise<{ timeouts: number, threshold: number, retries: number }> => {
      let opts: ModbusClientOptions | undefined
      const fake = new FakeModbusClient()
      fake.failRead = (unit) => (silent.includes(unit) ? 'ERR_MODBUS_TIMEOUT' : undefined)
      const { c } = make({ client: undefined, clientFactory: (o) => { opts = o; return fake }, ...(retry === undefined ? {} : { retry }) })
      await c.getSnap()
      if (opts === undefined) throw new Error('no client was created')
      const retries = opts.retries as number
      const timeouts = fake.reads().filter((r) => r.result === 'ERR_MODBUS_TIMEOUT').reduce((n, r) => n + 1 + (r.opts?.retries ?? retries), 0)
      return { timeouts, threshold: opts.halfOpenAfterTimeouts as number, retries }
    }
    const others = UNIT_IDS.filter((u) => u !== 1)
    const thresholds = new Map<number | undefined, number>()
    for (const retry of [undefined, 0, 1, 2, 9]) {
      for (const silent of [others.slice(0, 1), others.slice(0, 5), others.slice(0, 9), others]) {
        const r = await firstSnapshot(retry, silent)
        expect(r.retries).toBe(retry ?? DEFAULT_RETRY)
        // the link is healthy (unit 1 answers): absent units alone never make the client replace it
        expect(r.timeouts, `retry ${String(retry)}, ${silent.length} silent`).toBeLessThan(r.threshold)
        thresholds.set(retry, r.threshold)
      }
    }
    // more retries let a silent unit cost more attempts, up to 3 (FIRST_CONTACT): then a dead link is replaced no later
    expect(thresholds.get(0)).toBeLessThan(thresholds.get(1) as number)
    expect(thresholds.get(1)).toBeLessThan(thresholds.get(2) as number)
    expect(thresholds.get(9)).toBe(thresholds.get(2))
    expect(thresholds.get(undefined)).toBe(thresholds.get(2))
  })

  it('error envelope carries the code; offline once not seen for offlineAfterMs', async () => {
    let now = 1_000_000
    const { c, fake } = make({ now: () => now, offlineAfterMs: 120_000 })
    fake.failRead = () => 'ERR_MODBUS_TIMEOUT'
    expect(await c.getSnap()).toEqual({ success: false, stats: { status: 'offline' } }) // never seen

    fake.failRead = undefined
    expect((await c.getSnap()).success).toBe(true)
    expect(c.lastSeen).toBe(now)

    now += 30_000
    fake.calls.length = 0
    fake.failRead = (unit) => (unit === 1 ? 'ERR_MODBUS_TIMEOUT' : undefined)
    expect(await c.getSnap()).toEqual({ success: false, stats: { status: 'error', errors: [{ msg: 'ERR_MODBUS_TIMEOUT', timestamp: now }] } })
    // The CDU is probed first: when it does not answer, no other unit is asked.
    expect(fake.reads()).toHaveLength(1)

    now += 30_000
    fake.connectError = 'ERR_MODBUS_NOT_CONNECTED'
    expect(await c.getSnap()).toEqual({ success: false, stats: { status: 'error', errors: [{ msg: 'ERR_MODBUS_NOT_CONNECTED', timestamp: now }] } })

    now += 120_001
    expect(await c.getSnap()).toEqual({ success: false, stats: { status: 'offline' } })
    expect(c.lastSnap).toEqual({ success: false, stats: { status: 'offline' } })
  })

  it('a merged read refused with exception 02 is split and its gap never read again', async () => {
    const { c, fake } = make({ maxGap: 2 })
    const merged = plannedReads(2).length
    expect(c.requestsPerSnapshot).toBe(merged)
    expect(merged).toBeLessThan(plannedReads().length)
    const first = await c.getSnap()
    expect(first.success).toBe(true)
    if (!first.success) return
    expect(first.stats.power_w).toBe(40000)
    for (const u of [4, 5, 6, 7]) {
      expect(fake.reads(u).map((r) => `${r.address}+${r.count}:${r.result}`)).toEqual(['1+83:ERR_MODBUS_EXCEPTION_02', '1+70:ok', '72+12:ok'])
    }
    expect(c.requestsPerSnapshot).toBe(merged + 4) // each meter's merged read is two reads from now on
    fake.calls.length = 0
    await c.getSnap()
    expect(fake.reads().every((r) => r.result === 'ok')).toBe(true)
    expect(fake.reads().some((r) => r.unit >= 4 && r.unit <= 7 && r.address <= 71 && r.address + r.count > 71)).toBe(false)
  })
})

describe('writes', () => {
  it('switchContainer / switchCoolingSystem write 1/0 to unit 1 reg 601 after authenticating', async () => {
    const { c, fake } = make()
    expect(await c.switchContainer(true)).toEqual({ success: true })
    expect(fake.trace()).toEqual(['connect:ok', 'auth-read#1:ok', 'auth-write#1:ok', 'write#1:ok'])
    // the auth response is sha256(challenge ‖ md5(user) ‖ md5(pass)), computed here independently
    const challengeRead = fake.reads(1)[0]
    const r = Buffer.alloc(8)
    challengeRead.values!.forEach((v, i) => r.writeUInt16BE(v, i * 2))
    const digest = createHash('sha256').update(Buffer.concat([r, md5('admin'), md5('pw')])).digest()
    const authWrite = fake.calls.find((x) => x.op === 'writeMany')
    expect(authWrite).toMatchObject({ unit: 1, address: 304, values: Array.from({ length: 16 }, (_, i) => digest.readUInt16BE(i * 2)) })

    await c.switchContainer(false)
    await c.switchCoolingSystem(true)
    await c.switchCoolingSystem(false)
    expect(fake.writes()).toEqual([[1, 600, 1], [1, 600, 0], [1, 600, 1], [1, 600, 0]])
    expect(fake.calls.filter((x) => x.op === 'writeMany')).toHaveLength(1) // one auth per connection
    expect(fake.calls.filter((x) => x.op === 'write').every((x) => x.opts?.priority === 'high' && x.opts.connectionId === 1)).toBe(true)
  })

  it('switchSocket writes 1 (on) / 2 (off) to reg 309 − s on unit 8 + pdu', async () => {
    const { c, fake } = make()
    await c.switchSocket([['1', '5', true], ['12', '20', false], ['03', '1', false]])
    expect(fake.writes()).toEqual([[9, 303, 1], [20, 288, 2], [11, 307, 2]])

    fake.calls.length = 0
    await c.switchSocket([['4', '-1', true]])
    expect(fake.writes()).toEqual(Array.from({ length: 20 }, (_, i) => [12, 307 - i, 1]))

    fake.calls.length = 0
    await c.switchSocket([['-1', '2', false]])
    expect(fake.writes()).toEqual(Array.from({ length: 12 }, (_, i) => [9 + i, 306, 2]))

    fake.calls.length = 0
    await c.switchSocket([['-1', '-1', true]])
    const all = fake.writes()
    expect(all).toHaveLength(240)
    expect(new Set(all.map(([u, a]) => `${u}:${a}`)).size).toBe(240)
    expect(all.every(([u, a, v]) => u >= 9 && u <= 20 && a >= 288 && a <= 307 && v === 1)).toBe(true)
    expect(fake.get(15, 290)).toBe(1)
  })

  it('setCoolingFanThreshold writes round(v × 100) to 613/614/615 (two\'s complement below zero)', async () => {
    const { c, fake } = make()
    await c.setCoolingFanThreshold({ runningSpeed: 50, startTemp: 25.55, stopTemp: -5 })
    expect(fake.writes()).toEqual([[1, 612, 5000], [1, 613, 2555], [1, 614, 65036]])
    fake.calls.length = 0
    await c.setCoolingFanThreshold({ stopTemp: 20 })
    expect(fake.writes()).toEqual([[1, 614, 2000]])
    fake.calls.length = 0
    await c.setCoolingFanThreshold({ runningSpeed: 0, startTemp: 80 })
    expect(fake.writes()).toEqual([[1, 612, 0], [1, 613, 8000]])
    // reflected in the next snapshot
    const snap = await c.getSnap()
    if (!snap.success) throw new Error('snapshot failed')
    expect(snap.stats.container_specific.cdu).toMatchObject({
      cooling_fan_running_speed_threshold: 0,
      cooling_fan_start_temperature_threshold: 80,
      cooling_fan_stop_temperature_threshold: 20
    })
  })

  it('ignores one trailing {actionId, user} in every declared method', async () => {
    const { c, fake } = make()
    const ctx = { actionId: 'a-1', user: 'ops@site' }
    const call = (m: string, ...args: unknown[]): Promise<unknown> =>
      (c as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[m](...args)
    await expect(call('switchContainer', true, ctx)).resolves.toEqual({ success: true })
    await expect(call('switchCoolingSystem', false, ctx)).resolves.toEqual({ success: true })
    await expect(call('switchSocket', [['2', '3', true]], ctx)).resolves.toEqual({ success: true })
    await expect(call('setCoolingFanThreshold', { startTemp: 30 }, ctx)).resolves.toEqual({ success: true })
    expect(fake.writes()).toEqual([[1, 600, 1], [1, 600, 0], [10, 305, 1], [1, 613, 3000]])
    expect(c.validateWriteAction('switchContainer', true, ctx)).toBe(1)
    expect(c.validateWriteAction('switchSocket', [['1', '1', false]], { actionId: 7 })).toBe(1)
    expect(c.validateWriteAction('setCoolingFanThreshold', { runningSpeed: 10 }, { user: 'x' })).toBe(1)
    await expect(call('getSnap', ctx)).resolves.toMatchObject({ success: true })
    await expect(call('getRealtimeData', ctx)).resolves.toMatchObject({ status: 'running' })
  })

  it('serialises concurrent controls: one authentication', async () => {
    const { c, fake } = make()
    await Promise.all([c.switchContainer(true), c.switchSocket([['1', '1', true]]), c.setCoolingFanThreshold({ runningSpeed: 40 })])
    expect(fake.calls.filter((x) => x.op === 'writeMany')).toHaveLength(1)
    expect(fake.writes()).toEqual([[1, 600, 1], [9, 307, 1], [1, 612, 4000]])
  })
})

describe('argument validation', () => {
  const cases: Array<[string, unknown[], string]> = [
    ['switchSocket', [undefined], 'ERR_SWITCH_SOCKET_INVALID_PARAMS'],
    ['switchSocket', ['1,1,true'], 'ERR_SWITCH_SOCKET_INVALID_PARAMS'],
    ['switchSocket', [[]], 'ERR_SWITCH_SOCKET_INVALID_PARAMS'],
    ['switchSocket', [[['1', '1']]], 'ERR_SWITCH_SOCKET_INVALID_PARAMS'],
    ['switchSocket', [[['1', '1', true, 1]]], 'ERR_SWITCH_SOCKET_INVALID_PARAMS'],
    ['switchSocket', [['1', '1', true]], 'ERR_SWITCH_SOCKET_INVALID_PARAMS'],
    ['switchSocket', [[[1, '1', true]]], 'ERR_SWITCH_SOCKET_PDU_INVALID'],
    ['switchSocket', [[['0', '1', true]]], 'ERR_SWITCH_SOCKET_PDU_INVALID'],
    ['switchSocket', [[['13', '1', true]]], 'ERR_SWITCH_SOCKET_PDU_INVALID'],
    ['switchSocket', [[['-2', '1', true]]], 'ERR_SWITCH_SOCKET_PDU_INVALID'],
    ['switchSocket', [[['1.5', '1', true]]], 'ERR_SWITCH_SOCKET_PDU_INVALID'],
    ['switchSocket', [[['', '1', true]]], 'ERR_SWITCH_SOCKET_PDU_INVALID'],
    ['switchSocket', [[['1', '21', true]]], 'ERR_SWITCH_SOCKET_SOCKET_INVALID'],
    ['switchSocket', [[['1', '0', true]]], 'ERR_SWITCH_SOCKET_SOCKET_INVALID'],
    ['switchSocket', [[['1', ' 1', true]]], 'ERR_SWITCH_SOCKET_SOCKET_INVALID'],
    ['switchSocket', [[['1', 1, true]]], 'ERR_SWITCH_SOCKET_SOCKET_INVALID'],
    ['switchSocket', [[['1', '1', 'true']]], 'ERR_SWITCH_SOCKET_ENABLED_INVALID'],
    ['switchSocket', [[['1', '1', 1]]], 'ERR_SWITCH_SOCKET_ENABLED_INVALID'],
    // one bad entry among good ones: nothing at all is written
    ['switchSocket', [[['1', '1', true], ['2', '2', true], ['1', '99', true]]], 'ERR_SWITCH_SOCKET_SOCKET_INVALID'],
    ['switchContainer', [], 'ERR_SWITCH_CONTAINER_ENABLED_INVALID'],
    ['switchContainer', ['true'], 'ERR_SWITCH_CONTAINER_ENABLED_INVALID'],
    ['switchContainer', [1], 'ERR_SWITCH_CONTAINER_ENABLED_INVALID'],
    ['switchContainer', [null], 'ERR_SWITCH_CONTAINER_ENABLED_INVALID'],
    ['switchContainer', [{ actionId: 1, user: 'u' }], 'ERR_SWITCH_CONTAINER_ENABLED_INVALID'],
    ['switchCoolingSystem', [0], 'ERR_SWITCH_COOLING_SYSTEM_ENABLED_INVALID'],
    ['switchCoolingSystem', ['false'], 'ERR_SWITCH_COOLING_SYSTEM_ENABLED_INVALID'],
    ['setCoolingFanThreshold', [{}], 'ERR_COOLING_FAN_THRESHOLD_INVALID'],
    ['setCoolingFanThreshold', [null], 'ERR_COOLING_FAN_THRESHOLD_INVALID'],
    ['setCoolingFanThreshold', [[30]], 'ERR_COOLING_FAN_THRESHOLD_INVALID'],
    ['setCoolingFanThreshold', [{ runningSpeed: undefined }], 'ERR_COOLING_FAN_THRESHOLD_INVALID'],
    ['setCoolingFanThreshold', [{ runningSpeed: Number.NaN }], 'ERR_COOLING_FAN_THRESHOLD_INVALID'],
    ['setCoolingFanThreshold', [{ runningSpeed: Number.POSITIVE_INFINITY }], 'ERR_COOLING_FAN_THRESHOLD_INVALID'],
    ['setCoolingFanThreshold', [{ runningSpeed: 100.01 }], 'ERR_COOLING_FAN_THRESHOLD_INVALID'],
    ['setCoolingFanThreshold', [{ runningSpeed: -1 }], 'ERR_COOLING_FAN_THRESHOLD_INVALID'],
    ['setCoolingFanThreshold', [{ startTemp: 80.5 }], 'ERR_COOLING_FAN_THRESHOLD_INVALID'],
    ['setCoolingFanThreshold', [{ stopTemp: -20.5 }], 'ERR_COOLING_FAN_THRESHOLD_INVALID'],
    ['setCoolingFanThreshold', [{ startTemp: '30' }], 'ERR_COOLING_FAN_THRESHOLD_INVALID'],
    ['setCoolingFanThreshold', [{ startTemp: null }], 'ERR_COOLING_FAN_THRESHOLD_INVALID'],
    ['setCoolingFanThreshold', [{ startTemp: 20, stopTemp: 25 }], 'ERR_COOLING_FAN_THRESHOLD_INVALID'],
    ['setCoolingFanThreshold', [{ runningSpeed: 50, startTemperature: 30 }], 'ERR_COOLING_FAN_THRESHOLD_INVALID']
  ]

  for (const [method, args, code] of cases) {
    const label = JSON.stringify(args, (_k, v: unknown) => (v === undefined || (typeof v === 'number' && !Number.isFinite(v)) ? String(v) : v))
    it(`${method}(${label}) → ${code}, nothing sent`, async () => {
      const { c, fake } = make()
      throwsWith(() => c.validateWriteAction(method, ...args), code)
      const fn = (c as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method]
      await rejectsWith(fn.apply(c, args), code)
      expect(fake.calls).toEqual([])
    })
  }

  it('validateWriteAction accepts valid arguments without touching the client', () => {
    const { c, fake } = make()
    expect(c.validateWriteAction('switchSocket', [['-1', '-1', true], ['12', '20', false], ['01', '09', true]])).toBe(1)
    expect(c.validateWriteAction('switchContainer', false)).toBe(1)
    expect(c.validateWriteAction('switchCoolingSystem', true)).toBe(1)
    expect(c.validateWriteAction('setCoolingFanThreshold', { runningSpeed: 100, startTemp: 80, stopTemp: -20 })).toBe(1)
    // equal start and stop temperatures are valid (the product's documented example: 25/25)
    expect(c.validateWriteAction('setCoolingFanThreshold', { runningSpeed: 2, startTemp: 25, stopTemp: 25 })).toBe(1)
    expect(fake.calls).toEqual([])
  })

  it('rejects actions the container does not implement', () => {
    const { c, fake } = make()
    for (const action of ['resetAlarm', 'getSnap', 'turnOnContainer', 'switchcontainer', '']) {
      throwsWith(() => c.validateWriteAction(action, true), 'ERR_WRITE_ACTION_NOT_SUPPORTED')
    }
    throwsWith(() => (c.validateWriteAction as (...a: unknown[]) => unknown)(42), 'ERR_WRITE_ACTION_NOT_SUPPORTED')
    expect(fake.calls).toEqual([])
  })

  it('stripActionContext removes exactly one trailing {actionId, user}', () => {
    const ctx = { actionId: 'a', user: 'u' }
    expect(stripActionContext([true, ctx])).toEqual([true])
    expect(stripActionContext([ctx, ctx])).toEqual([ctx])
    expect(stripActionContext([{ startTemp: 30 }])).toEqual([{ startTemp: 30 }])
    expect(stripActionContext([{}])).toEqual([{}])
    expect(stripActionContext([{ actionId: 1, other: 2 }])).toEqual([{ actionId: 1, other: 2 }])
    expect(stripActionContext([])).toEqual([])
    expect(isActionContext({ user: 'u' })).toBe(true)
    expect(isActionContext([ctx])).toBe(false)
    expect(isActionContext(null)).toBe(false)
  })
})

describe('authentication', () => {
  it('authenticates again after the connection changed', async () => {
    const { c, fake } = make()
    await c.switchContainer(true)
    fake.reconnect()
    await c.switchContainer(false)
    expect(fake.trace()).toEqual([
      'connect:ok', 'auth-read#1:ok', 'auth-write#1:ok', 'write#1:ok',
      'connect:ok', 'auth-read#2:ok', 'auth-write#2:ok', 'write#2:ok'
    ])
  })

  it('redoes authentication once when the link is replaced during it', async () => {
    const { c, fake } = make()
    let changed = false
    fake.beforeRequest = (call) => {
      if (call.op === 'writeMany' && !changed) { changed = true; fake.reconnect() }
    }
    await c.switchSocket([['1', '1', false]])
    expect(fake.trace()).toEqual([
      'connect:ok', 'auth-read#1:ok', 'auth-write#1:ERR_MODBUS_CONNECTION_CHANGED',
      'connect:ok', 'auth-read#2:ok', 'auth-write#2:ok', 'write#2:ok'
    ])
    expect(fake.writes()).toEqual([[9, 307, 2]])
  })

  it('a second link change in one operation fails instead of looping', async () => {
    const { c, fake } = make()
    fake.beforeRequest = (call) => { if (call.op === 'writeMany') fake.reconnect() }
    await rejectsWith(c.switchContainer(true), 'ERR_MODBUS_CONNECTION_CHANGED')
    expect(fake.writes()).toEqual([])
  })

  it('a reconnect in the middle of a multi-write resumes with the remaining writes', async () => {
    const { c, fake } = make()
    let n = 0
    fake.beforeRequest = (call) => { if (call.op === 'write' && ++n === 3) fake.reconnect() }
    await c.switchSocket([['1', '1', true], ['1', '2', true], ['1', '3', true], ['1', '4', true]])
    expect(fake.writes()).toEqual([[9, 307, 1], [9, 306, 1], [9, 305, 1], [9, 304, 1]])
    expect(fake.trace().filter((t) => t.startsWith('auth-write'))).toEqual(['auth-write#1:ok', 'auth-write#2:ok'])
  })

  it('rejected authentication → ERR_AUTH_FAILED, nothing written', async () => {
    const { c, fake } = make()
    fake.authMode = 'reject'
    await rejectsWith(c.switchContainer(true), 'ERR_AUTH_FAILED')
    expect(fake.calls.filter((x) => x.op === 'write')).toEqual([])
  })

  it('wrong password → ERR_AUTH_FAILED', async () => {
    const { c, fake } = make({ password: 'not-the-password' })
    await rejectsWith(c.setCoolingFanThreshold({ runningSpeed: 10 }), 'ERR_AUTH_FAILED')
    expect(fake.writes()).toEqual([])
  })

  it('exception 04 on the first write right after auth → ERR_AUTH_FAILED (no retry loop)', async () => {
    const { c, fake } = make()
    fake.authMode = 'ignore'
    await rejectsWith(c.switchContainer(true), 'ERR_AUTH_FAILED')
    expect(fake.trace()).toEqual(['connect:ok', 'auth-read#1:ok', 'auth-write#1:ok', 'write#1:ERR_MODBUS_EXCEPTION_04'])
    // next attempt authenticates again
    fake.authMode = 'verify'
    await c.switchContainer(true)
    expect(fake.writes()).toEqual([[1, 600, 1]])
  })

  it('a session dropped by the controller is re-established once', async () => {
    const { c, fake } = make()
    await c.switchContainer(true)
    fake.dropSession()
    fake.calls.length = 0
    await c.switchContainer(false)
    expect(fake.trace()).toEqual(['connect:ok', 'write#1:ERR_MODBUS_EXCEPTION_04', 'auth-read#1:ok', 'auth-write#1:ok', 'write#1:ok'])
  })

  it('never logs or exposes the password, digests or the response', async () => {
    const lines: string[] = []
    const rec = (level: string) => (obj: object | string, msg?: string): void => { lines.push(`${level} ${JSON.stringify(obj)} ${msg ?? ''}`) }
    const logger: Logger = { debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') }
    const password = 'Sup3r-Secret-Pa55'
    const fake = new FakeModbusClient('admin', password)
    const { c } = make({ password, logger }, fake)
    await c.switchContainer(true)
    fake.authMode = 'reject'
    fake.reconnect()
    await rejectsWith(c.switchContainer(true), 'ERR_AUTH_FAILED')
    await c.getSnap()
    const responses = fake.calls.flatMap((x) => (x.op === 'writeMany' ? [Buffer.from(x.values.flatMap((v) => [v >> 8, v & 0xff])).toString('hex')] : []))
    const secrets = [password, md5(password).toString('hex'), md5('admin').toString('hex'), ...responses]
    const exposed = [lines.join('\n'), JSON.stringify(c), JSON.stringify(Object.entries(c))]
    for (const text of exposed) for (const s of secrets) expect(text).not.toContain(s)
    expect(lines.length).toBeGreaterThan(0)
  })
})

describe('unconfigured and closed', () => {
  it('without address/port/credentials: offline snapshot, writes fail, validation says not initialised', async () => {
    for (const missing of [{ address: undefined }, { port: undefined }, { username: undefined }, { password: undefined }, { address: '' }]) {
      const { c, fake } = make(missing)
      expect(await c.getSnap()).toEqual({ success: false, stats: { status: 'offline' } })
      await rejectsWith(c.switchContainer(true), 'ERR_THING_NOT_CONNECTED')
      await rejectsWith(c.switchSocket([['1', '1', true]]), 'ERR_THING_NOT_CONNECTED')
      throwsWith(() => c.validateWriteAction('switchContainer', true), 'ERR_THING_NOT_INITIALIZED')
      // argument errors still come first for the write methods
      await rejectsWith(c.switchContainer('yes' as unknown as boolean), 'ERR_SWITCH_CONTAINER_ENABLED_INVALID')
      expect(fake.calls).toEqual([])
    }
  })

  it('close() closes the client it created; afterwards snapshots are offline and writes fail', async () => {
    const fake = new FakeModbusClient()
    const { c } = make({ client: undefined, clientFactory: () => fake })
    await c.getSnap()
    await c.close()
    await c.close()
    expect(fake.calls.filter((x) => x.op === 'close')).toHaveLength(1)
    expect(await c.getSnap()).toEqual({ success: false, stats: { status: 'offline' } })
    await rejectsWith(c.switchContainer(true), 'ERR_THING_CLOSED')
  })

  it('an injected client stays its owner\'s: close() does not close it', async () => {
    const { c, fake } = make()
    await c.getSnap()
    await c.close()
    expect(fake.calls.filter((x) => x.op === 'close')).toHaveLength(0)
    expect(await c.getSnap()).toEqual({ success: false, stats: { status: 'offline' } })
  })

  it('rejects a bad vendor or request size at construction', () => {
    throwsWith(() => make({ vendor: 'acme' as unknown as 'kehua' }), 'ERR_CONTAINER_VENDOR_INVALID')
    throwsWith(() => make({ maxRegsPerRequest: 126 }), 'ERR_PLAN_INVALID_ARGS')
    expect(make({ maxRegsPerRequest: 60 }).c.requestsPerSnapshot).toBe(5 + 1 + 1 + 4 * 3 + 1 + 12 * 4)
  })
})

describe('retries and the circuit breaker (client behaviour as seen by the container)', () => {
  const retriesOf = (r: { opts?: RequestOptions }): number | undefined => r.opts?.retries

  it('a unit that failed every attempt gets one attempt without retries until it answers', async () => {
    const { c, fake } = make()
    let dead = true
    fake.failRead = (unit) => (unit === 12 && dead ? 'ERR_MODBUS_TIMEOUT' : undefined)
    await c.getSnap()
    // first contact on a clean link: 1 + 2 attempts, the first alone (no resend after its
    // timeout), the other two once the other units are read
    expect(fake.reads(12).map((r) => r.opts)).toEqual([{ retries: 2, timeoutRetries: 0 }, { retries: 1 }])
    expect(c.unitsOnSingleAttempt).toEqual([12])
    for (let cycle = 0; cycle < 2; cycle++) {
      fake.calls.length = 0
      const snap = await c.getSnap()
      expect(fake.reads(12).map(retriesOf)).toEqual([0])
      expect(fake.reads(11).map(retriesOf)).toEqual([2, undefined]) // the others keep theirs
      if (!snap.success) throw new Error('snapshot failed')
      expect(snap.stats.incomplete).toEqual(['pdu04'])
    }
    dead = false
    fake.calls.length = 0
    const back = await c.getSnap()
    // one attempt for the probe; it answered, so its next request has the retries again
    expect(fake.reads(12).map(retriesOf)).toEqual([0, undefined])
    expect(c.unitsOnSingleAttempt).toEqual([])
    expect(back.success && back.stats.incomplete).toBe(undefined)
  })

  it('the CDU too: one attempt per cycle while it does not answer', async () => {
    const { c, fake } = make()
    fake.failRead = (unit) => (unit === 1 ? 'ERR_MODBUS_TIMEOUT' : undefined)
    await c.getSnap()
    fake.calls.length = 0
    await c.getSnap()
    expect(fake.reads().map((r) => [r.unit, retriesOf(r)])).toEqual([[1, 0]])
  })

  it("a unit's first request gets at most 2 retries until resends pay off on the link (the client's stats.recovered grows)", async () => {
    const { c, fake } = make()
    const firstReads = (): Array<number | undefined> => fake.reads().filter((r, i, all) => all.findIndex((x) => x.unit === r.unit) === i).map(retriesOf)
    await c.getSnap()
    // nothing recovered yet: every unit's first request (the CDU probe included) 1 + 2 attempts, the others `retry`
    expect(firstReads()).toEqual(new Array(20).fill(2))
    expect(fake.reads(9).map(retriesOf)).toEqual([2, undefined])
    // a request succeeds after a resend (right after the CDU probe went out): from then on first
    // requests get the whole budget, in this snapshot …
    fake.beforeRequest = (call) => {
      if (call.op === 'read' && call.unit === 1) { fake.stats.recovered = 1; fake.beforeRequest = undefined }
    }
    fake.calls.length = 0
    await c.getSnap()
    expect(firstReads()).toEqual([2, ...new Array(19).fill(undefined)])
    // … and in the next one (counted since the previous snapshot started) …
    fake.calls.length = 0
    await c.getSnap()
    expect(firstReads()).toEqual(new Array(20).fill(undefined))
    // … then, with no new recovery, first requests are back at 2
    fake.calls.length = 0
    await c.getSnap()
    expect(firstReads()).toEqual(new Array(20).fill(2))
    // with `retry` ≤ 2 the budget is not cut: the probe has the client's; the other first
    // contacts keep theirs for exceptions but leave a timeout to the container (deferred)
    const low = make({ retry: 2 })
    await low.c.getSnap()
    const lowReads = low.fake.reads()
    const isFirst = (r: { unit: number }, i: number): boolean => lowReads.findIndex((x) => x.unit === r.unit) === i
    expect(lowReads[0].opts).toBeUndefined()
    expect(lowReads.filter((r, i) => isFirst(r, i) && r.unit !== 1).map((r) => r.opts)).toEqual(new Array(19).fill({ retries: 2, timeoutRetries: 0 }))
    expect(lowReads.filter((r, i) => !isFirst(r, i)).every((r) => r.opts === undefined)).toBe(true)
    // without retries there is nothing to defer
    const none = make({ retry: 0 })
    await none.c.getSnap()
    expect(none.fake.reads().every((r) => r.opts === undefined)).toBe(true)
  })

  it('a unit that answered something, or lost its link, is not cut to one attempt', async () => {
    const { c, fake } = make()
    fake.failRead = (unit, address) => {
      if (unit === 5 && address === 72) return 'ERR_MODBUS_TIMEOUT' // its first request answered, its second lost
      if (unit === 6) return 'ERR_MODBUS_EXCEPTION_04' // answers, with an exception
      if (unit === 7) return 'ERR_MODBUS_CONNECTION_CLOSED' // the link, not the unit
      return undefined
    }
    const snap = await c.getSnap()
    if (!snap.success) throw new Error('snapshot failed')
    expect(snap.stats.incomplete).toEqual(['powermeter02', 'powermeter03', 'powermeter04'])
    expect(c.unitsOnSingleAttempt).toEqual([])
  })

  const SILENT = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
  const SILENT_NAMES = ['gtemp', 'henv', 'powermeter01', 'powermeter02', 'powermeter03', 'powermeter04', 'diag', 'pdu01', 'pdu02', 'pdu03', 'pdu04', 'pdu05']
  const asked = (fake: FakeModbusClient): number[] => SILENT.filter((u) => fake.reads(u).length > 0)

  it('units 2–13 silent at once on a clean link (most units): an outage, one attempt each (no deferred resends), then dead units take turns, one round of the window per snapshot', async () => {
    const { c, fake } = make()
    expect((await c.getSnap()).success).toBe(true)
    let silent = true
    fake.failRead = (unit) => (silent && SILENT.includes(unit) ? 'ERR_MODBUS_TIMEOUT' : undefined)
    fake.calls.length = 0
    const first = await c.getSnap()
    if (!first.success) throw new Error('snapshot failed')
    expect(first.stats.incomplete).toEqual(SILENT_NAMES)
    expect(first.stats.status).toBe('running')
    for (const u of SILENT) expect(fake.reads(u).map((r) => r.opts)).toEqual([{ retries: 2, timeoutRetries: 0 }])
    for (let u = 14; u <= 20; u++) expect(fake.reads(u)).toHaveLength(2)
    expect(c.unitsOnSingleAttempt).toEqual(SILENT)

    // 12 dead units, window 4: each snapshot asks 4 of them (one attempt), all 12 every 3 snapshots
    const seen: number[][] = []
    for (let i = 0; i < 3; i++) {
      fake.calls.length = 0
      const snap = await c.getSnap()
      if (!snap.success) throw new Error('snapshot failed')
      expect(snap.stats.incomplete).toEqual(SILENT_NAMES)
      const probed = asked(fake)
      expect(probed).toHaveLength(4)
      for (const u of probed) expect(fake.reads(u).map((r) => r.opts)).toEqual([{ retries: 0 }])
      seen.push(probed)
    }
    expect(seen.flat().sort((a, b) => a - b)).toEqual(SILENT)

    // back: every unit closes its breaker at its turn, within 3 snapshots
    silent = false
    for (let i = 0; i < 3 && c.unitsOnSingleAttempt.length > 0; i++) await c.getSnap()
    expect(c.unitsOnSingleAttempt).toEqual([])
    const back = await c.getSnap()
    expect(back.success && back.stats.incomplete).toBe(undefined)
  })

  it('not most units silent at once, or any resend paying off in the snapshot: deferred first contacts are asked again', async () => {
    // 9 of the 19 units asked (more than one round, not more than half): could still be loss
    const few = make()
    const nine = [2, 4, 9, 10, 11, 12, 13, 14, 15]
    few.fake.failRead = (unit) => (nine.includes(unit) ? 'ERR_MODBUS_TIMEOUT' : undefined)
    await few.c.getSnap()
    for (const u of nine) expect(few.fake.reads(u).map((r) => r.opts)).toEqual([{ retries: 2, timeoutRetries: 0 }, { retries: 1 }])

    // 12 silent, but the link lost (and recovered) a request of an answering unit meanwhile: loss, not an outage
    const lossy = make()
    lossy.fake.failRead = (unit) => (SILENT.includes(unit) ? 'ERR_MODBUS_TIMEOUT' : undefined)
    lossy.fake.beforeRequest = (call) => {
      if (call.op === 'read' && call.unit === 20) lossy.fake.stats.recovered = (lossy.fake.stats.recovered ?? 0) + 1
    }
    await lossy.c.getSnap()
    // the link lost: the deferred reads get the whole budget
    for (const u of SILENT) expect(lossy.fake.reads(u).map((r) => r.opts)).toEqual([{ retries: 2, timeoutRetries: 0 }, undefined])

    // a deferred unit that answers when asked again counts as a resend that paid off: the next
    // snapshot's first contacts get the whole budget
    const late = make()
    let misses = 1
    late.fake.failRead = (unit) => (unit === 3 && misses-- > 0 ? 'ERR_MODBUS_TIMEOUT' : undefined)
    const snap = await late.c.getSnap()
    expect(snap.success && snap.stats.incomplete).toBe(undefined)
    late.fake.calls.length = 0
    await late.c.getSnap()
    expect(late.fake.reads(9).map(retriesOf)).toEqual([undefined, undefined])
  })

  it('a flood (ERR_MODBUS_FLOOD) fails the whole snapshot with its code, as an error even before the device was ever seen', async () => {
    const { c, fake } = make()
    fake.failRead = (unit) => (unit === 1 ? 'ERR_MODBUS_FLOOD' : undefined)
    expect(await c.getSnap()).toMatchObject({ success: false, stats: { status: 'error', errors: [{ msg: 'ERR_MODBUS_FLOOD' }] } })
    expect(c.lastErrorCode).toBe('ERR_MODBUS_FLOOD')
    // the CDU answered, then the flood failed the other reads: no partial snapshot
    fake.failRead = (unit) => (unit >= 9 ? 'ERR_MODBUS_FLOOD' : undefined)
    expect(await c.getSnap()).toMatchObject({ success: false, stats: { status: 'error', errors: [{ msg: 'ERR_MODBUS_FLOOD' }] } })
    // refused at connect (the backoff after a flood)
    fake.failRead = undefined
    fake.connectError = 'ERR_MODBUS_FLOOD'
    expect(await c.getSnap()).toMatchObject({ success: false, stats: { status: 'error', errors: [{ msg: 'ERR_MODBUS_FLOOD' }] } })
  })

  it('writes ask the client for `retry` resends; the authentication response never', async () => {
    for (const [retry, expected] of [[undefined, 4], [0, 0], [2, 2]] as const) {
      const { c, fake } = make(retry === undefined ? {} : { retry })
      await c.switchContainer(true)
      const writes = fake.calls.filter((x) => x.op === 'write' || x.op === 'writeMany')
      expect(writes.map((x) => [x.op, x.opts?.retries])).toEqual([['writeMany', 0], ['write', expected]])
    }
  })

  it('a lost authentication ack → a new challenge and response, up to `retry` times', async () => {
    const { c, fake } = make({ retry: 1 })
    let lost = 1
    fake.beforeRequest = (call) => { if (call.op === 'writeMany' && lost-- > 0) throw new WrkError('ERR_MODBUS_TIMEOUT') }
    await c.switchContainer(true)
    expect(fake.trace()).toEqual(['connect:ok', 'auth-read#1:ok', 'auth-write#1:ERR_MODBUS_TIMEOUT', 'auth-read#1:ok', 'auth-write#1:ok', 'write#1:ok'])

    lost = 2
    fake.reconnect()
    await rejectsWith(c.switchContainer(false), 'ERR_MODBUS_TIMEOUT')
    expect(fake.writes()).toEqual([[1, 600, 1]])
  })

  it('a write lost with its connection is resent after re-authentication when retry > 0, not with retry 0', async () => {
    for (const retry of [2, 0]) {
      const { c, fake } = make({ retry })
      let drop = true
      fake.beforeRequest = (call) => {
        if (call.op === 'write' && drop) { drop = false; fake.reconnect(); throw new WrkError('ERR_MODBUS_CONNECTION_CLOSED') }
      }
      if (retry === 0) {
        await rejectsWith(c.switchSocket([['2', '3', false]]), 'ERR_MODBUS_CONNECTION_CLOSED')
        expect(fake.writes()).toEqual([])
      } else {
        await c.switchSocket([['2', '3', false]])
        expect(fake.trace()).toEqual(['connect:ok', 'auth-read#1:ok', 'auth-write#1:ok', 'write#1:ERR_MODBUS_CONNECTION_CLOSED', 'connect:ok', 'auth-read#2:ok', 'auth-write#2:ok', 'write#2:ok'])
        expect(fake.writes()).toEqual([[10, 305, 2]])
      }
    }
  })
})
