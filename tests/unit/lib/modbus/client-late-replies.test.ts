/** ModbusTcpClient: late replies after their timeout and the pipelining window, against a real TCP server. */
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { ModbusTcpClient } from '../../../../workers/lib/modbus/client'
import { MbapStreamParser, encodeReadHoldingRegistersResponse } from '../../../../workers/lib/modbus/frame'
import { waitFor } from '../../../helpers/wait'

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
    await waitFor(() => client.stats.lateReplies === 1, 2000, 5)
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
