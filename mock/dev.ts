/**
 * `npm run dev`: TypeScript in watch mode, a Kehua mock container on 127.0.0.1:5020 and a
 * development worker (rack `dev`) with `DEBUG=thing:*,mbt:*` tracing, restarted when dist/ changes.
 * Needs `./setup-config.sh` first. Ctrl-C stops everything.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'

const ROOT = path.resolve(__dirname, '..', '..')
const children: ChildProcess[] = []

function run (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): void {
  const child = spawn(cmd, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...env } })
  children.push(child)
}

run(process.execPath, [
  path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--watch', '--preserveWatchOutput'
])
run(process.execPath, ['dist/mock/server.js', '--type', 'Kehua', '-p', '5020'])
run(
  process.execPath,
  ['--watch-path=dist', 'dist/worker.js', '--wtype', 'wrk-container-rack-kehua', '--env', 'development', '--rack', 'dev'],
  { DEBUG: process.env.DEBUG ?? 'thing:*,mbt:*' }
)

const stop = (): void => {
  for (const child of children) child.kill('SIGTERM')
  setTimeout(() => process.exit(0), 2000).unref()
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
