/**
 * Link health per Modbus unit (workers/lib/link-health.ts) fed by a real ModbusTcpClient's
 * pipeline against a small Modbus server: replies timed into the histogram, timeouts, resends
 * and exception codes counted per unit, the breaker state and reconnects as given, and the
 * reason a snapshot's missing unit gets. Then the series text of workers/lib/link-metrics.ts.
 */
import { createServer, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LinkHealth, REPLY_BUCKETS_S, unitErrors } from '../../../workers/lib/link-health'
import { renderLinkMetrics } from '../../../workers/lib/link-metrics'
import { ModbusTcpClient } from '../../../workers/lib/modbus/client'

/** Unit 1 answers FC03 with zeros, unit 2 never answers, unit 3 answers exception 0B. */
let server: Server
let port: number
const sockets = new Set<Socket>()

beforeAll(async () => {
  server = createServer((sock) => {
    sockets.add(sock)
    sock.on('close', () => sockets.delete(sock))
    let buf = Buffer.alloc(0)
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d])
      while (buf.length >= 12) {
        const frame = buf.subarray(0, 12)
        buf = buf.subarray(12)
        const tid = frame.readUInt16BE(0)
        const unit = frame[6]
        const count = frame.readUInt16BE(10)
        if (unit === 2) continue
        if (unit === 3) {
          const r = Buffer.alloc(9)
          r.writeUInt16BE(tid, 0); r.writeUInt16BE(3, 4); r[6] = 3; r[7] = 0x83; r[8] = 0x0b
          sock.write(r)
          continue
        }
        const r = Buffer.alloc(9 + 2 * count)
        r.writeUInt16BE(tid, 0); r.writeUInt16BE(3 + 2 * count, 4); r[6] = unit; r[7] = 3; r[8] = 2 * count
        sock.write(r)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as AddressInfo).port
})
afterAll(async () => {
  for (const s of sockets) s.destroy()
  await new Promise((resolve) => server.close(resolve))
})

describe('LinkHealth fed by the client pipeline', () => {
  it('counts attempts, replies, timeouts, resends and exceptions per unit, and times the replies', async () => {
    const health = new LinkHealth(() => 1234)
    const client = new ModbusTcpClient({ host: '127.0.0.1', port, timeoutMs: 100, retries: 1, halfOpenAfterTimeouts: 100, unitObserver: health })
    health.attach(client.stats)
    try {
      await client.connect()
      expect(await client.readHoldingRegisters(1, 0, 2)).toEqual([0, 0])
      expect(await client.readHoldingRegisters(1, 10, 1)).toEqual([0])
      await expect(client.readHoldingRegisters(2, 0, 1)).rejects.toMatchObject({ code: 'ERR_MODBUS_TIMEOUT' })
      await expect(client.readHoldingRegisters(3, 0, 1)).rejects.toMatchObject({ code: 'ERR_MODBUS_EXCEPTION_0B' })
    } finally {
      await client.close()
    }
    const report = health.report([2])
    expect(report.reconnects).toBe(0)
    const [fcdu, two, three] = report.units
    expect(fcdu).toMatchObject({ unit: 1, name: 'fcdu', breaker: 'closed', requests: 2, replies: 2, timeouts: 0, retries: 0, exceptions: {}, lastError: null, lastReplyAt: 1234 })
    expect(fcdu.replySeconds.count).toBe(2)
    expect(fcdu.replySeconds.buckets).toHaveLength(REPLY_BUCKETS_S.length)
    expect(fcdu.replySeconds.buckets.at(-1)).toBe(2)
    expect(fcdu.replySeconds.sum).toBeGreaterThan(0)
    // one attempt and one resend, both timed out
    expect(two).toMatchObject({ unit: 2, breaker: 'open', requests: 2, replies: 0, timeouts: 2, retries: 1, lastError: 'ERR_MODBUS_TIMEOUT', lastErrorAt: 1234 })
    expect(two.replySeconds.count).toBe(0)
    // 0B is resent once, then final
    expect(three).toMatchObject({ unit: 3, requests: 2, replies: 2, retries: 1, exceptions: { '0B': 2 }, lastError: 'ERR_MODBUS_EXCEPTION_0B' })
  })

  it('reconnects add up across the clients of a thing', () => {
    const health = new LinkHealth()
    const first = { reconnects: 2 }
    health.attach(first)
    first.reconnects = 3
    health.attach(first)
    expect(health.reconnects).toBe(3)
    health.attach({ reconnects: 1 })
    expect(health.reconnects).toBe(4)
  })

  it('a snapshot\'s missing units get their latest failure, else ERR_SNAPSHOT_INCOMPLETE', () => {
    const health = new LinkHealth()
    health.sent(17, {})
    const req = {}
    health.sent(18, req)
    health.timedOut(18, req)
    health.answered(19, {}, 0x0a)
    expect(unitErrors(['pdu09', 'pdu10', 'pdu11', 'nosuch'], health)).toEqual([
      { unit: 'pdu09', reason: 'ERR_SNAPSHOT_INCOMPLETE' },
      { unit: 'pdu10', reason: 'ERR_MODBUS_TIMEOUT' },
      { unit: 'pdu11', reason: 'ERR_MODBUS_EXCEPTION_0A' },
      { unit: 'nosuch', reason: 'ERR_SNAPSHOT_INCOMPLETE' }
    ])
    expect(unitErrors(['pdu09'], undefined)).toEqual([{ unit: 'pdu09', reason: 'ERR_SNAPSHOT_INCOMPLETE' }])
  })
})

