/**
 * A replica whose master went back in time (issue 30): the master's core and the copy here are
 * two histories under one key — the master's store folder was copied back after the replica had
 * copied more. Found when the heads are compared on connecting (facs/replication-heads.ts);
 * neither copy is touched. The replica refuses reads (ERR_REPLICA_DIVERGED) rather than serve
 * things the master no longer has, until an operator resets its copy (`mbt-store
 * reset-replica`: a new store with the replica's own keys and none of the copies) or the master
 * gets a new main core (restored with `mbt-store restore`). The refusal is kept in the `wrk`
 * bee, with the length of the diverged copy, so a restart does not serve that copy either.
 */
import type { StoreFacility } from '../../../facs/store'
import type { Divergence } from '../../../facs/replication-heads'
import type { Logger } from '../../../core/types'

const DIVERGED_KEY = 'replica:diverged'

/** What is kept: the main core copied and the length of the copy when it diverged. */
interface Kept { mainKey: string, copyLength: number, divergence: Divergence }

export class ReplicaDivergence {
  private divergence: Divergence | null = null

  constructor (private readonly store: StoreFacility, private readonly logger: Logger, private readonly masterRpcKey: string) {}

  get current (): Divergence | null {
    return this.divergence
  }

  /** A core diverged: logged once, reads refused from now on, kept in the store. */
  found (d: Divergence, mainKey: string, copyLength: number): void {
    const first = this.divergence === null
    this.divergence = d
    if (!first) return
    this.logger.error({
      code: 'ERR_REPLICA_DIVERGED',
      master: this.masterRpcKey,
      discoveryKey: d.discoveryKey,
      copyLength: d.localLength,
      masterLength: d.peerLength,
      reason: d.reason
    }, 'replica: the master\'s history went back in time under the same key (a store folder copied back?); ' +
      'reads answer ERR_REPLICA_DIVERGED until the copy is reset (mbt-store reset-replica, docs/operations.md)')
    const kept: Kept = { mainKey, copyLength, divergence: d }
    this.store.getBee<Kept>('wrk').then((wrk) => wrk.put(DIVERGED_KEY, kept)).catch((err: unknown) => {
      this.logger.warn({ err }, 'replica: the divergence could not be kept in the store')
    })
  }

  /** At start: a divergence found before holds while the copy that diverged is still here. */
  async restore (mainKey: string, copyLength: number): Promise<void> {
    const wrk = await this.store.getBee<Kept>('wrk')
    const kept = (await wrk.get(DIVERGED_KEY))?.value
    if (!kept) return
    if (kept.mainKey === mainKey && kept.copyLength > 0 && copyLength >= kept.copyLength) {
      this.divergence = kept.divergence
      this.logger.error({ code: 'ERR_REPLICA_DIVERGED', master: this.masterRpcKey, since: kept.divergence.at },
        'replica: the copy here diverged from the master\'s history; reads stay refused until it is reset (mbt-store reset-replica)')
      return
    }
    // the copy was reset
    await wrk.del(DIVERGED_KEY)
  }

  /** The master has a new main core: the diverged copy is not used any more. */
  async forget (): Promise<void> {
    this.divergence = null
    const wrk = await this.store.getBee<Kept>('wrk')
    if (await wrk.get(DIVERGED_KEY)) await wrk.del(DIVERGED_KEY)
  }
}
