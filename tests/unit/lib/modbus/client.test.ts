import { describe, it, expect, afterEach } from 'vitest'
import net from 'node:net'
import { createHook } from 'node:async_hooks'
import { ModbusTcpClient } from '../../../../workers/lib/modbus/client'
import { ModbusExceptionError } from '../../../../workers/lib/modbus/errors'
import {
  MbapStreamParser,
  encodeExceptionResponse,
  encodeFrame,
  encodeReadHoldingRegistersResponse,
  encodeWriteMultipleRegistersResponse,
  encodeWriteSingleRegisterResponse
} from '../../../../workers/lib/modbus/frame'
import type { ModbusClientOptions } from '../../../../workers/lib/modbus/types'
import type { Logger } from '../../../../workers/core/types'
import { sleep, waitFor } from '../../../helpers/wait'
import { freePort } from '../../../helpers/net'

// ------------------------------------------------------------------ helpers

interface Req {
  conn: number
  tid: number
  unit: number
  fc: number
  address: number
  quantity: number
  values: number[]
}

type RequestHandler = (req: Req, sock: net.Socket) => void

/** A tiny Modbus TCP server whose timing each test controls through `onRequest`. */
class TestServer {
  readonly server: net.Server
  port = 0
  readonly sockets: net.Socket[] = []
  closedSockets = 0
  readonly requests: Req[] = []
  outstanding = 0
  maxOutstanding = 0
  readonly regs = new Map<number, number>()
  onRequest: RequestHandler = (req, sock) => this.reply(req, sock)

  constructor () {
    this.server = net.createServer((sock) => {
      const conn = this.sockets.length + 1
      this.sockets.push(sock)
      sock.on('error', () => {})
      sock.on('close', () => { this.closedSockets++ })
      const parser = new MbapStreamParser((tid, unit, fc, data) => {
        const req: Req = { conn, tid, unit, fc, address: data.readUInt16BE(0), quantity: 1, values: [] }
        if (fc === 0x03) {
          req.quantity = data.readUInt16BE(2)
        } else if (fc === 0x06) {
          req.values = [data.readUInt16BE(2)]
        } else if (fc === 0x10) {
          req.quantity = data.readUInt16BE(2)
          for (let i = 0; i < req.quantity; i++) req.values.push(data.readUInt16BE(5 + 2 * i))
        }
        this.requests.push(req)
        this.outstanding++
        this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding)
        this.onRequest(req, sock)
      })
      sock.on('data', (chunk: Buffer) => parser.push(chunk))
    })
  }

  listen (port = 0): Promise<this> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, '127.0.0.1', () => {
        this.port = (this.server.address() as net.AddressInfo).port
        resolve(this)
      })
    })
  }

  value (unit: number, address: number): number {
    return this.regs.get(unit * 0x10000 + address) ?? ((unit * 1000 + address) & 0xffff)
  }

  /** The correct reply, applying writes. */
  answer (req: Req): Buffer {
    if (req.fc === 0x03) {
      const values: number[] = []
      for (let i = 0; i < req.quantity; i++) values.push(this.value(req.unit, req.address + i))
      return encodeReadHoldingRegistersResponse(req.tid, req.unit, values)
    }
    req.values.forEach((v, i) => this.regs.set(req.unit * 0x10000 + req.address + i, v))
    if (req.fc === 0x06) return encodeWriteSingleRegisterResponse(req.tid, req.unit, req.address, req.values[0])
    return encodeWriteMultipleRegistersResponse(req.tid, req.unit, req.address, req.quantity)
  }

  reply (req: Req, sock: net.Socket, buf: Buffer = this.answer(req)): void {
    this.outstanding--
    if (!sock.destroyed) sock.write(buf)
  }

  resetCounters (): void {
    this.outstanding = 0
    this.maxOutstanding = 0
  }

  close (): Promise<void> {
    for (const s of this.sockets) s.destroy()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

interface WarnRecorder extends Logger {
  warns: unknown[]
  /** Messages of debug lines. */
  debugs: string[]
}

function recorder (): WarnRecorder {
  const warns: unknown[] = []
  const debugs: string[] = []
  return { warns, debugs, debug: (_obj, msg) => { debugs.push(msg ?? '') }, info: () => {}, warn: (obj) => { warns.push(obj) }, error: () => {} }
}

/** Settles a promise into a comparable shape, so rejections are always handled. */
async function outcome<T> (p: Promise<T>): Promise<{ ok: T } | { code: string, err: unknown }> {
  try {
    return { ok: await p }
  } catch (err) {
    return { code: (err as { code: string }).code, err }
  }
}

const servers: TestServer[] = []
const clients: ModbusTcpClient[] = []

async function startServer (handler?: RequestHandler): Promise<TestServer> {
  const s = new TestServer()
  if (handler !== undefined) s.onRequest = handler
  servers.push(s)
  return s.listen()
}

function makeClient (port: number, opts: Partial<ModbusClientOptions> = {}): ModbusTcpClient {
  const c = new ModbusTcpClient({ host: '127.0.0.1', port, timeoutMs: 300, backoffMinMs: 20, backoffMaxMs: 200, ...opts })
  clients.push(c)
  return c
}

function activeSockets (): number {
  return process.getActiveResourcesInfo().filter((t) => t === 'TCPSocketWrap').length
}

/** Timeout objects the client (any module of workers/lib/modbus) creates from now on and that are not yet fired or cleared. */
function trackTimers (): { live: Set<number>, stop: () => void } {
  const live = new Set<number>()
  const hook = createHook({
    init (id, type) {
      if (type === 'Timeout' && /workers[/\\]lib[/\\]modbus[/\\]/.test(new Error().stack ?? '')) live.add(id)
    },
    destroy (id) { live.delete(id) }
  }).enable()
  return { live, stop: () => { hook.disable() } }
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await Promise.all(servers.splice(0).map((s) => s.close()))
})

// -------------------------------------------------------------------- tests

