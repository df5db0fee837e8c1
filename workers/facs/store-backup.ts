/**
 * Backups of a store, and restores that a read replica survives.
 *
 * A backup is the logical content of every named bee of the store (its key/value entries, raw)
 * and its side files (./side-files.ts), as JSON lines in one 0600 file: the registry, settings, active alerts, DHCP leases, the seeds
 * of the RPC and DHT keys, the credentials, every readable log generation. Taken by the worker
 * itself while it runs (all bees' versions are fixed in one step, then read from those
 * snapshots: a consistent cut), or from a stopped worker's store.
 *
 * A restore writes that content into a new store: new Hypercores (new core keys), the same
 * seeds (the same RPC public key). A read replica that copied the old cores sees a new main core
 * at its next `getReplicaConf` and copies it afresh; no core of the old timeline is ever
 * written again, so no replica can hold a diverged copy of a core the master writes (copying the
 * store folder back would: hypercore then freezes the master's cores when a replica ahead of it
 * connects). The store being replaced is kept beside it, renamed.
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { access, open, rename } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { WrkError } from '../core/errors'
import { readSideFile, sideFileNames, writeSideFile } from './side-files'
import { STORE_FILE_MODE, StoreFacility, type Bee } from './store'

export const BACKUP_FORMAT = 'mbt-store-backup'
export const BACKUP_VERSION = 1
/** Entries written to a restored bee at once. */
const RESTORE_BATCH = 500
/** Keys and values as stored: a log entry's value is its codec's bytes, a sub-database key holds its prefix. */
const BINARY = { keyEncoding: 'binary', valueEncoding: 'binary' } as const

/** `<rack>-<UTC time>.mbtbak`: sorts by time, safe as a file name. */
export function backupFileName (rack: string, now = new Date()): string {
  return `${rack}-${now.toISOString().replace(/[:.]/g, '-')}.mbtbak`
}

export interface BackupSummary {
  file: string
  bees: number
  entries: number
  created: number
}

type Line =
  | { format: string, version: number, created: number, store: string }
  | { side: string, content: string }
  | { bee: string }
  | { k: string, v: string }
  | { end: true, bees: number, entries: number }

async function writeLine (out: NodeJS.WritableStream, line: Line): Promise<void> {
  if (!out.write(JSON.stringify(line) + '\n')) await new Promise((resolve) => out.once('drain', resolve))
}

/** Writes a backup of `store` (open, running or not) to `file` (created 0600, never overwritten). */
export async function writeBackup (store: StoreFacility, file: string): Promise<BackupSummary> {
  const created = Date.now()
  // the cut: every bee's version taken in one synchronous step
  const snapshots = await store.snapshotAll()
  const handle = await open(file, 'wx', STORE_FILE_MODE)
  const out = createWriteStream('', { fd: handle.fd, autoClose: false })
  let entries = 0
  try {
    await writeLine(out, { format: BACKUP_FORMAT, version: BACKUP_VERSION, created, store: store.dir })
    // the side files (e.g. the keys of the credentials) first: the entries they open follow
    for (const name of await sideFileNames(store.dir)) {
      const content = await readSideFile(store.dir, name)
      if (content !== null) await writeLine(out, { side: name, content: content.toString('base64') })
    }
    for (const { name, snapshot } of snapshots) {
      await writeLine(out, { bee: name })
      for await (const entry of snapshot.createReadStream({}, BINARY)) {
        await writeLine(out, { k: (entry.key as unknown as Buffer).toString('base64'), v: (entry.value as Buffer).toString('base64') })
        entries++
      }
    }
    await writeLine(out, { end: true, bees: snapshots.length, entries })
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => err ? reject(err) : resolve()))
    await handle.sync()
  } finally {
    for (const { snapshot } of snapshots) await snapshot.close().catch(() => {})
    await handle.close()
  }
  return { file, bees: snapshots.length, entries, created }
}

/**
 * Restores `file` as the store at `dir` (the worker must be stopped). A store already there is
 * renamed to `<dir>.replaced-<time>` first; the backup is checked whole before anything moves.
 */
export async function restoreBackup (file: string, dir: string): Promise<BackupSummary & { replaced: string | null }> {
  const header = await checkBackup(file)
  const exists = await access(dir).then(() => true, () => false)
  const replaced = exists ? `${dir}.replaced-${new Date().toISOString().replace(/[:.]/g, '-')}` : null
  if (replaced !== null) {
    // refuse while the worker runs: opening the store fails with ERR_STORE_LOCKED
    const probe = new StoreFacility(dir)
    await probe.ready()
    await probe.close()
    await rename(dir, replaced)
  }
  const store = new StoreFacility(dir)
  await store.ready()
  let bees = 0
  let entries = 0
  try {
    let bee: Bee | null = null
    let batch: ReturnType<Bee['batch']> | null = null
    let pending = 0
    for await (const line of lines(file)) {
      if ('side' in line) {
        await writeSideFile(dir, line.side, Buffer.from(line.content, 'base64'))
      } else if ('bee' in line) {
        if (batch) await batch.flush()
        bee = await store.getBee(line.bee)
        batch = bee.batch()
        pending = 0
        bees++
      } else if ('k' in line) {
        if (bee === null || batch === null) throw new WrkError('ERR_BACKUP_INVALID', 'an entry before any bee')
        await batch.put(Buffer.from(line.k, 'base64'), Buffer.from(line.v, 'base64'), BINARY)
        entries++
        if (++pending >= RESTORE_BATCH) {
          await batch.flush()
          batch = bee.batch()
          pending = 0
        }
      }
    }
    if (batch) await batch.flush()
  } finally {
    await store.close()
  }
  return { file, bees, entries, created: header.created, replaced }
}

async function * lines (file: string): AsyncGenerator<Line> {
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity })
  for await (const text of rl) if (text !== '') yield JSON.parse(text) as Line
}

/** Reads the whole file: a known header, well-formed lines, the end line with matching counts. */
export async function checkBackup (file: string): Promise<{ created: number, bees: number, entries: number }> {
  let header: { format?: unknown, version?: unknown, created?: unknown } | undefined
  let bees = 0
  let entries = 0
  let end: { bees: number, entries: number } | null = null
  try {
    for await (const line of lines(file)) {
      if (header === undefined) {
        header = line as { format?: unknown, version?: unknown, created?: unknown }
        continue
      }
      if ('side' in line && typeof line.side === 'string' && /^[A-Za-z0-9._-]+$/.test(line.side) && typeof line.content === 'string') {
        continue
      }
      if ('bee' in line && typeof line.bee === 'string') bees++
      else if ('k' in line && typeof line.k === 'string' && typeof line.v === 'string') entries++
      else if ('end' in line) end = line
      else throw new Error('unknown line')
    }
  } catch (err) {
    throw new WrkError('ERR_BACKUP_INVALID', `${file} is not a readable backup: ${(err as Error).message}`)
  }
  if (header === undefined || header.format !== BACKUP_FORMAT || header.version !== BACKUP_VERSION || typeof header.created !== 'number') {
    throw new WrkError('ERR_BACKUP_INVALID', `${file} is not a ${BACKUP_FORMAT} version ${BACKUP_VERSION} file`)
  }
  if (end === null || end.bees !== bees || end.entries !== entries) {
    throw new WrkError('ERR_BACKUP_INVALID', `${file} is incomplete (no end line, or counts that do not match)`)
  }
  return { created: header.created, bees, entries }
}
