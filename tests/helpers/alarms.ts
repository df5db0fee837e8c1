/**
 * An AlertBook over a real store (a temp directory), a registry of things and the MicroBT alert
 * configuration of config/base.thing.json.example with the MicroBT alarm defaults: for the
 * alarm tests that need persistence, the journal and the operator methods without a worker.
 */
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { StoreFacility, type Bee } from '../../workers/facs/store'
import { AlertBook } from '../../workers/tpl/thing/alerts/alert-book'
import type { AlarmDefaults, AlarmPolicy } from '../../workers/tpl/thing/alerts/alarm-conf'
import { alarmBeesOf } from '../../workers/tpl/thing/alerts/alarm-store'
import type { AlertConf, AlertConfEntry } from '../../workers/tpl/thing/alerts/engine'
import type { RackParts } from '../../workers/tpl/thing/rack-parts'
import { ThingRegistry } from '../../workers/tpl/thing/registry/registry'
import { TimeLogs, type LogMeta } from '../../workers/tpl/thing/logs/time-log'
import { THING_CONF_DEFAULTS } from '../../workers/tpl/thing/thing-conf'
import { KeyedLock } from '../../workers/core/async'
import type { Logger } from '../../workers/core/types'
import type { JsonObject, Snap, ThingRecord } from '../../workers/tpl/thing/types'
import { MBT_ALERT_SPECS } from '../../workers/lib/alerts'
import { MBT_ALARM_DEFAULTS } from '../../workers/lib/alarm-defaults'
import { SYSTEM_ERRORS } from '../../workers/lib/registers/errors'
import { REPO_ROOT } from './index'

export const MBT_TYPE = 'container-mbt-kehua'

/** `alerts[container-mbt-kehua]` of the example configuration. */
export function exampleAlertConf (): AlertConf {
  const example = JSON.parse(readFileSync(path.join(REPO_ROOT, 'config', 'base.thing.json.example'), 'utf8')) as { alerts: Record<string, AlertConf> }
  return example.alerts[MBT_TYPE]
}

/** A snapshot with these raw errors, inlet temperature and PDU smoke bit. */
export function mbtSnap (raw: readonly string[], t2 = 30, smoke = false, incomplete: string[] = []): Snap {
  const pdu = { pdu: '1', smoke_detection_alarm: [{ index: '0', status: smoke }] }
  return { success: true, raw_errors: raw.map((name) => ({ name })), stats: { incomplete, container_specific: { cdu: { unit_inlet_temp_t2: t2 }, pdu_data: [pdu] } } } as unknown as Snap
}

/** The raw errors of the mock's `--error` mode: system error bits 0–15 and makeup_water_pump_fault. */
export const ERROR_CASCADE = [...SYSTEM_ERRORS.slice(0, 16), 'makeup_water_pump_fault']

export interface LogLine { level: 'warn' | 'info', obj: JsonObject, msg: string }

export class AlarmBench {
  readonly lines: LogLine[] = []
  book!: AlertBook
  registry!: ThingRegistry
  logs!: TimeLogs
  private store!: StoreFacility

  constructor (readonly dir: string, readonly conf: Record<string, AlertConfEntry>, readonly defaults: AlarmDefaults, readonly alarmsConf: JsonObject | undefined) {}

  get policy (): AlarmPolicy {
    return this.book.policy
  }

  static async create (opts: { conf?: AlertConf, defaults?: AlarmDefaults, alarms?: JsonObject, dir?: string } = {}): Promise<AlarmBench> {
    const dir = opts.dir ?? await mkdtemp(path.join(os.tmpdir(), 'mbt-alarms-'))
    const defaults = opts.defaults ?? MBT_ALARM_DEFAULTS
    const bench = new AlarmBench(dir, { ...(opts.conf ?? exampleAlertConf()) }, defaults, opts.alarms)
    await bench.open()
    return bench
  }

  async open (): Promise<void> {
    this.store = new StoreFacility(path.join(this.dir, 'store', 'db'))
    await this.store.ready()
    const db = await this.store.getBee('db')
    this.logs = new TimeLogs(this.store, db.sub('meta_logs') as Bee<LogMeta>, { maxLength: 10_000, keepCount: 3 })
    this.registry = new ThingRegistry(db.sub('things') as Bee<ThingRecord>, MBT_TYPE, ['microbt'])
    await this.registry.load()
    const logger = {
      warn: (obj: JsonObject, msg: string) => { this.lines.push({ level: 'warn', obj, msg }) },
      info: (obj: JsonObject, msg: string) => { this.lines.push({ level: 'info', obj, msg }) },
      error: () => {},
      debug: () => {}
    } as unknown as Logger
    const rack = { registry: this.registry, logs: this.logs, thingConf: THING_CONF_DEFAULTS, logger, thingLock: new KeyedLock(), rackId: 'alarms' } as unknown as RackParts
    this.book = new AlertBook(rack, { conf: () => this.conf, specs: () => MBT_ALERT_SPECS, defaults: () => this.defaults, now: () => Date.now() })
    this.book.configure({ alarms: this.alarmsConf })
    this.book.open(alarmBeesOf(db))
    const shown = await this.book.load()
    for (const [id, alerts] of shown) if (this.registry.has(id)) this.registry.get(id).last = { alerts }
  }

  async thing (id: string): Promise<void> {
    if (!this.registry.has(id)) await this.registry.register({ id, opts: {}, info: {} })
  }

  /** One collection of a thing: evaluate, then record (as the snapshot loop does). */
  async collect (id: string, snap: Snap | null): Promise<ReturnType<AlertBook['evaluate']>> {
    const state = this.registry.get(id)
    const prev = state.last.alerts
    const alerts = this.book.evaluate(state, snap, snap === null ? 'ERR_THING_OFFLINE' : null)
    state.last = { ...state.last, snap, alerts, ts: Date.now() }
    await this.book.record(state, prev, alerts)
    return alerts
  }

  async close (): Promise<void> {
    await this.store.close()
  }

  async remove (): Promise<void> {
    await rm(this.dir, { recursive: true, force: true })
  }
}
