/**
 * Mock processes for the fleet benchmarks: one `dist/mock/server.js --bulk` process serving
 * `count` Kehua containers on ephemeral ports, optionally with its control API.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { createInterface } from 'node:readline'

const DIST = path.resolve(__dirname, '..')

export interface MockProc {
  proc: ChildProcess
  /** The containers' ids, in the order of `ports`. */
  ids: string[]
  ports: number[]
  /** The control API's base URL (`control: true`), else ''. */
  control: string
}

export interface MockProcOptions {
  /** Serve the control API on an ephemeral port. */
  control?: boolean
  /** Container ids are `<idPrefix><n>` (default: the number alone). */
  idPrefix?: string
}

/** Starts mock process `index` with containers `first … first + count - 1` (seeded by their number). */
export async function startMockProc (dir: string, index: number, first: number, count: number, opts: MockProcOptions = {}): Promise<MockProc> {
  const file = path.join(dir, `bulk-${index}.json`)
  const ids = Array.from({ length: count }, (_, i) => `${opts.idPrefix ?? ''}${first + i}`)
  await writeFile(file, JSON.stringify(ids.map((id, i) => ({ type: 'Kehua', port: 0, id, seed: first + i + 1 }))))
  const args = [path.join(DIST, 'mock', 'server.js'), '--bulk', file, ...(opts.control === true ? ['--mockControlPort', '0'] : [])]
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  const ports: number[] = []
  let control = ''
  const rl = createInterface({ input: proc.stdout as NodeJS.ReadableStream })
  await new Promise<void>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`mock process ${index} exited (${String(code)})`)))
    rl.on('line', (line) => {
      const m = /listening on [^:]+:(\d+)/.exec(line)
      if (m) ports.push(Number(m[1]))
      const c = /control API on (http:\/\/\S+)/.exec(line)
      if (c) control = c[1] as string
      if (ports.length === count && (opts.control !== true || control !== '')) resolve()
    })
  })
  rl.close()
  proc.stdout?.resume()
  return { proc, ids, ports, control }
}