describe('ModbusTcpClient round trips', () => {
  it('reads and writes holding registers (FC03/FC06/FC16)', async () => {
    const server = await startServer()
    const client = makeClient(server.port)
    expect(await client.readHoldingRegisters(1, 300, 4)).toEqual([1300, 1301, 1302, 1303])
    await client.writeRegister(1, 600, 1)
    await client.writeRegister(1, 612, -2)
    await client.writeRegisters(1, 304, [1, 0xffff, -32768])
    expect(await client.readHoldingRegisters(1, 600, 1)).toEqual([1])
    expect(await client.readHoldingRegisters(1, 612, 1)).toEqual([0xfffe])
    expect(await client.readHoldingRegisters(1, 304, 3)).toEqual([1, 0xffff, 0x8000])
    expect(await client.readHoldingRegisters(9, 0, 125)).toHaveLength(125)
    expect(server.requests.map((r) => r.fc)).toEqual([3, 6, 6, 16, 3, 3, 3, 3])
    expect(server.requests.map((r) => r.tid)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    expect(server.sockets).toHaveLength(1)
    expect(client.connected).toBe(true)
    expect(client.connectionId).toBe(1)
    expect(client.stats).toMatchObject({ requests: 8, responses: 8, timeouts: 0, lateReplies: 0, exceptions: 0, reconnects: 0, maxInFlight: 4 })
  })

  it('connect() resolves with the connection id and reuses the live connection', async () => {
    const server = await startServer()
    const client = makeClient(server.port)
    expect(client.connectionId).toBe(0)
    const [a, b] = await Promise.all([client.connect(), client.connect()])
    expect([a, b]).toEqual([1, 1])
    expect(await client.connect()).toBe(1)
    expect(server.sockets).toHaveLength(1)
    const sock = server.sockets[0]
    // The client side turns TCP_NODELAY and keep-alive on; observe it indirectly: the link works.
    expect(sock.remotePort).toBeGreaterThan(0)
  })

  it('rejects invalid arguments with ERR_MODBUS_INVALID_ARGS without touching the socket', async () => {
    const server = await startServer()
    const client = makeClient(server.port)
    const bad: Array<Promise<unknown>> = [
      client.readHoldingRegisters(-1, 0, 1),
      client.readHoldingRegisters(256, 0, 1),
      client.readHoldingRegisters(1.5, 0, 1),
      client.readHoldingRegisters(1, -1, 1),
      client.readHoldingRegisters(1, 65536, 1),
      client.readHoldingRegisters(1, 0, 0),
      client.readHoldingRegisters(1, 0, 126),
      client.readHoldingRegisters(1, 65535, 2),
      client.readHoldingRegisters(1, 0, 1, { timeoutMs: 0 }),
      client.readHoldingRegisters(1, 0, 1, { connectionId: 0 }),
      client.writeRegister(1, 0, 65536),
      client.writeRegister(1, 0, -32769),
      client.writeRegister(1, 0, 1.5),
      client.writeRegister(1, 0, Number.NaN),
      client.writeRegisters(1, 0, []),
      client.writeRegisters(1, 0, new Array<number>(124).fill(0)),
      client.writeRegisters(1, 0, [1, 70000]),
      client.writeRegisters(1, 65535, [1, 2])
    ]
    const results = await Promise.all(bad.map(outcome))
    for (const r of results) expect(r).toMatchObject({ code: 'ERR_MODBUS_INVALID_ARGS' })
    await sleep(20)
    expect(server.sockets).toHaveLength(0)
    expect(client.stats.requests).toBe(0)
    expect(() => new ModbusTcpClient({ host: '127.0.0.1', port: 0 })).toThrow(/port/)
    expect(() => new ModbusTcpClient({ host: '127.0.0.1', port: 502, maxInFlight: 0 })).toThrow(/maxInFlight/)
  })
})

describe('ModbusTcpClient pipelining', () => {
  it('keeps up to maxInFlight requests outstanding before any reply', async () => {
    const held: Array<[Req, net.Socket]> = []
    const server = await startServer((req, sock) => {
      held.push([req, sock])
      if (held.length === 4) for (const [r, s] of held.splice(0)) server.reply(r, s)
    })
    // Safety net so a broken client fails the assertion rather than hanging.
    const flush = setInterval(() => { for (const [r, s] of held.splice(0)) server.reply(r, s) }, 150)
    try {
      const client = makeClient(server.port, { maxInFlight: 4 })
      const addrs = [10, 20, 30, 40, 50, 60, 70, 80]
      const res = await Promise.all(addrs.map((a) => client.readHoldingRegisters(2, a, 2)))
      expect(res).toEqual(addrs.map((a) => [2000 + a, 2001 + a]))
      expect(server.maxOutstanding).toBe(4)
      expect(client.stats.maxInFlight).toBe(4)
    } finally {
      clearInterval(flush)
    }
  })

  it('maxInFlight=1 is strictly serial and in submission order', async () => {
    const server = await startServer((req, sock) => { setTimeout(() => server.reply(req, sock), 5) })
    const client = makeClient(server.port, { maxInFlight: 1 })
    const addrs = [5, 4, 3, 2, 1, 0]
    const res = await Promise.all(addrs.map((a) => client.readHoldingRegisters(3, a, 1)))
    expect(res).toEqual(addrs.map((a) => [3000 + a]))
    expect(server.maxOutstanding).toBe(1)
    expect(server.requests.map((r) => r.address)).toEqual(addrs)
  })

  it('requests queued behind the window on a live link wait longer than their timeout', async () => {
    const server = await startServer((req, sock) => { setTimeout(() => server.reply(req, sock), 25) })
    const client = makeClient(server.port, { maxInFlight: 1, timeoutMs: 150, retries: 0 })
    const t0 = Date.now()
    const addrs = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    const res = await Promise.all(addrs.map((a) => client.readHoldingRegisters(1, a, 1)))
    expect(Date.now() - t0).toBeGreaterThanOrEqual(240)
    expect(res).toEqual(addrs.map((a) => [1000 + a]))
    expect(client.stats.timeouts).toBe(0)
  })

  it('matches replies sent out of order to their requests', async () => {
    const held: Array<[Req, net.Socket]> = []
    const server = await startServer((req, sock) => {
      held.push([req, sock])
      if (held.length === 3) for (const [r, s] of held.splice(0).reverse()) server.reply(r, s)
    })
    const client = makeClient(server.port, { maxInFlight: 3 })
    const res = await Promise.all([100, 200, 300].map((a) => client.readHoldingRegisters(4, a, 1)))
    expect(res).toEqual([[4100], [4200], [4300]])
    expect(client.stats.lateReplies).toBe(0)
    expect(client.stats.maxInFlight).toBe(3)
  })

  it('a high-priority write jumps ahead of queued reads (never ahead of sent ones)', async () => {
    let first = true
    const server = await startServer((req, sock) => {
      if (first) {
        first = false
        setTimeout(() => server.reply(req, sock), 50)
      } else {
        server.reply(req, sock)
      }
    })
    const client = makeClient(server.port, { maxInFlight: 1 })
    await client.connect()
    const ops: Array<Promise<unknown>> = [
      client.readHoldingRegisters(1, 1, 1),
      client.readHoldingRegisters(1, 2, 1),
      client.readHoldingRegisters(1, 3, 1),
      client.writeRegister(1, 100, 7),
      client.readHoldingRegisters(1, 5, 1, { priority: 'high' }),
      client.writeRegisters(1, 200, [1, 2], { priority: 'normal' })
    ]
    await Promise.all(ops)
    expect(server.requests.map((r) => `${r.fc}:${r.address}`)).toEqual(['3:1', '6:100', '3:5', '3:2', '3:3', '16:200'])
  })
})

describe('ModbusTcpClient reply matching', () => {
  it('drops and counts a late reply after a timeout; the next request gets its own reply', async () => {
    const server = await startServer((req, sock) => {
      const delay = req.address === 1 ? 200 : 150
      setTimeout(() => server.reply(req, sock), delay)
    })
    const client = makeClient(server.port, { timeoutMs: 100, retries: 0, maxInFlight: 1 })
    const t0 = Date.now()
    const r1 = await outcome(client.readHoldingRegisters(1, 1, 1))
    expect(r1).toMatchObject({ code: 'ERR_MODBUS_TIMEOUT' })
    // Sent at ~100 ms; its reply comes at ~250 ms; the late reply for #1 lands at ~200 ms in between.
    const r2 = await client.readHoldingRegisters(1, 2, 1, { timeoutMs: 400 })
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200)
    expect(r2).toEqual([1002])
    expect(client.stats.lateReplies).toBe(1)
    expect(client.stats.responses).toBe(1)
    expect(client.stats.timeouts).toBe(1)
  })

  it('drops forged replies with a matching tid but the wrong unit or function code', async () => {
    const logger = recorder()
    const server = await startServer((req, sock) => {
      sock.write(encodeReadHoldingRegistersResponse(req.tid, req.unit + 1, [0xdead]))
      sock.write(encodeFrame(req.tid, req.unit, 0x04, Buffer.from([2, 0xde, 0xad])))
      sock.write(encodeExceptionResponse(req.tid, req.unit, 0x04, 2))
      setTimeout(() => server.reply(req, sock), 20)
    })
    const client = makeClient(server.port, { logger })
    expect(await client.readHoldingRegisters(7, 50, 1)).toEqual([7050])
    expect(client.stats.lateReplies).toBe(3)
    expect(client.stats.exceptions).toBe(0)
    expect(client.stats.maxInFlight).toBe(1)
    expect(logger.warns).toEqual([expect.objectContaining({ maxInFlight: 1, reason: 'unit_fc_mismatch' })])
  })

  it('drops the window to 1 for good after a transaction-id mismatch and logs once', async () => {
    const logger = recorder()
    let forged = 0
    const server = await startServer((req, sock) => {
      if (forged < 2) {
        forged++
        sock.write(encodeReadHoldingRegistersResponse((req.tid + 1000) & 0xffff, req.unit, [1]))
      }
      setTimeout(() => server.reply(req, sock), 5)
    })
    const client = makeClient(server.port, { logger, maxInFlight: 4 })
    expect(client.stats.maxInFlight).toBe(4)
    expect(await client.readHoldingRegisters(1, 0, 1)).toEqual([1000])
    expect(client.stats.maxInFlight).toBe(1)
    expect(await client.readHoldingRegisters(1, 1, 1)).toEqual([1001])
    expect(client.stats.lateReplies).toBe(2)
    expect(logger.warns).toEqual([{ maxInFlight: 1, reason: 'tid_mismatch', host: '127.0.0.1', port: server.port }])
    server.resetCounters()
    const res = await Promise.all([1, 2, 3, 4, 5, 6].map((a) => client.readHoldingRegisters(1, a, 1)))
    expect(res).toEqual([[1001], [1002], [1003], [1004], [1005], [1006]])
    expect(server.maxOutstanding).toBe(1)
  })

  it('rejects exception replies with ERR_MODBUS_EXCEPTION_xx and exceptionCode; a refused read (02) and a write are not resent', async () => {
    const server = await startServer((req, sock) => {
      const code = req.address === 9999 ? 0x02 : 0x0a
      server.reply(req, sock, encodeExceptionResponse(req.tid, req.unit, req.fc, code))
    })
    const client = makeClient(server.port, { retries: 3 })
    const e2 = await outcome(client.readHoldingRegisters(1, 9999, 1))
    expect(e2).toMatchObject({ code: 'ERR_MODBUS_EXCEPTION_02', err: { exceptionCode: 2 } })
    expect((e2 as { err: unknown }).err).toBeInstanceOf(ModbusExceptionError)
    const e10 = await outcome(client.writeRegister(1, 9998, 1))
    expect(e10).toMatchObject({ code: 'ERR_MODBUS_EXCEPTION_0A', err: { exceptionCode: 10, functionCode: 6 } })
    expect(server.requests).toHaveLength(2)
    expect(client.stats.exceptions).toBe(2)
    expect(client.stats.lateReplies).toBe(0)
  })

  it('rejects malformed replies with ERR_MODBUS_MALFORMED_REPLY', async () => {
    const server = await startServer((req, sock) => {
      if (req.fc === 0x03) server.reply(req, sock, encodeReadHoldingRegistersResponse(req.tid, req.unit, [1, 2, 3]))
      else server.reply(req, sock, encodeWriteSingleRegisterResponse(req.tid, req.unit, req.address, req.values[0] + 1))
    })
    const client = makeClient(server.port)
    expect(await outcome(client.readHoldingRegisters(1, 0, 2))).toMatchObject({ code: 'ERR_MODBUS_MALFORMED_REPLY' })
    expect(await outcome(client.writeRegister(1, 0, 5))).toMatchObject({ code: 'ERR_MODBUS_MALFORMED_REPLY' })
    expect(server.requests).toHaveLength(2)
  })
})

