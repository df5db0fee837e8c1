/**
 * The request pipeline on its own, over a fake link (no socket): the window, transaction ids,
 * reply matching, timeouts and what it asks of the connection.
 */
import { describe, expect, it } from 'vitest'
import { RequestPipeline, type Link, type PipelineRequest, type RequestResult } from '../../../../workers/lib/modbus/pipeline'
import {
  encodeReadHoldingRegistersRequest,
  encodeReadHoldingRegistersResponse,
  encodeWriteSingleRegisterRequest,
  encodeWriteSingleRegisterResponse
} from '../../../../workers/lib/modbus/frame'
import { ModbusError, closedError } from '../../../../workers/lib/modbus/errors'
import type { ModbusTcpClientStats } from '../../../../workers/lib/modbus/types'
import { DEFAULT_WINDOW_SETTINGS } from '../../../../workers/lib/modbus/window'
import { sleep } from '../../../helpers/wait'

class FakeLink implements Link {
  readonly host = '10.0.0.1'
  readonly port = 502
  connected = true
  closed = false
  id = 1
  refusal: ModbusError | null = null
  /** What `timedOut()` answers: true = the link was replaced as half-open. */
  halfOpen = false
  timeouts = 0
  connectCalls = 0
  readonly sent: Buffer[] = []

  ensureConnecting (): void { this.connectCalls++ }
  write (frame: Buffer): void { this.sent.push(Buffer.from(frame)) }
  timedOut (): boolean {
    this.timeouts++
    return this.halfOpen
  }
}

const silent = { debug: () => {}, info: () => {}, warn: () => {} }

function setup (maxInFlight: number, busyRetryDelayMs = 20): { link: FakeLink, stats: ModbusTcpClientStats, pipeline: RequestPipeline } {
  const link = new FakeLink()
  const stats: ModbusTcpClientStats = { requests: 0, responses: 0, timeouts: 0, lateReplies: 0, exceptions: 0, reconnects: 0, floods: 0, maxInFlight, retries: 0, recovered: 0 }
  const pipeline = new RequestPipeline({ window: { ...DEFAULT_WINDOW_SETTINGS, maxInFlight }, firstTransactionId: 1, busyRetryDelayMs, logger: silent }, stats, link)
  return { link, stats, pipeline }
}

function read (unit: number, address: number, count: number, extra: Partial<PipelineRequest> = {}): PipelineRequest {
  return { fc: 3, unit, address, arg: count, frame: encodeReadHoldingRegistersRequest(0, unit, address, count), high: false, pin: 0, retries: 0, timeoutMs: 5000, ...extra }
}

/** The PDU data (after the function code) of an FC03 reply with these registers. */
function regsData (values: number[]): Buffer {
  return encodeReadHoldingRegistersResponse(0, 0, values).subarray(8)
}

const tidOf = (frame: Buffer): number => frame.readUInt16BE(0)

async function outcome (p: Promise<RequestResult>): Promise<{ ok: RequestResult } | { code: string }> {
  try {
    return { ok: await p }
  } catch (err) {
    return { code: (err as { code: string }).code }
  }
}

