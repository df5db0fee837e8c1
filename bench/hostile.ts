/**
 * The hostile corpus against a real worker over real RPC: computing projections, catastrophic
 * regexes, oversized requests, prototype keys, a 10 000-entry $in, while a second client pings
 * every 20 ms. Reports each request's answer and time, the ping p50/p99 and the worker's
 * event-loop delay (perf_hooks.monitorEventLoopDelay, measured inside the worker process, which
 * runs as a child of this script) during the attack.
 *
 *   npm run bench:hostile   (or: node dist/bench/hostile.js [--rounds 5])
 */
import { spawn } from 'node:child_process'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { RpcClient } from '../workers/rpc/client'
import { errorCodeOfReply } from '../workers/rpc/codec'
import WrkContainerRackKehua from '../workers/kehua.rack.container.wrk'
import { benchRoot } from './root'
import { quantile } from './proc'

const CORPUS: Array<[label: string, method: string, body: unknown]> = [
  ['listThings $range projection', 'listThings', { fields: { x: { $range: [0, 1e9] } } }],
  ['listThings $range, limit 1', 'listThings', { limit: 1, fields: { x: { $range: [0, 1e7] } } }],
  ['tailLog $range projection', 'tailLog', { key: 'thing-5m', tag: 't-0', fields: { x: { $range: [0, 1e9] } } }],
  ['getWrkConf $range projection', 'getWrkConf', { fields: { x: { $range: [0, 1e9] } } }],
  ['$regex .* ×10 then x', 'listThings', { query: { id: { $regex: `${'.*'.repeat(10)}x` } } }],
  ['$regex (a+)+$', 'listThings', { query: { id: { $regex: '(a+)+$' } } }],
  ['$regex (.*a){12}', 'listThings', { query: { id: { $regex: '(.*a){12}' } } }],
  ['$regex \\d*\\d*\\d*x', 'getThingsCount', { query: { code: { $regex: '\\d*\\d*\\d*x' } } }],
  ['$where', 'listThings', { query: { $where: 'while(true){}' } }],
  ['$expr', 'forgetThings', { query: { $expr: { $gt: ['$a', 1] } } }],
  ['$map projection', 'listThings', { fields: { x: { $map: { input: { $range: [0, 1e7] }, in: '$$this' } } } }],
  ['$in of 10 000', 'listThings', { query: { id: { $in: Array.from({ length: 10_000 }, (_, i) => `x${i}`) } } }],
  ['10 MB request', 'registerThing', { opts: {}, info: { blob: 'x'.repeat(10 * 1024 * 1024) } }],
  ['100 000-key object', 'saveWrkSettings', { entries: Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i])) }],
  ['__proto__ key', 'updateThing', JSON.parse('{"id":"t-0","info":{"__proto__":{"admin":true}}}')],
  ['nesting 1000 deep', 'listThings', { query: JSON.parse('{"a":'.repeat(1000) + '1' + '}'.repeat(1000)) }],
  ['address with NUL', 'registerThing', { opts: { address: '127.0.0.1\u0000evil', port: 502 } }],
  ['code Z-999999999', 'registerThing', { code: 'Z-999999999', opts: {} }]
]

/** Child: the worker, with the event-loop monitor; `report` on stdin prints and resets it. */
async function child (root: string): Promise<void> {
  const worker = new WrkContainerRackKehua({ wtype: 'wrk-container-rack-kehua', env: 'development', rack: 'hostile', root })
  await worker.start()
  worker.logger.level = 'silent'
  for (let t = 0; t < 21; t++) await worker.callRpc('registerThing', { id: `t-${t}`, opts: {}, info: { container: `bay-${t}` } })
  await worker.collectSnaps()
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  process.stdout.write(JSON.stringify({ key: worker.net.rpcPublicKey.toString('hex') }) + '\n')
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'reset') loop.reset()
    if (line === 'report') process.stdout.write(JSON.stringify({ p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 }) + '\n')
  }
  await worker.stop()
}

async function main (): Promise<void> {
  if (process.argv[2] === '--child') return await child(process.argv[3])
  const i = process.argv.indexOf('--rounds')
  const rounds = i < 0 ? 5 : Number(process.argv[i + 1])
  const bench = await benchRoot({ collectSnapsItvMs: 600_000 })
  const proc = spawn(process.execPath, [__filename, '--child', bench.root], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]()
  const nextJson = async (): Promise<Record<string, unknown>> => {
    for (;;) {
      const { value, done } = await lines.next()
      if (done === true) throw new Error('the worker exited')
      const msg = JSON.parse(value as string) as Record<string, unknown>
      if (!('level' in msg)) return msg
    }
  }
  const key = Buffer.from(String((await nextJson()).key), 'hex')
  const attacker = new RpcClient({ bootstrap: bench.bootstrap, host: '127.0.0.1' })
  const pinger = new RpcClient({ bootstrap: bench.bootstrap, host: '127.0.0.1' })
  try {
    await attacker.request(key, 'ping', {})
    await pinger.request(key, 'ping', {})
    const pings: number[] = []
    let attacking = true
    proc.stdin.write('reset\n')
    const pingLoop = (async () => {
      while (attacking) {
        const t0 = performance.now()
        await pinger.request(key, 'ping', { t: t0 })
        pings.push(performance.now() - t0)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })()
    const rows = new Map<string, { answer: string, times: number[] }>()
    for (let r = 0; r < rounds; r++) {
      for (const [label, method, body] of CORPUS) {
        const payload = Buffer.from(JSON.stringify(body))
        const t0 = performance.now()
        const text = await attacker.requestRaw(key, method, payload, 15_000)
        const ms = performance.now() - t0
        const code = errorCodeOfReply(JSON.parse(text))
        const row = rows.get(label) ?? { answer: code ?? `result (${text.length} bytes)`, times: [] }
        row.times.push(ms)
        rows.set(label, row)
      }
    }
    attacking = false
    await pingLoop
    proc.stdin.write('report\n')
    const loop = await nextJson() as { p99: number, max: number }
    pings.sort((a, b) => a - b)
    const out = ['| request | answer | median ms | max ms |', '|---|---|---|---|']
    for (const [label, { answer, times }] of rows) {
      times.sort((a, b) => a - b)
      out.push(`| ${label} | ${answer} | ${quantile(times, 0.5).toFixed(1)} | ${times[times.length - 1].toFixed(1)} |`)
    }
    out.push('', '| pings during the attack | p50 ms | p99 ms | worker loop delay p99 ms | worker loop delay max ms |', '|---|---|---|---|---|')
    out.push(`| ${pings.length} | ${quantile(pings, 0.5).toFixed(1)} | ${quantile(pings, 0.99).toFixed(1)} | ${loop.p99.toFixed(1)} | ${loop.max.toFixed(1)} |`)
    process.stdout.write(out.join('\n') + '\n')
  } finally {
    await attacker.close()
    await pinger.close()
    proc.stdin.end()
    await new Promise((resolve) => proc.once('exit', resolve))
    await bench.close()
  }
}

main().catch((err: unknown) => { process.stderr.write(`${(err as Error).stack ?? String(err)}\n`); process.exit(1) })
