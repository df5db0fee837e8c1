#!/usr/bin/env node
import { existsSync, readdirSync } from 'node:fs'
import path from 'node:path'
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { ENVS, type Env } from './workers/core/config'
import type { WorkerContext } from './workers/tpl/wrk-base'

process.env.TZ = 'UTC'

interface Startable {
  start: () => Promise<void>
  stop: () => Promise<void>
  onReboot?: () => void
}
type WorkerClass = new (ctx: WorkerContext) => Startable

const WORKERS_DIR = path.join(__dirname, 'workers')
const WORKER_SUFFIX = '.wrk.js'

/** `wrk-container-rack-kehua` → `kehua.rack.container.wrk` (so a vendor is added by file name). */
export function workerFileName (wtype: string): string {
  return wtype.split('-').reverse().join('.')
}

export function availableWorkerTypes (dir = WORKERS_DIR): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((f) => f.endsWith(WORKER_SUFFIX))
    .map((f) => f.slice(0, -'.js'.length).split('.').reverse().join('-'))
    .sort()
}

function fail (message: string): never {
  process.stderr.write(`error: ${message}\n`)
  process.exit(1)
}

function loadWorkerClass (wtype: string): WorkerClass {
  const file = path.join(WORKERS_DIR, `${workerFileName(wtype)}.js`)
  if (!/^[a-z0-9-]+$/.test(wtype) || !existsSync(file)) {
    fail(`unknown worker type "${wtype}"; available: ${availableWorkerTypes().join(', ') || '(none)'}`)
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the worker file is chosen at run time
  const mod = require(file) as { default?: WorkerClass } | WorkerClass
  const cls = typeof mod === 'function' ? mod : mod.default
  if (typeof cls !== 'function') fail(`worker file ${file} exports no worker class`)
  return cls
}

async function main (): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('worker')
    .usage('$0 --wtype <type> --env <env> --rack <id>')
    .option('wtype', { type: 'string', demandOption: true, describe: 'worker type, e.g. wrk-container-rack-kehua' })
    .option('env', { type: 'string', choices: ENVS as unknown as string[], default: 'development', describe: 'configuration environment' })
    .option('rack', { type: 'string', demandOption: true, describe: 'id of this worker instance' })
    .option('debug', { type: 'boolean', default: false, describe: 'debug log level' })
    .option('root', { type: 'string', describe: 'project root holding config/, status/ and store/' })
    .option('slave', { type: 'boolean', default: false, describe: 'read-only replica of the master named by replicaRpcPublicKey (base.thing.json)' })
    .strict(false)
    .fail((msg, err) => fail(err?.message ?? msg))
    .help()
    .parseAsync()

  if (!argv.rack.trim()) fail('--rack must not be empty')
  if (!/^[A-Za-z0-9._-]+$/.test(argv.rack)) fail('--rack may contain letters, digits, ".", "_" and "-" only')
  const Worker = loadWorkerClass(argv.wtype)
  const { _: _positional, $0: _script, ...flags } = argv
  const ctx: WorkerContext = {
    ...flags,
    wtype: argv.wtype,
    env: argv.env as Env,
    rack: argv.rack,
    debug: argv.debug,
    root: path.resolve(argv.root ?? (path.basename(__dirname) === 'dist' ? path.dirname(__dirname) : __dirname))
  }
  // `<wtype>-<rack>` (ps names the rack; the pid is in its own column), as issue 28 asks over worker.md's `<wtype>-<pid>`
  process.title = `${argv.wtype}-${argv.rack}`
  // Everything the worker creates is private to its user (the store holds credentials); the
  // status file is widened again on purpose (WrkBase.saveStatus).
  process.umask(0o077)

  const worker = new Worker(ctx)
  // rackReboot stops the worker; exit non-zero so the supervisor starts it again.
  worker.onReboot = () => process.exit(1)
  let stopping = false
  const shutdown = (signal: string): void => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting now\n`)
      process.exit(1)
    }
    stopping = true
    worker.stop().then(() => process.exit(0), (err: unknown) => {
      process.stderr.write(`error while stopping: ${(err as Error).message}\n`)
      process.exit(1)
    })
  }
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  // A stray rejection in a device callback must not take the rack down; it is logged instead.
  process.on('unhandledRejection', (reason) => {
    process.stderr.write(`unhandled rejection: ${reason instanceof Error ? reason.stack ?? reason.message : String(reason)}\n`)
  })

  try {
    await worker.start()
  } catch (err) {
    fail((err as Error).message)
  }
}

if (require.main === module) {
  main().catch((err: unknown) => fail((err as Error).message))
}
