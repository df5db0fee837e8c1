/**
 * A lossy link for benchmarks and tests: a TCP proxy in front of a Modbus TCP server that, per
 * request frame, forwards it, drops it, forwards it but drops its reply (a lost acknowledgement),
 * or forwards it and holds its reply back for a while (a late answer).
 *
 * Requests always reach the server in the order they were sent, as on one TCP connection
 * through a TCP→RTU gateway: loss happens to a frame as a whole, and lateness to a reply (the
 * device or the gateway answered late), never to the order of requests. What happens to a frame
 * is decided by a policy; `seededLoss` draws it from a seed and the frame's identity (unit,
 * function, address, and how many times that request was seen before), so a run does not depend
 * on how concurrent requests interleave.
 */
import net from 'node:net'
import { keyedDraw } from '../mock/rng'

/** What the proxy does with one request frame. */
export type FrameFate =
  | { kind: 'pass' }
  | { kind: 'drop' }
  | { kind: 'dropReply' }
  | { kind: 'delayReply', ms: number }

export const PASS: FrameFate = { kind: 'pass' }
export const DROP: FrameFate = { kind: 'drop' }
export const DROP_REPLY: FrameFate = { kind: 'dropReply' }

/** A request frame as the proxy sees it. */
export interface FrameInfo {
  /** 1, 2, … per client connection accepted by this proxy. */
  connection: number
  transactionId: number
  unit: number
  functionCode: number
  /** PDU address (register − 1); -1 when the frame is too short to carry one. */
  address: number
  /** Times a frame with the same unit, function, address and payload was seen before (0 = first). */
  occurrence: number
}

export type LossPolicy = (frame: FrameInfo) => FrameFate

export interface LossProxyStats {
  requests: number
  forwarded: number
  dropped: number
  repliesDropped: number
  repliesDelayed: number
  replies: number
}

export interface LossProxyOptions {
  targetHost: string
  targetPort: number
  /** Default 127.0.0.1. */
  host?: string
  policy?: LossPolicy
}

const MBAP_LEN = 6

/** Splits a byte stream into MBAP frames (header length field only; no other parsing). */
class FrameSplitter {
  private buf: Buffer = Buffer.alloc(0)

  constructor (private readonly onFrame: (frame: Buffer) => void) {}

  push (chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
    while (this.buf.length >= MBAP_LEN) {
      const total = MBAP_LEN + this.buf.readUInt16BE(4)
      if (this.buf.length < total) break
      this.onFrame(Buffer.from(this.buf.subarray(0, total)))
      this.buf = this.buf.subarray(total)
    }
  }
}

function describeFrame (frame: Buffer, connection: number, occurrence: number): FrameInfo {
  return {
    connection,
    transactionId: frame.readUInt16BE(0),
    unit: frame.length > MBAP_LEN ? frame[MBAP_LEN] : -1,
    functionCode: frame.length > MBAP_LEN + 1 ? frame[MBAP_LEN + 1] : -1,
    address: frame.length >= MBAP_LEN + 4 ? frame.readUInt16BE(MBAP_LEN + 2) : -1,
    occurrence
  }
}

export class LossProxy {
  readonly stats: LossProxyStats = { requests: 0, forwarded: 0, dropped: 0, repliesDropped: 0, repliesDelayed: 0, replies: 0 }
  /** Decides each request's fate; may be replaced at any time. */
  policy: LossPolicy
  /** Called with the request a reply answers, before the reply's fate is applied (tests). */
  onReply: ((frame: FrameInfo) => void) | null = null
  private readonly opts: LossProxyOptions
  private server: net.Server | null = null
  private boundPort = 0
  private connections = 0
  private readonly sockets = new Set<net.Socket>()
  private readonly timers = new Set<NodeJS.Timeout>()
  /** Per request identity (without transaction id): how often it was seen. */
  private readonly seen = new Map<string, number>()

  constructor (opts: LossProxyOptions) {
    this.opts = opts
    this.policy = opts.policy ?? (() => PASS)
  }

  get port (): number {
    return this.boundPort
  }

  async start (): Promise<number> {
    const server = net.createServer((client) => this.onClient(client))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, this.opts.host ?? '127.0.0.1', () => resolve())
    })
    this.server = server
    this.boundPort = (server.address() as net.AddressInfo).port
    return this.boundPort
  }

  /** Forgets how often each request was seen (occurrence counts start at 0 again). */
  resetOccurrences (): void {
    this.seen.clear()
  }

  async stop (): Promise<void> {
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    for (const s of this.sockets) s.destroy()
    const server = this.server
    this.server = null
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  private track (sock: net.Socket): void {
    this.sockets.add(sock)
    sock.on('error', () => {})
    sock.once('close', () => this.sockets.delete(sock))
  }

  private onClient (client: net.Socket): void {
    const connection = ++this.connections
    const upstream = net.connect({ host: this.opts.targetHost, port: this.opts.targetPort })
    this.track(client)
    this.track(upstream)
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    client.once('close', () => upstream.destroy())
    upstream.once('close', () => client.destroy())
    /** Fate and identity of each forwarded request, by transaction id. */
    const pending = new Map<number, { fate: FrameFate, info: FrameInfo }>()

    const requests = new FrameSplitter((frame) => {
      const key = frame.subarray(MBAP_LEN).toString('hex')
      const occurrence = this.seen.get(key) ?? 0
      this.seen.set(key, occurrence + 1)
      const info = describeFrame(frame, connection, occurrence)
      this.stats.requests++
      const fate = this.policy(info)
      if (fate.kind === 'drop') {
        this.stats.dropped++
        return
      }
      pending.set(info.transactionId, { fate, info })
      this.stats.forwarded++
      upstream.write(frame)
    })
    client.on('data', (chunk: Buffer) => requests.push(chunk))

    const replies = new FrameSplitter((frame) => {
      const tid = frame.readUInt16BE(0)
      const entry = pending.get(tid)
      pending.delete(tid)
      this.stats.replies++
      if (entry !== undefined) this.onReply?.(entry.info)
      const fate = entry?.fate ?? PASS
      if (fate.kind === 'dropReply') {
        this.stats.repliesDropped++
      } else if (fate.kind === 'delayReply') {
        this.stats.repliesDelayed++
        const timer = setTimeout(() => {
          this.timers.delete(timer)
          if (!client.destroyed) client.write(frame)
        }, fate.ms)
        this.timers.add(timer)
      } else if (!client.destroyed) {
        client.write(frame)
      }
    })
    upstream.on('data', (chunk: Buffer) => replies.push(chunk))
  }
}

export interface SeededLossOptions {
  seed: number
  /** Share of requests dropped (0…1). */
  drop: number
  /** Share of requests whose reply is held back by `delayMs` (0…1). */
  delay?: number
  delayMs?: number
}

/**
 * `drop` of the requests are dropped, `delay` of them answered `delayMs` late, the rest pass;
 * the fate of a frame depends only on the seed and the frame's identity and occurrence.
 */
export function seededLoss (opts: SeededLossOptions): LossPolicy {
  const delay = opts.delay ?? 0
  const delayMs = opts.delayMs ?? 0
  return (f) => {
    const x = keyedDraw(opts.seed, f.unit, f.functionCode, f.address, f.occurrence)
    if (x < opts.drop) return DROP
    if (x < opts.drop + delay) return { kind: 'delayReply', ms: delayMs }
    return PASS
  }
}
