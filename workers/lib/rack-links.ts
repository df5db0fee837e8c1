/**
 * The rack's side of link health (./link-health.ts): one LinkHealth per thing, kept across its
 * controllers and fed by the Modbus client each controller makes (`clientFactory`); the
 * `getLinkHealth {id}` method; the reason of each unit a collected snapshot misses
 * (`stats.unit_errors`); and the per-unit series of the metrics endpoint (./link-metrics.ts).
 */
import { z } from 'zod'
import { defineMethod, type RpcMethod } from '../rpc/method'
import type { Snap, ThingState } from '../tpl/thing/types'
import { MicroBTContainer } from './container'
import { LinkHealth, unitErrors, type LinkReport } from './link-health'
import { renderLinkMetrics, type LinkSource } from './link-metrics'
import { ModbusTcpClient } from './modbus/client'
import type { ModbusClient, ModbusClientOptions } from './modbus/types'

export type ThingLinkReport = LinkReport & { id: string, connected: boolean }

/** What `getLinkHealth` answers (per unit: UnitFigures of ./link-health.ts). */
const LINK_REPORT = z.object({
  id: z.string(),
  connected: z.boolean(),
  reconnects: z.number().int(),
  units: z.array(z.record(z.string(), z.unknown()))
})

export class RackLinks {
  private readonly links = new WeakMap<ThingState, LinkHealth>()

  /** Makes the thing's Modbus clients (a new controller's replaces the old; the counts go on). */
  clientFactory (state: ThingState): (opts: ModbusClientOptions) => ModbusClient {
    const health = this.links.get(state) ?? new LinkHealth()
    this.links.set(state, health)
    return (opts) => {
      const client = new ModbusTcpClient({ ...opts, unitObserver: health })
      health.attach(client.stats)
      return client
    }
  }

  /** The figures of one thing (none while it has no connected controller yet). */
  report (state: ThingState): ThingLinkReport {
    const ctrl = state.ctrl instanceof MicroBTContainer ? state.ctrl : null
    const report = this.links.get(state)?.report(ctrl?.unitsOnSingleAttempt) ?? { reconnects: 0, units: [] }
    return { id: state.record.id, connected: ctrl !== null, ...report }
  }

  /** A snapshot that misses units, with each one's reason (`stats.unit_errors`: unit and its latest failure). */
  withUnitErrors (state: ThingState, snap: Snap): Snap {
    const stats = snap.stats as { incomplete?: unknown } | undefined
    if (!stats || !Array.isArray(stats.incomplete) || stats.incomplete.length === 0) return snap
    return { ...snap, stats: { ...stats, unit_errors: unitErrors(stats.incomplete as string[], this.links.get(state)) } }
  }

  /** `getLinkHealth {id}`; `thing` finds the thing (ERR_THING_NOTFOUND). */
  declaration (thing: (id: string) => ThingState): RpcMethod {
    return defineMethod({
      name: 'getLinkHealth',
      kind: 'read',
      summary: 'Link health of one container: per Modbus unit the attempts, replies, timeouts, resends, exception replies by code, ' +
        'breaker state, reply-time histogram (s) and latest failure, and the connection\'s reconnects (counted since the worker started).',
      params: z.object({ id: z.string() }),
      fieldErrors: { id: 'ERR_THING_NOTFOUND' },
      result: LINK_REPORT,
      errors: ['ERR_THING_NOTFOUND'],
      handler: (req) => this.report(thing(req.id))
    })
  }

  /** The per-unit series of `things` as Prometheus text (for MetricsFacility.addText). */
  metricsText (things: readonly ThingState[]): string {
    const sources: LinkSource[] = []
    for (const s of things) {
      const health = this.links.get(s)
      if (!health) continue
      const ctrl = s.ctrl instanceof MicroBTContainer ? s.ctrl : null
      const r = s.record
      const labels = { thing: r.id, code: r.code, container: typeof r.info.container === 'string' ? r.info.container : '' }
      sources.push({ key: health, labels, report: health.report(ctrl?.unitsOnSingleAttempt) })
    }
    return renderLinkMetrics(sources)
  }
}
