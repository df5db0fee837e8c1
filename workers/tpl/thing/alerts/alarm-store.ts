/**
 * Where alarm management keeps its state (the rack's main bee, so read replicas copy it):
 * `alarm_states` holds each thing's ThingAlarms (records, shelves, recent clears), `alarm_rack`
 * the out-of-service marks (`oos`) and the flood detector (`flood`). `alerts_active` keeps
 * what it always held — each thing's shown alerts — for the platform's reads and older tools.
 * Every write of a thing's state goes through one lock per thing and writes the state as it is
 * then, so two writes never land in the wrong order.
 */
import type { Bee } from '../../../facs/store'
import { KeyedLock } from '../../../core/async'
import type { Alert } from '../types'
import { fromActiveAlerts, type ThingAlarms } from './alarm-record'
import { alertKey } from './engine'

/** An out-of-service mark: an alert name on every thing, all alerts of a thing, or one name on one thing. */
export interface OosMark { thingId?: string, name?: string, at: number, by: string, reason?: string }

/** The rack's flood detector: times of recent new alerts and the flood alert while it lasts. */
export interface FloodState { times: number[], alert: Alert | null, count?: number }

export interface AlarmBees {
  active: Bee<Alert[]>
  states: Bee<ThingAlarms>
  rack: Bee<unknown>
}

/** The sub-databases of the alerts in the rack's main bee. */
export function alarmBeesOf (db: Bee): AlarmBees {
  return { active: db.sub('alerts_active') as Bee<Alert[]>, states: db.sub('alarm_states') as Bee<ThingAlarms>, rack: db.sub('alarm_rack') }
}

export const isOutOfService = (marks: readonly OosMark[], thingId: string, name: string): boolean =>
  marks.some((m) => (m.thingId === undefined || m.thingId === thingId) && (m.name === undefined || m.name === name))

/** What a write would change, readings (`metadata`) left out. */
function signature (alarms: ThingAlarms, shown: readonly Alert[]): string {
  const recs = alarms.records.map((r) => `${r.key}|${r.alert.uuid}|${r.alert.severity}|${r.alert.description}|` +
    `${String(r.cond)}|${r.condSince}|${String(r.active)}|` +
    `${String(r.latchedClear)}|${r.ack?.at ?? ''}|${r.suppressedBy ?? ''}|${String(r.announced)}`)
  return `${recs.join('\n')}\n${JSON.stringify(alarms.shelves)}${JSON.stringify(alarms.clears)}\n` +
    `${shown.map((a) => `${a.uuid}|${a.state ?? ''}`).join(',')}`
}

export class AlarmStore {
  private bees: AlarmBees | null = null
  private readonly lock = new KeyedLock()
  /** What was last written per thing, readings left out: a collection that changed nothing else writes nothing. */
  private readonly written = new Map<string, string>()
  /** Writes of a thing queued or running. */
  private readonly writing = new Map<string, number>()

  open (bees: AlarmBees): void {
    this.bees = bees
  }

  get isOpen (): boolean {
    return this.bees !== null
  }

  private get db (): AlarmBees {
    if (!this.bees) throw new Error('alert book is not open')
    return this.bees
  }

  /** Every thing's alarms; a thing of an older store (only `alerts_active`) gets its active alerts as records. */
  async loadAll (): Promise<Map<string, ThingAlarms>> {
    const out = new Map<string, ThingAlarms>()
    for await (const e of this.db.states.createReadStream()) if (e.value !== null && Array.isArray(e.value.records)) out.set(e.key, e.value)
    for await (const e of this.db.active.createReadStream()) {
      if (!out.has(e.key) && Array.isArray(e.value)) out.set(e.key, fromActiveAlerts(e.value, alertKey))
    }
    return out
  }

  /** One thing's stored alarms (a replica reads them so). */
  async * stream (): AsyncGenerator<{ id: string, alarms: ThingAlarms }> {
    for await (const e of this.db.states.createReadStream()) {
      if (e.value !== null && Array.isArray(e.value.records)) yield { id: e.key, alarms: e.value }
    }
  }

  /** Writes the thing's alarms and its shown alerts as they are when the write runs. */
  async save (id: string, current: () => { alarms: ThingAlarms, shown: Alert[] } | null): Promise<void> {
    // the common case, a collection that changed nothing, is settled without a write or the lock
    const first = current()
    if (first === null || (this.written.get(id) === signature(first.alarms, first.shown) && !this.writing.has(id))) return
    this.writing.set(id, (this.writing.get(id) ?? 0) + 1)
    try {
      await this.write(id, current)
    } finally {
      const left = (this.writing.get(id) ?? 1) - 1
      if (left > 0) this.writing.set(id, left)
      else this.writing.delete(id)
    }
  }

  private async write (id: string, current: () => { alarms: ThingAlarms, shown: Alert[] } | null): Promise<void> {
    await this.lock.run(id, async () => {
      const now = current()
      if (now === null) return
      const sig = signature(now.alarms, now.shown)
      if (this.written.get(id) === sig) return
      await this.db.states.put(id, now.alarms)
      await this.db.active.put(id, now.shown)
      this.written.set(id, sig)
    })
  }

  async forget (id: string): Promise<void> {
    await this.lock.run(id, async () => {
      this.written.delete(id)
      await this.db.states.del(id)
      await this.db.active.del(id)
    })
  }

  async oosMarks (): Promise<OosMark[]> {
    const v = (await this.db.rack.get('oos'))?.value
    return Array.isArray(v) ? v as OosMark[] : []
  }

  async saveOos (marks: readonly OosMark[]): Promise<void> {
    await this.lock.run('\u0000rack', async () => { await this.db.rack.put('oos', [...marks]) })
  }

  async flood (): Promise<FloodState> {
    const v = (await this.db.rack.get('flood'))?.value as FloodState | undefined
    return v !== undefined && v !== null && Array.isArray(v.times) ? v : { times: [], alert: null }
  }

  async saveFlood (flood: FloodState): Promise<void> {
    await this.lock.run('\u0000flood', async () => { await this.db.rack.put('flood', flood) })
  }
}
