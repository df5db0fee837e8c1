/**
 * Flood detection (workers/lib/modbus/flood.ts): the budget on its own, then the real client
 * against a TCP server that floods from the first connection, starts flooding mid-run, sends
 * junk, or only misbehaves within the budget (duplicate and late replies, which must not count).
 */
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { ModbusTcpClient } from '../../../../workers/lib/modbus/client'
import { DEFAULT_FLOOD_SETTINGS, FloodGuard } from '../../../../workers/lib/modbus/flood'
import { MbapStreamParser, encodeReadHoldingRegistersResponse } from '../../../../workers/lib/modbus/frame'
import type { ModbusClientOptions } from '../../../../workers/lib/modbus/types'
import { waitFor } from '../../../helpers/wait'

describe('FloodGuard', () => {
  const { minFrames, perRequest, windowMs } = DEFAULT_FLOOD_SETTINGS

  it(`allows ${minFrames} unsolicited frames per window with nothing sent, and ${perRequest} more per attempt`, () => {
    const g = new FloodGuard()
    g.reset(0)
    for (let i = 0; i < minFrames; i++) expect(g.unsolicited(10)).toBe(false)
    expect(g.unsolicited(10)).toBe(true)
    expect(g.report()).toEqual({ unsolicitedFrames: minFrames + 1, junkBytes: 0, attemptsSent: 0, windowMs })

    g.reset(0)
    g.sentOne(1)
    g.sentOne(1)
    for (let i = 0; i < minFrames + 2 * perRequest; i++) expect(g.unsolicited(2)).toBe(false)
    expect(g.unsolicited(2)).toBe(true)
  })

  it('a new window starts the count again; the attempts of the window before still count, older ones not', () => {
    const g = new FloodGuard()
    g.reset(0)
    for (let i = 0; i < 10; i++) g.sentOne(0)
    for (let i = 0; i < minFrames; i++) g.unsolicited(500)
    // next window: the 10 attempts of the previous one still allow their replies
    for (let i = 0; i < minFrames + 10 * perRequest; i++) expect(g.unsolicited(windowMs + 1)).toBe(false)
    expect(g.unsolicited(windowMs + 2)).toBe(true)
    // two windows later with nothing sent in between: only the minimum
    for (let i = 0; i < minFrames; i++) expect(g.unsolicited(4 * windowMs)).toBe(false)
    expect(g.unsolicited(4 * windowMs)).toBe(true)
  })

  it('junk bytes count as frames of 260 bytes', () => {
    const g = new FloodGuard()
    g.reset(0)
    expect(g.junkBytes(0, 1)).toBe(false)
    expect(g.junkBytes(minFrames * 260, 1)).toBe(false)
    expect(g.junkBytes(1, 1)).toBe(true)
  })
})

// ------------------------------------------------------------------ the client against a device

interface Behaviour {
  /** Unsolicited frames written per burst (every 5 ms) while flooding; 0 = none. */
  floodBurst: number
  /** Start flooding once this many requests were answered (0 = from the connection on). */
  floodAfter: number
  /** Bytes of junk (no valid MBAP header) written once per connection, right away. */
  junk: number
  /** Answer every request this many times. */
  copies: number
  /** Answer after this many ms. */
  delayMs: number
}

/** A Modbus TCP device whose misbehaviour each test sets. */
class Device {
  readonly server: net.Server
  port = 0
  readonly sockets: net.Socket[] = []
  closed = 0
  requests = 0
  answered = 0
  behaviour: Behaviour = { floodBurst: 0, floodAfter: 0, junk: 0, copies: 1, delayMs: 0 }
  private readonly timers = new Set<NodeJS.Timeout>()

  constructor () {
    this.server = net.createServer((sock) => {
      this.sockets.push(sock)
      sock.on('error', () => {})
      sock.on('close', () => { this.closed++ })
      if (this.behaviour.junk > 0) sock.write(Buffer.alloc(this.behaviour.junk, 0xff))
      let tid = 1
      const burst = (): void => {
        const b = this.behaviour
        if (sock.destroyed || b.floodBurst === 0 || this.answered < b.floodAfter || sock.writableLength > 1 << 20) return
        const frames: Buffer[] = []
        for (let i = 0; i < b.floodBurst; i++) {
          tid = (tid * 7919 + 13) % 0xffff + 1
          frames.push(encodeReadHoldingRegistersResponse(tid, 1, [0x1234]))
        }
        sock.write(Buffer.concat(frames))
      }
      burst() // from the connection on: before any answer
      const flood = setInterval(burst, 5)
      this.timers.add(flood)
      sock.on('close', () => { clearInterval(flood); this.timers.delete(flood) })
      const parser = new MbapStreamParser((reqTid, unit, _fc, data) => {
        this.requests++
        const count = data.readUInt16BE(2)
        const reply = encodeReadHoldingRegistersResponse(reqTid, unit, new Array<number>(count).fill(7))
        const send = (): void => {
          this.answered++
          if (sock.destroyed) return
          for (let i = 0; i < this.behaviour.copies; i++) sock.write(reply)
        }
        if (this.behaviour.delayMs > 0) setTimeout(send, this.behaviour.delayMs)
        else send()
      })
      sock.on('data', (chunk: Buffer) => parser.push(chunk))
    })
  }

