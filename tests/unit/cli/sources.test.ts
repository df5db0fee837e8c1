/**
 * Where mbt-rpc finds the key, the bootstrap and the seed (workers/cli/sources.ts): the worker's
 * status file (its dhtBootstrap, else its config), a 0600 seed file or the environment, and
 * clear usage errors otherwise — never quoting the seed.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseCommandLine } from '../../../workers/cli/args'
import { readSeedFile, readWorkerStatus, seedOf } from '../../../workers/cli/sources'
import { UsageError } from '../../../workers/cli/usage'

const KEY = 'ab'.repeat(32)
const SEED = 'cd'.repeat(32)
const dir = mkdtempSync(path.join(os.tmpdir(), 'mbt-rpc-sources-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function rootWith (status: object, net?: object): string {
  const root = mkdtempSync(path.join(dir, 'root-'))
  mkdirSync(path.join(root, 'status'))
  writeFileSync(path.join(root, 'status', 'w-r.json'), JSON.stringify(status))
  if (net) {
    mkdirSync(path.join(root, 'config', 'facs'), { recursive: true })
    writeFileSync(path.join(root, 'config', 'facs', 'net.config.json'), JSON.stringify(net))
  }
  return root
}

function usage (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (err instanceof UsageError) return err.message
    throw err
  }
  throw new Error('no usage error')
}

describe('the bootstrap of a worker next to the CLI', () => {
  it('the status file\'s dhtBootstrap; null there = the public nodes (its config not read)', () => {
    const root = rootWith({ rpcPublicKey: KEY, dhtBootstrap: ['127.0.0.1:49737', { host: '10.0.0.2', port: 49737 }] })
    expect(readWorkerStatus(path.join(root, 'status', 'w-r.json'))).toEqual({ key: KEY, bootstrap: ['127.0.0.1:49737', '10.0.0.2:49737'] })
    const pub = rootWith({ rpcPublicKey: KEY, dhtBootstrap: null }, { r0: { dhtOpts: { bootstrap: ['127.0.0.1:1'] } } })
    expect(readWorkerStatus(path.join(pub, 'status', 'w-r.json'))).toEqual({ key: KEY })
  })

  it('an older status file (no dhtBootstrap): r0.dhtOpts.bootstrap of <root>/config/facs/net.config.json, if any', () => {
    const root = rootWith({ rpcPublicKey: KEY }, { r0: { dhtOpts: { bootstrap: ['127.0.0.1:30001'] } } })
    expect(readWorkerStatus(path.join(root, 'status', 'w-r.json')).bootstrap).toEqual(['127.0.0.1:30001'])
    const bare = rootWith({ rpcPublicKey: KEY })
    expect(readWorkerStatus(path.join(bare, 'status', 'w-r.json')).bootstrap).toBeUndefined()
  })

  it('--rack without --bn takes it; --bn wins; a malformed one is a usage error', () => {
    const root = rootWith({ rpcPublicKey: KEY, dhtBootstrap: ['127.0.0.1:49737'] })
    expect(parseCommandLine(['--root', root, '--rack', 'w-r', '-m', 'ping'])).toMatchObject({ key: KEY, bootstrap: ['127.0.0.1:49737'] })
    expect(parseCommandLine(['--root', root, '--rack', 'w-r', '-m', 'ping', '--bn', 'h:1'])).toMatchObject({ bootstrap: ['h:1'] })
    const bad = rootWith({ rpcPublicKey: KEY, dhtBootstrap: ['nohost'] })
    expect(usage(() => parseCommandLine(['--root', bad, '--rack', 'w-r', '-m', 'ping']))).toMatch(/status file .* nohost: expected host:port/)
  })
})

describe('the client seed', () => {
  it('--ds, --seed-file, MBT_RPC_SEED_FILE, MBT_RPC_SEED; none = a random key pair', () => {
    const file = path.join(dir, 'seed')
    writeFileSync(file, `${SEED}\n`, { mode: 0o600 })
    chmodSync(file, 0o600)
    const want = Buffer.from(SEED, 'hex')
    expect(seedOf({ ds: SEED }, {}, dir)).toEqual(want)
    expect(seedOf({ seedFile: 'seed' }, {}, dir)).toEqual(want)
    expect(seedOf({}, { MBT_RPC_SEED_FILE: file }, '/')).toEqual(want)
    expect(seedOf({}, { MBT_RPC_SEED: SEED.toUpperCase() }, dir)).toEqual(want)
    expect(seedOf({}, { MBT_RPC_SEED: '' }, dir)).toBeUndefined()
    expect(seedOf({}, {}, dir)).toBeUndefined()
    expect(parseCommandLine(['-s', KEY, '-m', 'ping'], { env: { MBT_RPC_SEED: SEED } }).help === false &&
      (parseCommandLine(['-s', KEY, '-m', 'ping'], { env: { MBT_RPC_SEED: SEED } }) as { seed?: Buffer }).seed).toEqual(want)
  })

  it('a seed file group or others may read is refused with the fix, never quoting the seed', () => {
    const file = path.join(dir, 'open-seed')
    writeFileSync(file, SEED)
    chmodSync(file, 0o640)
    const message = usage(() => readSeedFile(file))
    expect(message).toBe(`seed file ${file} is open to group or others (mode 0640); a seed is a secret: chmod 600 ${file}`)
    expect(message).not.toContain(SEED)
  })

  it('malformed seeds, a missing file, and two sources at once are usage errors', () => {
    const file = path.join(dir, 'short-seed')
    writeFileSync(file, 'abc', { mode: 0o600 })
    chmodSync(file, 0o600)
    expect(usage(() => readSeedFile(file))).toBe(`seed file ${file}: a seed is 64 hex characters (32 bytes)`)
    expect(usage(() => readSeedFile(path.join(dir, 'none')))).toMatch(/cannot read seed file .*none \(ENOENT\)/)
    expect(usage(() => seedOf({}, { MBT_RPC_SEED: 'xyz' }, dir))).toBe('MBT_RPC_SEED: a seed is 64 hex characters (32 bytes)')
    expect(usage(() => seedOf({ ds: SEED, seedFile: file }, {}, dir))).toBe('give either --ds or --seed-file, not both')
  })
})

describe('other flags', () => {
  it('--version / -V, and one output mode at most', () => {
    expect(parseCommandLine(['--version'])).toEqual({ help: false, version: true })
    expect(parseCommandLine(['-V'])).toEqual({ help: false, version: true })
    expect(parseCommandLine(['-s', KEY, '-m', 'listThings', '--table'])).toMatchObject({ table: true })
    expect(usage(() => parseCommandLine(['-s', KEY, '-m', 'ping', '--table', '--raw']))).toBe('give one of --pretty, --raw, --table (got --raw, --table)')
  })
})