/** A handler that answers the requests of one register with these exception codes in turn, then with data. */
function exceptionsThenData (server: TestServer, codes: number[]): RequestHandler {
  let n = 0
  return (req, sock) => {
    const code = codes[n++]
    if (code === undefined) server.reply(req, sock)
    else server.reply(req, sock, encodeExceptionResponse(req.tid, req.unit, req.fc, code))
  }
}

async function serverAnswering (codes: number[]): Promise<TestServer> {
  const server = await startServer()
  server.onRequest = exceptionsThenData(server, codes)
  return server
}

describe('ModbusTcpClient exception retries (reads, within `retries`)', () => {
  it('04 once, then data: the read succeeds with one retry counted, resent at once with a new transaction id', async () => {
    const server = await serverAnswering([0x04])
    const client = makeClient(server.port, { retries: 2, backoffMinMs: 200, backoffMaxMs: 400 })
    const t0 = Date.now()
    expect(await client.readHoldingRegisters(3, 1, 2)).toEqual([3001, 3002])
    expect(Date.now() - t0).toBeLessThan(150) // no busy delay for 04
    expect(server.requests.map((r) => [r.unit, r.fc, r.address])).toEqual([[3, 3, 1], [3, 3, 1]])
    expect(server.requests[0].tid).not.toBe(server.requests[1].tid)
    expect(client.stats).toMatchObject({ requests: 2, responses: 2, exceptions: 1, retries: 1, recovered: 1, timeouts: 0, lateReplies: 0 })
  })

  it('06 twice, then data, with a budget of 3: succeeds after two busy delays (backoffMinMs)', async () => {
    const server = await serverAnswering([0x06, 0x06])
    const client = makeClient(server.port, { backoffMinMs: 60, backoffMaxMs: 200 })
    await client.connect()
    const t0 = Date.now()
    expect(await client.readHoldingRegisters(1, 0, 1, { retries: 3 })).toEqual([1000])
    const elapsed = Date.now() - t0
    expect(elapsed).toBeGreaterThanOrEqual(110) // 2 × 60 ms
    expect(elapsed).toBeLessThan(600)
    expect(server.requests).toHaveLength(3)
    expect(client.stats).toMatchObject({ exceptions: 2, retries: 2, recovered: 1 })
  })

  it('05 and 0A wait like 06; 0B is resent at once like a timeout', async () => {
    const server = await serverAnswering([0x05, 0x0a, 0x0b])
    const client = makeClient(server.port, { retries: 3, backoffMinMs: 50, backoffMaxMs: 200 })
    await client.connect()
    const t0 = Date.now()
    expect(await client.readHoldingRegisters(1, 0, 1)).toEqual([1000])
    expect(Date.now() - t0).toBeGreaterThanOrEqual(95)
    expect(server.requests).toHaveLength(4)
    expect(client.stats).toMatchObject({ exceptions: 3, retries: 3 })
  })

  it('the busy delay is at most the request timeout', async () => {
    const server = await serverAnswering([0x06])
    const client = makeClient(server.port, { retries: 1, timeoutMs: 80, backoffMinMs: 5000, backoffMaxMs: 5000 })
    await client.connect()
    const t0 = Date.now()
    expect(await client.readHoldingRegisters(1, 0, 1)).toEqual([1000])
    expect(Date.now() - t0).toBeLessThan(1000)
    expect(client.stats.timeouts).toBe(0) // waiting is not an attempt on the wire
  })

  it('02 (and 01, 03) fail at once without a resend', async () => {
    for (const code of [0x01, 0x02, 0x03]) {
      const server = await serverAnswering([code])
      const client = makeClient(server.port, { retries: 3 })
      expect(await outcome(client.readHoldingRegisters(1, 0, 1))).toMatchObject({ code: `ERR_MODBUS_EXCEPTION_0${code}`, err: { exceptionCode: code } })
      expect(server.requests).toHaveLength(1)
      expect(client.stats).toMatchObject({ exceptions: 1, retries: 0 })
    }
  })

  it('exceptions beyond the budget: the last attempt\'s exception is the result (ERR_MODBUS_EXCEPTION_04)', async () => {
    const server = await serverAnswering([0x04, 0x04, 0x04, 0x04])
    const client = makeClient(server.port, { retries: 2 })
    const res = await outcome(client.readHoldingRegisters(1, 0, 1))
    expect(res).toMatchObject({ code: 'ERR_MODBUS_EXCEPTION_04', err: { exceptionCode: 4, functionCode: 3 } })
    expect((res as { err: unknown }).err).toBeInstanceOf(ModbusExceptionError)
    expect(server.requests).toHaveLength(3) // 1 + 2 retries
    expect(client.stats).toMatchObject({ exceptions: 3, retries: 2, recovered: 0 })
    // retries: 0 → one attempt
    expect(await outcome(client.readHoldingRegisters(1, 0, 1, { retries: 0 }))).toMatchObject({ code: 'ERR_MODBUS_EXCEPTION_04' })
    expect(server.requests).toHaveLength(4)
  })

  it('a write answered with 04 (FC06 or FC16) is never resent, even when the request allows resends', async () => {
    const server = await startServer((req, sock) => server.reply(req, sock, encodeExceptionResponse(req.tid, req.unit, req.fc, 0x04)))
    const client = makeClient(server.port, { retries: 3 })
    expect(await outcome(client.writeRegister(1, 600, 1, { retries: 3 }))).toMatchObject({ code: 'ERR_MODBUS_EXCEPTION_04', err: { functionCode: 6 } })
    expect(server.requests.map((r) => r.fc)).toEqual([6])
    for (const code of [0x06, 0x0b]) {
      server.onRequest = (req, sock) => server.reply(req, sock, encodeExceptionResponse(req.tid, req.unit, req.fc, code))
      expect(await outcome(client.writeRegisters(1, 304, [1, 2], { retries: 3 }))).toMatchObject({ code: `ERR_MODBUS_EXCEPTION_0${code.toString(16).toUpperCase()}` })
    }
    expect(server.requests.map((r) => r.fc)).toEqual([6, 16, 16])
    expect(client.stats.retries).toBe(0)
  })

  it('timeouts and exceptions share one budget', async () => {
    let n = 0
    const server = await startServer((req, sock) => {
      if (++n === 1) return // lost
      if (n === 2) server.reply(req, sock, encodeExceptionResponse(req.tid, req.unit, req.fc, 0x04))
      else server.reply(req, sock)
    })
    const client = makeClient(server.port, { timeoutMs: 80, retries: 1, halfOpenAfterTimeouts: 100 })
    expect(await outcome(client.readHoldingRegisters(1, 0, 1))).toMatchObject({ code: 'ERR_MODBUS_EXCEPTION_04' })
    expect(server.requests).toHaveLength(2)
    expect(client.stats).toMatchObject({ timeouts: 1, exceptions: 1, retries: 1 })
  })

  it('close() during a busy delay rejects with ERR_MODBUS_CLOSED and leaves no timer', async () => {
    const timers = trackTimers()
    try {
      const server = await startServer((req, sock) => server.reply(req, sock, encodeExceptionResponse(req.tid, req.unit, req.fc, 0x06)))
      const client = makeClient(server.port, { retries: 2, timeoutMs: 5000, backoffMinMs: 4000, backoffMaxMs: 4000 })
      const pending = outcome(client.readHoldingRegisters(1, 0, 1))
      await waitFor(() => client.stats.exceptions === 1, 2000, 5)
      await client.close()
      expect(await pending).toMatchObject({ code: 'ERR_MODBUS_CLOSED' })
      await waitFor(() => timers.live.size === 0, 1000, 5)
      expect(server.requests).toHaveLength(1)
    } finally {
      timers.stop()
    }
  })

  it('a pinned read waiting out a busy delay fails with ERR_MODBUS_CONNECTION_CHANGED when its connection drops', async () => {
    const server = await startServer((req, sock) => server.reply(req, sock, encodeExceptionResponse(req.tid, req.unit, req.fc, 0x06)))
    const client = makeClient(server.port, { retries: 2, timeoutMs: 2000, backoffMinMs: 500, backoffMaxMs: 500 })
    const connectionId = await client.connect()
    const pending = outcome(client.readHoldingRegisters(1, 300, 4, { connectionId }))
    await waitFor(() => client.stats.exceptions === 1, 2000, 5)
    server.sockets[0].destroy()
    expect(await pending).toMatchObject({ code: 'ERR_MODBUS_CONNECTION_CHANGED' })
    expect(server.requests).toHaveLength(1)
  })
})

