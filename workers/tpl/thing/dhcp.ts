/**
 * Address assignment by the site's DHCP service (worker.md §9), vendor-neutral.
 *
 * A thing with `info.macAddress` and `info.subnet` and no `opts.address` asks for one
 * (`setIp {mac, subnet, forceSetIp: false}`); the answer is stored as `opts.address` (and the
 * lease in `dhcp_leases`), then the thing is connected. When the MAC or subnet of a thing whose
 * address came from DHCP changes, it asks again with `forceSetIp: true` and releases the old
 * address. Forgetting a thing releases its address; a release that fails is kept in
 * `dhcp_releases` and retried.
 *
 * A failure (no service configured, unreachable, timeout, error reply, an answer that is no
 * IP address) leaves the thing registered and unconnected with `last.err = ERR_DHCP_…`; it is
 * asked again on a later collection cycle, the pause doubling from one cycle up to
 * `dhcpRetryMaxMs`. Registration and updates wait for one attempt at most (its timeout).
 */
import type { Bee } from '../../facs/store'
import { WrkError, errorCode } from '../errors'
import type { ThingControllers } from './controllers'
import type { RackParts } from './rack-parts'
import { OFFLINE_SNAP } from './base-thing'
import { withTimeout } from './util'
import type { ThingRecord, ThingState } from './types'

export interface DhcpClient {
  readonly configured: boolean
  setIp: (req: { mac: string, subnet: string, forceSetIp: boolean }) => Promise<string>
  releaseIp: (ip: string) => Promise<void>
}

export interface DhcpLease { ip: string, mac: string, subnet: string, ts: number }
export interface PendingRelease { ip: string, thingId: string, since: number }

interface Backoff { code: string, attempts: number, nextAt: number }

/** What a thing needs from the DHCP service now. */
interface Need { mac: string, subnet: string, forceSetIp: boolean, previous: string | null }

export interface DhcpOptions {
  /** The client, or null while the worker has none (a replica). */
  client: () => DhcpClient | null
  /** First pause after a failure (one collection cycle). */
  retryMinMs: () => number
  retryMaxMs: () => number
}

function text (v: unknown): string | null {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : null
}

export class DhcpAssigner {
  private leaseDb: Bee<DhcpLease> | null = null
  private releaseDb: Bee<PendingRelease> | null = null
  private readonly leases = new Map<string, DhcpLease>()
  private readonly failures = new Map<string, Backoff>()
  private readonly releases = new Map<string, PendingRelease & { backoff: Backoff | null }>()
  private readonly inflight = new Set<Promise<unknown>>()
  private readonly busy = new Set<string>()
  private closing = false

  constructor (private readonly rack: RackParts, private readonly controllers: ThingControllers, private readonly opts: DhcpOptions) {}

  /** Loads the leases and the releases still owed (the rack's main bee, at start). */
  async open (leases: Bee<DhcpLease>, releases: Bee<PendingRelease>): Promise<void> {
    this.leaseDb = leases
    this.releaseDb = releases
    for await (const e of leases.createReadStream()) this.leases.set(e.key, e.value)
    for await (const e of releases.createReadStream()) this.releases.set(e.key, { ...e.value, backoff: null })
  }

  private need (record: ThingRecord): Need | null {
    const mac = text(record.info.macAddress)
    const subnet = text(record.info.subnet)
    if (mac === null || subnet === null) return null
    const address = text(record.opts.address)
    const lease = this.leases.get(record.id)
    if (address === null) return { mac, subnet, forceSetIp: false, previous: lease?.ip ?? null }
    if (lease && lease.ip === address && (lease.mac !== mac || lease.subnet !== subnet)) return { mac, subnet, forceSetIp: true, previous: address }
    return null
  }

  /**
   * Why a thing cannot be connected yet (the code of its last DHCP failure, or
   * ERR_DHCP_PENDING before the first answer), or null when it has the address it should have.
   */
  pendingCode (state: ThingState): string | null {
    if (!this.need(state.record)) return null
    return this.failures.get(state.record.id)?.code ?? 'ERR_DHCP_PENDING'
  }

