import { Facility } from './facility'
import type { Logger } from '../core/types'

interface Job {
  timer: NodeJS.Timeout
  running: boolean
}

/**
 * Named repeating jobs. A job never overlaps itself: a tick that finds the previous run still
 * going is skipped. Stopping clears every timer.
 */
export class IntervalFacility extends Facility {
  readonly name = 'interval'
  override readonly dependsOn = ['logging']
  private readonly jobs = new Map<string, Job>()

  constructor (private readonly logger: Logger) {
    super()
  }

  add (name: string, fn: () => Promise<void> | void, everyMs: number): void {
    this.clear(name)
    const job: Job = {
      running: false,
      timer: setInterval(() => {
        if (job.running) return
        job.running = true
        Promise.resolve()
          .then(fn)
          .catch((err: unknown) => this.logger.error({ err, job: name }, 'interval job failed'))
          .finally(() => { job.running = false })
      }, everyMs)
    }
    this.jobs.set(name, job)
  }

  has (name: string): boolean {
    return this.jobs.has(name)
  }

  clear (name: string): void {
    const job = this.jobs.get(name)
    if (!job) return
    clearInterval(job.timer)
    this.jobs.delete(name)
  }

  protected override async _close (): Promise<void> {
    for (const name of [...this.jobs.keys()]) this.clear(name)
  }
}
