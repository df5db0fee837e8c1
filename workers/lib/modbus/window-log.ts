/**
 * The log line of a change of the pipeline's in-flight window (./window.ts): one per change,
 * at warn when pipelining is disabled or suspended, else at debug or info.
 */
import type { ModbusLogger } from './types'
import type { WindowChange } from './window'

/** Where the window applies, and its size after the change. */
export interface WindowTarget {
  host: string
  port: number
  maxInFlight: number
}

/** Logs one window change. */
export function logWindowChange (logger: ModbusLogger, change: NonNullable<WindowChange>, target: WindowTarget): void {
  const { host, port, maxInFlight } = target
  switch (change.kind) {
    case 'disabled':
      logger.warn({ maxInFlight: 1, reason: change.reason, host, port }, 'modbus: pipelining disabled for this connection target')
      break
    case 'trial':
      logger.debug(
        { maxInFlight: 1, host, port, pipelinedTimeoutRate: change.pipelinedTimeoutRate },
        'modbus: pipelined requests time out; trying requests one at a time'
      )
      break
    case 'suspended': {
      const { reason, pipelinedTimeoutRate, trialTimeoutRate: serialTimeoutRate, restoreAfterReplies } = change
      logger.warn({ maxInFlight: 1, reason, host, port, pipelinedTimeoutRate, serialTimeoutRate, restoreAfterReplies },
        'modbus: pipelining suspended for this connection target')
      break
    }
    case 'restored':
      if (change.after === 'replies') logger.info({ maxInFlight, host, port }, 'modbus: pipelining restored after clean replies')
      else logger.debug({ maxInFlight, host, port }, 'modbus: requests sent alone time out as often; window kept')
      break
  }
}
