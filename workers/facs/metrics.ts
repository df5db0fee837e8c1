/**
 * Metrics a Prometheus server scrapes (OpenMetrics text at `/metrics`, prom-client) and a health
 * check (`/healthz`: 200 while the worker works, 503 with a short JSON reason otherwise). Off
 * unless configured (`common.json` `metrics: {port, host?}`); bound to 127.0.0.1 unless another
 * host is configured. The series are registered by the layers above on `registry`; this
 * facility adds the process series (CPU, memory, event-loop delay, handles) and serves them.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Registry, collectDefaultMetrics } from 'prom-client'
import type { KeySpec } from '../core/config-keys'
import { WrkError } from '../core/errors'
import type { Logger } from '../core/types'
import { Facility } from './facility'

/** prom-client's default gauges whose names end in `_total` (reserved for counters). */
const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']

export interface MetricsConf {
  port: number
  /** Default 127.0.0.1: never every interface unless asked. */
  host?: string
}

/** The keys of `common.json` `metrics`. */
export const METRICS_CONF_KEYS: KeySpec = { port: true, host: true }

export interface Health { ok: boolean, reason: string, [key: string]: unknown }

/** `metrics` of common.json, or null when metrics are off; anything malformed is a configuration error. */
export function parseMetricsConf (value: unknown): MetricsConf | null {
  if (value === undefined || value === null) return null
  const v = value as Partial<MetricsConf>
  const ok = typeof value === 'object' && Number.isInteger(v.port) && (v.port as number) >= 0 && (v.port as number) <= 65535 &&
    (v.host === undefined || (typeof v.host === 'string' && v.host !== ''))
  if (!ok) throw new WrkError('ERR_CONFIG_INVALID', 'config common.json: metrics must be {port: 0…65535, host?: string}')
  return { port: v.port as number, host: v.host ?? '127.0.0.1' }
}

export class MetricsFacility extends Facility {
  readonly name = 'metrics'
  override readonly dependsOn = ['logging']
  /** Where the layers register their series. */
  readonly registry = new Registry()
  /** Families written as text by a layer (many series: cheaper than prom-client's objects), appended to the registry's. */
  private readonly texts: Array<() => string> = []
  private server: Server | null = null

  constructor (private readonly conf: MetricsConf, private readonly health: () => Health, private readonly logger: Logger) {
    super()
  }

  protected override async _open (): Promise<void> {
    collectDefaultMetrics({ register: this.registry })
    // gauges named like counters (promtool refuses them); the same counts are in nodejs_active_handles & co., by type
    for (const name of MISNAMED_DEFAULTS) this.registry.removeSingleMetric(name)
    const server = createServer((req, res) => {
      const url = (req.url ?? '/').split('?')[0]
      if (req.method !== 'GET') {
        res.writeHead(405).end()
      } else if (url === '/metrics') {
        this.registry.metrics().then((text) => {
          res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(this.texts.reduce((all, render) => all + render(), text))
        }, (err: unknown) => {
          this.logger.error({ err }, 'metrics collection failed')
          res.writeHead(500).end()
        })
      } else if (url === '/healthz') {
        let health: Health
        try {
          health = this.health()
        } catch (err) {
          health = { ok: false, reason: (err as Error).message }
        }
        res.writeHead(health.ok ? 200 : 503, { 'Content-Type': 'application/json' }).end(JSON.stringify(health))
      } else {
        res.writeHead(404).end()
      }
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.conf.port, this.conf.host ?? '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
    this.server = server
    this.logger.info({ metrics: `http://${this.address.host}:${this.address.port}/metrics` }, 'metrics served')
  }

  /**
   * Adds families a layer writes as Prometheus text itself (each with its HELP and TYPE lines,
   * names distinct from the registry's, ending in a newline): for series counted in hundreds of
   * thousands, where prom-client's sample objects cost seconds per scrape.
   */
  addText (render: () => string): void {
    this.texts.push(render)
  }

  /** Where the endpoint listens (the port chosen when 0 was configured). */
  get address (): { host: string, port: number } {
    const a = this.server?.address() as AddressInfo | null | undefined
    if (!a) throw new WrkError('ERR_METRICS_NOT_STARTED')
    return { host: a.address, port: a.port }
  }

  protected override async _close (): Promise<void> {
    const server = this.server
    this.server = null
    this.registry.clear()
    this.texts.length = 0
    if (server) {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
