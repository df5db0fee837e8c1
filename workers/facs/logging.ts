import pino from 'pino'
import { Facility } from './facility'

export interface LoggingOptions {
  name: string
  debug: boolean
  /** Where to write; defaults to stdout. Tests pass a stream to inspect lines. */
  destination?: pino.DestinationStream
}

/**
 * An error as a log line needs it: type, message, code, stack and causes, as plain strings.
 * Other properties are left out (errors of the storage stack reference whole cores, and pino
 * would otherwise print "unable to serialize").
 */
export function serializeError (err: unknown, depth = 0): unknown {
  if (!(err instanceof Error)) return typeof err === 'object' && err !== null ? String(err) : err
  const code = (err as { code?: unknown }).code
  return {
    type: err.name,
    message: err.message,
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    stack: err.stack,
    ...(err.cause !== undefined && depth < 3 ? { cause: serializeError(err.cause, depth + 1) } : {})
  }
}

/** pino logger, level `debug` when `common.json` `debug` (or `--debug`) is set, else `info`. */
export class LoggingFacility extends Facility {
  readonly name = 'logging'
  readonly logger: pino.Logger

  constructor (opts: LoggingOptions) {
    super()
    this.logger = pino({
      name: opts.name,
      level: opts.debug ? 'debug' : 'info',
      base: { pid: process.pid },
      serializers: { err: (err: unknown) => serializeError(err) },
      // Defence in depth: credentials must never reach a log line even if passed by mistake.
      redact: { paths: ['password', '*.password', '*.*.password', 'opts.username', '*.opts.username'], censor: '[redacted]' }
    }, opts.destination ?? pino.destination({ dest: 1, sync: true }))
  }

  protected override async _close (): Promise<void> {
    this.logger.flush()
  }
}