describe('ModbusTcpClient timeouts and reconnects', () => {
  it('times out with ERR_MODBUS_TIMEOUT; reads retry once, writes never', async () => {
    const server = await startServer(() => {})
    const client = makeClient(server.port, { timeoutMs: 120, retries: 1, halfOpenAfterTimeouts: 100, maxInFlight: 1 })
    let t0 = Date.now()
    expect(await outcome(client.readHoldingRegisters(1, 0, 1, { timeoutMs: 60 }))).toMatchObject({ code: 'ERR_MODBUS_TIMEOUT' })
    let elapsed = Date.now() - t0
    expect(elapsed).toBeGreaterThanOrEqual(110) // two attempts of 60 ms
    expect(elapsed).toBeLessThan(500)
    expect(server.requests).toHaveLength(2)
    expect(server.requests[0].tid).not.toBe(server.requests[1].tid)

    t0 = Date.now()
    expect(await outcome(client.writeRegister(1, 0, 1))).toMatchObject({ code: 'ERR_MODBUS_TIMEOUT' })
    elapsed = Date.now() - t0
    expect(elapsed).toBeGreaterThanOrEqual(110)
    expect(elapsed).toBeLessThan(400)
    expect(server.requests).toHaveLength(3)
    expect(client.stats.timeouts).toBe(3)
    expect(client.connectionId).toBe(1)
  })

  it('keeps the window under loss: timeouts of pipelined requests that requests sent alone suffer as much are loss', async () => {
    const logger = recorder()
    let n = 0
    // Two of every three requests are lost, whatever the window: a lossy link, not a pipelining failure.
    const server = await startServer((req, sock) => { if (++n % 3 === 0) server.reply(req, sock) })
    const client = new ModbusTcpClient({ host: '127.0.0.1', port: server.port, timeoutMs: 100, retries: 0, halfOpenAfterTimeouts: 1000, backoffMinMs: 20, backoffMaxMs: 200, logger },
      { windowSampleSize: 4, windowTrialSize: 3 })
    clients.push(client)
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => outcome(client.readHoldingRegisters(1, i, 1))))
    expect(results.filter((r) => 'code' in r).length).toBeGreaterThanOrEqual(6)
    // Nothing suspended (a trial, if any, lost as many one at a time): the window is 4, no warning.
    expect(client.stats.maxInFlight).toBe(4)
    expect(logger.warns).toEqual([])
    server.resetCounters()
    n = 2 // answer everything from now on
    server.onRequest = (req, sock) => { setTimeout(() => server.reply(req, sock), 20) }
    await Promise.all([1, 2, 3, 4].map((a) => client.readHoldingRegisters(1, a, 1)))
    expect(server.maxOutstanding).toBe(4)
  })

  /** A device that drops a request arriving within 40 ms of the previous one (it cannot take two at once). */
  async function crowdDroppingServer (forge: { next: boolean } = { next: false }): Promise<TestServer> {
    let lastArrival = -Infinity
    const server = await startServer((req, sock) => {
      const now = Date.now()
      const crowded = now - lastArrival < 40
      lastArrival = now
      if (forge.next) {
        forge.next = false
        sock.write(encodeReadHoldingRegistersResponse((req.tid + 1000) & 0xffff, req.unit, [1]))
      }
      if (!crowded) setTimeout(() => server.reply(req, sock), 80)
    })
    return server
  }

  /** Units 1–8, each asked alone (`prime`, `readAloneUntil`) or all at once (`burst`). */
  function unitsOf (client: ModbusTcpClient): { prime: () => Promise<void>, burst: () => Promise<unknown>, readAloneUntil: (cond: () => boolean) => Promise<void> } {
    const units = [1, 2, 3, 4, 5, 6, 7, 8]
    return {
      prime: async () => { for (const u of units) expect(await client.readHoldingRegisters(u, 0, 1)).toEqual([u * 1000]) },
      burst: () => Promise.all(units.map((u) => outcome(client.readHoldingRegisters(u, 0, 1)))),
      readAloneUntil: async (cond) => {
        for (let i = 0; i < 24 && !cond(); i++) expect(await client.readHoldingRegisters(units[i % 8], 0, 1)).toEqual([units[i % 8] * 1000])
        expect(cond()).toBe(true)
      }
    }
  }

  it('suspends pipelining when pipelined requests are dropped but requests sent alone are answered', async () => {
    const logger = recorder()
    const server = await crowdDroppingServer()
    const client = new ModbusTcpClient({ host: '127.0.0.1', port: server.port, timeoutMs: 250, retries: 0, halfOpenAfterTimeouts: 1000, backoffMinMs: 20, backoffMaxMs: 200, logger },
      { windowSampleSize: 4, windowTrialSize: 3, restoreWindowAfterReplies: 3 })
    clients.push(client)
    const { prime, burst, readAloneUntil } = unitsOf(client)
    await prime() // every unit answers when asked alone
    await burst()
    expect(client.stats.maxInFlight).toBe(1) // on trial: one at a time
    await readAloneUntil(() => logger.warns.length === 1)
    expect(logger.warns).toEqual([expect.objectContaining({ maxInFlight: 1, reason: 'pipelined_timeouts', restoreAfterReplies: 3, serialTimeoutRate: 0 })])
    // Suspended for restoreAfterReplies replies, then pipelining is tried again.
    await readAloneUntil(() => client.stats.maxInFlight === 4)
    // The same device gets it suspended again, for twice as long.
    await prime()
    await burst()
    await readAloneUntil(() => logger.warns.length === 2)
    expect(logger.warns[1]).toMatchObject({ reason: 'pipelined_timeouts', restoreAfterReplies: 6 })
  })

  it('units that do not answer at all say nothing about pipelining: the window stays', async () => {
    const logger = recorder()
    // units 2–8 are absent behind a healthy link; unit 1 answers everything
    const server = await startServer((req, sock) => { if (req.unit === 1) setTimeout(() => server.reply(req, sock), 5) })
    const client = new ModbusTcpClient({ host: '127.0.0.1', port: server.port, timeoutMs: 100, retries: 0, halfOpenAfterTimeouts: 1000, backoffMinMs: 20, backoffMaxMs: 200, logger },
      { windowSampleSize: 4, windowTrialSize: 3 })
    clients.push(client)
    for (let round = 0; round < 3; round++) {
      await Promise.all([1, 2, 3, 4, 5, 6, 7, 8, 1, 1].map((u) => outcome(client.readHoldingRegisters(u, 0, 1))))
    }
    expect(client.stats.timeouts).toBe(21)
    expect(client.stats.maxInFlight).toBe(4)
    expect(logger.warns).toEqual([])
    expect(logger.debugs.filter((m) => m.includes('one at a time'))).toEqual([]) // not even put on trial
  })

  it('a transaction-id mismatch while pipelining is on trial makes it final', async () => {
    const forge = { next: false }
    const server = await crowdDroppingServer(forge)
    const client = new ModbusTcpClient({ host: '127.0.0.1', port: server.port, timeoutMs: 250, retries: 0, halfOpenAfterTimeouts: 1000, backoffMinMs: 20, backoffMaxMs: 200 },
      { windowSampleSize: 4, windowTrialSize: 3, restoreWindowAfterReplies: 3 })
    clients.push(client)
    const { prime, burst } = unitsOf(client)
    await prime()
    await burst()
    expect(client.stats.maxInFlight).toBe(1) // on trial
    forge.next = true
    await client.readHoldingRegisters(1, 0, 1)
    // without the mismatch, these would end the trial, the suspension (3 replies) and bring the window back
    for (let i = 0; i < 8; i++) await client.readHoldingRegisters(1 + (i % 8), 0, 1)
    expect(client.stats.maxInFlight).toBe(1)
    expect(client.stats.lateReplies).toBe(1)
  })

  it("resends a write only when the request asks (RequestOptions.retries): same frame, new transaction id; the first send's late ack is dropped", async () => {
    let n = 0
    // the first send is applied but its ack comes after the timeout; the resend is acked at once
    const server = await startServer((req, sock) => {
      const late = ++n === 1
      const buf = server.answer(req)
      if (late) setTimeout(() => server.reply(req, sock, buf), 150)
      else server.reply(req, sock, buf)
    })
    const client = makeClient(server.port, { timeoutMs: 100, retries: 3, halfOpenAfterTimeouts: 100 })
    await client.writeRegister(1, 613, 4150, { retries: 2 })
    expect(server.requests.map((r) => [r.unit, r.address, r.values])).toEqual([[1, 613, [4150]], [1, 613, [4150]]])
    expect(server.requests[0].tid).not.toBe(server.requests[1].tid)
    await waitFor(() => client.stats.lateReplies === 1, 2000, 5)
    expect(client.stats).toMatchObject({ timeouts: 1, responses: 1 })
    // without it, a write is sent once whatever the client's read retries
    n = 0
    server.onRequest = () => {}
    expect(await outcome(client.writeRegister(1, 613, 1))).toMatchObject({ code: 'ERR_MODBUS_TIMEOUT' })
    expect(server.requests).toHaveLength(3)
    expect(await outcome(client.readHoldingRegisters(1, 0, 1, { retries: 0 }))).toMatchObject({ code: 'ERR_MODBUS_TIMEOUT' })
    expect(server.requests).toHaveLength(4)
    expect(await outcome(client.writeRegister(1, 0, 1, { retries: -1 }))).toMatchObject({ code: 'ERR_MODBUS_INVALID_ARGS' })
    expect(await outcome(client.readHoldingRegisters(1, 0, 1, { retries: 1.5 }))).toMatchObject({ code: 'ERR_MODBUS_INVALID_ARGS' })
  })

  it('treats the socket as half-open after N consecutive timeouts and reconnects', async () => {
    const logger = recorder()
    const server = await startServer((req, sock) => {
      if (req.conn > 1) server.reply(req, sock) // the first connection is a black hole
    })
    const client = makeClient(server.port, { timeoutMs: 80, retries: 0, halfOpenAfterTimeouts: 2, maxInFlight: 1, logger })
    expect(await outcome(client.readHoldingRegisters(1, 0, 1))).toMatchObject({ code: 'ERR_MODBUS_TIMEOUT' })
    expect(client.connectionId).toBe(1)
    expect(await outcome(client.readHoldingRegisters(1, 0, 1))).toMatchObject({ code: 'ERR_MODBUS_TIMEOUT' })
    await waitFor(() => server.closedSockets === 1, 1000, 5)
    expect(await client.readHoldingRegisters(1, 42, 1)).toEqual([1042])
    expect(client.connectionId).toBe(2)
    expect(client.stats.reconnects).toBe(1)
    expect(server.requests.map((r) => r.conn)).toEqual([1, 1, 2])
    expect(logger.warns).toContainEqual(expect.objectContaining({ timeouts: 2, connectionId: 1 }))
  })

  it('retries a read on a new connection when the server drops it mid-request', async () => {
    const server = await startServer((req, sock) => {
      if (req.conn === 1) sock.destroy()
      else server.reply(req, sock)
    })
    const client = makeClient(server.port)
    expect(await client.readHoldingRegisters(5, 7, 2)).toEqual([5007, 5008])
    expect(server.requests.map((r) => r.conn)).toEqual([1, 2])
    expect(client.connectionId).toBe(2)
    expect(client.stats.reconnects).toBe(1)
  })

  it('does not retry a write when the connection drops mid-request', async () => {
    const server = await startServer((req, sock) => {
      if (req.conn === 1) sock.destroy()
      else server.reply(req, sock)
    })
    const client = makeClient(server.port, { retries: 3 })
    expect(await outcome(client.writeRegister(1, 600, 1))).toMatchObject({ code: 'ERR_MODBUS_CONNECTION_CLOSED' })
    expect(server.requests).toHaveLength(1)
    await client.writeRegister(1, 600, 1)
    expect(server.requests.map((r) => r.conn)).toEqual([1, 2])
  })

  it('rejects quickly with ERR_MODBUS_NOT_CONNECTED when the connection is refused', async () => {
    const port = await freePort()
    const client = makeClient(port, { timeoutMs: 2000, backoffMinMs: 50 })
    const t0 = Date.now()
    expect(await outcome(client.readHoldingRegisters(1, 0, 1))).toMatchObject({ code: 'ERR_MODBUS_NOT_CONNECTED' })
    expect(Date.now() - t0).toBeLessThan(500)
    expect(await outcome(client.connect())).toMatchObject({ code: 'ERR_MODBUS_NOT_CONNECTED' })
    expect(Date.now() - t0).toBeLessThan(1000)
    expect(client.connected).toBe(false)
    expect(client.connectionId).toBe(0)

    // The device comes up: a request issued during the backoff waits for the next attempt.
    const server = new TestServer()
    servers.push(server)
    await server.listen(port)
    expect(await client.readHoldingRegisters(1, 3, 1)).toEqual([1003])
    expect(client.connectionId).toBe(1)
  })

  it('connect() during a backoff longer than the timeout gives up after the timeout', async () => {
    const port = await freePort()
    const client = makeClient(port, { timeoutMs: 100, backoffMinMs: 3000, backoffMaxMs: 3000 })
    expect(await outcome(client.connect())).toMatchObject({ code: 'ERR_MODBUS_NOT_CONNECTED' })
    const t0 = Date.now()
    expect(await outcome(client.connect())).toMatchObject({ code: 'ERR_MODBUS_NOT_CONNECTED' })
    const elapsed = Date.now() - t0
    expect(elapsed).toBeGreaterThanOrEqual(90)
    expect(elapsed).toBeLessThan(1500)
  })

  it('a request waiting on a backoff longer than its timeout fails with ERR_MODBUS_NOT_CONNECTED', async () => {
    const port = await freePort()
    const client = makeClient(port, { backoffMinMs: 1000, backoffMaxMs: 1000 })
    expect(await outcome(client.readHoldingRegisters(1, 0, 1))).toMatchObject({ code: 'ERR_MODBUS_NOT_CONNECTED' })
    const t0 = Date.now()
    expect(await outcome(client.readHoldingRegisters(1, 0, 1, { timeoutMs: 100 }))).toMatchObject({ code: 'ERR_MODBUS_NOT_CONNECTED' })
    const elapsed = Date.now() - t0
    expect(elapsed).toBeGreaterThanOrEqual(90)
    expect(elapsed).toBeLessThan(600) // did not wait for the 1 s backoff
  })

  it('reconnects in the background after a drop, with a bounded backoff', async () => {
    const server = await startServer()
    const client = makeClient(server.port, { backoffMinMs: 30, backoffMaxMs: 100 })
    expect(await client.connect()).toBe(1)
    server.sockets[0].destroy()
    await waitFor(() => server.sockets.length === 2, 1000, 5)
    await waitFor(() => client.connected, 1000, 5)
    expect(client.connectionId).toBe(2)
    expect(await client.readHoldingRegisters(1, 0, 1)).toEqual([1000])
  })

  it('pins requests to a connection id (ERR_MODBUS_CONNECTION_CHANGED)', async () => {
    const server = await startServer()
    const client = makeClient(server.port, { backoffMinMs: 30 })
    const id = await client.connect()
    expect(id).toBe(1)
    await client.writeRegister(1, 10, 1, { connectionId: id })
    server.sockets[0].destroy()
    await waitFor(() => !client.connected, 1000, 5)
    expect(await outcome(client.readHoldingRegisters(1, 0, 1, { connectionId: id }))).toMatchObject({ code: 'ERR_MODBUS_CONNECTION_CHANGED' })
    const id2 = await client.connect()
    expect(id2).toBe(2)
    expect(await outcome(client.writeRegister(1, 10, 1, { connectionId: id }))).toMatchObject({ code: 'ERR_MODBUS_CONNECTION_CHANGED' })
    await client.writeRegister(1, 10, 2, { connectionId: id2 })
    expect(server.requests.map((r) => r.conn)).toEqual([1, 2])
  })

  it('rejects a queued pinned request when its connection drops before it is sent', async () => {
    const server = await startServer(() => {}) // never answers
    const client = makeClient(server.port, { maxInFlight: 1, retries: 0, timeoutMs: 1000 })
    const id = await client.connect()
    const inFlight = outcome(client.readHoldingRegisters(1, 0, 1))
    const pinned = outcome(client.writeRegister(1, 0, 1, { connectionId: id, priority: 'normal' }))
    await waitFor(() => server.requests.length === 1, 2000, 5)
    server.sockets[0].destroy()
    expect(await inFlight).toMatchObject({ code: 'ERR_MODBUS_CONNECTION_CLOSED' })
    expect(await pinned).toMatchObject({ code: 'ERR_MODBUS_CONNECTION_CHANGED' })
    expect(server.requests).toHaveLength(1)
  })
})

