/**
 * Regression tests of the review fixes, on pure units: request sanitising (assertPlainJson),
 * the query guard (regex and expression operators, runtime mingo errors), groupByRange and
 * prototype keys, KeyedLock, late Modbus replies and the pipelining window, and the socket
 * command cap and de-duplication of MicroBTContainer.switchSocket.
 */
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { assertPlainJson } from '../../workers/tpl/rpc/limits'
import { assertSafeQuery, match, project } from '../../workers/tpl/thing/query'
import { KeyedLock, groupByRange } from '../../workers/tpl/thing/util'
import { WrkError } from '../../workers/tpl/errors'
import { ModbusTcpClient } from '../../workers/lib/modbus/client'
import { MbapStreamParser, encodeReadHoldingRegistersResponse } from '../../workers/lib/modbus/frame'
import { MicroBTContainer } from '../../workers/lib/container'
import type { ModbusClient, ModbusClientStats, RequestOptions } from '../../workers/lib/modbus/types'
import type { SocketSwitchTuple } from '../../workers/tpl/container/base-container'

// ---- helpers -----------------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function waitUntil (cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error('waitUntil timed out')
    await sleep(5)
  }
}

/** The code of the WrkError `fn` throws (fails the test when it throws nothing or something else). */
function thrownCode (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(WrkError)
    return (err as WrkError).code
  }
  throw new Error('expected a WrkError')
}

async function rejectionCode (p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(WrkError)
    return (err as WrkError).code
  }
  throw new Error('expected a rejection')
}

/** Object.prototype must never receive a key from data. */
function prototypeIsClean (): boolean {
  const probe: Record<string, unknown> = {}
  return probe.polluted === undefined && !Object.hasOwn(Object.prototype, 'polluted')
}

/** Removes what a failing (unfixed) run may have put on Object.prototype, so later tests stay sane. */
function scrubPrototype (): void {
  Reflect.deleteProperty(Object.prototype, 'polluted')
}

// ---- assertPlainJson ---------------------------------------------------------------------------

describe('assertPlainJson (every request, before any layer sees it)', () => {
  afterEach(scrubPrototype)

  it.each([
    ['top-level __proto__', '{"__proto__": {"polluted": 1}}'],
    ['nested __proto__ (updateThing info)', '{"id": "t", "info": {"note": {"__proto__": {"polluted": 1}}}}'],
    ['__proto__ in a forget query', '{"query": {"__proto__": {"id": "x"}}}'],
    ['__proto__ inside an array', '{"params": [[1, {"a": {"__proto__": {"polluted": 1}}}]]}'],
    ['constructor key', '{"info": {"constructor": {"prototype": {"polluted": 1}}}}'],
    ['prototype key deep down', '{"a": {"b": {"c": {"d": {"prototype": 1}}}}}']
  ])('refuses %s with ERR_PARAMS_INVALID', (_name, text) => {
    const req: unknown = JSON.parse(text)
    expect(thrownCode(() => assertPlainJson(req))).toBe('ERR_PARAMS_INVALID')
    expect(prototypeIsClean()).toBe(true)
  })

  it('refuses absurd nesting, accepts ordinary requests (keys that merely look alike included)', () => {
    let deep: unknown = 1
    for (let i = 0; i < 40; i++) deep = { a: deep }
    expect(thrownCode(() => assertPlainJson(deep))).toBe('ERR_PARAMS_INVALID')
    const ok: unknown = JSON.parse('{"id": "t", "info": {"proto": 1, "__proto": 2, "constructors": [3], "Prototype": {"x": null}}, "tags": ["a"]}')
    expect(() => assertPlainJson(ok)).not.toThrow()
    for (const v of [null, 1, 'x', true, [], {}]) expect(() => assertPlainJson(v)).not.toThrow()
  })
})

// ---- query guard -------------------------------------------------------------------------------

