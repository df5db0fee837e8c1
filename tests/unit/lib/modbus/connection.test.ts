/**
 * The connection on its own, against a real TCP server and with a recording event sink: what
 * it reports, half-open detection, failed connects with backoff, and close.
 */
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { ModbusConnection, type ConnectionEvents, type ConnectionSettings, type FrameVerdict } from '../../../../workers/lib/modbus/connection'
import { closedError, type ModbusError } from '../../../../workers/lib/modbus/errors'
import { encodeReadHoldingRegistersResponse } from '../../../../workers/lib/modbus/frame'
import type { ModbusClientStats } from '../../../../workers/lib/modbus/types'
import { freePort } from '../../../helpers/net'
import { sleep, waitFor } from '../../../helpers/wait'

/** Records every event; `frame` answers `verdict`. */
class Recorder implements ConnectionEvents {
  readonly log: string[] = []
  readonly failures: ModbusError[] = []
  readonly floods: ModbusError[] = []
  verdict: FrameVerdict = 'late'

  connected (): void { this.log.push('connected') }
  frame (tid: number): FrameVerdict {
    this.log.push(`frame ${tid}`)
    return this.verdict
  }

  flooded (err: ModbusError): void {
    this.floods.push(err)
    this.log.push('flooded')
  }

  received (): void { this.log.push('received') }
  connectFailed (err: ModbusError): void {
    this.failures.push(err)
    this.log.push('connectFailed')
  }

  lost (reason: string): void { this.log.push(`lost ${reason}`) }
}

const servers: net.Server[] = []
const serverSockets: net.Socket[] = []
const connections: ModbusConnection[] = []

async function startServer (): Promise<number> {
  const server = net.createServer((sock) => {
    serverSockets.push(sock)
    sock.on('error', () => {})
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  return (server.address() as net.AddressInfo).port
}

const warns: unknown[] = []
const logger = { debug: () => {}, info: () => {}, warn: (obj: object | string) => { warns.push(obj) } }

function open (port: number, settings: Partial<ConnectionSettings> = {}): { conn: ModbusConnection, events: Recorder, stats: Pick<ModbusClientStats, 'reconnects' | 'floods'> } {
  const events = new Recorder()
  const stats = { reconnects: 0, floods: 0 }
  const conn = new ModbusConnection({
    host: '127.0.0.1', port, connectTimeoutMs: 500, halfOpenAfterTimeouts: 2, backoffMinMs: 20, backoffMaxMs: 200, logger, ...settings
  }, stats, events)
  connections.push(conn)
  return { conn, events, stats }
}

afterEach(async () => {
  await Promise.all(connections.splice(0).filter((c) => !c.closed).map((c) => c.close(closedError())))
  for (const s of serverSockets.splice(0)) s.destroy()
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))))
  warns.length = 0
})