describe('RequestPipeline', () => {
  it('keeps at most the window on the wire, one fresh transaction id each, and settles replies in any order', async () => {
    const { link, stats, pipeline } = setup(2)
    const a = pipeline.submit(read(1, 0, 2))
    const b = pipeline.submit(read(2, 10, 1))
    const c = pipeline.submit(read(1, 5, 1))
    expect(link.sent.map(tidOf)).toEqual([1, 2])
    expect(pipeline.match(2, 2, 3, regsData([7]))).toBe(true)
    expect(link.sent.map(tidOf)).toEqual([1, 2]) // a freed slot is filled on the next pump
    pipeline.pump()
    expect(link.sent.map(tidOf)).toEqual([1, 2, 3])
    expect(pipeline.match(3, 1, 3, regsData([9]))).toBe(true)
    expect(pipeline.match(1, 1, 3, regsData([4, 5]))).toBe(true)
    expect(await Promise.all([a, b, c])).toEqual([[4, 5], [7], [9]])
    expect(stats).toMatchObject({ requests: 3, responses: 3, lateReplies: 0, maxInFlight: 2 })
  })

  it('sends high priority first, and a write resolves once its echo matches', async () => {
    const { link, pipeline } = setup(1)
    link.connected = false
    const r = pipeline.submit(read(1, 0, 1))
    const w = pipeline.submit({ fc: 6, unit: 1, address: 600, arg: 1, frame: encodeWriteSingleRegisterRequest(0, 1, 600, 1), high: true, pin: 0, retries: 0, timeoutMs: 5000 })
    expect(link.connectCalls).toBe(2)
    expect(link.sent).toEqual([])
    link.connected = true
    pipeline.connectionUp()
    expect(link.sent.map((f) => f[7])).toEqual([6])
    expect(pipeline.match(1, 1, 6, encodeWriteSingleRegisterResponse(0, 1, 600, 1).subarray(8))).toBe(true)
    pipeline.pump()
    expect(link.sent.map((f) => f[7])).toEqual([6, 3])
    expect(pipeline.match(2, 1, 3, regsData([42]))).toBe(true)
    expect(await w).toBeUndefined()
    expect(await r).toEqual([42])
  })

  it('reports a frame that answers nothing, counts it and drops the window to 1', () => {
    const { link, stats, pipeline } = setup(4)
    void outcome(pipeline.submit(read(1, 0, 1)))
    expect(pipeline.match(99, 1, 3, regsData([1]))).toBe(false)
    expect(pipeline.match(1, 2, 3, regsData([1]))).toBe(false) // right tid, wrong unit
    expect(stats).toMatchObject({ lateReplies: 2, responses: 0, maxInFlight: 1 })
    expect(link.sent).toHaveLength(1)
  })

  it('tells the link about each timeout and sends nothing more when the link was replaced as half-open', async () => {
    const { link, stats, pipeline } = setup(1)
    link.halfOpen = true
    const first = outcome(pipeline.submit(read(1, 0, 1, { retries: 1, timeoutMs: 20 })))
    const second = outcome(pipeline.submit(read(1, 1, 1, { timeoutMs: 5000 })))
    await sleep(30)
    expect(link.timeouts).toBe(1)
    expect(stats.timeouts).toBe(1)
    expect(link.sent.map(tidOf)).toEqual([1]) // the retry waits for the new connection
    // What the connection does next: report the loss, then the new socket.
    pipeline.connectionLost('half-open')
    link.id = 2
    pipeline.connectionUp()
    expect(link.sent.map(tidOf)).toEqual([1, 2])
    expect(link.sent[1].subarray(2)).toEqual(link.sent[0].subarray(2)) // the same request, resent
    expect(pipeline.match(2, 1, 3, regsData([5]))).toBe(true)
    expect(await first).toEqual({ ok: [5] })
    pipeline.failAll(closedError())
    expect(await second).toEqual({ code: 'ERR_MODBUS_CLOSED' })
  })

  it('resends a read answered 04 at once and one answered 06 after busyRetryDelayMs, within its retries; never a write', async () => {
    const { link, stats, pipeline } = setup(4, 30)
    const exception = (code: number): Buffer => Buffer.from([code])
    const r = pipeline.submit(read(1, 0, 1, { retries: 2 }))
    expect(pipeline.match(1, 1, 0x83, exception(0x04))).toBe(true)
    expect(link.sent.map(tidOf)).toEqual([1, 2]) // resent at once, new transaction id
    expect(link.sent[1].subarray(2)).toEqual(link.sent[0].subarray(2))
    expect(pipeline.match(2, 1, 0x83, exception(0x06))).toBe(true)
    expect(link.sent).toHaveLength(2) // waiting
    await sleep(10)
    expect(link.sent).toHaveLength(2)
    await sleep(40)
    expect(link.sent.map(tidOf)).toEqual([1, 2, 3])
    expect(pipeline.match(3, 1, 0x83, exception(0x06))).toBe(true) // budget spent: final
    expect(await outcome(r)).toEqual({ code: 'ERR_MODBUS_EXCEPTION_06' })
    expect(stats).toMatchObject({ requests: 3, exceptions: 3, retries: 2, recovered: 0 })

    const w = pipeline.submit({ fc: 6, unit: 1, address: 600, arg: 1, frame: encodeWriteSingleRegisterRequest(0, 1, 600, 1), high: true, pin: 0, retries: 3, timeoutMs: 5000 })
    expect(pipeline.match(4, 1, 0x86, exception(0x04))).toBe(true)
    expect(await outcome(w)).toEqual({ code: 'ERR_MODBUS_EXCEPTION_04' })
    expect(link.sent).toHaveLength(4)
    expect(stats.retries).toBe(2)
  })

  it('timeoutRetries 0: resent after a transient exception within its retries, but a timeout is final', async () => {
    const { link, stats, pipeline } = setup(4)
    const r = outcome(pipeline.submit(read(1, 0, 1, { retries: 2, timeoutRetries: 0, timeoutMs: 40 })))
    expect(pipeline.match(1, 1, 0x83, Buffer.from([0x04]))).toBe(true)
    expect(link.sent.map(tidOf)).toEqual([1, 2]) // the exception: resent at once
    expect(await r).toEqual({ code: 'ERR_MODBUS_TIMEOUT' }) // the second attempt timed out: no third
    expect(link.sent).toHaveLength(2)
    expect(stats).toMatchObject({ timeouts: 1, retries: 1 })
    // the default: every retry may follow a timeout
    const d = outcome(pipeline.submit(read(1, 0, 1, { retries: 1, timeoutMs: 40 })))
    expect(await d).toEqual({ code: 'ERR_MODBUS_TIMEOUT' })
    expect(link.sent).toHaveLength(4)
  })

  it('a flood fails every request at once with its error, none resent; while the link refuses, new requests fail at once', async () => {
    const { link, pipeline } = setup(1)
    const inFlight = outcome(pipeline.submit(read(1, 0, 1, { retries: 3 })))
    const queued = outcome(pipeline.submit(read(2, 0, 1, { retries: 3 })))
    expect(pipeline.matchFrame(999, 1, 3, regsData([1]))).toBe('unsolicited')
    const flood = new ModbusError('ERR_MODBUS_FLOOD', 'flood')
    link.connected = false
    pipeline.flooded(flood)
    expect(await inFlight).toEqual({ code: 'ERR_MODBUS_FLOOD' })
    expect(await queued).toEqual({ code: 'ERR_MODBUS_FLOOD' })
    expect(link.sent).toHaveLength(1)
    link.refusal = flood
    expect(await outcome(pipeline.submit(read(1, 0, 1)))).toEqual({ code: 'ERR_MODBUS_FLOOD' })
    expect(link.connectCalls).toBe(0)
  })

  it('rejects a request pinned to a connection that is not the live one, before and after queueing', async () => {
    const { link, pipeline } = setup(1)
    void outcome(pipeline.submit(read(1, 0, 1)))
    expect(await outcome(pipeline.submit(read(1, 0, 1, { pin: 2 })))).toEqual({ code: 'ERR_MODBUS_CONNECTION_CHANGED' })
    const queued = outcome(pipeline.submit(read(1, 1, 1, { pin: 1 })))
    pipeline.connectionLost('closed')
    expect(await queued).toEqual({ code: 'ERR_MODBUS_CONNECTION_CHANGED' })
    link.closed = true
    expect(await outcome(pipeline.submit(read(1, 0, 1)))).toEqual({ code: 'ERR_MODBUS_CLOSED' })
  })
})