  /**
   * After a registration or an update: asks at once (one bounded attempt) when the thing needs
   * an address; true when it got one and was connected.
   */
  async onThingWritten (state: ThingState): Promise<boolean> {
    // most things never deal with DHCP: no lock taken for them
    if (!this.need(state.record) && !this.leases.has(state.record.id)) return false
    return await this.track(this.assign(state, true))
  }

  /** A collection cycle: things whose pause is over ask again, owed releases are retried. */
  tick (): void {
    if (this.closing) return
    const now = Date.now()
    for (const state of this.rack.registry.all()) {
      const id = state.record.id
      if (this.busy.has(id) || state.forgotten || !this.need(state.record)) continue
      if (this.due(this.failures.get(id) ?? null, now)) void this.track(this.assign(state, false))
    }
    for (const pending of this.releases.values()) {
      if (!this.busy.has(`release:${pending.ip}`) && this.due(pending.backoff, now)) void this.track(this.retryRelease(pending.ip))
    }
  }

  /** Called (under the thing's lock) before a thing is deleted: its address goes back. */
  async forget (state: ThingState): Promise<void> {
    const id = state.record.id
    this.failures.delete(id)
    const lease = this.leases.get(id)
    if (!lease) return
    await this.dropLease(id)
    await this.release(lease.ip, id)
  }

  /** Waits for the attempts in flight; nothing new starts. */
  async close (): Promise<void> {
    this.closing = true
    await Promise.allSettled([...this.inflight])
  }

  private due (backoff: Backoff | null, now: number): boolean {
    // half a cycle early: a tick that comes a little before the exact time does not skip a cycle
    return backoff === null || now + this.opts.retryMinMs() / 2 >= backoff.nextAt
  }

  private fail (previous: Backoff | null, code: string): Backoff {
    const attempts = (previous?.attempts ?? 0) + 1
    const pause = Math.min(Math.max(100, this.opts.retryMinMs()) * 2 ** (attempts - 1), Math.max(this.opts.retryMaxMs(), this.opts.retryMinMs()))
    return { code, attempts, nextAt: Date.now() + pause }
  }

  private async track<T> (work: Promise<T>): Promise<T> {
    this.inflight.add(work)
    try {
      return await work
    } finally {
      this.inflight.delete(work)
    }
  }

  private async assign (state: ThingState, force: boolean): Promise<boolean> {
    const id = state.record.id
    this.busy.add(id)
    let connect: boolean
    try {
      connect = await this.rack.thingLock.run(id, () => this.assignLocked(state, force))
    } finally {
      this.busy.delete(id)
    }
    if (connect && !state.forgotten && !this.closing) await this.controllers.connect(state)
    return connect
  }

  private async assignLocked (state: ThingState, force: boolean): Promise<boolean> {
    const id = state.record.id
    if (state.forgotten || this.closing) return false
    await this.dropStaleLease(state)
    const need = this.need(state.record)
    if (!need) {
      this.failures.delete(id)
      return false
    }
    const backoff = this.failures.get(id) ?? null
    if (!force && !this.due(backoff, Date.now())) return false
    let ip: string
    try {
      ip = await this.client().setIp({ mac: need.mac, subnet: need.subnet, forceSetIp: need.forceSetIp })
      const lease: DhcpLease = { ip, mac: need.mac, subnet: need.subnet, ts: Date.now() }
      await withTimeout(this.db('leases').put(id, lease), this.rack.thingConf.storeTimeoutMs, 'ERR_STORE_TIMEOUT')
      this.leases.set(id, lease)
      await this.rack.registry.save({ ...state.record, opts: { ...state.record.opts, address: ip } })
    } catch (err) {
      const code = errorCode(err, 'ERR_DHCP_UNREACHABLE')
      const next = this.fail(backoff, code)
      this.failures.set(id, next)
      // the thing is offline until it has its address (a re-assignment drops the old one's connection)
      if (need.forceSetIp) await this.controllers.disconnect(state)
      state.last = { ...state.last, snap: OFFLINE_SNAP, err: code, ts: Date.now() }
      this.rack.logger.warn({ thingId: id, code, attempt: next.attempts, retryInMs: next.nextAt - Date.now() }, 'DHCP address assignment failed')
      return false
    }
    this.failures.delete(id)
    this.rack.logger.info({ thingId: id, ip, forceSetIp: need.forceSetIp }, 'DHCP address assigned')
    if (need.previous !== null && need.previous !== ip) await this.release(need.previous, id)
    return true
  }