  async listen (): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()))
    this.port = (this.server.address() as net.AddressInfo).port
    return this
  }

  async close (): Promise<void> {
    for (const t of this.timers) clearInterval(t)
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

const devices: Device[] = []
const clients: ModbusTcpClient[] = []

afterEach(async () => {
  await Promise.all(clients.splice(0).map(async (c) => await c.close()))
  await Promise.all(devices.splice(0).map(async (d) => await d.close()))
})

async function device (behaviour: Partial<Behaviour> = {}): Promise<Device> {
  const d = await new Device().listen()
  d.behaviour = { ...d.behaviour, ...behaviour }
  devices.push(d)
  return d
}

function client (d: Device, opts: Partial<ModbusClientOptions> = {}): ModbusTcpClient {
  const c = new ModbusTcpClient({ host: '127.0.0.1', port: d.port, timeoutMs: 2000, retries: 4, backoffMinMs: 3000, backoffMaxMs: 6000, ...opts })
  clients.push(c)
  return c
}

async function codeOf (p: Promise<unknown>): Promise<string> {
  return await p.then(() => 'ok', (err: { code?: string }) => err.code ?? 'no code')
}

describe('ModbusTcpClient against a flooding device', () => {
  it('floods from the first connection: the request fails with ERR_MODBUS_FLOOD well within its timeout, the socket is dropped mid-chunk', async () => {
    const d = await device({ floodBurst: 2000 })
    const c = client(d)
    const t0 = Date.now()
    // without flood detection the device's answer would win: the read would succeed
    expect(await codeOf(c.readHoldingRegisters(1, 0, 10))).toBe('ERR_MODBUS_FLOOD')
    expect(Date.now() - t0).toBeLessThan(2000)
    expect(c.stats.floods).toBe(1)
    expect(c.connected).toBe(false)
    await waitFor(() => d.closed === 1, 5000, 5)
    // the parse stopped at the budget (33 + 4 per attempt), not at the end of a 22 kB burst
    expect(c.stats.lateReplies).toBeLessThanOrEqual(DEFAULT_FLOOD_SETTINGS.minFrames + 1 + DEFAULT_FLOOD_SETTINGS.perRequest * c.stats.requests)
    // during the backoff: refused at once, with the flood's code (not a wait for a connection)
    const t1 = Date.now()
    expect(await codeOf(c.connect())).toBe('ERR_MODBUS_FLOOD')
    expect(await codeOf(c.readHoldingRegisters(1, 0, 1))).toBe('ERR_MODBUS_FLOOD')
    expect(Date.now() - t1).toBeLessThan(1000)
    // the reconnect after the backoff is flooded again: dropped again
    await waitFor(() => c.stats.floods === 2, 15_000, 10)
    expect(d.sockets).toHaveLength(2)
  })

  it('starts flooding mid-run: the requests in flight and queued fail with ERR_MODBUS_FLOOD, none is resent', async () => {
    const d = await device({ floodBurst: 500, floodAfter: 5, delayMs: 20 })
    const c = client(d, { maxInFlight: 2 })
    for (let i = 0; i < 5; i++) expect(await c.readHoldingRegisters(1, i, 1)).toEqual([7])
    const t0 = Date.now()
    const codes = await Promise.all(Array.from({ length: 8 }, async (_, i) => await codeOf(c.readHoldingRegisters(2, i, 1))))
    expect(codes).toEqual(new Array(8).fill('ERR_MODBUS_FLOOD'))
    expect(Date.now() - t0).toBeLessThan(2000)
    expect(c.stats.retries).toBe(0)
    expect(d.requests).toBeLessThanOrEqual(5 + 2) // the window's two at most, never resent
    expect(c.stats.floods).toBe(1)
    // the flood's frames matched nothing, but they say nothing about pipelining
    expect(c.stats.maxInFlight).toBe(2)
  })

  it('junk bytes past the budget drop the connection too', async () => {
    const d = await device({ junk: 64 * 1024 })
    const c = client(d)
    expect(await codeOf(c.readHoldingRegisters(1, 0, 1))).toBe('ERR_MODBUS_FLOOD')
    expect(c.stats.floods).toBe(1)
  })

  it('within the budget: every reply twice, and late replies of a slow device, are no flood', async () => {
    const twice = await device({ copies: 2 })
    const c = client(twice, { maxInFlight: 4 })
    const reads = await Promise.all(Array.from({ length: 200 }, async (_, i) => await c.readHoldingRegisters(1 + (i % 20), i, 2)))
    expect(reads.every((r) => r.length === 2)).toBe(true)
    await waitFor(() => c.stats.lateReplies === 200, 5000, 5) // the copies: dropped, counted
    expect(c.stats.floods).toBe(0)

    // 40 late replies arriving two windows after their attempts, nothing sent since: more than
    // the minimum budget if they counted, but each answers a remembered timed-out attempt
    const slow = await device({ delayMs: 2 * DEFAULT_FLOOD_SETTINGS.windowMs + 200 })
    const s = client(slow, { timeoutMs: 100, retries: 0, maxInFlight: 40, halfOpenAfterTimeouts: 1000 })
    await waitFor(async () => await s.connect().then(() => true, () => false), 5000, 20) // connect within the short timeout, even when loaded
    const codes = await Promise.all(Array.from({ length: 40 }, async (_, i) => await codeOf(s.readHoldingRegisters(1, i, 1))))
    expect(codes).toEqual(new Array(40).fill('ERR_MODBUS_TIMEOUT'))
    await waitFor(() => s.stats.lateReplies === 40, 10_000, 10)
    expect(s.stats.floods).toBe(0)
    expect(s.connected).toBe(true)
    expect(s.connectionId).toBe(1)
  })
})