describe('ModbusTcpClient close', () => {
  it('rejects pending and queued requests, closes the socket, leaves no timers or sockets, is idempotent', async () => {
    const server = await startServer(() => {})
    await waitFor(() => activeSockets() === 0, 2000, 5) // sockets of earlier tests finish closing
    const timers = trackTimers()
    try {
      const client = makeClient(server.port, { maxInFlight: 1, timeoutMs: 5000 })
      const a = outcome(client.readHoldingRegisters(1, 0, 1))
      const b = outcome(client.writeRegister(1, 0, 1))
      await waitFor(() => server.requests.length === 1, 2000, 5)
      expect(timers.live.size).toBeGreaterThanOrEqual(2)
      expect(activeSockets()).toBe(2) // client + server side
      await client.close()
      expect(await a).toMatchObject({ code: 'ERR_MODBUS_CLOSED' })
      expect(await b).toMatchObject({ code: 'ERR_MODBUS_CLOSED' })
      await waitFor(() => server.closedSockets === 1, 1000, 5)
      expect(client.connected).toBe(false)
      // The client's timers are 5 s long: any still alive within 1 s is a leak.
      await waitFor(() => timers.live.size === 0, 1000, 5)
      await waitFor(() => activeSockets() === 0, 1000, 5)
      expect(await outcome(client.readHoldingRegisters(1, 0, 1))).toMatchObject({ code: 'ERR_MODBUS_CLOSED' })
      expect(await outcome(client.connect())).toMatchObject({ code: 'ERR_MODBUS_CLOSED' })
      await client.close()
      expect(server.requests).toHaveLength(1)
      expect(server.sockets).toHaveLength(1)
    } finally {
      timers.stop()
    }
  })

  it('close() during a backoff clears the reconnect timer', async () => {
    const port = await freePort()
    const timers = trackTimers()
    try {
      const client = makeClient(port, { backoffMinMs: 5000, backoffMaxMs: 5000 })
      expect(await outcome(client.readHoldingRegisters(1, 0, 1))).toMatchObject({ code: 'ERR_MODBUS_NOT_CONNECTED' })
      const waiting = outcome(client.readHoldingRegisters(1, 0, 1, { timeoutMs: 5000 }))
      await sleep(10)
      expect(timers.live.size).toBeGreaterThanOrEqual(2) // request timer + backoff timer
      await client.close()
      expect(await waiting).toMatchObject({ code: 'ERR_MODBUS_CLOSED' })
      await waitFor(() => timers.live.size === 0, 1000, 5)
    } finally {
      timers.stop()
    }
  })
})

describe('ModbusTcpClient transaction ids', () => {
  it('wraps transaction ids from 65535 back to 1, never using 0', async () => {
    const server = await startServer()
    const client = new ModbusTcpClient({ host: '127.0.0.1', port: server.port }, { firstTransactionId: 65533 })
    clients.push(client)
    const res = await Promise.all([0, 1, 2, 3, 4, 5].map((a) => client.readHoldingRegisters(1, a, 1)))
    expect(res).toEqual([[1000], [1001], [1002], [1003], [1004], [1005]])
    expect(server.requests.map((r) => r.tid)).toEqual([65533, 65534, 65535, 1, 2, 3])
    expect(() => new ModbusTcpClient({ host: '127.0.0.1', port: 502 }, { firstTransactionId: 0 })).toThrow()
  })
})
