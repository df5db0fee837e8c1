/**
 * `npm run demo` (dist/mock/demo.js): the walkthrough against two real workers and two mock
 * containers; piped output within 80 columns (commands apart), the rack-stats lines agreeing
 * with the tables, the fan thresholds set on every container the step names, a printed command
 * that works from another process, and Ctrl-C — also while piped through `tee` — removing the
 * temporary folder. Needs `npm run build` first.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { REPO_ROOT, waitFor } from '../helpers'
import { CONTAINER_VENDORS } from '../../workers/lib/registers/profiles'

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

/**
 * Each piped table with its rack-stats lines: per vendor the table's power (kW) and alerts, and
 * what the stats say.
 */
function tablesOf (out: string): Array<Array<{ vendor: string, tableKw: number, tableAlerts: string, statsKw: number, statsAlerts: string }>> {
  const blocks = [...out.matchAll(/^container +status[^\n]*\n([\s\S]*?)\nrack stats [^\n]*\n((?: {2}\S+ +[^\n]*\n)+)/gm)]
  return blocks.map((b) => {
    const rows = [...b[1].matchAll(/^MBT-(\w+)-0001 +\S+ +([\d.]+) .*? (\d+\/\d+) (.*)$/gm)]
    const stats = [...b[2].matchAll(/^ {2}(\w+) +([\d.]+) kW, (.*)$/gm)]
    return stats.map((st) => {
      const r = rows.find((x) => x[1].toLowerCase() === st[1])
      return { vendor: st[1], tableKw: Number(r?.[2]), tableAlerts: (r?.[4] ?? '').trim(), statsKw: Number(st[2]), statsAlerts: st[3] }
    })
  })
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
    expect(out).toMatch(/MBT-KEHUA-0001\s+running/)
    expect(out).toMatch(/MBT-WONDERINT-0001\s+running/)
    // each step shows the mbt-rpc command that repeats it: the worker found by its status file (key and DHT)
    expect(out).toMatch(/\$ npx mbt-rpc --root \S+ --rack wrk-container-rack-kehua-demo-kehua -m registerThing -f \S+register-kehua\.json\n→ 1\n/)
    expect(out).toMatch(/\$ npx mbt-rpc --root \S+ --rack wrk-container-rack-wonderint-demo-wonderint -m registerThing -f \S+register-wonderint\.json\n→ 1\n/)
    // a snapshot read from each container
    expect(out.match(/-m queryThing -d '\{"id":"[^"]+","method":"getSnap","params":\[\]\}'\n→ \{success: true, stats: \{status: running/g)).toHaveLength(2)
    // setCoolingFanThreshold by tag on each worker: every container tagged demo shows the new thresholds
    expect(out.match(/-m applyThings -d '\{"method":"setCoolingFanThreshold",[^\n]*\n→ 1\n/g)).toHaveLength(2)
    expect(out).toMatch(/MBT-KEHUA-0001\s+running\s+[\d.]+\s+[\d.]+\s+-\s+38\.0\/32\.0\s+239\/240\s+-/)
    expect(out).toMatch(/MBT-WONDERINT-0001\s+running\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+38\.0\/32\.0\s+240\/240\s+-/)
    // the alert raised through the mock control API shows in the table, the alert list and the RPC replies
    expect(out).toMatch(/\$ curl -s -X POST http:\/\/127\.0\.0\.1:\d+\/thing\/kehua [^\n]*systemErrorBits":\[3\][^\n]*\n→ HTTP 200/)
    expect(out).toMatch(/MBT-KEHUA-0001\s+error\s+[^\n]*1 critical/)
    expect(out).toMatch(/MBT-KEHUA-0001\s+critical circulating_pump_fault\s+Circulating pump fault/)
    expect(out).toMatch(/-m getHistoricalLogs [^\n]*\n→ \[\{"name":"circulating_pump_fault"/)
    // an operator acknowledges it; the listing shows the state and who acknowledged
    expect(out).toMatch(/-m acknowledgeAlerts [^\n]*\n→ \{"count":1,"uuids":\["[0-9a-f-]{36}"\]\}\n/)
    expect(out).toMatch(/-m listAlerts [^\n]*\n→ circulating_pump_fault: active-acknowledged \(demo\)/)
    // and clears
    expect(out).toMatch(/== clear the alert[\s\S]*MBT-KEHUA-0001\s+running[^\n]*239\/240\s+-\n/)
    expect(out).not.toContain('"password":"admin"')
    expect(out).toContain('demo finished')
    // every table's rack-stats lines agree with it: the alerts, and the power within 1 kW
    const tables = tablesOf(out)
    expect(tables.length).toBeGreaterThanOrEqual(4)
    for (const t of tables) {
      expect(t.map((x) => x.vendor)).toEqual(CONTAINER_VENDORS)
      for (const x of t) {
        expect(Math.abs(x.tableKw - x.statsKw), JSON.stringify(x)).toBeLessThan(1)
        expect(x.statsAlerts, JSON.stringify(x)).toBe(x.tableAlerts === '-' ? 'no alerts' : x.tableAlerts)
      }
    }
    expect(tables.some((t) => t[0].statsAlerts === '1 critical')).toBe(true)
    // 80 columns, but for the commands (printed whole, to be pasted)
    expect(out.split('\n').filter((l) => !l.startsWith('$ ') && [...l].length > 80)).toEqual([])
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

  it('Ctrl-C while piped through tee (the reader dies with it): exits 0 quietly and removes its folder', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mbt-demo-tee-'))
    try {
      const [outFile, errFile, rcFile] = ['out.txt', 'err.txt', 'rc.txt'].map((f) => path.join(dir, f))
      // a process group of its own, as a terminal's Ctrl-C signals the whole pipeline
      const sh = spawn('bash', ['-c', `(${JSON.stringify(process.execPath)} ${JSON.stringify(DEMO)} 2>${JSON.stringify(errFile)}; echo $? >${JSON.stringify(rcFile)}) | tee ${JSON.stringify(outFile)} >/dev/null`], { detached: true, stdio: 'ignore' })
      procs.add(sh)
      const exited = new Promise<void>((resolve) => sh.on('exit', () => resolve()))
      const text = (): string => existsSync(outFile) ? readFileSync(outFile, 'utf8') : ''
      await waitFor(() => text().includes('== read a snapshot') ? true : null, 30_000, 100)
      const root = /^root (\S+)$/m.exec(text())?.[1]
      expect(root !== undefined && existsSync(root)).toBe(true)
      process.kill(-(sh.pid as number), 'SIGINT')
      await exited
      const rc = await waitFor(() => existsSync(rcFile) ? readFileSync(rcFile, 'utf8').trim() : null, 15_000, 100)
      expect(rc, readFileSync(errFile, 'utf8')).toBe('0')
      expect(readFileSync(errFile, 'utf8')).not.toMatch(/Error|EPIPE|at /)
      expect(existsSync(root as string)).toBe(false)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
