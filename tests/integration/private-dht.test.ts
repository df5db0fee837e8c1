/**
 * `npm run dht` (dist/workers/cli/mbt-dht.js) as an offline site runs it: a private HyperDHT on
 * a given port, its bootstrap string printed, a worker configured with it, and `mbt-rpc --rack
 * … --table` next to the worker with no --bn. Bad flags exit 2; SIGTERM stops it with 0.
 * Needs `npm run build` first.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { REPO_ROOT, cleanupAll, makeRoot, spawnWorker } from '../helpers'

const DHT_BIN = path.join(REPO_ROOT, 'dist', 'workers', 'cli', 'mbt-dht.js')
const RPC_BIN = path.join(REPO_ROOT, 'dist', 'workers', 'cli', 'mbt-rpc.js')
const KEHUA = 'wrk-container-rack-kehua'

interface Run { code: number | null, stdout: string, stderr: string }

function start (bin: string, args: string[], opts: { cwd?: string } = {}): { proc: ChildProcess, done: Promise<Run>, stdout: () => string } {
  const proc = spawn(process.execPath, [bin, ...args], { cwd: opts.cwd ?? REPO_ROOT, env: { ...process.env, MBT_RPC_SEED: '', MBT_RPC_SEED_FILE: '' } })
  let stdout = ''
  let stderr = ''
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const kill = setTimeout(() => proc.kill('SIGKILL'), 30_000)
  const done = new Promise<Run>((resolve) => proc.on('exit', (code) => { clearTimeout(kill); resolve({ code, stdout, stderr }) }))
  return { proc, done, stdout: () => stdout }
}

let dht: ReturnType<typeof start> | null = null
afterAll(async () => {
  if (dht && dht.proc.exitCode === null) {
    dht.proc.kill('SIGKILL')
    await dht.done
  }
  await cleanupAll()
})

describe('npm run dht: a private DHT for an offline site', () => {
  it('prints its bootstrap; a worker and mbt-rpc --rack --table (no --bn) use it; SIGTERM stops it with 0', async () => {
    const port = 30_000 + Math.floor(Math.random() * 20_000)
    dht = start(DHT_BIN, ['--host', '127.0.0.1', '--port', String(port)])
    const started = Date.now()
    while (!dht.stdout().includes('\n') && dht.proc.exitCode === null && Date.now() - started < 20_000) await new Promise((resolve) => setTimeout(resolve, 50))
    expect(dht.stdout()).toBe(`127.0.0.1:${port}\n`)

    const root = await makeRoot({ bootstrap: [{ host: '127.0.0.1', port }] })
    const worker = spawnWorker({ wtype: KEHUA, rack: 'offline', root })
    await worker.waitForStatus()
    const reg = await start(RPC_BIN, ['--rack', `${KEHUA}-offline`, '-m', 'registerThing', '-d', '{"opts":{},"info":{"container":"bay-9"}}'], { cwd: root }).done
    expect(reg.stderr).toBe('')
    expect(reg.stdout).toBe('1\n')
    const table = await start(RPC_BIN, ['--rack', `${KEHUA}-offline`, '-m', 'listThings', '--table'], { cwd: root }).done
    expect(table.stderr).toBe('')
    expect(table.code).toBe(0)
    const lines = table.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^1 thing: /)
    expect(lines[1]).toMatch(/^ID +CODE +CONTAINER/)
    expect(lines[2]).toMatch(/ MBT-KEHUA-0001 +bay-9 /)
    expect(await worker.stop()).toBe(0)

    dht.proc.kill('SIGTERM')
    const end = await dht.done
    expect(end.code).toBe(0)
    expect(end.stderr).toContain(`{"r0": {"dhtOpts": {"bootstrap": ["127.0.0.1:${port}"]}}}`)
  }, 90_000)

  it('bad flags exit 2 with the reason', async () => {
    const host = await start(DHT_BIN, ['--host', '0.0.0.0']).done
    expect(host.code).toBe(2)
    expect(host.stderr).toMatch(/--host 0\.0\.0\.0: an IPv4 address/)
    const port = await start(DHT_BIN, ['--port', '70000']).done
    expect(port.code).toBe(2)
    expect(port.stderr).toMatch(/--port 70000: 1…65535/)
    const flag = await start(DHT_BIN, ['--nope']).done
    expect(flag.code).toBe(2)
  })
})
