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
 *
 * One address per live thing: an answer no device can have (`0.0.0.0`, broadcast, multicast,
 * link-local without scope: ./address.ts) fails with ERR_DHCP_ADDRESS_UNUSABLE, and an answer
 * another live thing already uses (its lease, its `opts.address`, or an assignment in flight)
 * fails with ERR_DHCP_ADDRESS_CONFLICT for the newcomer (logged once with both thing ids); the
 * holder keeps it. Neither answer is stored, nor released (it is not the newcomer's). An address
 * is released only by the thing holding its lease, and never while another live thing uses it.
 *
 * Logging stays bounded during an outage: a thing's first failure (or a failure with a new
 * code) is logged on its own, at most DETAIL_LINES per report window; every other failure is
 * counted, and one summary line per collection cycle reports the counts (after the cycle's
 * attempts settled): ./failure-report.ts.
 */
import { isIP } from 'node:net'
import type { Bee } from '../../../facs/store'
import { WrkError, errorCode } from '../../../core/errors'
import { addressKey, addressProblem } from './address'
import type { ThingControllers } from '../controllers'
import type { RackParts } from '../rack-parts'
import { OFFLINE_SNAP } from '../base-thing'
import { withTimeout } from '../../../core/async'
import type { ThingRecord, ThingState } from '../types'
import { FailureReport } from './failure-report'

export interface DhcpClient {
  readonly configured: boolean
  setIp: (req: { mac: string, subnet: string, forceSetIp: boolean }) => Promise<string>
  releaseIp: (ip: string) => Promise<void>
}

export interface DhcpLease { ip: string, mac: string, subnet: string, ts: number }
export interface PendingRelease { ip: string, thingId: string, since: number }

interface Backoff { code: string, attempts: number, nextAt: number }