describe('query guard', () => {
  // ids on which the catastrophic patterns below backtrack (kept short: run unguarded, they must still end)
  const docs = [{ id: 'a'.repeat(20), code: 'MBT-KEHUA-0001' }, { id: `z${'a'.repeat(24)}b`, code: 'MBT-KEHUA-0002' }]

  it.each([
    ['^([0-9a-f-]+)+x$', '^([0-9a-f-]+)+x$'],
    ['(a|aa)*$', '(a|aa)*$'],
    ['^(a+)+$', '^(a+)+$'],
    ['(\\w*)*z', '(\\w*)*z'],
    ['(x{1,3}){2,}y', '(x{1,3}){2,}y'],
    ['a back-reference (a)\\1+b', '(a)\\1+b'],
    ['a pattern of 257 characters', 'a'.repeat(257)],
    ['nested groups ^((a+))+$', '^((a+))+$'],
    ['nested groups ^((a)+)+$', '^((a)+)+$'],
    ['a non-capturing group ^((?:a+))+$', '^((?:a+))+$']
  ])('refuses $regex %s quickly with ERR_QUERY_INVALID', (_label, pattern) => {
    const t0 = Date.now()
    expect(thrownCode(() => match(docs, { id: { $regex: pattern } }))).toBe('ERR_QUERY_INVALID')
    expect(thrownCode(() => match(docs, { $or: [{ code: 'x' }, { id: { $not: { $regex: pattern } } }] }))).toBe('ERR_QUERY_INVALID')
    expect(Date.now() - t0).toBeLessThan(1000)
  })

  it('plain patterns still work', () => {
    expect(match(docs, { code: { $regex: '^MBT-KEHUA-000' } })).toHaveLength(2)
    expect(match(docs, { code: { $regex: '2$' } })).toEqual([docs[1]])
    expect(match(docs, { id: { $regex: '^z', $options: 'i' } })).toEqual([docs[1]])
    expect(() => assertSafeQuery({ id: { $regex: '^[a-z]+-\\d{4}$' } })).not.toThrow()
    expect(() => assertSafeQuery({ code: { $regex: '^MBT-(KEHUA|WONDERINT)-00' } })).not.toThrow()
    expect(() => assertSafeQuery({ code: { $regex: '\\(a+\\)+' } })).not.toThrow()
  })

  it.each(['$regexMatch', '$regexFind', '$regexFindAll'])('refuses the expression operator %s in a projection', (op) => {
    const fields = { x: { [op]: { input: '$id', regex: '^(a+)+$' } } }
    expect(thrownCode(() => project(docs, fields))).toBe('ERR_QUERY_INVALID')
  })

  it('a query mingo only rejects while matching ({code: {$in: 5}}) is ERR_QUERY_INVALID', () => {
    expect(thrownCode(() => match(docs, { code: { $in: 5 } }))).toBe('ERR_QUERY_INVALID')
    expect(thrownCode(() => match(docs, { code: { $nin: 'x' } }))).toBe('ERR_QUERY_INVALID')
  })
})

// ---- groupByRange ------------------------------------------------------------------------------

describe('groupByRange and prototype keys in stored entries', () => {
  afterEach(scrubPrototype)

  it('ignores __proto__ / constructor / prototype keys and leaves Object.prototype untouched', () => {
    const entries: unknown[] = [
      JSON.parse('{"ts": 61000, "power": 3, "__proto__": {"polluted": 1, "power": 100}}'),
      JSON.parse('{"ts": 60500, "power": 5, "stats": {"__proto__": {"polluted": 2}, "kw": 1}}'),
      JSON.parse('{"ts": 60000, "power": 4, "constructor": {"prototype": {"polluted": 3}}, "prototype": {"polluted": 4}}')
    ]
    const [bucket, ...rest] = groupByRange(entries, '1m')
    expect(rest).toEqual([])
    expect(prototypeIsClean()).toBe(true)
    expect(bucket).toEqual({ ts: 60000, count: 3, power: 12, stats: { kw: 1 } })
    expect(Object.getPrototypeOf(bucket)).toBe(Object.prototype)
    expect(Object.keys(bucket).sort()).toEqual(['count', 'power', 'stats', 'ts'])
    const stats = bucket.stats as Record<string, unknown>
    expect(Object.getPrototypeOf(stats)).toBe(Object.prototype)
    expect(Object.hasOwn(stats, '__proto__')).toBe(false)

    const [avg] = groupByRange(entries, '1m', true)
    expect(avg).toEqual({ ts: 60000, count: 3, power: 4, stats: { kw: 1 } })
    expect(prototypeIsClean()).toBe(true)
  })
})

// ---- KeyedLock ---------------------------------------------------------------------------------

describe('KeyedLock', () => {
  it('runs tasks of one key one at a time, in arrival order, and releases after a failure', async () => {
    const lock = new KeyedLock()
    const log: string[] = []
    let active = 0
    let peak = 0
    const task = (name: string, ms: number, fail = false) => async (): Promise<string> => {
      active++
      peak = Math.max(peak, active)
      log.push(`start ${name}`)
      await sleep(ms)
      log.push(`end ${name}`)
      active--
      if (fail) throw new WrkError('ERR_TEST')
      return name
    }
    const results = await Promise.allSettled([
      lock.run('t1', task('a', 30)),
      lock.run('t1', task('b', 5, true)),
      lock.run('t1', task('c', 1))
    ])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect(results[0]).toEqual({ status: 'fulfilled', value: 'a' })
    expect(results[2]).toEqual({ status: 'fulfilled', value: 'c' })
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c'])
    expect(peak).toBe(1)
    // the key is free again afterwards
    expect(await lock.run('t1', async () => 'again')).toBe('again')
  })

  it('runs different keys in parallel', async () => {
    const lock = new KeyedLock()
    let active = 0
    let peak = 0
    const task = async (): Promise<void> => {
      active++
      peak = Math.max(peak, active)
      await sleep(20)
      active--
    }
    await Promise.all([lock.run('x', task), lock.run('y', task), lock.run('z', task)])
    expect(peak).toBe(3)
  })
})

