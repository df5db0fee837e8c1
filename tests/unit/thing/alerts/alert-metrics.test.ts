/** The `alerts_state` gauge: every alert of the rack by severity and state, hidden states included. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Registry } from 'prom-client'
import { RackMetrics } from '../../../../workers/tpl/thing/rack-metrics'
import { AlarmBench, ERROR_CASCADE, mbtSnap } from '../../../helpers/alarms'

let bench: AlarmBench

beforeEach(async () => {
  bench = await AlarmBench.create()
})

afterEach(async () => {
  await bench.close()
  await bench.remove()
})

describe('alerts_state', () => {
  it('counts shown and suppressed alerts of the --error cascade by severity and state', async () => {
    await bench.thing('c1')
    await bench.collect('c1', mbtSnap(ERROR_CASCADE))
    const registry = new Registry()
    new RackMetrics(registry, () => bench.registry.all(), [], () => bench.book.states()) // eslint-disable-line no-new
    const text = await registry.metrics()
    const lines = text.split('\n').filter((l) => l.startsWith('alerts_state{'))
    const total = lines.reduce((n, l) => n + Number(l.split(' ').pop()), 0)
    expect(total).toBe(ERROR_CASCADE.length)
    expect(lines).toContain('alerts_state{severity="critical",state="active-unacknowledged"} 1')
    expect(lines.filter((l) => l.includes('state="suppressed"')).reduce((n, l) => n + Number(l.split(' ').pop()), 0)).toBe(14)
  })
})