describe('ModbusConnection', () => {
  it('connects once for concurrent callers and reports the frames of each chunk, then the chunk', async () => {
    const port = await startServer()
    const { conn, events, stats } = open(port)
    expect(conn.id).toBe(0)
    expect(await Promise.all([conn.connect(500), conn.connect(500)])).toEqual([1, 1])
    expect(conn.connected).toBe(true)
    await waitFor(() => serverSockets.length === 1, 2000, 5)
    serverSockets[0].write(Buffer.concat([encodeReadHoldingRegistersResponse(7, 1, [1]), encodeReadHoldingRegistersResponse(8, 1, [2])]))
    await waitFor(() => events.log.includes('received'), 2000, 5)
    expect(events.log).toEqual(['connected', 'frame 7', 'frame 8', 'received'])
    expect(stats.reconnects).toBe(0)
  })

  it('replaces the socket after N timeouts with no frame in between, and reconnects in the background', async () => {
    const port = await startServer()
    const { conn, events, stats } = open(port, { halfOpenAfterTimeouts: 2 })
    await conn.connect(500)
    await waitFor(() => serverSockets.length === 1, 2000, 5)
    expect(conn.timedOut()).toBe(false)
    serverSockets[0].write(encodeReadHoldingRegistersResponse(1, 1, [1])) // any frame resets the count
    await waitFor(() => events.log.includes('received'), 2000, 5)
    expect(conn.timedOut()).toBe(false)
    expect(conn.timedOut()).toBe(true)
    expect(warns).toEqual([{ timeouts: 2, connectionId: 1, host: '127.0.0.1', port }])
    expect(events.log.slice(-1)).toEqual(['lost half-open'])
    expect(conn.connected).toBe(false)
    await waitFor(() => conn.connected, 2000, 5)
    expect(conn.id).toBe(2)
    expect(stats.reconnects).toBe(1)
    expect(events.log.slice(-2)).toEqual(['lost half-open', 'connected'])
  })

  it('a flood is cut within its chunk: frames past the budget are never parsed, the socket is dropped, connect() refused during the backoff', async () => {
    const port = await startServer()
    const { conn, events, stats } = open(port, { backoffMinMs: 5000, backoffMaxMs: 5000 })
    events.verdict = 'unsolicited'
    await conn.connect(500)
    await waitFor(() => serverSockets.length === 1, 2000, 5)
    const serverClosed = new Promise((resolve) => serverSockets[0].once('close', resolve))
    // 8000 unsolicited frames (88 kB) written at once
    serverSockets[0].write(Buffer.concat(Array.from({ length: 8000 }, (_, i) => encodeReadHoldingRegistersResponse(1 + i, 1, [1]))))
    await waitFor(() => events.floods.length === 1, 2000, 5)
    const frames = events.log.filter((l) => l.startsWith('frame')).length
    expect(frames).toBe(33) // 32 allowed with nothing sent, the 33rd crosses the budget
    expect(events.log.slice(-1)).toEqual(['flooded'])
    expect(events.log).not.toContain('received')
    expect(events.floods[0].code).toBe('ERR_MODBUS_FLOOD')
    expect(stats.floods).toBe(1)
    expect(conn.connected).toBe(false)
    expect(conn.refusal?.code).toBe('ERR_MODBUS_FLOOD')
    await expect(conn.connect(2000)).rejects.toMatchObject({ code: 'ERR_MODBUS_FLOOD' })
    await serverClosed
    expect(events.log.filter((l) => l.startsWith('frame'))).toHaveLength(frames) // nothing parsed after the drop
    expect(warns).toEqual([expect.objectContaining({ unsolicitedFrames: 33, junkBytes: 0, attemptsSent: 0, connectionId: 1 })])
  })

  it('reports a failed connect with ERR_MODBUS_NOT_CONNECTED and makes the next attempt wait for the backoff', async () => {
    const port = await freePort()
    const { conn, events } = open(port, { backoffMinMs: 300, backoffMaxMs: 300 })
    await expect(conn.connect(500)).rejects.toMatchObject({ code: 'ERR_MODBUS_NOT_CONNECTED' })
    expect(events.failures.map((e) => e.code)).toEqual(['ERR_MODBUS_NOT_CONNECTED'])
    conn.ensureConnecting() // inside the backoff: no attempt yet
    await sleep(100)
    expect(events.failures).toHaveLength(1)
    await waitFor(() => events.failures.length === 2, 1000, 5)
  })

  it('close() rejects connect() waiters with the given error and waits for the socket to close', async () => {
    const port = await freePort()
    const { conn } = open(port, { backoffMinMs: 5000, backoffMaxMs: 5000 })
    await expect(conn.connect(500)).rejects.toMatchObject({ code: 'ERR_MODBUS_NOT_CONNECTED' })
    const waiting = conn.connect(2000)
    await conn.close(closedError())
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_MODBUS_CLOSED' })
    expect(conn.closed).toBe(true)
    await expect(conn.connect(500)).rejects.toMatchObject({ code: 'ERR_MODBUS_CLOSED' })

    const live = open(await startServer()).conn
    await live.connect(500)
    await waitFor(() => serverSockets.length === 1, 2000, 5)
    const serverClosed = new Promise((resolve) => serverSockets[0].once('close', resolve))
    await live.close(closedError())
    expect(live.connected).toBe(false)
    await serverClosed
  })
})