// ---- ModbusTcpClient: late replies -------------------------------------------------------------

interface SeenRequest { tid: number, unit: number, address: number, quantity: number }

/** A minimal Modbus TCP server (FC03 only) whose replies each test schedules itself. */
class ReplyServer {
  readonly server: net.Server
  readonly requests: SeenRequest[] = []
  readonly sockets: net.Socket[] = []
  outstanding = 0
  maxOutstanding = 0
  port = 0
  onRequest: (req: SeenRequest, sock: net.Socket) => void = (req, sock) => { this.reply(req, sock) }

  constructor () {
    this.server = net.createServer((sock) => {
      this.sockets.push(sock)
      sock.on('error', () => {})
      const parser = new MbapStreamParser((tid, unit, _fc, data) => {
        const req = { tid, unit, address: data.readUInt16BE(0), quantity: data.readUInt16BE(2) }
        this.requests.push(req)
        this.outstanding++
        this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding)
        this.onRequest(req, sock)
      })
      sock.on('data', (chunk: Buffer) => parser.push(chunk))
    })
  }

  async listen (): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()))
    this.port = (this.server.address() as net.AddressInfo).port
    return this
  }

  /** Replies register value = 1000 + address; `tid` overrides the transaction id (a forged reply). */
  reply (req: SeenRequest, sock: net.Socket, tid = req.tid): void {
    this.outstanding--
    const values = Array.from({ length: req.quantity }, (_, i) => 1000 + req.address + i)
    if (!sock.destroyed) sock.write(encodeReadHoldingRegistersResponse(tid, req.unit, values))
  }

  async close (): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

describe('ModbusTcpClient late replies', () => {
  const open: Array<ModbusTcpClient | ReplyServer> = []
  afterEach(async () => {
    for (const x of open.splice(0).reverse()) await x.close()
  })

  async function setup (restoreWindowAfterReplies?: number): Promise<{ server: ReplyServer, client: ModbusTcpClient }> {
    const server = await new ReplyServer().listen()
    const client = new ModbusTcpClient(
      { host: '127.0.0.1', port: server.port, timeoutMs: 400, retries: 0, maxInFlight: 4, halfOpenAfterTimeouts: 100, backoffMinMs: 20, backoffMaxMs: 200 },
      restoreWindowAfterReplies === undefined ? undefined : { restoreWindowAfterReplies }
    )
    open.push(server, client)
    return { server, client }
  }

  it('a reply arriving after its request timed out is counted in lateReplies and keeps the window', async () => {
    const { server, client } = await setup()
    // the first request is answered late (after its 400 ms timeout), later ones at once
    server.onRequest = (req, sock) => { setTimeout(() => server.reply(req, sock), req.address === 1 ? 700 : 1) }
    await expect(client.readHoldingRegisters(1, 1, 1)).rejects.toMatchObject({ code: 'ERR_MODBUS_TIMEOUT' })
    expect(client.stats.timeouts).toBe(1)
    expect(client.stats.maxInFlight).toBe(4) // one timeout alone is no burst
    await waitUntil(() => client.stats.lateReplies === 1)
    expect(client.stats.maxInFlight).toBe(4)
    expect(client.stats.responses).toBe(0)

    // the window really is still 4: four reads are pipelined
    server.maxOutstanding = 0
    const values = await Promise.all([2, 3, 4, 5].map((a) => client.readHoldingRegisters(1, a, 1)))
    expect(values).toEqual([[1002], [1003], [1004], [1005]])
    expect(server.maxOutstanding).toBe(4)
    expect(client.stats.maxInFlight).toBe(4)
    expect(client.stats.lateReplies).toBe(1)
    // the timed-out transaction id was not reused for any later request
    const firstTid = server.requests[0].tid
    expect(server.requests.slice(1).map((r) => r.tid)).not.toContain(firstTid)
  })

  it('a reply with a transaction id never used drops the window to 1 for good', async () => {
    const { server, client } = await setup(2)
    let forge = true
    server.onRequest = (req, sock) => {
      if (forge) {
        forge = false
        server.outstanding++ // the forged frame is extra; reply() below still answers the request
        server.reply(req, sock, (req.tid + 1000) & 0xffff)
      }
      setTimeout(() => server.reply(req, sock), 5)
    }
    expect(await client.readHoldingRegisters(1, 7, 1)).toEqual([1007])
    expect(client.stats.lateReplies).toBe(1)
    expect(client.stats.maxInFlight).toBe(1)
    // clean replies (more than restoreWindowAfterReplies) do not bring the window back
    for (let i = 0; i < 5; i++) expect(await client.readHoldingRegisters(1, i, 1)).toEqual([1000 + i])
    expect(client.stats.maxInFlight).toBe(1)
    server.maxOutstanding = 0
    server.outstanding = 0
    await Promise.all([1, 2, 3, 4].map((a) => client.readHoldingRegisters(1, a, 1)))
    expect(server.maxOutstanding).toBe(1)
    expect(client.stats.lateReplies).toBe(1)
  })
})

