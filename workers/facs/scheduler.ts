import { Cron } from 'croner'
import { Facility } from './facility'
import type { Logger } from '../core/types'

/** Cron jobs (croner, seconds field first, UTC). `protect` keeps a tick from overlapping itself. */
export class SchedulerFacility extends Facility {
  readonly name = 'scheduler'
  override readonly dependsOn = ['logging']
  private readonly jobs = new Map<string, Cron>()

  constructor (private readonly logger: Logger) {
    super()
  }

  add (name: string, pattern: string, fn: (tick: Date) => Promise<void> | void): void {
    this.remove(name)
    const job = new Cron(pattern, {
      timezone: 'UTC',
      protect: true,
      catch: (err: unknown) => this.logger.error({ err, job: name }, 'scheduled job failed')
    }, async (self: Cron) => {
      await fn(self.currentRun() ?? new Date())
    })
    this.jobs.set(name, job)
  }

  remove (name: string): void {
    this.jobs.get(name)?.stop()
    this.jobs.delete(name)
  }

  names (): string[] {
    return [...this.jobs.keys()]
  }

  protected override async _close (): Promise<void> {
    for (const name of [...this.jobs.keys()]) this.remove(name)
  }
}
