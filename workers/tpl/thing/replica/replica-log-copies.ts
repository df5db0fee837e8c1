/**
 * A replica's copies of the master's log generations (`log:<key>:<gen>`): the ones a read can
 * reach are opened by their announced core keys and downloaded, older ones are cleared. They are
 * the BeeStore of the replica's time logs.
 */
import type { Bee, BeeStore, StoreFacility } from '../../../facs/store'
import type { ReplicationFacility } from '../../../facs/replication'
import type { Logger } from '../../../core/types'
import { HEX64 } from './replica-settings'
import type { LogCore } from './replica-source'
import { logBeeName, parseLogBeeName } from '../logs/time-log'

/** A log generation the master has not announced (yet): it reads as empty. */
export const EMPTY_BEE = {
  core: { length: 0 },
  async get () { return null },
  async peek () { return null },
  async * createReadStream () {}
} as unknown as Bee

export interface CopiesHost {
  readonly store: StoreFacility
  readonly logger: Logger
  readonly replication: ReplicationFacility
  readTimeoutMs: number
  /** Told of each append to a copy. */
  onAppend: () => void
}

export class ReplicaLogCopies implements BeeStore {
  /** Bee name → announced core key. */
  private readonly logCores = new Map<string, string>()
  /** Log → its current generation (the master's `meta_logs`). */
  private readonly metaCur = new Map<string, number>()
  /** Bee name → the replicated generation (opening or open). */
  private readonly opened = new Map<string, Promise<Bee>>()
  private readonly openedByLog = new Map<string, Set<number>>()

  constructor (private readonly host: CopiesHost) {}

  /** Downloads `bee` in full, live, and replicates it with the master. */
  follow (bee: Bee): void {
    bee.core.download({ start: 0, end: -1 })
    this.host.replication.add(bee.core)
    bee.core.on('append', this.host.onAppend)
  }

  async release (bee: Bee | null): Promise<void> {
    if (!bee) return
    bee.core.off('append', this.host.onAppend)
    this.host.replication.remove(bee.core)
    await this.host.store.closeRemote(bee)
  }

  /** A `log_cores` entry of the master changed (`key` null: removed). */
  announce (name: string, value: LogCore | null): void {
    if (value !== null && typeof value.key === 'string' && HEX64.test(value.key)) this.logCores.set(name, value.key)
    else this.logCores.delete(name)
  }

  /** A `meta_logs` entry of the master changed (`cur` null: removed). */
  setCurrent (log: string, cur: number | null): void {
    if (cur === null) this.metaCur.delete(log)
    else this.metaCur.set(log, cur)
  }

  current (log: string): number | undefined {
    return this.metaCur.get(log)
  }

  /** The open copy of a generation, if it is open (null when not, or not announced). */
  async openCopy (name: string): Promise<Bee | null> {
    const bee = await this.opened.get(name)?.catch(() => null)
    return !bee || bee === EMPTY_BEE ? null : bee
  }

  /** Opens the generations of `log` a read can reach; clears the ones that fell out of reach. */
  async ensureWindow (log: string, maxHeight: number): Promise<void> {
    const cur = this.metaCur.get(log)
    const open = this.openedByLog.get(log) ?? new Set<number>()
    const low = cur === undefined ? Infinity : Math.max(0, cur - maxHeight + 1)
    for (const gen of [...open]) if (gen < low) await this.closeGeneration(log, gen, true)
    if (cur === undefined) return
    for (let gen = low; gen <= cur; gen++) {
      const name = logBeeName(log, gen)
      if (!this.opened.has(name) && this.logCores.has(name)) {
        await this.openLog(name).catch((err: unknown) => this.host.logger.debug({ err, log: name }, 'replica: log core not opened'))
      }
    }
  }

  private openLog (name: string): Promise<Bee> {
    const existing = this.opened.get(name)
    if (existing) return existing
    const key = this.logCores.get(name)
    const parsed = parseLogBeeName(name)
    if (key === undefined || !parsed) return Promise.resolve(EMPTY_BEE)
    const opening = this.host.store.openByKey(Buffer.from(key, 'hex'), this.host.readTimeoutMs).then((bee) => {
      if (this.opened.get(name) !== opening) {
        void this.host.store.closeRemote(bee)
        return EMPTY_BEE
      }
      this.follow(bee)
      return bee
    })
    this.opened.set(name, opening)
    const gens = this.openedByLog.get(parsed[0]) ?? new Set<number>()
    gens.add(parsed[1])
    this.openedByLog.set(parsed[0], gens)
    opening.catch(() => {
      if (this.opened.get(name) === opening) this.opened.delete(name)
      gens.delete(parsed[1])
    })
    return opening
  }

  private async closeGeneration (log: string, gen: number, clear: boolean): Promise<void> {
    const name = logBeeName(log, gen)
    const opening = this.opened.get(name)
    this.opened.delete(name)
    this.openedByLog.get(log)?.delete(gen)
    const bee = await opening?.catch(() => null)
    if (!bee || bee === EMPTY_BEE) return
    if (clear && bee.core.length > 0) await bee.core.clear(0, bee.core.length).catch(() => {})
    await this.release(bee)
  }

  /** A forgotten thing's log: its copies are closed (the data stays on disk, like the master's). */
  async dropLog (log: string): Promise<void> {
    for (const gen of [...(this.openedByLog.get(log) ?? [])]) await this.closeGeneration(log, gen, false)
    this.openedByLog.delete(log)
  }

  /** Closes every copy and forgets what was announced (another main core is copied next). */
  async reset (): Promise<void> {
    const bees = [...this.opened.values()]
    this.opened.clear()
    this.openedByLog.clear()
    for (const opening of bees) await this.release(await opening.catch(() => null))
    this.logCores.clear()
    this.metaCur.clear()
  }

  // ---- BeeStore, for the time logs --------------------------------------------------------------

  async getBee<T = unknown> (name: string): Promise<Bee<T>> {
    return await this.openLog(name) as Bee<T>
  }

  async closeBee (name: string): Promise<void> {
    const parsed = parseLogBeeName(name)
    if (parsed) await this.closeGeneration(parsed[0], parsed[1], false)
  }

  async clearBee (name: string): Promise<void> {
    const parsed = parseLogBeeName(name)
    if (parsed) await this.closeGeneration(parsed[0], parsed[1], true)
  }
}
