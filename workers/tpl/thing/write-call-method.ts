/** The `getWriteCalls` RPC method over the write-calls facility (workers/facs/write-calls.ts). */
import { z } from 'zod'
import type { WriteCallsFacility } from '../../facs/write-calls'
import { defineMethod, type RpcMethod } from '../../rpc/method'

const schema = z.object({
  query: z.record(z.string(), z.unknown()).optional(),
  action: z.string().min(1).max(128),
  params: z.array(z.unknown()).max(1000).optional(),
  rackActionId: z.string().min(1).max(256).optional(),
  offset: z.number().int().min(0).max(1_000_000).optional(),
  limit: z.number().int().min(0).max(1_000_000).optional(),
  preview: z.boolean().optional()
})

export function writeCallsMethod (facility: () => WriteCallsFacility, controllerErrors: readonly string[]): RpcMethod {
  return defineMethod({
    name: 'getWriteCalls',
    kind: 'read',
    summary: 'The things a whitelisted control action would touch (each validated first) and the votes it needs, each with a ' +
      '`preview` of the register writes from a fresh read (`preview: false`: none); paged (`offset`/`limit`, cut at 8 MiB) ' +
      'with `nextOffset` when more follow.',
    params: schema,
    result: z.object({
      reqVotes: z.number().int(),
      calls: z.array(z.object({ id: z.string(), tags: z.array(z.string()), preview: z.unknown().optional() })),
      nextOffset: z.number().int().optional()
    }),
    errors: ['ERR_QUERY_INVALID', 'ERR_THING_NOT_INITIALIZED', 'ERR_THING_METHOD_NOTFOUND', ...controllerErrors],
    heavy: true,
    handler: async (req) => await facility().getWriteCalls(req)
  })
}
