/** The mock's public shapes: what a server is, its options, faults, statistics and write log. */
import type { LivePatch } from './model/live'
import type { ContainerType, MockState, MockStatePatch, RegisterPatch } from './state'

/** Where a server listens unless told otherwise. */
export const MOCK_DEFAULT_PORT = 5020
export const MOCK_DEFAULT_HOST = '127.0.0.1'

export interface CreateServerOptions {
  /** 'Kehua' | 'Wonderint', case-insensitive. */
  type: string
  /** Default 5020; 0 = an ephemeral port (kept across offline/online). */
  port?: number
  /** Default 127.0.0.1. */
  host?: string
  /** Start with system error bits 0–15 and general error flag 98 set. */
  error?: boolean
  /** Credentials the authentication response is checked against (default admin/admin). */
  username?: string
  password?: string
  /** Seed of initial values and drift (random when omitted). */
  seed?: number
  /** Interval of the drift tick in ms (default 1000; 0 = no automatic drift). */
  tickMs?: number
  /** Id in the control API (default: a process-wide counter, '0', '1', …). */
  id?: string
}

export interface FaultPatch {
  /** Delay every reply by this many ms (0 = none). */
  delayMs?: number
  /** Answer every request to `unit` with exception `code`; code 0 or `null` clears. */
  exception?: { unit: number, code: number } | null
  /** Never answer requests to this unit (adds to `silentUnits`). */
  dropUnit?: number
  /** Never answer requests to these units (replaces the set). */
  silentUnits?: number[]
  /** Set (true) or clear (false) the `--error` bits and flag. */
  error?: boolean
  /**
   * Unsolicited frames per second sent on every connection (now and later ones), FC03 replies
   * of unit 1 with random transaction ids, on top of the normal replies; 0 stops (0…MAX_FLOOD_FPS).
   */
  flood?: number
}

export interface FaultState {
  delayMs: number
  exceptions: Array<{ unit: number, code: number }>
  silentUnits: number[]
  /** Unsolicited frames per second per connection (0 = none). */
  flood: number
}

/** Body of the control API's `POST /thing/:id`; every field optional. */
export interface ThingPatch extends FaultPatch {
  offline?: boolean
  state?: MockStatePatch
  registers?: RegisterPatch[]
  /** Live-value overrides: a spec holds or oscillates a signal, `null` releases it (mock/model/live.ts). */
  live?: LivePatch
  /** Power fault and its consequences (MockState.setPowerFault); false restores. */
  powerFault?: boolean
}

export interface MockServerStats {
  /** Modbus requests received (complete MBAP frames), answered or not. */
  requests: number
  /** Requests per function code, e.g. `{ 3: 42, 6: 1, 16: 1 }`. */
  byFunctionCode: Record<number, number>
  /** Requests per unit id. */
  byUnit: Record<number, number>
  /** Exception responses sent. */
  exceptions: number
  exceptionsByCode: Record<number, number>
  /** Requests deliberately left unanswered (silent units). */
  unanswered: number
  /** Unsolicited frames sent (`flood`). */
  unsolicited: number
  /** TCP connections accepted. */
  connections: number
  authSucceeded: number
  authFailed: number
}

/** One register set by an accepted write (FC06, or one register of an FC16). */
export interface WriteRecord {
  unit: number
  /** 1-based register number. */
  register: number
  /** Raw uint16 value written. */
  value: number
  fc: 6 | 16
  /** Id of the TCP connection it came on (1, 2, … per server). */
  connection: number
}

/** One accepted write request (FC06 or FC16) in the write log. */
export interface LoggedWrite {
  /** 1, 2, … per server, never reused (also not after a reset). */
  seq: number
  /** When it was applied, ms since the epoch. */
  at: number
  unit: number
  fc: 6 | 16
  /** 1-based number of the first register written. */
  register: number
  /** Raw uint16 values, one per register from `register` on. */
  values: number[]
  /** Id of the TCP connection it came on (1, 2, … per server). */
  connection: number
}

/** `GET /thing/:id/writes?since=<seq>`: the writes with `seq >= since`, and the `since` to ask with next. */
export interface WritesPage {
  writes: LoggedWrite[]
  nextSeq: number
}

export interface ThingInfo {
  id: string
  type: ContainerType
  host: string
  port: number
  offline: boolean
  error: boolean
}

export interface MockServer {
  readonly id: string
  readonly type: ContainerType
  readonly host: string
  /** Bound port once started (the requested one before). */
  readonly port: number
  /** True while the Modbus listener is closed. */
  readonly offline: boolean
  readonly state: MockState
  readonly stats: MockServerStats
  readonly faults: FaultState
  /**
   * Every register an accepted write set, oldest first: the write log (`writes()`) flattened to
   * one record per register.
   */
  readonly writeLog: readonly WriteRecord[]
  /**
   * The accepted write requests with `seq >= since` (default 0: all kept), oldest first, at most
   * the last WRITE_LOG_LIMIT; cleared by `reset()`/`resetStats()`, sequence numbers go on.
   * Authentication responses and refused writes are not logged. Throws ERR_MOCK_BAD_VALUE for a
   * `since` that is not an integer >= 0.
   */
  writes: (since?: number) => WritesPage
  /** `apply({live})`: sets or releases live-value overrides; throws ERR_MOCK_BAD_VALUE (nothing changed). */
  setLive: (live: LivePatch) => void
  /** `apply({powerFault})`. */
  setPowerFault: (on: boolean) => void
  /** Open TCP connections. */
  readonly connectionCount: number
  /** Starts the Modbus listener and the drift tick. */
  start: () => Promise<{ port: number }>
  /** Closes the listener and every connection, clears every timer. Can be started again. */
  stop: () => Promise<void>
  /** `stop()` for good; `start()` afterwards rejects with ERR_MOCK_EXITED. */
  exit: () => Promise<void>
  /** Initial state, no faults, zeroed stats (connections and their authentication stay). */
  reset: () => void
  /** true: close the listener and drop every connection (clients are refused); false: listen again. */
  setOffline: (offline: boolean) => Promise<void>
  setFault: (fault: FaultPatch) => void
  clearFaults: () => void
  /** Sets (and pins, see MockState.set) a register; value -32768…65535. */
  setRegister: (unit: number, register: number, value: number) => void
  /** Raw uint16 value of a register. */
  getRegister: (unit: number, register: number) => number
  /** Applies a control-API patch (state, registers, faults, then offline). */
  apply: (patch: ThingPatch) => Promise<void>
  resetStats: () => void
  info: () => ThingInfo
}
