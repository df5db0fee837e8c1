#!/usr/bin/env node
/**
 * `mbt-store backup|restore`: backups of a worker's store (docs/operations.md "Backup and restore").
 *
 *   mbt-store backup  --rack <rack> [--root <dir>] [--out <file>]   a stopped worker's store
 *   mbt-store restore --rack <rack> [--root <dir>] --file <file>    into a stopped worker's place
 *   mbt-store reset-replica --rack <rack> [--root <dir>]             a stopped read replica
 *
 * `reset-replica` drops a replica's copies of its master (after ERR_REPLICA_DIVERGED: the master's
 * history went back in time): its store is backed up (its own keys and settings only: copies
 * are not named bees) and restored, so it keeps its RPC key and copies the master afresh.
 *
 * A running worker is backed up by itself: `mbt-rpc --rack <rack> -m backupStore` (the file
 * goes to `<root>/backups/`). Exit 0 on success, 1 on a failure (its code on stderr), 2 on usage.
 */
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { errorCode } from '../core/errors'
import { StoreFacility } from '../facs/store'
import { backupFileName, restoreBackup, writeBackup } from '../facs/store-backup'

const USAGE = 'usage: mbt-store backup --rack <rack> [--root <dir>] [--out <file>]\n' +
  '       mbt-store restore --rack <rack> [--root <dir>] --file <file>\n' +
  '       mbt-store reset-replica --rack <rack> [--root <dir>]\n'

export interface StoreCliIo { stdout: (text: string) => void, stderr: (text: string) => void }

function flags (args: string[]): Record<string, string> | null {
  const out: Record<string, string> = {}
  for (let i = 0; i < args.length; i += 2) {
    const name = args[i]
    const value = args[i + 1]
    if (name === undefined || !name.startsWith('--') || value === undefined) return null
    out[name.slice(2)] = value
  }
  return out
}

/** The store directory of a rack, as the worker places it (`<root>/store/<rack>-db`). */
export function rackStoreDir (root: string, rack: string): string {
  return path.join(root, 'store', `${rack}-db`)
}

export async function runStoreCli (argv: string[], io: StoreCliIo): Promise<number> {
  const [command, ...rest] = argv
  const f = flags(rest)
  if ((command !== 'backup' && command !== 'restore' && command !== 'reset-replica') || f === null || typeof f.rack !== 'string' ||
    !/^[A-Za-z0-9._-]+$/.test(f.rack)) {
    io.stderr(USAGE)
    return 2
  }
  const root = path.resolve(f.root ?? '.')
  const dir = rackStoreDir(root, f.rack)
  try {
    if (command === 'backup' || command === 'reset-replica') {
      const out = command === 'backup' && f.out !== undefined ? f.out : path.join(root, 'backups', backupFileName(f.rack))
      await mkdir(path.dirname(out), { recursive: true, mode: 0o700 })
      const store = new StoreFacility(dir)
      await store.ready()
      let summary
      try {
        summary = await writeBackup(store, out)
      } finally {
        await store.close()
      }
      // a replica's store again, without its copies (the old one is kept aside, renamed)
      io.stdout(`${JSON.stringify(command === 'backup' ? summary : await restoreBackup(out, dir))}\n`)
      return 0
    }
    if (typeof f.file !== 'string') {
      io.stderr(USAGE)
      return 2
    }
    const summary = await restoreBackup(path.resolve(f.file), dir)
    io.stdout(`${JSON.stringify(summary)}\n`)
    return 0
  } catch (err) {
    io.stderr(`mbt-store: ${errorCode(err)}: ${(err as Error).message}\n`)
    return 1
  }
}

if (require.main === module) {
  process.umask(0o077)
  runStoreCli(process.argv.slice(2), {
    stdout: (text) => { process.stdout.write(text) },
    stderr: (text) => { process.stderr.write(text) }
  }).then((code) => { process.exitCode = code }, (err: unknown) => {
    process.stderr.write(`mbt-store: ${String(err)}\n`)
    process.exitCode = 1
  })
}
