/** `mbt-rpc --table` (workers/cli/table.ts): listThings and getSnap in one screen of at most 80 columns, server text escaped. */
import { describe, expect, it } from 'vitest'
import { MAX_ROWS, TABLE_WIDTH, snapTable, tableOf, thingsTable } from '../../../workers/cli/table'

const NOW = 1_800_000_000_000

function thing (i: number, last: object): object {
  return { id: `thing-${i}`, code: `MBT-KEHUA-${String(i).padStart(4, '0')}`, info: { container: `bay-${i}` }, last }
}

const SNAP = {
  success: true,
  stats: {
    status: 'running',
    power_w: 123456,
    ambient_temp_c: 24.5,
    humidity_percent: 41,
    errors: [{ name: 'ERR_SNAPSHOT_INCOMPLETE' }],
    incomplete: ['pdu09', 'pdu10'],
    unit_errors: [{ unit: 'pdu09', reason: 'ERR_MODBUS_TIMEOUT' }, { unit: 'pdu10', reason: 'ERR_MODBUS_EXCEPTION_0B' }],
    container_specific: {
      cdu: { cooling_temp_t1: 30.25, unit_inlet_temp_t2: 31.5, unit_inlet_pressure_p2: 1.2, unit_outlet_pressure_p3: 0.8 },
      power_meters: [1, 2, 3, 4].map((i) => ({ index: `0${i}`, total_active_power: 30.86 })),
      pdu_data: Array.from({ length: 10 }, (_, i) => ({ pdu: String(i + 1), total_power: 10.4, sockets: Array.from({ length: 16 }, (_, s) => ({ socket: String(s + 1), enabled: s < 12 })) }))
    }
  }
}

describe('thingsTable (listThings)', () => {
  it('a count line by status and failing, a header, one row per thing', () => {
    const out = thingsTable([
      thing(1, { snap: SNAP, err: null, ts: NOW - 5000, alerts: [{}, {}] }),
      thing(2, { snap: { success: false }, err: 'ERR_THING_NOT_CONNECTED', ts: NOW - 300_000 }),
      thing(3, {})
    ], NOW).split('\n')
    expect(out[0]).toBe('3 things: 1 offline, 1 running, 1 unknown; 1 failing')
    expect(out[1]).toMatch(/^ID +CODE +CONTAINER +STATUS +kW +ALERTS +ERROR +AGE$/)
    expect(out[2]).toMatch(/^thing-1 +MBT-KEHUA-0001 +bay-1 +running +123\.5 +2 +5s$/)
    expect(out[3]).toMatch(/^thing-2 +MBT-KEHUA-0002 +bay-2 +offline +— +0 +ERR_THING… +5m$/)
    expect(out[4]).toMatch(/^thing-3 .* unknown +— +0 +—$/)
    for (const line of out) expect(line.length).toBeLessThanOrEqual(TABLE_WIDTH)
  })

  it('one screen: at most MAX_ROWS rows and how many more', () => {
    const out = thingsTable(Array.from({ length: 1000 }, (_, i) => thing(i, {})), NOW).split('\n')
    expect(out).toHaveLength(2 + MAX_ROWS + 1)
    expect(out.at(-1)).toBe(`… and ${1000 - MAX_ROWS} more (--raw for all, or narrow the query)`)
  })

  it('long and hostile values are cut and escaped', () => {
    const out = thingsTable([{ id: 'x'.repeat(50), code: '\u001b[2Jevil', info: { container: 7 }, last: {} }], NOW)
    // eslint-disable-next-line no-control-regex
    expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/)
    expect(out.split('\n')[2]).toMatch(/^x{11}… \\u001b\[2Jevil +7 +unknown/)
  })
})

describe('snapTable (queryThing getSnap)', () => {
  it('status and power, cooling, errors, the units not read with their reasons, meters and PDUs — within 80 columns and one screen', () => {
    const out = snapTable(SNAP).split('\n')
    expect(out[0]).toBe('status running   power 123.46 kW   ambient 24.5 °C   humidity 41 %')
    expect(out[1]).toMatch(/^T1 cooling 30\.3 °C +T2 inlet 31\.5 °C +P2 inlet 1\.20 bar +P3 outlet 0\.80 bar$/)
    expect(out).toContain('errors: ERR_SNAPSHOT_INCOMPLETE')
    expect(out).toContain('not read: pdu09 ERR_MODBUS_TIMEOUT, pdu10 ERR_MODBUS_EXCEPTION_0B')
    expect(out.join('\n')).toContain('meter 01 30.86 kW')
    expect(out.join('\n')).toContain('pdu  1 12/16 on 10.4kW')
    expect(out.length).toBeLessThanOrEqual(24)
    for (const line of out) expect(line.length).toBeLessThanOrEqual(TABLE_WIDTH)
  })

  it('an offline envelope still gives a line', () => {
    expect(snapTable({ success: false }).split('\n')).toEqual(['status offline   power —   ambient —   humidity —', 'errors: none'])
  })
})

describe('tableOf', () => {
  it('listThings and queryThing getSnap have a table; other methods none', () => {
    expect(tableOf('listThings', {}, [])).toMatch(/^0 things; 0 failing\nID +CODE +CONTAINER +STATUS +kW +ALERTS +ERROR +AGE$/)
    expect(tableOf('queryThing', { id: 'a', method: 'getSnap' }, SNAP)).toMatch(/^status running/)
    expect(tableOf('queryThing', { id: 'a', method: 'getRealtimeData' }, SNAP)).toBeNull()
    expect(tableOf('getRack', {}, { id: 'x' })).toBeNull()
    expect(tableOf('listThings', {}, '[HRPC_ERR]=x')).toBeNull()
  })
})
