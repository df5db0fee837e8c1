/**
 * The systemd unit template (config/systemd/mbt-worker@.service) as systemd reads it:
 * `systemd-analyze verify` on an instance of it reports nothing, and reports a broken directive
 * (so the check can fail); the unit restarts on failure and is hardened. Skips with a message
 * where systemd-analyze is absent.
 */
import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REPO_ROOT } from '../helpers'

const HAS_ANALYZE = spawnSync('systemd-analyze', ['--version']).status === 0
if (!HAS_ANALYZE) process.stderr.write('systemd-unit.test: systemd-analyze is not installed: the verify checks are skipped\n')

let dir: string
let unit: string

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mbt-unit-'))
  unit = await readFile(path.join(REPO_ROOT, 'config', 'systemd', 'mbt-worker@.service'), 'utf8')
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

function verify (name: string): { status: number | null, output: string } {
  const r = spawnSync('systemd-analyze', ['verify', path.join(dir, name)], { encoding: 'utf8' })
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() }
}

describe('systemd unit template', () => {
  it('restarts on failure, runs as its own user, hardened, writes only the store, status and backups', () => {
    for (const line of ['Restart=on-failure', 'User=mbt-worker', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'UMask=0077', 'KillSignal=SIGTERM']) {
      expect(unit.split('\n'), line).toContain(line)
    }
    const rw = unit.split('\n').find((l) => l.startsWith('ReadWritePaths=')) ?? ''
    for (const d of ['/store', '/status', '/backups']) expect(rw).toContain(d)
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/node dist\/worker\.js --wtype \S+ --env production --rack %i$/m)
  })

  it.skipIf(!HAS_ANALYZE)('systemd-analyze verify finds nothing in an instance of it, and does find a broken directive', async () => {
    await writeFile(path.join(dir, 'mbt-worker@shelf-1.service'), unit)
    expect(verify('mbt-worker@shelf-1.service')).toEqual({ status: 0, output: '' })
    await writeFile(path.join(dir, 'broken@shelf-1.service'), unit.replace('Restart=on-failure', 'Restart=sometimes'))
    expect(verify('broken@shelf-1.service').output).toMatch(/restart/i)
  })
})
