import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { REPO_ROOT, waitFor } from '../helpers'

const DEMO = path.join(REPO_ROOT, 'dist', 'mock', 'demo.js')
const BIN = path.join(REPO_ROOT, 'dist', 'workers', 'cli', 'mbt-rpc.js')
const procs = new Set<ChildProcess>()
afterAll(() => { for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL') })

function startDemo (args: string[]): { proc: ChildProcess, output: () => string, exited: Promise<number | null> } {
  const proc = spawn(process.execPath, [DEMO, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  procs.add(proc)
  let out = ''
  proc.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  proc.stderr!.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (c) => resolve(c)))
  return { proc, output: () => out, exited }
}

/** The words of a printed command line (single quotes as a POSIX shell reads them). */
function shellWords (line: string): string[] {
  const words: string[] = []
  for (const m of line.matchAll(/(?:'((?:[^']|'\\'')*)'|(\S+))/g)) words.push(m[1] !== undefined ? m[1].replace(/'\\''/g, "'") : m[2])
  return words
}

describe('npm run demo', () => {
  it('--once: registers a container on each vendor over RPC, reads a snapshot of each, applies controls, raises and clears an alert', async () => {
    const demo = startDemo(['--once'])
    const code = await demo.exited
    const out = demo.output()
    expect(code, out).toBe(0)
    // the table is not a terminal here: it scrolls, without ANSI control sequences
    expect(out).not.toContain('\x1b[')
    expect(out).toMatch(/MBT-KEHUA-0001\s+kehua\s+running/)
    expect(out).toMatch(/MBT-WONDERINT-0001\s+wonderint\s+running/)
    // each step shows the mbt-rpc command that repeats it, with the bootstrap and the key
    expect(out).toMatch(/\$ npx mbt-rpc --bn 127\.0\.0\.1:\d+ -s [0-9a-f]{64} -m registerThing -f \S+register-kehua\.json\n→ 1\n/)
    expect(out).toMatch(/\$ npx mbt-rpc --bn 127\.0\.0\.1:\d+ -s [0-9a-f]{64} -m registerThing -f \S+register-wonderint\.json\n→ 1\n/)
    // a snapshot read from each container
    expect(out.match(/-m queryThing -d '\{"id":"[^"]+","method":"getSnap","params":\[\]\}'\n→ \{success: true, stats: \{status: running/g)).toHaveLength(2)
    // setCoolingFanThreshold by tag reached one container; its thresholds and the switched socket show
    expect(out).toMatch(/-m applyThings -d '\{"method":"setCoolingFanThreshold",[^\n]*\n→ 1\n/)
    expect(out).toMatch(/MBT-KEHUA-0001\s+kehua\s+running\s+[\d.]+\s+[\d.]+\s+-\s+38\.0\/32\.0\s+239\/240\s+-/)
    // the alert raised through the mock control API shows in the table, the alert list and the RPC replies
    expect(out).toMatch(/\$ curl -s -X POST http:\/\/127\.0\.0\.1:\d+\/thing\/kehua [^\n]*systemErrorBits":\[3\][^\n]*\n→ HTTP 200/)
    expect(out).toMatch(/MBT-KEHUA-0001\s+kehua\s+error\s+[^\n]*1 critical/)
    expect(out).toMatch(/MBT-KEHUA-0001\s+critical circulating_pump_fault\s+Circulating pump fault/)
    expect(out).toMatch(/-m getHistoricalLogs [^\n]*\n→ \[\{"name":"circulating_pump_fault"/)
    // and clears
    expect(out).toMatch(/== clear the alert[\s\S]*MBT-KEHUA-0001\s+kehua\s+running[^\n]*239\/240\s+-\n/)
    expect(out).not.toContain('"password":"admin"')
    expect(out).toContain('demo finished')
  }, 60_000)

  it('live: a printed command works from another process while it runs; SIGINT stops everything and removes its files', async () => {
    const demo = startDemo([])
    const line = await waitFor(() => /^\$ (npx mbt-rpc [^\n]*"method":"getSnap"[^\n]*)$/m.exec(demo.output())?.[1], 30_000, 100)
    const root = /root (\S+)/.exec(demo.output())?.[1]
    expect(root !== undefined && existsSync(root)).toBe(true)
    const [npx, prog, ...args] = shellWords(line)
    expect([npx, prog]).toEqual(['npx', 'mbt-rpc'])
    const cli = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    cli.stdout.on('data', (d: Buffer) => { out += d.toString() })
    cli.stderr.on('data', (d: Buffer) => { err += d.toString() })
    const cliCode = await new Promise<number | null>((resolve) => cli.on('exit', (c) => resolve(c)))
    expect(cliCode, err).toBe(0)
    const snap = JSON.parse(out) as { success: boolean, stats: { status: string } }
    expect(snap.success).toBe(true)
    expect(snap.stats.status).toBe('running')

    demo.proc.kill('SIGINT')
    const started = Date.now()
    expect(await demo.exited, demo.output()).toBe(0)
    expect(Date.now() - started).toBeLessThan(15_000)
    expect(existsSync(root as string)).toBe(false)
  }, 60_000)
})
