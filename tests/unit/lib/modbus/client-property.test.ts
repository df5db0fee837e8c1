/**
 * Property test of the client's wire discipline: whatever order the replies come back in, however
 * the byte stream is cut into segments, and whatever junk or stray frames sit between them, every
 * request resolves with exactly its own registers.
 */
import net from 'node:net'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { ModbusTcpClient } from '../../../../workers/lib/modbus/client'
import { MbapStreamParser, encodeReadHoldingRegistersResponse } from '../../../../workers/lib/modbus/frame'

interface Pending { tid: number, unit: number, address: number, count: number }

/** What register `address + i` of `unit` holds in this test. */
const valueOf = (unit: number, address: number, i: number): number => (unit * 7919 + address * 31 + i) & 0xffff

interface Script {
  /** Permutation keys: replies are sent sorted by them. */
  order: number[]
  /** Cut points of the reply stream. */
  cuts: number[]
  /** Junk (0xFF runs) before each reply. */
  junk: number[]
  /** Send a reply for a transaction id that was never used before the real ones. */
  stray: boolean
}

let script: Script = { order: [], cuts: [], junk: [], stray: false }
let batch = 4
const sockets = new Set<net.Socket>()

const server = net.createServer((sock) => {
  sockets.add(sock)
  sock.on('error', () => {})
  sock.on('close', () => sockets.delete(sock))
  let pending: Pending[] = []
  const parser = new MbapStreamParser((tid, unit, _fc, data) => {
    pending.push({ tid, unit, address: data.readUInt16BE(0), count: data.readUInt16BE(2) })
    if (pending.length < batch) return
    const round = pending
    pending = []
    const replies: Buffer[] = round
      .map((p, i) => ({ key: script.order[i] ?? i, p }))
      .sort((a, b) => a.key - b.key)
      .map(({ p }, i) => Buffer.concat([
        Buffer.alloc(script.junk[i] ?? 0, 0xff),
        encodeReadHoldingRegistersResponse(p.tid, p.unit, Array.from({ length: p.count }, (_v, k) => valueOf(p.unit, p.address, k)))
      ]))
    if (script.stray) replies.unshift(encodeReadHoldingRegistersResponse((round[0].tid + 30000) & 0xffff || 1, round[0].unit, [0xdead]))
    const stream = Buffer.concat(replies)
    const cuts = [...new Set(script.cuts.map((c) => c % stream.length))].filter((c) => c > 0).sort((a, b) => a - b)
    let from = 0
    for (const cut of [...cuts, stream.length]) {
      sock.write(stream.subarray(from, cut))
      from = cut
    }
  })
  sock.on('data', (chunk: Buffer) => parser.push(chunk))
})

const listening = new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)))

afterAll(async () => {
  for (const s of sockets) s.destroy()
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

const requestArb = fc.record({
  unit: fc.integer({ min: 1, max: 20 }),
  address: fc.integer({ min: 0, max: 600 }),
  count: fc.integer({ min: 1, max: 125 })
})

describe('ModbusTcpClient under any reply order, segmentation and junk', () => {
  it('resolves every pipelined read with exactly its own registers', async () => {
    const port = await listening
    await fc.assert(fc.asyncProperty(
      fc.array(requestArb, { minLength: 4, maxLength: 4 }),
      fc.array(fc.nat(), { minLength: 4, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 40 }),
      fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 4, maxLength: 4 }),
      fc.boolean(),
      async (requests, order, cuts, junk, stray) => {
        script = { order, cuts, junk, stray }
        batch = requests.length
        const client = new ModbusTcpClient({ host: '127.0.0.1', port, maxInFlight: 4, timeoutMs: 2000, retries: 0 })
        try {
          const results = await Promise.all(requests.map((r) => client.readHoldingRegisters(r.unit, r.address, r.count)))
          requests.forEach((r, i) => {
            expect(results[i]).toEqual(Array.from({ length: r.count }, (_v, k) => valueOf(r.unit, r.address, k)))
          })
          expect(client.stats.lateReplies).toBe(stray ? 1 : 0)
        } finally {
          await client.close()
        }
      }
    ), { numRuns: 60 })
  }, 60_000)
})
