/**
 * Alerts over time, with alarm management (docs/alerts.md): each thing's alarms (records,
 * shelves, latches, acknowledgements, out-of-service marks; stored, so a restart or kill -9
 * keeps them and replicas see them), the `thing-alerts` log of alerts that started and of every
 * transition, and the operator methods (./alarm-methods.ts). `last.alerts` shows the active,
 * acknowledged and latched alerts; pending, shelved, suppressed and out-of-service ones are read
 * with listAlerts.
 */
import type { RackParts } from '../rack-parts'
import type { Alert, Snap, ThingState } from '../types'
import { alarmPolicyOf, alarmSettingsOf, type AlarmDefaults, type AlarmPolicy, type AlarmSettings } from './alarm-conf'
import { AlarmJournal } from './alarm-journal'
import { ALERT_CHATTERING, stepAlarms, type Transition } from './alarm-machine'
import { SHOWN_STATES, alertView, emptyThingAlarms, stateOf, type AlarmRecord, type AlarmState, type ThingAlarms } from './alarm-record'
import { AlarmStore, isOutOfService, type AlarmBees, type FloodState, type OosMark } from './alarm-store'
import { evaluateAlerts, type AlertConf, type AlertSpec } from './engine'
import { applyInhibition } from './inhibition'
import { ALERT_FLOOD, stepFlood } from './flood'

export interface AlertSource {
  /** `alerts[<thing type>]` of the configuration; absent → the thing type has no alerts. */
  conf: () => AlertConf | undefined
  specs: () => readonly AlertSpec[]
  /** The alarm defaults of the layer above (per-alert settings). */
  defaults: () => AlarmDefaults
  /** The clock of the evaluations (Date.now; a simulation gives its own). */
  now?: () => number
}

/** An alert as listAlerts shows it: with its state and its thing (null: the rack's own). */
export type AlertListing = Alert & { state: AlarmState, thingId: string | null }

export class AlertBook {
  readonly store = new AlarmStore()
  readonly journal: AlarmJournal
  private readonly things = new Map<string, ThingAlarms>()
  /** Transitions and started alerts of a thing not yet written (evaluate → record). */
  private readonly staged = new Map<string, { transitions: Transition[], started: Alert[] }>()
  private oos: OosMark[] = []
  private flood: FloodState = { times: [], alert: null }
  private newShown = 0
  private floodCheckedAt = 0
  /** `alarms` of base.thing.json over the defaults (`configure`). */
  private alarmPolicy: AlarmPolicy
  /** What the latest evaluation showed per thing (written by the next flush unless something changed since). */
  private readonly shown = new Map<string, Alert[]>()
  /** Whether this book holds the rack's alarms (a master after `load`); a replica reads its copy. */
  private loaded = false

  constructor (readonly rack: RackParts, readonly source: AlertSource) {
    this.journal = new AlarmJournal(() => rack.logs, () => rack.logger)
    this.alarmPolicy = alarmPolicyOf({}, source.defaults())
  }

  /** Reads `alarms` of base.thing.json and checks the alarm settings of `alerts` (ERR_CONFIG_INVALID). */
  configure (thingConf: Readonly<Record<string, unknown>>): void {
    this.alarmPolicy = alarmPolicyOf(thingConf, this.source.defaults())
  }

  /** The sub-databases (opened by the rack at start; a replica opens its copies). */
  open (bees: AlarmBees): void {
    this.store.open(bees)
  }

  /** A master at start: every thing's alarms, the marks and the flood state; the shown alerts per thing. */
  async load (): Promise<Map<string, Alert[]>> {
    this.things.clear()
    for (const [id, alarms] of await this.store.loadAll()) this.things.set(id, alarms)
    this.oos = await this.store.oosMarks()
    this.flood = await this.store.flood()
    this.loaded = true
    return new Map([...this.things].map(([id, alarms]) => [id, this.shownOf(id, alarms)]))
  }

