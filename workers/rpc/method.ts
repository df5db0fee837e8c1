/**
 * One declaration per RPC method, next to its handler (fastify's route options are the model):
 * name, kind, request schema, result schema, the error codes it may answer, and the handler.
 * The dispatcher, the read/write firewall, `docs/openrpc.json` and the method table of
 * `docs/rpc.md` are all derived from these declarations.
 */
import { z } from 'zod'
import { WrkError } from '../core/errors'

export type RpcKind = 'read' | 'write'

/** A method's kind may depend on the request (e.g. `queryThing` of a write action is a write). */
export type RpcKindOf = RpcKind | ((req: unknown) => RpcKind)

export interface RpcMethod<P extends z.ZodType = z.ZodType> {
  name: string
  kind: RpcKindOf
  /** One line for the docs. */
  summary: string
  /** The request; absent = any JSON value, passed through as is. */
  params?: P
  /** Request field → the code a failure of that field answers (else ERR_PARAMS_INVALID). */
  fieldErrors?: Readonly<Record<string, string>>
  result: z.ZodType
  /** Every code this method can answer besides the dispatcher's own. */
  errors: readonly string[]
  /**
   * A read whose cost grows with what is stored (listing things, reading logs): it runs under
   * the dispatcher's heavy-read limiter (HEAVY_READS in ./limits.ts; ERR_BUSY past its queue)
   * and within a ReadBudget (ERR_READ_BUDGET_EXCEEDED).
   */
  heavy?: true
  handler: (req: z.output<P>) => unknown
}

/** Declares a method; only here for the type inference of `handler`'s request. */
export function defineMethod<P extends z.ZodType> (decl: RpcMethod<P>): RpcMethod {
  return decl as unknown as RpcMethod
}

/** Codes the dispatcher itself may answer for any method. */
export const DISPATCH_ERRORS = [
  'ERR_REQUEST_TOO_LARGE', 'ERR_FACS_NET_DATA_FORMAT', 'ERR_PARAMS_INVALID', 'ERR_PERMISSION_DENIED', 'ERR_WRK_STOPPING', 'ERR_INTERNAL',
  'ERR_SLAVE_BLOCK', 'ERR_REPLICA_NOT_READY', 'ERR_REPLICA_DIVERGED', 'ERR_REPLY_TOO_LARGE'
] as const

/** Codes the dispatcher answers for a `heavy` method besides DISPATCH_ERRORS. */
export const HEAVY_ERRORS = ['ERR_BUSY', 'ERR_READ_BUDGET_EXCEEDED'] as const

/** The request as the handler sees it: validated against `params`, failures as named codes. */
export function parseParams (decl: RpcMethod, req: unknown): unknown {
  if (!decl.params) return req
  const input = req === undefined || req === null ? {} : req
  if (typeof input !== 'object' || Array.isArray(input)) throw new WrkError('ERR_PARAMS_INVALID', `${decl.name} expects a JSON object`)
  const res = decl.params.safeParse(input)
  if (res.success) return res.data
  const field = String(res.error.issues[0]?.path[0] ?? '')
  throw new WrkError(decl.fieldErrors?.[field] ?? 'ERR_PARAMS_INVALID', `${decl.name}: invalid ${field || 'request'}`)
}

export function kindOf (decl: RpcMethod, req: unknown): RpcKind {
  return typeof decl.kind === 'function' ? decl.kind(req) : decl.kind
}
