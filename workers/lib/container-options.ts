/** Options of a MicroBT container controller (./container.ts). */
import type { BaseContainerOptions } from '../tpl/container/base-container'
import type { ControlConf } from './control/conf'
import type { ModbusClient, ModbusClientOptions } from './modbus/types'
import type { ContainerVendor } from './registers'

export interface MicroBTContainerOptions extends Omit<BaseContainerOptions, 'limits'> {
  /** Controller host. Without address, port, username and password the thing stays unconnected. */
  address?: string
  port?: number
  username?: string
  password?: string
  vendor: ContainerVendor
  /** Per-request timeout (ms); client default 2000. */
  timeout?: number
  /**
   * Resends of a read that timed out, lost its connection or got a transient exception (04,
   * 05, 06, 0A, 0B; ./modbus/errors.ts `exceptionResend`), and of a control write that got no
   * acknowledgement (same unit, register and value; the writes set absolute values). Default 4
   * (`DEFAULT_RETRY`). A read sent before its unit answered in the snapshot gets at most 2 while
   * resends have not paid off lately (see `readOptions`), so a unit that stops answering on a
   * clean link costs 3 attempts, the last two once the other units are read, or one when most
   * units go silent at once on a clean link (an outage: one timeout each); a unit that failed
   * every attempt in a snapshot gets one attempt without retries in the following snapshots
   * until it answers again (./unit-breaker.ts), and at most
   * one round of the window of such dead units is asked per snapshot, in turn, so dead units
   * cost about one timeout per snapshot however many they are.
   */
  retry?: number
  /** Minimum reconnect backoff (ms); client default 250. */
  retryInterval?: number
  /** Requests pipelined on the connection; client default 4. */
  maxInFlight?: number
  /** Merge read ranges at most this many registers apart (default 0: only touching ranges). */
  maxGap?: number
  /** Registers per read request, 1…125 (default 125). */
  maxRegsPerRequest?: number
  /**
   * Consecutive timeouts after which the client replaces the socket. Default: (units + 1) ×
   * (min(retry, 2) + 1), so that units that are absent behind a healthy link (each times out at
   * most three times per snapshot before it answers, see `readOptions`) never reset the link
   * for the others, and a silent link is still replaced as soon as with the former default.
   */
  halfOpenAfterTimeouts?: number
  /** Use this client instead of creating one (tests, benchmarks). It stays the caller's: close() does not close it. */
  client?: ModbusClient
  /** Creates the client on first use; default `new ModbusTcpClient(opts)`. */
  clientFactory?: (opts: ModbusClientOptions) => ModbusClient
  /** The `control` configuration of guarded actions (./control/conf.ts); read at every action. Default: the defaults. */
  control?: () => ControlConf
  /** The inlet temperature alert threshold in effect (°C) a power-up is guarded against; default none. */
  inletMaxC?: () => number | null
}
