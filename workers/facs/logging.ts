import pino from 'pino'
import type { Facility } from './facility'

export interface LoggingOptions {
  name: string
  debug: boolean
  /** Where to write; defaults to stdout. Tests pass a stream to inspect lines. */
  destination?: pino.DestinationStream
}

/** pino logger, level `debug` when `common.json` `debug` (or `--debug`) is set, else `info`. */
export class LoggingFacility implements Facility {
  readonly name = 'logging'
  readonly priority = 0
  readonly logger: pino.Logger

  constructor (opts: LoggingOptions) {
    this.logger = pino({
      name: opts.name,
      level: opts.debug ? 'debug' : 'info',
      base: { pid: process.pid },
      // Defence in depth: credentials must never reach a log line even if passed by mistake.
      redact: { paths: ['password', '*.password', '*.*.password', 'opts.username', '*.opts.username'], censor: '[redacted]' }
    }, opts.destination ?? pino.destination({ dest: 1, sync: true }))
  }

  async start (): Promise<void> {}

  async stop (): Promise<void> {
    this.logger.flush()
  }
}
