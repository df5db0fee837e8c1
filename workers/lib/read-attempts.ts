/**
 * How the container reads a snapshot's units: what a failed read means and how many attempts
 * a read gets (./container.ts `readSnapshot`).
 */
import type { RequestOptions } from './modbus/types'

/**
 * Retries of a read sent before its unit answered in this snapshot, while resends have not
 * paid off lately (`readAttempts`): the first snapshot after a unit stops answering on a clean
 * link costs it 1 + 2 attempts whatever `retry` is, as with the former default.
 */
export const FIRST_CONTACT_RETRIES = 2

/** The device flooded the link (./modbus/flood.ts): the whole snapshot fails with it. */
export const FLOOD = 'ERR_MODBUS_FLOOD'
export const TIMEOUT = 'ERR_MODBUS_TIMEOUT'

/**
 * Where a read stands in a snapshot: the CDU's `probe` (alone, first), the `first` reads of every
 * unit (concurrent), or a `deferred` unit asked again after its first contact met a timeout.
 */
export type ReadPhase = 'probe' | 'first' | 'deferred'

/**
 * How a read failed: the unit did not answer any attempt (a timeout, a gateway's 0A/0B), it
 * answered refusing the request (another exception, a malformed reply), or the link failed.
 */
export function failureKind (code: string): 'unreachable' | 'answered' | 'link' {
  if (code === TIMEOUT || code === 'ERR_MODBUS_EXCEPTION_0A' || code === 'ERR_MODBUS_EXCEPTION_0B') return 'unreachable'
  if (code.startsWith('ERR_MODBUS_EXCEPTION_') || code === 'ERR_MODBUS_MALFORMED_REPLY') return 'answered'
  return 'link'
}

/** After these, the remaining requests of the unit are skipped for this snapshot. */
export function isUnitFatal (code: string): boolean {
  return failureKind(code) !== 'answered'
}

/** A unit whose breaker is open: one attempt. */
const SINGLE_ATTEMPT: RequestOptions = { retries: 0 }
const FIRST_CONTACT: RequestOptions = { retries: FIRST_CONTACT_RETRIES }

/**
 * The retries of a read of `unit` (undefined: the client's, i.e. `retry`):
 * - once the unit answered in this snapshot: `retry`;
 * - before that, while its breaker is open: none (one attempt per snapshot for a dead unit);
 * - before that, when resends have paid off on this link since the previous snapshot started
 *   (`recovered` grew): `retry`, the link loses requests and a first request needs the whole
 *   budget like any other;
 * - otherwise (a clean link) at most FIRST_CONTACT_RETRIES (2): a unit that misses three
 *   attempts in a row there is more likely dead than unlucky. The CDU's probe gets them from
 *   the client; the other units' first reads (`first`) only after a transient exception, not
 *   after a timeout: a unit that meets a timeout is `deferred` and asked again once the others
 *   are read (`deferred`: the rest of the budget), unless the snapshot sees a mass outage
 *   (`readSnapshot`).
 */
export function readAttempts (
  s: { answered: boolean, breakerOpen: boolean, resendsPaidOff: boolean, retry: number, phase: ReadPhase }
): RequestOptions | undefined {
  if (s.answered) return undefined
  if (s.breakerOpen) return SINGLE_ATTEMPT
  if (s.resendsPaidOff) return undefined
  const budget = Math.min(s.retry, FIRST_CONTACT_RETRIES)
  if (s.phase === 'deferred') return { retries: Math.max(0, budget - 1) }
  if (s.phase === 'first' && budget > 0) return { retries: budget, timeoutRetries: 0 }
  return budget < s.retry ? FIRST_CONTACT : undefined
}
