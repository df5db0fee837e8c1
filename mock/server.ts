/**
 * Mock MicroBT container: a Modbus TCP server serving the register map of registers.md for a
 * Kehua or Wonderint container, with per-connection authentication, writes reflected in later
 * reads, slowly drifting live values and fault injection for tests.
 *
 * This file is the server's lifecycle (listener, connections, drift tick, control patches).
 * The Modbus TCP framing is its own (./modbus/requests.ts, a few dozen lines over `net`): every
 * complete frame of a `data` event is answered synchronously, in order, with one `write` per
 * event. (modbus-serial's ServerTCP, used before, scheduled every request on its own timer and
 * computed RTU checksums both ways: about 1 ms of latency per request and most of the mock's
 * CPU — too much for a 1000-container fleet benchmark.) Link fault injection, with delayed
 * replies sharing one timer per server: ./modbus/faults.ts; the write log:
 * ./modbus/write-log.ts; live-value overrides and the power fault: ./model/ (via MockState).
 *
 * Modbus exception codes answered:
 * - 0x01 illegal function: function codes other than FC03/FC06/FC16;
 * - 0x02 illegal data address: a read that reaches a register not listed for the unit (even
 *   partially), a write to a register that is not writable, a zero-length request;
 * - 0x03 illegal data value: FC03 count > 125 or FC16 count > 123, a socket control value other
 *   than 1/2, system_main_control other than 0/1, an auth write that is not exactly FC16 on
 *   305–320;
 * - 0x04 server device failure: a write before a valid authentication response on this TCP
 *   connection, or a wrong authentication response. (Real controllers reject these writes with
 *   an exception; 0x01 would wrongly tell a client the function is unsupported and 0x03 that the
 *   value is out of range, so 0x04 — "the device could not perform it" — is used.)
 * - 0x0B gateway target device failed to respond: unit id outside 1–20.
 * Fault injection can answer any code for a unit, delay replies, never answer a unit, or flood
 * every connection with unsolicited frames (`flood`, frames per second) while still answering.
 *
 * CLI: node dist/mock/server.js --type Kehua|Wonderint [-p 5020] [-h 127.0.0.1] [--error]
 *      [--bulk file.json] [--mockControlPort N] [--username u --password p]
 */
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net'
import { hideBin } from 'yargs/helpers'
import { WrkError } from '../workers/core/errors'
import { runCli, type MockCli, type MockCliOptions } from './cli'
import { validateLivePatch, type LivePatch } from './model/live'
import { openConnection, type Connection } from './modbus/connection'
import { FaultInjector, validateFaultPatch } from './modbus/faults'
import { RequestHandler, emptyStats } from './modbus/requests'
import { WriteLog } from './modbus/write-log'
import {
  MOCK_DEFAULT_HOST, MOCK_DEFAULT_PORT, type CreateServerOptions, type FaultPatch, type FaultState, type MockServer,
  type MockServerStats, type ThingInfo, type ThingPatch, type WriteRecord, type WritesPage
} from './types'
import { MockState, parseContainerType, type ContainerType } from './state'

export { createControlServer, type MockControlServer, type ControlServerOptions } from './control'
export type { MockCli, MockCliOptions } from './cli'
export type {
  CreateServerOptions, FaultPatch, FaultState, LoggedWrite, MockServer, MockServerStats, ThingInfo, ThingPatch, WriteRecord, WritesPage
} from './types'
export { MockState, parseContainerType, type ContainerType, type MockStatePatch, type RegisterPatch } from './state'
export { LIVE_SIGNALS, type LivePatch, type LiveSignal, type LiveSpec } from './model/live'
export { MODBUS_EXCEPTION } from './modbus/requests'
export { MAX_FLOOD_FPS } from './modbus/faults'
export { WRITE_LOG_LIMIT } from './modbus/write-log'

let nextServerId = 0

class MockContainerServer implements MockServer {
  readonly id: string
  readonly type: ContainerType
  readonly host: string
  readonly state: MockState
  stats: MockServerStats = emptyStats()

  private boundPort: number
  private readonly tickMs: number
  private tcp: NetServer | undefined
  private listening: Promise<void> | undefined
  private ticker: NodeJS.Timeout | undefined
  private exited = false
  private connSeq = 0
  private readonly connections = new Set<Connection>()
  private readonly log = new WriteLog()
  private readonly injector: FaultInjector
  private readonly requests: RequestHandler

  constructor (opts: CreateServerOptions) {
    this.type = parseContainerType(opts.type)
    const port = opts.port ?? MOCK_DEFAULT_PORT
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new WrkError('ERR_MOCK_BAD_PORT', `invalid port ${port}`)
    const tickMs = opts.tickMs ?? 1000
    if (!Number.isFinite(tickMs) || tickMs < 0) throw new WrkError('ERR_MOCK_BAD_TICK', `invalid tickMs ${tickMs}`)
    this.boundPort = port
    this.host = opts.host ?? MOCK_DEFAULT_HOST
    this.tickMs = tickMs
    this.id = opts.id ?? String(nextServerId++)
    this.state = new MockState({ type: this.type, error: opts.error === true, seed: opts.seed })
    this.injector = new FaultInjector({
      connections: () => this.connections,
      unsolicited: (n) => { this.stats.unsolicited += n }
    })
    this.requests = new RequestHandler({
      state: this.state,
      faults: this.injector,
      log: this.log,
      stats: () => this.stats,
      username: opts.username ?? 'admin',
      password: opts.password ?? 'admin'
    })
  }

  get port (): number {
    return this.boundPort
  }

  get offline (): boolean {
    return this.tcp === undefined
  }

  get connectionCount (): number {
    return this.connections.size
  }