  /** A lease whose address the operator replaced by one of their own: the DHCP address goes back. */
  private async dropStaleLease (state: ThingState): Promise<void> {
    const lease = this.leases.get(state.record.id)
    const address = text(state.record.opts.address)
    if (!lease || address === null || address === lease.ip) return
    await this.dropLease(state.record.id)
    await this.release(lease.ip, state.record.id)
  }

  private async dropLease (id: string): Promise<void> {
    this.leases.delete(id)
    try {
      await withTimeout(this.db('leases').del(id), this.rack.thingConf.storeTimeoutMs, 'ERR_STORE_TIMEOUT')
    } catch (err) {
      this.rack.logger.warn({ err, thingId: id }, 'could not delete a DHCP lease')
    }
  }

  /** Releases `ip` (one bounded attempt); a failure is remembered and retried by the ticks. */
  private async release (ip: string, thingId: string): Promise<void> {
    try {
      await this.releaseNow(ip, thingId)
    } catch (err) {
      const code = errorCode(err, 'ERR_DHCP_UNREACHABLE')
      const pending: PendingRelease = { ip, thingId, since: Date.now() }
      this.releases.set(ip, { ...pending, backoff: this.fail(null, code) })
      this.rack.logger.warn({ thingId, ip, code }, 'DHCP release failed; it is retried')
      try {
        await withTimeout(this.db('releases').put(ip, pending), this.rack.thingConf.storeTimeoutMs, 'ERR_STORE_TIMEOUT')
      } catch (e) {
        this.rack.logger.warn({ err: e, ip }, 'could not store a DHCP release still owed')
      }
    }
  }

  private async retryRelease (ip: string): Promise<void> {
    const pending = this.releases.get(ip)
    if (!pending) return
    const key = `release:${ip}`
    this.busy.add(key)
    try {
      // the address was handed out again meanwhile: it is not ours to release any more
      const reused = [...this.leases.values()].some((l) => l.ip === ip)
      if (!reused) {
        try {
          await this.releaseNow(ip, pending.thingId)
        } catch (err) {
          pending.backoff = this.fail(pending.backoff, errorCode(err, 'ERR_DHCP_UNREACHABLE'))
          return
        }
      }
      this.releases.delete(ip)
      await withTimeout(this.db('releases').del(ip), this.rack.thingConf.storeTimeoutMs, 'ERR_STORE_TIMEOUT').catch((err: unknown) => {
        this.rack.logger.warn({ err, ip }, 'could not delete a DHCP release that was made')
      })
    } finally {
      this.busy.delete(key)
    }
  }

  /** The DHCP client; ERR_DHCP_NOT_CONFIGURED when the worker has none. */
  private client (): DhcpClient {
    const client = this.opts.client()
    if (!client || !client.configured) throw new WrkError('ERR_DHCP_NOT_CONFIGURED', 'no DHCP service configured')
    return client
  }

  private async releaseNow (ip: string, thingId: string): Promise<void> {
    await this.client().releaseIp(ip)
    this.rack.logger.info({ thingId, ip }, 'DHCP address released')
  }

  private db (which: 'leases'): Bee<DhcpLease>
  private db (which: 'releases'): Bee<PendingRelease>
  private db (which: 'leases' | 'releases'): Bee<DhcpLease> | Bee<PendingRelease> {
    const bee = which === 'leases' ? this.leaseDb : this.releaseDb
    if (!bee) throw new Error('DHCP state is not open')
    return bee
  }

  /** Releases still owed (for tests and the operations doc). */
  get owedReleases (): string[] {
    return [...this.releases.keys()]
  }
}