/** setIp answered an address another live thing uses. */
class AddressConflict extends WrkError {
  constructor (readonly ip: string, readonly holder: string) {
    super('ERR_DHCP_ADDRESS_CONFLICT', `setIp answered ${ip}, which thing ${holder} already uses`)
  }
}

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
  /** Addresses (addressKey) answered and being stored, by thing id: taken for the others. */
  private readonly claims = new Map<string, string>()
  /** The conflict last logged per thing (`ip holder`): a repeated one is only counted. */
  private readonly conflictsLogged = new Map<string, string>()
  private readonly report = new FailureReport(() => this.rack.logger)
  private closing = false

  constructor (private readonly rack: RackParts, private readonly controllers: ThingControllers, private readonly opts: DhcpOptions) {}

  /** Loads the leases and the releases still owed (the rack's main bee, at start). */
  async open (leases: Bee<DhcpLease>, releases: Bee<PendingRelease>): Promise<void> {
    this.leaseDb = leases
    this.releaseDb = releases
    for await (const e of leases.createReadStream()) this.leases.set(e.key, e.value)
    for await (const e of releases.createReadStream()) this.releases.set(e.key, { ...e.value, backoff: null })
    // stored before addresses were kept unique: said once, the operator decides
    const byIp = new Map<string, string>()
    for (const [id, lease] of this.leases) {
      const key = addressKey(lease.ip)
      const other = byIp.get(key)
      if (other === undefined) {
        byIp.set(key, id)
      } else {
        this.rack.logger.warn({ ip: lease.ip, thingId: id, otherThingId: other },
          'two things hold a DHCP lease for the same address: give one of them another address')
      }
    }
  }

  private need (record: ThingRecord): Need | null {
    const mac = text(record.info.macAddress)
    const subnet = text(record.info.subnet)
    if (mac === null || subnet === null) return null
    const address = text(record.opts.address)
    const lease = this.leases.get(record.id)
    if (address === null) return { mac, subnet, forceSetIp: false, previous: lease?.ip ?? null }
    const moved = lease !== undefined && lease.ip === address && (lease.mac !== mac || lease.subnet !== subnet)
    if (moved) return { mac, subnet, forceSetIp: true, previous: address }
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
    const started: Array<Promise<unknown>> = []
    for (const state of this.rack.registry.all()) {
      const id = state.record.id
      if (this.busy.has(id) || state.forgotten || !this.need(state.record)) continue
      if (this.due(this.failures.get(id) ?? null, now)) started.push(this.track(this.assign(state, false)))
    }
    for (const pending of this.releases.values()) {
      if (!this.busy.has(`release:${pending.ip}`) && this.due(pending.backoff, now)) started.push(this.track(this.retryRelease(pending.ip)))
    }
    // one summary line per cycle, once its attempts are over (failures meanwhile included)
    void Promise.allSettled(started).then(() => this.report.flush(this.failures.size))
  }

  /** Called (under the thing's lock) before a thing is deleted: its address goes back. */
  async forget (state: ThingState): Promise<void> {
    const id = state.record.id
    this.failures.delete(id)
    this.conflictsLogged.delete(id)
    const lease = this.leases.get(id)
    if (!lease) return
    await this.dropLease(id)
    await this.release(lease.ip, id)
  }

  /** Waits for the attempts in flight; nothing new starts. */
  async close (): Promise<void> {
    this.closing = true
    await Promise.allSettled([...this.inflight])
    this.report.flush(this.failures.size)
  }

  private due (backoff: Backoff | null, now: number): boolean {
    // half a cycle early: a tick that comes a little before the exact time does not skip a cycle
    return backoff === null || now + this.opts.retryMinMs() / 2 >= backoff.nextAt
  }

  private fail (previous: Backoff | null, code: string): Backoff {
    const attempts = (previous?.attempts ?? 0) + 1
    const min = this.opts.retryMinMs()
    const pause = Math.min(Math.max(100, min) * 2 ** (attempts - 1), Math.max(this.opts.retryMaxMs(), min))
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
    let claim: string | null = null
    try {
      ip = await this.client().setIp({ mac: need.mac, subnet: need.subnet, forceSetIp: need.forceSetIp })
      claim = this.claim(ip, id)
      const lease: DhcpLease = { ip, mac: need.mac, subnet: need.subnet, ts: Date.now() }
      await withTimeout(this.db('leases').put(id, lease), this.rack.thingConf.storeTimeoutMs, 'ERR_STORE_TIMEOUT')
      this.leases.set(id, lease)
      await this.rack.registry.save({ ...state.record, opts: { ...state.record.opts, address: ip } })
    } catch (err) {
      await this.failed(state, need, backoff, err)
      return false
    } finally {
      if (claim !== null) this.claims.delete(claim)
    }
    this.failures.delete(id)
    this.conflictsLogged.delete(id)
    this.rack.logger.info({ thingId: id, ip, forceSetIp: need.forceSetIp }, 'DHCP address assigned')
    if (need.previous !== null && addressKey(need.previous) !== addressKey(ip)) await this.release(need.previous, id)
    return true
  }

  /**
   * Checks an answer of setIp for thing `id` and takes it (until it is stored): an IP address
   * a device can have, which no other live thing uses. Returns the claim to drop afterwards.
   */
  private claim (ip: string, id: string): string {
    if (typeof ip !== 'string' || isIP(ip) === 0) throw new WrkError('ERR_DHCP_REPLY_INVALID', 'setIp did not answer an IP address')
    const problem = addressProblem(ip)
    if (problem !== null) throw new WrkError('ERR_DHCP_ADDRESS_UNUSABLE', `setIp answered ${ip}: ${problem}`)
    const holder = this.holderOf(ip, id)
    if (holder !== null) throw new AddressConflict(ip, holder)
    const key = addressKey(ip)
    this.claims.set(key, id)
    return key
  }

  /** A failed attempt: the thing stays unconnected with the code in last.err and waits for its next turn. */
  private async failed (state: ThingState, need: Need, backoff: Backoff | null, err: unknown): Promise<void> {
    const id = state.record.id
    const code = errorCode(err, 'ERR_DHCP_UNREACHABLE')
    const next = this.fail(backoff, code)
    this.failures.set(id, next)
    // the thing is offline until it has its address (a re-assignment drops the old one's connection)
    if (need.forceSetIp) await this.controllers.disconnect(state)
    state.last = { ...state.last, snap: OFFLINE_SNAP, err: code, ts: Date.now() }
    const reason = err instanceof Error ? err.message : String(err)
    const fields = { thingId: id, code, attempt: next.attempts, retryInMs: next.nextAt - Date.now(), reason }
    if (err instanceof AddressConflict) {
      // said once per newcomer, address and holder, whatever the other failures around it
      const seen = `${err.ip} ${err.holder}`
      if (this.conflictsLogged.get(id) !== seen) {
        this.conflictsLogged.set(id, seen)
        this.rack.logger.warn({ ...fields, ip: err.ip, holderThingId: err.holder, mac: need.mac },
          'DHCP answered an address another thing uses: not taken')
        return
      }
    }
    this.report.note(backoff === null || backoff.code !== code, fields, 'DHCP address assignment failed')
  }

  /** The live thing other than `self` that uses `ip` (its lease, its opts.address, or an answer being stored), or null. */
  private holderOf (ip: string, self: string | null): string | null {
    const key = addressKey(ip)
    const claimed = this.claims.get(key)
    if (claimed !== undefined && claimed !== self) return claimed
    const live = (id: string): boolean => this.rack.registry.has(id) && !this.rack.registry.get(id).forgotten
    for (const [id, lease] of this.leases) {
      if (id !== self && addressKey(lease.ip) === key && live(id)) return id
    }
    for (const state of this.rack.registry.all()) {
      if (state.record.id === self || state.forgotten) continue
      const address = text(state.record.opts.address)
      if (address !== null && addressKey(address) === key) return state.record.id
    }
    return null
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

  /**
   * Releases `ip`, the address of `thingId`'s lease (one bounded attempt); a failure is
   * remembered and retried by the ticks. Not while another live thing uses the address.
   */
  private async release (ip: string, thingId: string): Promise<void> {
    const holder = this.holderOf(ip, thingId)
    if (holder !== null) {
      this.rack.logger.warn({ thingId, ip, holderThingId: holder }, 'DHCP address not released: another thing uses it')
      return
    }
    try {
      await this.releaseNow(ip, thingId)
    } catch (err) {
      const code = errorCode(err, 'ERR_DHCP_UNREACHABLE')
      const pending: PendingRelease = { ip, thingId, since: Date.now() }
      this.releases.set(ip, { ...pending, backoff: this.fail(null, code) })
      this.report.note(true, { what: 'release', thingId, ip, code }, 'DHCP release failed; it is retried')
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
      // the address was handed out again (or set by hand) meanwhile: it is not ours to release any more
      const reused = this.holderOf(ip, null) !== null
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
