/**
 * Bounded logging of DHCP failures during an outage (./dhcp.ts): a thing's first failure of a
 * kind is logged on its own, at most DETAIL_LINES per report window; every other failure is
 * counted, and `flush` writes one summary line per collection cycle.
 */
import type { Logger } from '../../../core/types'

/** Failures logged on their own per report window (one collection cycle); the rest are counted. */
export const DETAIL_LINES = 5
/** Thing ids named in a summary line. */
const SAMPLE_IDS = 5

/** The first failure of each kind on its own (up to DETAIL_LINES per window), the others counted. */
export class FailureReport {
  private detailLeft = DETAIL_LINES
  private readonly counted = new Map<string, number>()
  private readonly things = new Set<string>()
  private total = 0

  constructor (private readonly logger: () => Logger) {}

  /** A failure: logged now when `first` and the window has room, else counted (and logged at debug). */
  note (first: boolean, fields: Record<string, unknown>, msg: string): void {
    if (first && this.detailLeft > 0) {
      this.detailLeft--
      this.logger().warn(fields, msg)
      return
    }
    this.logger().debug(fields, msg)
    const key = `${String(fields.what ?? 'assign')} ${String(fields.code)}`
    this.counted.set(key, (this.counted.get(key) ?? 0) + 1)
    if (typeof fields.thingId === 'string') this.things.add(fields.thingId)
    this.total++
  }

  /** One summary line for what was counted since the last one; a new window. */
  flush (waiting: number): void {
    this.detailLeft = DETAIL_LINES
    if (this.total === 0) return
    const sample = [...this.things].slice(0, SAMPLE_IDS)
    this.logger().warn({ failures: this.total, things: this.things.size, waiting, byCode: Object.fromEntries(this.counted), sample },
      'DHCP failures since the last report (repeated ones are summarised here, not logged one by one)')
    this.counted.clear()
    this.things.clear()
    this.total = 0
  }
}
