/**
 * Small files a store keeps beside its cores (`<store dir>/side/<name>`): mutable, 0600, never
 * replicated, part of every backup. What holds a secret that must be forgettable lives here
 * (an append-only core keeps every block it was given).
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { STORE_DIR_MODE, STORE_FILE_MODE } from './store'

export const SIDE_DIR = 'side'

export function sideDir (storeDir: string): string {
  return path.join(storeDir, SIDE_DIR)
}

/** The content of a side file, or null when there is none. */
export async function readSideFile (storeDir: string, name: string): Promise<Buffer | null> {
  try {
    return await readFile(path.join(sideDir(storeDir), name))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}

/** Replaces a side file atomically and durably (written to a temporary file, synced, renamed). */
export async function writeSideFile (storeDir: string, name: string, content: Buffer | string): Promise<void> {
  const dir = sideDir(storeDir)
  await mkdir(dir, { recursive: true, mode: STORE_DIR_MODE })
  const target = path.join(dir, name)
  const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`
  const handle = await open(tmp, 'wx', STORE_FILE_MODE)
  try {
    await handle.writeFile(content)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await rename(tmp, target)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
  const dirHandle = await open(dir, 'r')
  try {
    await dirHandle.sync()
  } finally {
    await dirHandle.close()
  }
}

/** Appends to a side file durably (created 0600 when missing; synced before it resolves). */
export async function appendSideFile (storeDir: string, name: string, content: string): Promise<void> {
  const dir = sideDir(storeDir)
  await mkdir(dir, { recursive: true, mode: STORE_DIR_MODE })
  const handle = await open(path.join(dir, name), 'a', STORE_FILE_MODE)
  try {
    await handle.writeFile(content)
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** The names of the side files (temporary files of an interrupted write left out). */
export async function sideFileNames (storeDir: string): Promise<string[]> {
  try {
    return (await readdir(sideDir(storeDir), { withFileTypes: true }))
      .filter((e) => e.isFile() && !e.name.endsWith('.tmp')).map((e) => e.name).sort()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}
