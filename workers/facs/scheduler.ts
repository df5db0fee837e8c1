import { Cron } from 'croner'
import type { Facility } from './facility'
import type { Logger } from '../tpl/types'

/** Cron jobs (croner, seconds field first, UTC). `protect` keeps a tick from overlapping itself. */
export class SchedulerFacility implements Facility {
  readonly name = 'scheduler'
  readonly priority = 50
  private readonly jobs = new Map<string, Cron>()

  constructor (private readonly logger: Logger) {}

  add (name: string, pattern: string, fn: (tick: Date) => Promise<void> | void): void {
    this.remove(name)
    const job = new Cron(pattern, { timezone: 'UTC', protect: true, catch: (err: unknown) => this.logger.error({ err, job: name }, 'scheduled job failed') }, async (self: Cron) => {
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

  async start (): Promise<void> {}

  async stop (): Promise<void> {
    for (const name of [...this.jobs.keys()]) this.remove(name)
  }
}
