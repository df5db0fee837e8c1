/**
 * Circuit breaker per Modbus unit, across snapshot cycles: a unit that did not answer a single
 * attempt in a cycle is "open" and gets one attempt, without retries, per following cycle, so
 * a dead unit costs at most one timeout per cycle while a lossy unit that still answers keeps
 * its retries. The first answer closes it again.
 *
 * When more units are open than one round of requests holds (`pickProbes(limit)`), a cycle asks
 * only `limit` of them, in turn: a mass outage (say 12 units behind a dead bus) then costs one
 * timeout per cycle, not one per `limit` units, and each dead unit is still asked every
 * ⌈open / limit⌉ cycles. The others keep the failure they were opened with.
 */
import type { UnitId } from './registers'

/** What one cycle saw of the units it asked. */
export class CycleOutcome {
  /** Units that answered at least once (data or a Modbus exception of their own). */
  readonly answered = new Set<UnitId>()
  /** Units that failed every attempt of a request (timeout, gateway exception, link error), with the error code. */
  readonly unreachable = new Map<UnitId, string>()
  /** Units whose first contact met a timeout and was left for the container to resend (container.ts `readOptions`). */
  readonly deferred = new Set<UnitId>()
}

export class UnitBreaker {
  /** Open units and the code of the failure that opened them. */
  private readonly open = new Map<UnitId, string>()
  /** The open unit after which the next `pickProbes` starts. */
  private cursor = 0

  /** True while `unit` gets a single attempt per cycle (it has not answered since it failed). */
  isOpen (unit: UnitId): boolean {
    return this.open.has(unit)
  }

  /** The failure that opened `unit` (undefined when closed). */
  codeOf (unit: UnitId): string | undefined {
    return this.open.get(unit)
  }

  /** Units currently open, ascending. */
  get openUnits (): UnitId[] {
    return [...this.open.keys()].sort((a, b) => a - b)
  }

  /**
   * The open units among `candidates` to ask this cycle: all of them when they are at most
   * `limit`, otherwise `limit` of them, taking turns across cycles (ascending, wrapping around).
   */
  pickProbes (candidates: readonly UnitId[], limit: number): Set<UnitId> {
    const open = candidates.filter((u) => this.open.has(u)).sort((a, b) => a - b)
    if (open.length <= limit) return new Set(open)
    const start = open.findIndex((u) => u > this.cursor)
    const from = start < 0 ? 0 : start
    const picked = Array.from({ length: limit }, (_, i) => open[(from + i) % open.length])
    this.cursor = picked[picked.length - 1]
    return new Set(picked)
  }

  /** Applies a cycle: answered units close, units that only failed open. */
  record (cycle: CycleOutcome): void {
    for (const [unit, code] of cycle.unreachable) if (!cycle.answered.has(unit)) this.open.set(unit, code)
    for (const unit of cycle.answered) this.open.delete(unit)
  }
}
