/**
 * The heads of the cores two peers replicate, compared before a core is attached to their
 * connection (issue 30). Hypercore 11 notices two histories of one core only when data of one
 * reaches the other; it then marks the core `frozen` in its stored header and closes every
 * session of it — for good: a master restored by copying its store folder back, met by a replica
 * that had copied the lost history, could never write again.
 *
 * So each side sends, on a channel of its own on the connection (`mbt/core-heads`), the length,
 * fork and tree hash of each core it would replicate there, and a core is attached
 * (`core.replicate`) only once the two are found to be one history:
 *
 * - equal lengths: both sides compare the tree hashes;
 * - the writer (the master, whose core has its key pair) longer: it compares its tree hash at
 *   the peer's length with the peer's, and sends the verdict;
 * - the writer shorter than a copy of it: its history went back in time (a store folder
 *   restored): refused by both sides, whatever the hashes (`writer-behind`);
 * - another fork number: refused (`fork`).
 *
 * A refused core is never attached to that connection: no block or proof of it crosses, so
 * neither side's copy is frozen. What a side found, or was told, is handed to `diverged`.
 */
import Hypercore from 'hypercore'
import type { Logger } from '../core/types'

export const HEADS_PROTOCOL = 'mbt/core-heads'

/** Why a core was refused on a connection. */
export type DivergenceReason = 'fork' | 'writer-behind'

export interface Divergence {
  /** The peer's Hyperswarm public key (hex). */
  peer: string
  discoveryKey: string
  /** This side's length and whether it is the writer's core. */
  localLength: number
  writer: boolean
  peerLength: number
  reason: DivergenceReason
  /** `local`: found here; `peer`: the peer found it and said so. */
  by: 'local' | 'peer'
  at: number
}

export interface HeadsHandlers {
  /** This side's core of that discovery key, when it would replicate it to this peer. */
  resolve: (discoveryKey: Buffer) => Promise<Hypercore | null>
  /** The two copies are one history: attach the core to the connection. */
  agreed: (core: Hypercore) => void
  diverged: (d: Divergence) => void
  logger: Logger
}

interface Head { dk: string, length: number, fork: number, hash: string }
interface Verdict { dk: string, ok: boolean, reason: DivergenceReason | null, length: number }

/** What this module uses of Hypercore beyond its declared types. */
interface CoreInternals { fork: number, writable: boolean }
type TreeHash = (core: Hypercore, length: number) => Promise<Buffer>
const treeHashFromStorage = (Hypercore as unknown as { treeHashFromStorage: TreeHash }).treeHashFromStorage

interface Channel { open: () => void, close: () => void, closed: boolean, messages: Array<{ send: (m: Buffer) => boolean }> }
interface Mux { createChannel: (opts: object) => Channel | null }

const HEX64 = /^[0-9a-f]{64}$/
const MAX_MESSAGE_BYTES = 512

function parse<T> (buf: Buffer, check: (v: Record<string, unknown>) => boolean): T | null {
  if (!Buffer.isBuffer(buf) || buf.byteLength > MAX_MESSAGE_BYTES) return null
  try {
    const v = JSON.parse(buf.toString('utf8')) as Record<string, unknown>
    return v !== null && typeof v === 'object' && typeof v.dk === 'string' && HEX64.test(v.dk) && check(v) ? v as T : null
  } catch {
    return null
  }
}

const count = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0

/** The tree hash of `core` at `length` (from its stored tree: a copy need not hold the blocks). */
export async function treeHashAt (core: Hypercore, length: number): Promise<string> {
  return (await treeHashFromStorage(core, length)).toString('hex')
}

/** The head exchange of one connection (see the module comment). */
export class CoreHeads {
  private readonly channel: Channel | null
  private readonly local = new Map<string, Hypercore>()
  private readonly remote = new Map<string, Head>()
  private readonly verdicts = new Map<string, Verdict>()
  /** Cores decided on this connection: true = attached, false = refused. */
  private readonly decided = new Map<string, boolean>()
  private readonly judging = new Set<string>()
  /** Our head of a core being sent: a verdict never goes before it. */
  private readonly sending = new Map<string, Promise<void>>()

  constructor (mux: Mux, private readonly peer: Buffer, private readonly h: HeadsHandlers) {
    this.channel = mux.createChannel({
      protocol: HEADS_PROTOCOL,
      messages: [
        { onmessage: (m: Buffer) => { this.onHead(m) } },
        { onmessage: (m: Buffer) => { this.onVerdict(m) } }
      ]
    })
    this.channel?.open()
  }

  private get peerHex (): string {
    return this.peer.toString('hex')
  }

