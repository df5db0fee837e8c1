/**
 * The authenticated write path of a MicroBT controller: one control operation at a time, the
 * challenge/response authentication (registers.md) on every new connection, pinned to it, and
 * the resend rules of a write that got no acknowledgement. Never logs secrets.
 */
import { errorCode, WrkError } from '../../core/errors'
import { authResponse, bytesToRegisters, registersToBytes } from '../auth'
import type { ModbusClient, ModbusLogger, RequestOptions } from '../modbus/types'
import { AUTH_CHALLENGE, AUTH_RESPONSE, CDU_UNIT, type UnitId } from '../registers'

/** One FC06 write. `reg` is the 1-based register number. */
export interface RegisterWrite {
  unit: UnitId
  reg: number
  value: number
}

export interface Credentials {
  username: string
  password: string
}

export interface DeviceWriterOptions {
  /** The container's client (created on first use). */
  client: () => ModbusClient
  /** ES-private credentials of the container; null while it has none. */
  credentials: () => Credentials | null
  /** Resends of an unacknowledged write (and of a lost authentication exchange). */
  retry: number
  /** Called whenever the device answers. */
  seen: () => void
  logger: ModbusLogger
}

const EXCEPTION_DEVICE_FAILURE = 'ERR_MODBUS_EXCEPTION_04'
const HIGH: RequestOptions = { priority: 'high' }

export class DeviceWriter {
  private authenticatedOn: number | null = null
  private writeChain: Promise<void> = Promise.resolve()

  constructor (private readonly opts: DeviceWriterOptions) {}

  /** Forgets the authentication (the connection is gone). */
  reset (): void {
    this.authenticatedOn = null
  }

  /** Writes in order, one control operation at a time (a concurrent one would spend the challenge). */
  async write (writes: readonly RegisterWrite[]): Promise<void> {
    if (writes.length === 0) return
    const client = this.opts.client()
    const run = this.writeChain.then(() => this.writeAuthenticated(client, writes))
    this.writeChain = run.catch(() => {})
    await run
  }

  /**
   * Authenticates when the connection is new, then writes. A write without acknowledgement is
   * resent by the client to the same unit and register, up to `retry` times, on the same
   * connection; it succeeds only when acknowledged. If the link is replaced before a write was
   * sent, or (with `retry` > 0) while it was on the wire, the operation reconnects once,
   * authenticates again and goes on with that write.
   */
  private async writeAuthenticated (client: ModbusClient, writes: readonly RegisterWrite[]): Promise<void> {
    const retry = this.opts.retry
    let next = 0
    let reconnects = 0
    for (;;) {
      const connectionId = await client.connect()
      const pinned: RequestOptions = { ...HIGH, connectionId, retries: retry }
      try {
        let justAuthenticated = false
        if (this.authenticatedOn !== connectionId) {
          await this.authenticate(client, connectionId)
          justAuthenticated = true
        }
        while (next < writes.length) {
          const w = writes[next]
          try {
            await client.writeRegister(w.unit, w.reg - 1, w.value, pinned)
          } catch (err) {
            if (errorCode(err) !== EXCEPTION_DEVICE_FAILURE) throw err
            if (justAuthenticated) {
              this.authenticatedOn = null
              throw new WrkError('ERR_AUTH_FAILED', 'the controller refused a write right after authentication')
            }
            // the controller may have dropped the session: authenticate again and retry this write once
            await this.authenticate(client, connectionId)
            justAuthenticated = true
            continue
          }
          this.opts.seen()
          justAuthenticated = false
          next++
        }
        return
      } catch (err) {
        const code = errorCode(err)
        const resendable = code === 'ERR_MODBUS_CONNECTION_CHANGED' || (code === 'ERR_MODBUS_CONNECTION_CLOSED' && retry > 0)
        if (resendable && reconnects++ === 0) continue
        throw err
      }
    }
  }

  /**
   * Challenge (unit 1, 301–304) → response (305–320, FC16), pinned to one connection. The
   * response is never resent as such (the controller issues a new challenge after a success, so
   * a repeated response would be refused): when its acknowledgement is lost, the whole exchange
   * is repeated with a fresh challenge, up to `retry` times.
   */
  private async authenticate (client: ModbusClient, connectionId: number): Promise<void> {
    this.authenticatedOn = null
    const credentials = this.opts.credentials()
    if (credentials === null) throw new WrkError('ERR_THING_NOT_CONNECTED', 'no credentials')
    const pinned: RequestOptions = { ...HIGH, connectionId }
    for (let attempt = 0; ; attempt++) {
      const challenge = await client.readHoldingRegisters(
        CDU_UNIT, AUTH_CHALLENGE.start - 1, AUTH_CHALLENGE.end - AUTH_CHALLENGE.start + 1, pinned)
      const response = bytesToRegisters(authResponse(registersToBytes(challenge), credentials.username, credentials.password))
      try {
        await client.writeRegisters(CDU_UNIT, AUTH_RESPONSE.start - 1, response, { ...pinned, retries: 0 })
        break
      } catch (err) {
        const code = errorCode(err)
        if (code.startsWith('ERR_MODBUS_EXCEPTION_')) {
          throw new WrkError('ERR_AUTH_FAILED', 'the controller rejected the authentication')
        }
        if (code !== 'ERR_MODBUS_TIMEOUT' || attempt >= this.opts.retry) throw err
      }
    }
    this.opts.seen()
    this.authenticatedOn = connectionId
    this.opts.logger.debug({ connectionId }, 'authenticated')
  }
}
