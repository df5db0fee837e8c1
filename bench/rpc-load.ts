/**
 * RPC load for the benchmarks: a bare `@hyperswarm/rpc` echo server (the baseline: what the
 * transport alone costs on this machine; `echo` returns the request, `echoSized {bytes}` a reply
 * of that many bytes) and a closed-loop load generator over the shared RPC
 * client (workers/rpc/client.ts): `concurrency` requests in flight, each sent as soon as the
 * previous one of its lane answered, for `seconds`.
 *
 *   echo server (a child of bench/fleet.ts): node dist/bench/rpc-load.js --echo '<bootstrap json>'
 */
import { performance } from 'node:perf_hooks'
import HyperDHT from 'hyperdht'
import RPC from '@hyperswarm/rpc'
import type { RpcClient, RpcKey } from '../workers/rpc/client'
import { quantile, round, sortedCopy } from './proc'

export interface LoadResult {
  label: string
  method: string
  concurrency: number
  seconds: number
  requests: number
  errors: number
  firstError: string | null
  requestsPerSecond: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** Reply size of the last answered request (JSON text bytes). */
  replyBytes: number
  /** Items in the last reply, when it is an array. */
  replyItems: number | null
}

export interface LoadOptions {
  seconds: number
  concurrency: number
  /** Per-request timeout (default 10 s, the orchestrator's). */
  timeoutMs?: number
}

/** Runs the closed loop; every lane stops at the deadline (bounded by count and time). */
export async function runLoad (client: RpcClient, key: RpcKey, label: string, method: string, body: unknown, opts: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = []
  let errors = 0
  let firstError: string | null = null
  let lastReply = ''
  const payload = Buffer.from(JSON.stringify(body))
  const t0 = performance.now()
  const deadline = t0 + opts.seconds * 1000
  const MAX_PER_LANE = 1_000_000
  const lane = async (): Promise<void> => {
    for (let i = 0; i < MAX_PER_LANE && performance.now() < deadline; i++) {
      const start = performance.now()
      try {
        const text = await client.requestRaw(key, method, payload, opts.timeoutMs ?? 10_000)
        latencies.push(performance.now() - start)
        if (text.startsWith('[HRPC_ERR]=')) throw new Error(text)
        lastReply = text
      } catch (err) {
        errors++
        firstError ??= err instanceof Error ? err.message.slice(0, 200) : String(err)
      }
    }
  }
  await Promise.all(Array.from({ length: opts.concurrency }, lane))
  const elapsed = (performance.now() - t0) / 1000
  // the reply is looked at once, after the run: the client's own parsing stays out of the loop
  const replyBytes = Buffer.byteLength(lastReply)
  const replyItems = lastReply.startsWith('[') ? (JSON.parse(lastReply) as unknown[]).length : null
  const sorted = sortedCopy(latencies)
  return {
    label,
    method,
    concurrency: opts.concurrency,
    seconds: round(elapsed, 2),
    requests: latencies.length,
    errors,
    firstError,
    requestsPerSecond: round(latencies.length / elapsed, 1),
    p50Ms: round(quantile(sorted, 0.5), 1),
    p99Ms: round(quantile(sorted, 0.99), 1),
    maxMs: round(sorted[sorted.length - 1] ?? NaN, 1),
    replyBytes,
    replyItems
  }
}

/** The echo server: answers `echo` with the request as it came; prints `{key}` once listening. */
async function echoServer (bootstrap: Array<{ host: string, port: number }>): Promise<void> {
  const dht = new HyperDHT({ bootstrap, host: '127.0.0.1' })
  await dht.ready()
  const rpc = new RPC({ dht })
  const server = rpc.createServer()
  server.respond('echo', (req: Buffer | null) => req ?? Buffer.alloc(0))
  // `{bytes: N}` → a JSON string of N bytes: the transport's cost for a reply of a given size
  const sized = new Map<number, Buffer>()
  server.respond('echoSized', (req: Buffer | null) => {
    const n = Math.max(2, Math.min(16 * 2 ** 20, Number((JSON.parse(req?.toString() ?? '{}') as { bytes?: unknown }).bytes) || 2))
    let reply = sized.get(n)
    if (reply === undefined) {
      reply = Buffer.from(JSON.stringify('x'.repeat(n - 2)))
      sized.set(n, reply)
    }
    return reply
  })
  await server.listen()
  process.stdout.write(JSON.stringify({ key: rpc.defaultKeyPair.publicKey.toString('hex') }) + '\n')
  const stop = (): void => {
    void server.close().then(() => rpc.destroy()).then(() => dht.destroy()).finally(() => process.exit(0))
  }
  process.once('SIGTERM', stop)
  process.stdin.once('end', stop)
  process.stdin.resume()
}

if (require.main === module && process.argv[2] === '--echo') {
  echoServer(JSON.parse(process.argv[3] ?? '[]') as Array<{ host: string, port: number }>).catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  })
}
