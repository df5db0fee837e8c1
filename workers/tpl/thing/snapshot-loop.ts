/**
 * The snapshot loop: each tick collects every thing that is not already being collected, at
 * most `thingQueryConcurrency` at once (shared across overlapping ticks, in two lanes so that
 * slow things never take the healthy ones' slots). A result becomes the thing's `last` and, every `storeSnapItvMs`, an entry of
 * its `thing-5m-<id>` log, `{ts, err, snap, collectMs}`: `collectMs`, how long the collection took,
 * is read back at start so that a thing found slow before a restart starts in the slow lane.
 */
import createDebug from 'debug'
import { errorCode } from '../../core/errors'
import { OFFLINE_SNAP } from './base-thing'
import type { ThingControllers } from './controllers'
import type { RackParts } from './rack-parts'
import { Limiter, withTimeout } from '../../core/async'
import type { Snap, ThingState } from './types'
import { thingLogKey } from './logs/log-names'

const debug = createDebug('thing:snap')

/**
 * A `thing-5m-<id>` log written this rarely (`storeSnapItvMs`) is closed after each append and
 * after the restore at start, and reopened when next used: an open log is a Hypercore held in
 * memory (tens of kB), one per thing otherwise.
 */
export const CLOSE_SNAP_LOG_FROM_MS = 60_000

/** The code of a failure envelope: its first error's code, else ERR_THING_OFFLINE. */
function failureCode (snap: Snap): string {
  const errors = (snap.stats as { errors?: Array<{ msg?: unknown }> } | undefined)?.errors
  const msg = Array.isArray(errors) ? errors[0]?.msg : undefined
  return typeof msg === 'string' && msg.startsWith('ERR_') ? msg : 'ERR_THING_OFFLINE'
}

/** Told of each collection, each tick's missed things and each store write of a snapshot (e.g. metrics). */
export interface SnapshotObserver {
  /** One thing collected in `seconds` (`ok`: a snapshot without error). */
  collected: (seconds: number, ok: boolean) => void
  /** Things a tick skipped because their previous collection was still running (a missed interval each). */
  missed: (count: number) => void
  /** One `thing-5m` append took `seconds`. */
  stored: (seconds: number) => void
}

interface StoredSnap { ts?: number, err?: string | null, snap?: Snap | null, collectMs?: number }

/**
 * Two lanes of collection slots: a thing whose last collection took longer than `slowThingMs`
 * runs in the slow lane, which has a fifth of `thingQueryConcurrency` (at least one), so slow
 * containers can never hold the slots the healthy ones need. "Last collection" survives a
 * restart: the duration stored with the newest `thing-5m` entry (at most `storeSnapItvMs` old)
 * is read at start (an entry of an older store without one counts as fast, or as slow when it
 * timed out). A new thing (never collected, nothing stored) runs in the fast lane, but new
 * things take at most the fast lane less a slow lane's worth of slots (`fresh`, at least one):
 * a batch of slow containers just registered cannot hold every slot the healthy ones need
 * while their first collection shows they are slow.
 */
class Lanes {
  readonly fast: Limiter
  readonly slow: Limiter
  readonly fresh: Limiter

  constructor (concurrency: number) {
    const slow = Math.max(1, Math.floor(concurrency / 5))
    const fast = Math.max(1, concurrency - slow)
    this.slow = new Limiter(slow)
    this.fast = new Limiter(fast)
    this.fresh = new Limiter(Math.max(1, fast - slow))
  }
}

export class SnapshotLoop {
  private readonly inflight = new Set<Promise<void>>()
  private lanes: Lanes
  /** How long each thing's last collection took (restored from its newest stored entry at start). */
  private readonly durations = new WeakMap<ThingState, number>()
  /** Told of collections, missed intervals and store writes (the rack's metrics), when set. */
  observer: SnapshotObserver | null = null

  constructor (private readonly rack: RackParts, private readonly controllers: ThingControllers) {
    this.lanes = new Lanes(rack.thingConf.thingQueryConcurrency)
  }

  /** Applies the configured concurrency (the configuration is read at start). */
  configure (): void {
    this.lanes = new Lanes(this.rack.thingConf.thingQueryConcurrency)
  }

  /** Whether a thing runs in the slow lane now. */
  isSlow (state: ThingState): boolean {
    return (this.durations.get(state) ?? 0) > this.rack.thingConf.slowThingMs
  }

