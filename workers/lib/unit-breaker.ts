/**
 * Circuit breaker per Modbus unit, across snapshot cycles: a unit that did not answer a single
 * attempt in a cycle is "open" and gets one attempt, without retries, per following cycle, so
 * a dead unit costs at most one timeout per cycle while a lossy unit that still answers keeps
 * its retries. The first answer closes it again.
 */
import type { UnitId } from './registers'

/** What one cycle saw of the units it asked. */
export class CycleOutcome {
  /** Units that answered at least once (data or a Modbus exception of their own). */
  readonly answered = new Set<UnitId>()
  /** Units that failed every attempt of a request (timeout, gateway exception, link error). */
  readonly unreachable = new Set<UnitId>()
}

export class UnitBreaker {
  private readonly open = new Set<UnitId>()

  /** True while `unit` gets a single attempt per cycle (it has not answered since it failed). */
  isOpen (unit: UnitId): boolean {
    return this.open.has(unit)
  }

  /** Units currently open, ascending. */
  get openUnits (): UnitId[] {
    return [...this.open].sort((a, b) => a - b)
  }

  /** Applies a cycle: answered units close, units that only failed open. */
  record (cycle: CycleOutcome): void {
    for (const unit of cycle.unreachable) if (!cycle.answered.has(unit)) this.open.add(unit)
    for (const unit of cycle.answered) this.open.delete(unit)
  }
}
