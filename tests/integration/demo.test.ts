import { spawn } from 'node:child_process'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { REPO_ROOT } from '../helpers'

describe('npm run demo -- --once', () => {
  it('starts both vendors, registers a container on each over RPC, reads snapshots and applies controls', async () => {
    const proc = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'mock', 'demo.js'), '--once'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    proc.stdout.on('data', (d: Buffer) => { out += d.toString() })
    proc.stderr.on('data', (d: Buffer) => { out += d.toString() })
    const code = await new Promise<number | null>((resolve) => proc.on('exit', (c) => resolve(c)))
    expect(code, out).toBe(0)
    expect(out).toMatch(/MBT-KEHUA-0001\s+kehua\s+running/)
    expect(out).toMatch(/MBT-WONDERINT-0001\s+wonderint\s+running/)
    // setCoolingFanThreshold by tag reached one container, and its new start temperature shows
    expect(out).toMatch(/→ 1\n/)
    expect(out).toMatch(/MBT-KEHUA-0001\s+kehua\s+running\s+[\d.]+\s+[\d.]+\s+38\.0\s+239\/240/)
    expect(out).not.toContain('"password":"admin"')
    expect(out).toContain('demo finished')
  }, 60_000)
})