  /** Offers a core on this connection: its head is sent; it is attached once agreed. */
  offer (core: Hypercore): void {
    if (core.closing !== null || core.closed) return
    const id = core.discoveryKey.toString('hex')
    const known = this.local.get(id)
    if (known === core) {
      // asked again (the peer reopened its side): attach again if agreed
      if (this.decided.get(id) === true) this.h.agreed(core)
      return
    }
    this.local.set(id, core)
    this.decided.delete(id)
    const sending = this.sendHead(id, core)
    this.sending.set(id, sending.catch(() => {}))
    sending.then(() => this.judge(id), (err: unknown) => {
      this.h.logger.warn(
        { err, peer: this.peerHex, discoveryKey: id },
        'replication: the head of a core could not be read; it is not replicated to this peer'
      )
    })
  }

  /** A core this side no longer replicates (closed): offered again, it is judged again. */
  withdraw (core: Hypercore): void {
    const id = core.discoveryKey.toString('hex')
    if (this.local.get(id) !== core) return
    this.local.delete(id)
    this.decided.delete(id)
    this.verdicts.delete(id)
    this.sending.delete(id)
  }

  close (): void {
    this.channel?.close()
    this.local.clear()
    this.sending.clear()
  }

  private async sendHead (id: string, core: Hypercore): Promise<void> {
    const internals = core as unknown as CoreInternals
    const length = core.length
    const head: Head = { dk: id, length, fork: internals.fork, hash: await treeHashAt(core, length) }
    this.channel?.messages[0]?.send(Buffer.from(JSON.stringify(head)))
  }

  private onHead (m: Buffer): void {
    const head = parse<Head>(m, (v) => count(v.length) && count(v.fork) && typeof v.hash === 'string' && HEX64.test(v.hash))
    if (head === null) return
    if (this.remote.has(head.dk)) {
      // the peer offered that core again (it reopened it): judged again
      this.decided.delete(head.dk)
      this.verdicts.delete(head.dk)
    }
    this.remote.set(head.dk, head)
    const known = this.local.get(head.dk)
    if (known && known.closing === null && !known.closed) {
      void this.judge(head.dk)
      return
    }
    // not offered yet, or the session offered was closed since (the core is opened again)
    this.local.delete(head.dk)
    this.h.resolve(Buffer.from(head.dk, 'hex')).then((core) => {
      if (core && this.channel?.closed !== true) this.offer(core)
    }, (err: unknown) => this.h.logger.debug({ err, discoveryKey: head.dk }, 'replication: a core a peer announced could not be opened'))
  }

  private onVerdict (m: Buffer): void {
    const v = parse<Verdict>(m, (x) => typeof x.ok === 'boolean' && count(x.length) &&
      (x.reason === null || x.reason === 'fork' || x.reason === 'writer-behind'))
    if (v === null) return
    this.verdicts.set(v.dk, v)
    void this.judge(v.dk)
  }

  private async judge (id: string): Promise<void> {
    const core = this.local.get(id)
    const head = this.remote.get(id)
    if (!core || !head || this.decided.has(id) || this.judging.has(id)) return
    this.judging.add(id)
    try {
      await this.sending.get(id)
      const told = this.verdicts.get(id)
      if (told !== undefined) {
        this.decide(id, core, head.length, told.ok ? null : (told.reason ?? 'fork'), 'peer', false)
        return
      }
      const { writable, fork } = core as unknown as CoreInternals
      const length = core.length
      let reason: DivergenceReason | null
      if (head.fork !== fork) reason = 'fork'
      else if (head.length > length && writable) reason = 'writer-behind'
      else if (head.length < length && !writable) reason = 'writer-behind'
      else if (head.length > length) return // the writer has the longer history: it decides
      else reason = (await treeHashAt(core, head.length)) === head.hash ? null : 'fork'
      if (this.local.get(id) !== core || this.remote.get(id) !== head || this.decided.has(id)) return
      this.decide(id, core, head.length, reason, 'local', true)
    } catch (err) {
      this.h.logger.warn(
        { err, peer: this.peerHex, discoveryKey: id },
        'replication: a core could not be compared with the peer\'s copy; it is not replicated to this peer'
      )
    } finally {
      this.judging.delete(id)
    }
    // a verdict or head that came while judging
    if (!this.decided.has(id) && (this.verdicts.has(id) || this.remote.get(id) !== head)) await this.judge(id)
  }

  private decide (
    id: string, core: Hypercore, peerLength: number, reason: DivergenceReason | null, by: 'local' | 'peer', tell: boolean
  ): void {
    this.decided.set(id, reason === null)
    if (tell) {
      const verdict: Verdict = { dk: id, ok: reason === null, reason, length: core.length }
      this.channel?.messages[1]?.send(Buffer.from(JSON.stringify(verdict)))
    }
    if (reason === null) {
      this.h.agreed(core)
      return
    }
    const writer = (core as unknown as CoreInternals).writable
    this.h.diverged({ peer: this.peerHex, discoveryKey: id, localLength: core.length, writer, peerLength, reason, by, at: Date.now() })
  }
}