  /** Every thing's alarms, the marks and the flood alert: the master's memory, or a replica's copy. */
  async current (): Promise<{ things: Array<[string, ThingAlarms]>, marks: readonly OosMark[], flood: Alert | null }> {
    if (this.loaded) return { things: [...this.things], marks: this.oos, flood: this.flood.alert }
    const things: Array<[string, ThingAlarms]> = []
    for await (const { id, alarms } of this.store.stream()) things.push([id, alarms])
    return { things, marks: await this.store.oosMarks(), flood: (await this.store.flood()).alert }
  }

  now (): number {
    return this.source.now?.() ?? Date.now()
  }

  settingsOf (name: string): AlarmSettings {
    return alarmSettingsOf(this.source.conf()?.[name] as Record<string, unknown> | undefined, this.source.defaults().alerts[name])
  }

  get policy (): AlarmPolicy {
    return this.alarmPolicy
  }

  get marks (): readonly OosMark[] {
    return this.oos
  }

  get floodAlert (): Alert | null {
    return this.flood.alert
  }

  alarmsOf (id: string): ThingAlarms {
    return this.things.get(id) ?? emptyThingAlarms()
  }

  thingIds (): string[] {
    return [...this.things.keys()]
  }

  stateOf (id: string, alarms: ThingAlarms, rec: AlarmRecord, marks: readonly OosMark[] = this.oos): AlarmState {
    return stateOf(rec, alarms.shelves[rec.key], isOutOfService(marks, id, rec.alert.name))
  }

  /** Every alert of a thing with its state. */
  listingOf (id: string, alarms: ThingAlarms, marks: readonly OosMark[] = this.oos): AlertListing[] {
    return alarms.records.map((rec) => {
      const state = this.stateOf(id, alarms, rec, marks)
      return { ...alertView(rec, state, alarms.shelves[rec.key]), state, thingId: id }
    })
  }

  /** Every alert of the rack as `[severity, state]` (the metrics' `alerts_state`). */
  * states (): Generator<readonly [string, string]> {
    for (const [id, alarms] of this.things) for (const rec of alarms.records) yield [rec.alert.severity, this.stateOf(id, alarms, rec)]
    if (this.flood.alert) yield [this.flood.alert.severity, 'active-unacknowledged']
  }

  /** What `last.alerts` shows of a thing. */
  shownOf (id: string, alarms: ThingAlarms): Alert[] {
    const out: Alert[] = []
    for (const rec of alarms.records) {
      const state = this.stateOf(id, alarms, rec)
      if (SHOWN_STATES.has(state)) out.push(alertView(rec, state, alarms.shelves[rec.key]))
    }
    return out
  }

  /** The alerts of a collection (what `last.alerts` shows); null for a thing type without alert configuration. */
  evaluate (state: ThingState, snap: Snap | null, err: string | null): Alert[] | null {
    const conf = this.source.conf()
    if (!conf) return null
    const id = state.record.id
    const alarms = this.alarmsOf(id)
    const now = this.now()
    const holding = new Set(alarms.records.filter((r) => r.active && r.latchedClear !== true).map((r) => r.key))
    // one lookup per alert name and evaluation (the configuration may carry run-time overrides)
    const memo = new Map<string, AlarmSettings>()
    const settings = (name: string): AlarmSettings => {
      let s = memo.get(name)
      if (s === undefined) {
        memo.set(name, s = alarmSettingsOf(conf[name] as Record<string, unknown> | undefined, this.source.defaults().alerts[name]))
      }
      return s
    }
    const deadbandOf = (name: string): number => settings(name).deadband ?? 0
    const conds = evaluateAlerts({
      snap,
      err,
      info: state.record.info,
      conf,
      specs: this.source.specs(),
      prev: alarms.records.map((r) => r.alert),
      now,
      holding,
      deadbandOf
    })
    const c = conf[ALERT_CHATTERING]
    const res = stepAlarms(alarms, {
      conds,
      snapOk: snap !== null && snap.success,
      now,
      settings,
      policy: this.policy,
      chattering: { description: c?.description ?? 'An alert chattered and was shelved', severity: c?.severity ?? 'low' }
    })
    const suppressed = applyInhibition(res.alarms.records, this.policy.inhibit, settings, now)
    this.commit(id, res.alarms, [...res.transitions, ...suppressed])
    const shown = this.shownOf(id, res.alarms)
    this.shown.set(id, shown)
    return shown
  }