  /** `last` of a loaded thing from its newest stored snapshot (before any new collection). */
  async restore (state: ThingState): Promise<void> {
    try {
      const latest = await this.rack.logs.latest(thingLogKey(state.record.id)) as StoredSnap | null
      if (!latest) return
      const snap = latest.snap ?? null
      const err = latest.err ?? null
      // The active alerts the book restored win until a fresh snapshot says otherwise: the stored
      // snapshot may predate an alert that is still active (re-evaluating it would drop the alert,
      // which would then start again with a new identity). Evaluated only for an older store.
      const alerts = state.last.alerts !== undefined ? state.last.alerts : this.rack.alerts.evaluate(state, snap, err)
      // `last` is replaced, never changed in place (./list-cache.ts relies on it)
      state.last = { ...state.last, snap, err, ts: latest.ts, alerts }
      state.lastStoredTs = latest.ts ?? 0
      // the lane it ran in before the restart: a slow thing must not take a healthy one's slot first
      const took = typeof latest.collectMs === 'number' && Number.isFinite(latest.collectMs)
        ? latest.collectMs
        : err === 'ERR_THING_SNAP_TIMEOUT' ? this.rack.thingConf.collectSnapTimeoutMs : 0
      if (!this.durations.has(state)) this.durations.set(state, took)
    } catch (err) {
      this.rack.logger.warn({ err, thingId: state.record.id }, 'could not restore last snapshot')
    }
    if (this.rack.thingConf.storeSnapItvMs >= CLOSE_SNAP_LOG_FROM_MS) {
      await this.rack.logs.release(thingLogKey(state.record.id)).catch(() => {})
    }
  }

  /** One collection cycle; resolves when this cycle's collections are done. */
  async collectSnaps (): Promise<void> {
    const all = this.rack.registry.all()
    const idle = all.filter((s) => !s.collecting)
    if (idle.length < all.length) this.observer?.missed(all.length - idle.length)
    const runs = idle.map((state) => {
      state.collecting = true
      const { fast, slow, fresh } = this.lanes
      const collect = async (): Promise<void> => await this.collectThing(state)
      // a new thing waits for a `fresh` slot before it takes a fast one
      const queued = this.isSlow(state)
        ? slow.run(collect)
        : this.durations.has(state) ? fast.run(collect) : fresh.run(async () => await fast.run(collect))
      const run = queued.finally(() => {
        state.collecting = false
        this.inflight.delete(run)
      })
      this.inflight.add(run)
      return run
    })
    await Promise.allSettled(runs)
  }

  /**
   * What the status file tells of the collection: when a thing was last collected, how many
   * things there are and how many failed their last collection (it ended with an error code).
   */
  summary (): { lastCollectionAt: number | null, things: number, failing: number } {
    let last: number | null = null
    let failing = 0
    const all = this.rack.registry?.all() ?? []
    for (const s of all) {
      if (typeof s.last.ts === 'number' && (last === null || s.last.ts > last)) last = s.last.ts
      if (s.last.err !== null && s.last.err !== undefined) failing++
    }
    return { lastCollectionAt: last, things: all.length, failing }
  }

  /** Waits for the collections in flight (after the controllers were closed on stop). */
  async settle (): Promise<void> {
    await Promise.allSettled([...this.inflight])
  }

  private async collectThing (state: ThingState): Promise<void> {
    const { controllers, rack } = this
    if (controllers.isClosing || state.forgotten) return
    const ts = Date.now()
    try {
      let snap: Snap | null = null
      let err: string | null = null
      if (state.record.info.container === 'maintenance') {
        snap = OFFLINE_SNAP
      } else {
        if (!state.ctrl) err = await controllers.connect(state)
        if (state.ctrl && !controllers.isClosing) {
          try {
            snap = await withTimeout(rack.hooks.collectThingSnap(state), rack.thingConf.collectSnapTimeoutMs, 'ERR_THING_SNAP_TIMEOUT')
            // A controller reports a failed read as an error/offline envelope, not by throwing.
            if (!snap.success) err = state.ctrl?.lastErrorCode ?? failureCode(snap)
          } catch (e) {
            snap = OFFLINE_SNAP
            err = errorCode(e, 'ERR_THING_SNAP_FAILED')
          }
        } else {
          snap = OFFLINE_SNAP
          err = err ?? 'ERR_THING_NOT_CONNECTED'
        }
      }
      // Forgotten while collecting: drop the result and whatever controller it opened.
      if (state.forgotten) {
        await controllers.disconnect(state)
        return
      }
      // the device's time (not the store's) decides the lane; a collection cut short by a stop
      // (its controller closed) took at least this long, and says no less than the one before
      const elapsed = Date.now() - ts
      const collectMs = controllers.isClosing ? Math.max(elapsed, this.durations.get(state) ?? 0) : elapsed
      this.durations.set(state, collectMs)
      if (!controllers.isClosing) this.observer?.collected(elapsed / 1000, err === null)
      debug('snapshot %s %s in %d ms', state.record.id, err ?? 'ok', collectMs)
      const prevAlerts = state.last.alerts
      const alerts = rack.alerts.evaluate(state, snap, err)
      state.last = { snap, alerts, err, ts }
      await rack.alerts.record(state, prevAlerts, alerts)
      if (ts - state.lastStoredTs >= rack.thingConf.storeSnapItvMs) {
        state.lastStoredTs = ts
        const key = thingLogKey(state.record.id)
        const writing = performance.now()
        await rack.logs.append(key, ts, { ts, err, snap, collectMs })
        this.observer?.stored((performance.now() - writing) / 1000)
        if (rack.thingConf.storeSnapItvMs >= CLOSE_SNAP_LOG_FROM_MS) await rack.logs.release(key)
      }
    } catch (e) {
      rack.logger.error({ err: e, thingId: state.record.id }, 'snapshot collection failed')
    }
  }
}
