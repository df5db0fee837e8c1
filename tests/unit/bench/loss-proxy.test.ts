/**
 * The loss proxy used by the lossy-link tests and the benchmark: its seeded policy is
 * deterministic and hits the requested rates, and each fate does what it says on the wire.
 */
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { DROP, DROP_REPLY, LossProxy, PASS, seededLoss, type FrameInfo } from '../../../bench/loss-proxy'
import { MbapStreamParser, encodeReadHoldingRegistersRequest, encodeReadHoldingRegistersResponse } from '../../../workers/lib/modbus/frame'

const frame = (unit: number, address: number, occurrence: number): FrameInfo =>
  ({ connection: 1, transactionId: 1, unit, functionCode: 3, address, occurrence })

describe('seededLoss', () => {
  it('depends only on the seed and the frame identity, and hits the requested shares', () => {
    const a = seededLoss({ seed: 7, drop: 0.1, delay: 0.05, delayMs: 1500 })
    const b = seededLoss({ seed: 7, drop: 0.1, delay: 0.05, delayMs: 1500 })
    const c = seededLoss({ seed: 8, drop: 0.1, delay: 0.05, delayMs: 1500 })
    const counts = { pass: 0, drop: 0, delayReply: 0, dropReply: 0 }
    let differs = 0
    for (let occurrence = 0; occurrence < 500; occurrence++) {
      for (let unit = 1; unit <= 20; unit++) {
        const f = frame(unit, 100, occurrence)
        const fate = a(f)
        expect(b({ ...f, transactionId: 999, connection: 3 })).toEqual(fate) // neither tid nor connection matter
        if (JSON.stringify(c(f)) !== JSON.stringify(fate)) differs++
        counts[fate.kind]++
        if (fate.kind === 'delayReply') expect(fate.ms).toBe(1500)
      }
    }
    // within 5 standard deviations of a fair draw (10 000 frames: ±0.015 for 10 %, ±0.011 for 5 %)
    const within = (n: number, p: number): void => {
      const sd = Math.sqrt(p * (1 - p) / 10_000)
      expect(Math.abs(n / 10_000 - p), `${n} of 10 000 for ${p}`).toBeLessThan(5 * sd)
    }
    within(counts.drop, 0.1)
    within(counts.delayReply, 0.05)
    expect(counts.dropReply).toBe(0)
    expect(counts.pass).toBe(10_000 - counts.drop - counts.delayReply)
    // another seed is another draw: two independent draws agree on ≈ 0.85² + 0.1² + 0.05² ≈ 73.5 % of the frames
    within(10_000 - differs, 0.735)
  })
})

describe('LossProxy', () => {
  const open: Array<{ close: () => Promise<void> }> = []
  afterEach(async () => {
    for (const x of open.splice(0).reverse()) await x.close()
  })

  /** A Modbus server answering every FC03 with register values = address, counting requests. */
  async function server (): Promise<{ port: number, received: number[] }> {
    const received: number[] = []
    const sockets = new Set<net.Socket>()
    const srv = net.createServer((sock) => {
      sockets.add(sock)
      sock.on('error', () => {})
      const parser = new MbapStreamParser((tid, unit, _fc, data) => {
        const address = data.readUInt16BE(0)
        received.push(address)
        sock.write(encodeReadHoldingRegistersResponse(tid, unit, [address]))
      })
      sock.on('data', (chunk: Buffer) => parser.push(chunk))
    })
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()))
    open.push({
      close: () => new Promise<void>((resolve) => {
        for (const sock of sockets) sock.destroy()
        srv.close(() => resolve())
      })
    })
    return { port: (srv.address() as net.AddressInfo).port, received }
  }

  it('passes, drops, drops the reply, or delays it, per request; counts occurrences of the same request', async () => {
    const { port, received } = await server()
    const seen: FrameInfo[] = []
    const proxy = new LossProxy({
      targetHost: '127.0.0.1',
      targetPort: port,
      policy: (f) => {
        seen.push(f)
        if (f.address === 2) return DROP
        if (f.address === 3) return DROP_REPLY
        if (f.address === 4) return { kind: 'delayReply', ms: 100 }
        return PASS
      }
    })
    await proxy.start()
    open.push({ close: () => proxy.stop() })
    const sock = net.connect({ host: '127.0.0.1', port: proxy.port })
    open.push({ close: async () => { sock.destroy() } })
    const replies: number[] = []
    const parser = new MbapStreamParser((tid) => replies.push(tid))
    sock.on('data', (chunk: Buffer) => parser.push(chunk))
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()))
    // tid = 10 × address + n; address 1 twice
    const sentAt = performance.now()
    for (const [tid, address] of [[11, 1], [21, 2], [31, 3], [41, 4], [12, 1]]) sock.write(encodeReadHoldingRegistersRequest(tid, 1, address, 1))
    const deadline = Date.now() + 3000
    while (replies.length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
    // the delayed reply took at least its 100 ms (timers may fire a millisecond early; a loaded box only makes it later)
    expect(performance.now() - sentAt).toBeGreaterThanOrEqual(99)
    expect(replies).toEqual([11, 12, 41]) // 41 was held back behind the later 12
    // the dropped reply never comes, not even late
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(replies).toEqual([11, 12, 41])
    expect(received).toEqual([1, 3, 4, 1]) // requests in order; 2 never reached the server
    expect(seen.map((f) => [f.address, f.occurrence])).toEqual([[1, 0], [2, 0], [3, 0], [4, 0], [1, 1]])
    expect(proxy.stats).toMatchObject({ requests: 5, forwarded: 4, dropped: 1, repliesDropped: 1, repliesDelayed: 1, replies: 4 })
  })
})