  /** Keeps a thing's new alarms and stages what changed (alerts shown for the first time included). */
  commit (id: string, alarms: ThingAlarms, transitions: readonly Transition[]): void {
    const staged = this.staged.get(id) ?? { transitions: [], started: [] }
    staged.transitions.push(...transitions)
    alarms.records = alarms.records.map((rec) => {
      if (rec.announced === true || !SHOWN_STATES.has(this.stateOf(id, alarms, rec))) return rec
      staged.started.push(rec.alert)
      this.newShown++
      return { ...rec, announced: true }
    })
    this.things.set(id, alarms)
    this.staged.set(id, staged)
    this.shown.delete(id)
  }

  /** After a change outside a collection: the thing's `last.alerts` as it shows now. */
  publish (id: string): void {
    if (!this.rack.registry.has(id)) return
    const state = this.rack.registry.get(id)
    if (state.last.alerts === null && this.source.conf() === undefined) return
    // `last` is replaced, never changed in place (./list-cache.ts relies on it)
    state.last = { ...state.last, alerts: this.shownOf(id, this.alarmsOf(id)) }
  }

  /** Writes a thing's alarms, then its staged log entries, then the rack's flood state. */
  async flush (id: string): Promise<void> {
    await this.store.save(id, () => this.things.has(id)
      ? { alarms: this.alarmsOf(id), shown: this.shown.get(id) ?? this.shownOf(id, this.alarmsOf(id)) }
      : null)
    const staged = this.staged.get(id)
    this.staged.delete(id)
    if (staged) await this.journal.record(id, staged.started, staged.transitions)
    // new alerts are counted at once; an idle window is pruned at most once a second
    if (this.newShown > 0 || (this.flood.times.length > 0 && this.now() - this.floodCheckedAt >= 1000)) await this.stepFlood()
  }

  private async stepFlood (): Promise<void> {
    this.floodCheckedAt = this.now()
    const added = this.newShown
    this.newShown = 0
    if (added === 0 && this.flood.alert === null && this.flood.times.length === 0) return
    const { flood, transition } = stepFlood(this.flood, added, this.now(), this.policy, this.source.conf()?.[ALERT_FLOOD])
    this.flood = flood
    if (added > 0 || transition !== null) await this.store.saveFlood(flood)
    if (transition) await this.journal.transitions(null, [transition])
  }

  /** Logs and stores what the collection changed (the snapshot loop calls it after `evaluate`). */
  async record (state: ThingState, _prev: readonly Alert[] | null | undefined, next: readonly Alert[] | null): Promise<void> {
    if (!next) return
    await this.flush(state.record.id)
  }

  /** The out-of-service marks replaced (operator methods). */
  async setMarks (marks: OosMark[], affected: readonly string[], transitions: ReadonlyMap<string, Transition[]>): Promise<void> {
    await this.store.saveOos(marks)
    this.oos = marks
    for (const id of affected) {
      this.commit(id, this.alarmsOf(id), transitions.get(id) ?? [])
      this.publish(id)
      await this.flush(id)
    }
  }

  /** A thing forgotten: its alarms and the out-of-service marks that name it go. */
  async forget (id: string): Promise<void> {
    this.things.delete(id)
    this.staged.delete(id)
    this.shown.delete(id)
    await this.store.forget(id)
    if (this.oos.some((m) => m.thingId === id)) {
      this.oos = this.oos.filter((m) => m.thingId !== id)
      await this.store.saveOos(this.oos)
    }
  }
}
