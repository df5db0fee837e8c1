/**
 * The RPC dispatcher: the method table and what every request goes through, whoever calls
 * (the transport, or a layer in process): plain JSON within bounds, the method's kind, the
 * refusal of the layer above (e.g. a read replica refuses writes), the caller's access (a
 * read-only key reads only), the request's schema, the heavy-read limiter, a bounded reply, and
 * an audit line for every write. A failure replies `[HRPC_ERR]=<code>`, never a stack trace.
 */
import { Limiter } from '../core/async'
import { errorCode, WrkError } from '../core/errors'
import type { Logger } from '../core/types'
import { decodeRequest, encodeError, encodeResult } from './codec'
import { DEFAULT_MAX_REQUEST_BYTES, HEAVY_READS, MAX_REPLY_FRAME_BYTES, assertPlainJson } from './limits'
import { kindOf, parseParams, type RpcKind, type RpcMethod } from './method'

/** What the dispatcher asks of the worker it serves. */
export interface DispatchPorts {
  logger: () => Logger
  /** A code refusing a request before its handler runs (e.g. ERR_SLAVE_BLOCK), or null. */
  refusal: (method: string, kind: RpcKind) => string | null
  /** Whether the caller may write (full access); read methods need only to be let in. */
  canWrite: (caller: Buffer | null) => boolean
  isStopping: () => boolean
  /** Told of every request served: its method and outcome (`ok` or the ERR_* code), e.g. for metrics. */
  observe?: (method: string, outcome: string) => void
}

export class RpcDispatcher {
  private readonly methods = new Map<string, RpcMethod>()
  private sealed = false
  /** Bound of one request's JSON text (facs/net.config.json `r0.maxRequestBytes`). */
  maxRequestBytes = DEFAULT_MAX_REQUEST_BYTES
  /** Methods declared `heavy` share it: bounded concurrency, bounded queue (ERR_BUSY). */
  private readonly heavyReads = new Limiter(HEAVY_READS.concurrency, {
    maxQueue: HEAVY_READS.maxQueue,
    maxWaitMs: HEAVY_READS.maxWaitMs,
    code: 'ERR_BUSY'
  })

  constructor (private readonly ports: DispatchPorts) {}

  /** Declares methods; only before `seal()`, later it throws ERR_RPC_REGISTER_AFTER_START. */
  register (...decls: RpcMethod[]): void {
    if (this.sealed) {
      throw new WrkError('ERR_RPC_REGISTER_AFTER_START', `cannot register ${decls.map((d) => d.name).join(', ')} after start`)
    }
    for (const decl of decls) this.methods.set(decl.name, decl)
  }

  /** The table is complete: what the transport serves. */
  seal (): RpcMethod[] {
    this.sealed = true
    return this.declarations()
  }

  /** Every declared method, in declaration order. */
  declarations (): RpcMethod[] {
    return [...this.methods.values()]
  }

  kindOf (method: string, req: unknown = {}): RpcKind | undefined {
    const decl = this.methods.get(method)
    return decl ? kindOf(decl, req) : undefined
  }

  /** A call in process, as a remote caller with full access would make it. */
  async call (method: string, req: unknown): Promise<unknown> {
    const decl = this.methods.get(method)
    if (!decl) throw new WrkError('ERR_METHOD_INVALID', `unknown method ${method}`)
    this.admit(decl, req)
    return await this.invoke(decl, req)
  }

  /** One request as the transport hands it over (payload bytes, the caller's key) → the reply bytes. */
  async serve (method: string, payload: Buffer, caller: Buffer | null): Promise<Buffer> {
    const decl = this.methods.get(method)
    if (!decl) return encodeError('ERR_METHOD_INVALID')
    if (payload.length > this.maxRequestBytes) return encodeError('ERR_REQUEST_TOO_LARGE')
    let req: unknown
    try {
      req = decodeRequest(payload)
    } catch {
      return encodeError('ERR_FACS_NET_DATA_FORMAT')
    }
    const callerKey = caller ? caller.toString('hex') : null
    let kind: RpcKind = 'write'
    try {
      if (this.ports.isStopping()) throw new WrkError('ERR_WRK_STOPPING')
      kind = this.admit(decl, req)
      if (kind === 'write' && !this.ports.canWrite(caller)) throw new WrkError('ERR_PERMISSION_DENIED')
      const res = await this.invoke(decl, req)
      if (kind === 'write') this.audit(method, req, callerKey, 'ok')
      const reply = encodeResult(res)
      this.ports.observe?.(method, 'ok')
      if (reply.length <= MAX_REPLY_FRAME_BYTES) return reply
      this.ports.logger().warn({ method, bytes: reply.length }, 'rpc reply over the frame bound refused')
      return encodeError('ERR_REPLY_TOO_LARGE')
    } catch (err) {
      const code = errorCode(err)
      this.ports.observe?.(method, code)
      if (kind === 'write') this.audit(method, req, callerKey, code)
      if (code === 'ERR_INTERNAL') this.ports.logger().error({ err, method }, 'rpc method failed')
      else {
        this.ports.logger().debug(
          { method, code, caller: callerKey },
          code === 'ERR_PERMISSION_DENIED' ? 'rpc write refused: the caller\'s key is read-only' : 'rpc method refused'
        )
      }
      return encodeError(code)
    }
  }

  /** Plain JSON, its kind, the layer's refusal: the same for in-process and remote calls. */
  private admit (decl: RpcMethod, req: unknown): RpcKind {
    assertPlainJson(req)
    const kind = kindOf(decl, req)
    const refused = this.ports.refusal(decl.name, kind)
    if (refused !== null) throw new WrkError(refused)
    return kind
  }

  /** The handler on the validated request; a heavy read waits for a slot of the heavy-read limiter. */
  private async invoke (decl: RpcMethod, req: unknown): Promise<unknown> {
    const params = parseParams(decl, req)
    if (decl.heavy) return await this.heavyReads.run(async () => await decl.handler(params))
    return await decl.handler(params)
  }

  private audit (method: string, req: unknown, caller: string | null, outcome: string): void {
    const r = (req !== null && typeof req === 'object' ? req : {}) as Record<string, unknown>
    this.ports.logger().info({
      audit: true,
      method,
      outcome,
      thingId: typeof r.id === 'string' ? r.id : typeof r.thingId === 'string' ? r.thingId : undefined,
      action: typeof r.method === 'string' ? r.method : undefined,
      user: typeof r.user === 'string' ? r.user : undefined,
      caller
    }, 'rpc write')
  }
}
