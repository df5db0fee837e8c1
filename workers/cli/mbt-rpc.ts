#!/usr/bin/env node
/**
 * `mbt-rpc`: hp-rpc-cli for this worker (the package's `bin`; `npx mbt-rpc --help`).
 * Flags and exit codes: ./rpc.ts. The process ends by itself once the client is closed.
 */
import { run } from './rpc'

run(process.argv.slice(2), {
  stdout: (text) => { process.stdout.write(text) },
  stderr: (text) => { process.stderr.write(text) },
  isTTY: process.stdout.isTTY === true
}).then((code) => {
  process.exitCode = code
}, (err: unknown) => {
  process.stderr.write(`mbt-rpc: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
})