// ---- MicroBTContainer.switchSocket -------------------------------------------------------------

/** Accepts any authentication and records the FC06 writes as [unit, address, value]. */
class RecordingClient implements ModbusClient {
  readonly connectionId = 1
  readonly connected = true
  readonly stats: ModbusClientStats = { requests: 0, responses: 0, timeouts: 0, lateReplies: 0, exceptions: 0, reconnects: 0, maxInFlight: 4 }
  readonly writes: Array<[number, number, number]> = []
  readonly ops: string[] = []

  async connect (): Promise<number> {
    this.ops.push('connect')
    return 1
  }

  async readHoldingRegisters (unit: number, address: number, count: number, _opts?: RequestOptions): Promise<number[]> {
    this.ops.push(`read ${unit}:${address}`)
    return Array.from({ length: count }, (_, i) => (address + i) & 0xff)
  }

  async writeRegister (unit: number, address: number, value: number, _opts?: RequestOptions): Promise<void> {
    this.ops.push('write')
    this.writes.push([unit, address, value])
  }

  async writeRegisters (unit: number, address: number, _values: number[], _opts?: RequestOptions): Promise<void> {
    this.ops.push(`auth ${unit}:${address}`)
  }

  async close (): Promise<void> {}
}

function container (): { c: MicroBTContainer, client: RecordingClient } {
  const client = new RecordingClient()
  const c = new MicroBTContainer({ address: '10.0.0.1', port: 502, username: 'admin', password: 'pw', vendor: 'kehua', client })
  return { c, client }
}

describe('MicroBTContainer.switchSocket: capped and de-duplicated', () => {
  it('241 commands → ERR_SWITCH_SOCKET_INVALID_PARAMS and nothing is sent (no connect, no auth, no write)', async () => {
    const { c, client } = container()
    const cmds = Array.from({ length: 241 }, (_, i): SocketSwitchTuple => [String((i % 12) + 1), String((i % 20) + 1), true])
    await expect(rejectionCode(c.switchSocket(cmds))).resolves.toBe('ERR_SWITCH_SOCKET_INVALID_PARAMS')
    expect(thrownCode(() => c.validateWriteAction('switchSocket', cmds))).toBe('ERR_SWITCH_SOCKET_INVALID_PARAMS')
    expect(client.ops).toEqual([])
  })

  it('240 commands are accepted; one write per socket', async () => {
    const { c, client } = container()
    expect(await c.switchSocket(Array.from({ length: 240 }, (): SocketSwitchTuple => ['1', '1', true]))).toEqual({ success: true })
    expect(client.writes).toEqual([[9, 307, 1]])
  })

  it('[[1,1,off],[1,1,on],[1,all,off]] → exactly 20 writes, socket 1 of PDU 1 once with the last state (off)', async () => {
    const { c, client } = container()
    expect(await c.switchSocket([['1', '1', false], ['1', '1', true], ['1', '-1', false]])).toEqual({ success: true })
    expect(client.writes).toHaveLength(20)
    // socket s of PDU 1 is unit 9, register 309 − s (on-wire address 308 − s); 2 = off
    expect(client.writes).toEqual(Array.from({ length: 20 }, (_, i) => [9, 307 - i, 2]))
    expect(client.writes.filter(([u, a]) => u === 9 && a === 307)).toEqual([[9, 307, 2]])
  })

  it('the last command for a socket wins, in first-mentioned order', async () => {
    const { c, client } = container()
    await c.switchSocket([['2', '3', true], ['1', '5', true], ['2', '3', false], ['1', '5', false], ['1', '5', true]])
    expect(client.writes).toEqual([[10, 305, 2], [9, 303, 1]])
  })
})