  get faults (): FaultState {
    return this.injector.state
  }

  get writeLog (): WriteRecord[] {
    return this.log.registers()
  }

  writes (since?: number): WritesPage {
    return this.log.since(since)
  }

  info (): ThingInfo {
    return { id: this.id, type: this.type, host: this.host, port: this.port, offline: this.offline, error: this.state.error }
  }

  async start (): Promise<{ port: number }> {
    if (this.exited) throw new WrkError('ERR_MOCK_EXITED', `mock ${this.id} has exited`)
    if (this.ticker === undefined && this.tickMs > 0) {
      this.ticker = setInterval(() => this.state.tick(this.tickMs), this.tickMs)
      this.ticker.unref()
    }
    this.injector.resume()
    await this.listen()
    return { port: this.port }
  }

  async stop (): Promise<void> {
    if (this.ticker !== undefined) clearInterval(this.ticker)
    this.ticker = undefined
    this.injector.pause()
    await this.closeListener()
  }

  async exit (): Promise<void> {
    this.exited = true
    await this.stop()
  }

  reset (): void {
    this.state.reset()
    this.clearFaults()
    this.resetStats()
  }

  resetStats (): void {
    this.stats = emptyStats()
    this.log.clear()
  }

  async setOffline (offline: boolean): Promise<void> {
    if (offline) await this.closeListener()
    else await this.start()
  }

  setFault (fault: FaultPatch): void {
    validateFaultPatch(fault)
    this.injector.set(fault)
    if (fault.error !== undefined) this.state.setError(fault.error)
  }

  clearFaults (): void {
    this.injector.clear()
  }

  setLive (live: LivePatch): void {
    this.state.setLive(live)
  }

  setPowerFault (on: boolean): void {
    this.state.setPowerFault(on)
  }

  setRegister (unit: number, register: number, value: number): void {
    this.state.set(unit, register, value)
  }

  getRegister (unit: number, register: number): number {
    return this.state.get(unit, register)
  }

  async apply (patch: ThingPatch): Promise<void> {
    const { offline, state, registers, live, powerFault, ...fault } = patch
    // Validate the fault and live parts first: the state patch validates itself before
    // applying, so an invalid patch changes nothing.
    validateFaultPatch(fault)
    if (live !== undefined) validateLivePatch(live)
    if (powerFault !== undefined && typeof powerFault !== 'boolean') {
      throw new WrkError('ERR_MOCK_BAD_FAULT', 'powerFault must be a boolean')
    }
    if (state !== undefined || registers !== undefined) {
      this.state.patch({ ...state, registers: [...(state?.registers ?? []), ...(registers ?? [])] })
    }
    this.setFault(fault)
    if (live !== undefined) this.state.setLive(live)
    if (powerFault !== undefined) this.state.setPowerFault(powerFault)
    if (offline !== undefined) await this.setOffline(offline)
  }

  // ---------------------------------------------------------------- Modbus listener

  private async listen (): Promise<void> {
    if (this.tcp !== undefined) return
    if (this.listening !== undefined) return await this.listening
    this.listening = this.openListener().finally(() => { this.listening = undefined })
    await this.listening
  }

  private async openListener (): Promise<void> {
    const server = createNetServer({ noDelay: true }, (sock) => this.onConnection(sock))
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error | null): void => {
        const code = (err as NodeJS.ErrnoException | null)?.code ?? 'unknown'
        reject(new WrkError('ERR_MOCK_LISTEN', `mock ${this.id} cannot listen on ${this.host}:${this.boundPort} (${code})`, { cause: err }))
      }
      server.once('error', onError)
      server.listen(this.boundPort, this.host, () => {
        server.removeListener('error', onError)
        server.on('error', () => { /* listener errors after start: ignored */ })
        resolve()
      })
    })
    this.boundPort = (server.address() as AddressInfo).port
    this.tcp = server
  }

  private async closeListener (): Promise<void> {
    if (this.listening !== undefined) await this.listening.catch(() => undefined)
    const tcp = this.tcp
    this.tcp = undefined
    this.injector.dropDelayed()
    for (const c of this.connections) c.socket.destroy()
    this.connections.clear()
    if (tcp === undefined) return
    await new Promise<void>((resolve) => tcp.close(() => resolve()))
  }

  private onConnection (socket: Socket): void {
    const conn = openConnection(++this.connSeq, socket)
    this.connections.add(conn)
    this.stats.connections++
    socket.once('close', () => this.connections.delete(conn))
    socket.on('error', () => { /* reset by peer etc.: the close handler cleans up */ })
    socket.on('data', (data: Buffer) => this.requests.onData(conn, data))
    this.injector.onConnection(conn)
  }
}

/** A mock container (not started: call `start()`). */
export function createServer (opts: CreateServerOptions): MockServer {
  return new MockContainerServer(opts)
}

/**
 * The mock CLI without process handling (./cli.ts): parses `argv` (without node and the script),
 * starts the servers and the control API, resolves once all listen.
 */
export async function main (argv: readonly string[], opts: MockCliOptions = {}): Promise<MockCli> {
  return await runCli(argv, createServer, opts)
}

if (typeof require !== 'undefined' && typeof module !== 'undefined' && require.main === module) {
  main(hideBin(process.argv)).then((cli) => {
    if (cli.servers.length === 0) return
    const shutdown = (): void => {
      cli.stop().then(() => process.exit(0), () => process.exit(0))
    }
    process.once('SIGINT', shutdown)
    process.once('SIGTERM', shutdown)
  }, (err: unknown) => {
    console.error(`mock-server: ${err instanceof Error ? err.message : String(err)}`)
    process.exit(1)
  })
}
