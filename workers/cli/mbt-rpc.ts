#!/usr/bin/env node
/**
 * `mbt-rpc`: hp-rpc-cli for this worker (the package's `bin`; `npx mbt-rpc --help`).
 * Flags and exit codes: ./usage.ts. The process ends by itself once the client is closed; a
 * reader that goes away (`| head`) ends it quietly with 0, like other Unix tools.
 */
import { run } from './rpc'

process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0)
  process.stderr.write(`mbt-rpc: stdout: ${err.message}\n`)
  process.exit(1)
})

run(process.argv.slice(2), {
  stdout: (text) => { process.stdout.write(text) },
  stderr: (text) => { process.stderr.write(text) },
  isTTY: process.stdout.isTTY === true,
  env: process.env
}).then((code) => {
  process.exitCode = code
}, (err: unknown) => {
  process.stderr.write(`mbt-rpc: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
})