describe('renderLinkMetrics', () => {
  it('per thing and unit series as Prometheus text from the reports; labels escaped; a thing gone is gone from the next scrape', () => {
    const health = new LinkHealth()
    const req = {}
    health.sent(1, req)
    health.answered(1, req, null)
    health.sent(9, {})
    health.answered(9, {}, 4)
    const source = { key: health, labels: { thing: 't1', code: 'MBT-1', container: 'bay' }, report: health.report([9]) }
    const text = renderLinkMetrics([source])
    expect(text).toContain('# TYPE modbus_unit_reply_seconds histogram\n')
    expect(text).toContain('modbus_unit_requests_total{thing="t1",code="MBT-1",container="bay",unit="fcdu"} 1\n')
    expect(text).toContain('modbus_unit_exceptions_total{thing="t1",code="MBT-1",container="bay",unit="pdu01",exception="04"} 1\n')
    expect(text).toContain('modbus_unit_breaker_open{thing="t1",code="MBT-1",container="bay",unit="pdu01"} 1\n')
    expect(text).toContain('modbus_unit_breaker_open{thing="t1",code="MBT-1",container="bay",unit="fcdu"} 0\n')
    expect(text).toContain('modbus_unit_reply_seconds_bucket{thing="t1",code="MBT-1",container="bay",unit="fcdu",le="+Inf"} 1\n')
    expect(text).toContain('modbus_unit_reply_seconds_bucket{thing="t1",code="MBT-1",container="bay",unit="fcdu",le="0.025"} ')
    expect(text).toContain('modbus_unit_reply_seconds_count{thing="t1",code="MBT-1",container="bay",unit="fcdu"} 1\n')
    expect(text).toContain('modbus_reconnects_total{thing="t1",code="MBT-1",container="bay"} 0\n')
    expect(text.endsWith('\n')).toBe(true)
    // a thing's labels change (updateThing): the next scrape says the new ones, escaped
    const renamed = renderLinkMetrics([{ ...source, labels: { thing: 't1', code: 'MBT-1', container: 'bay "2"\\\n' } }])
    expect(renamed).toContain('modbus_unit_requests_total{thing="t1",code="MBT-1",container="bay \\"2\\"\\\\\\n",unit="fcdu"} 1\n')
    // no things: the families' HELP and TYPE only
    expect(renderLinkMetrics([]).split('\n').filter((l) => l !== '' && !l.startsWith('#'))).toEqual([])
  })
})
