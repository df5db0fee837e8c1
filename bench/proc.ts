/**
 * Small helpers shared by the benchmarks: quantiles, flags, the CPU time and resident memory of
 * another process (Linux /proc), JSON results under bench/results/.
 */
import { readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

/** bench/results/ of the repository (the compiled benches run from dist/bench). */
export const RESULTS_DIR = path.resolve(__dirname, '..', '..', 'bench', 'results')

/** The q-quantile of an ascending array (nearest rank); NaN when empty. */
export function quantile (sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number
}

export function sortedCopy (values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b)
}

/** `--name N` of process.argv: a positive number, or `fallback`. */
export function numberFlag (name: string, fallback: number, argv: readonly string[] = process.argv): number {
  const idx = argv.indexOf(name)
  if (idx < 0) return fallback
  const n = Number(argv[idx + 1])
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} needs a positive number`)
  return n
}

export function stringFlag (name: string, argv: readonly string[] = process.argv): string | undefined {
  const idx = argv.indexOf(name)
  return idx < 0 ? undefined : argv[idx + 1]
}

const CLOCK_TICKS = 100

/** User + system CPU time of process `pid` in ms (Linux /proc; NaN elsewhere). */
export function procCpuMs (pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // the command name (field 2) may hold spaces: count from the closing parenthesis
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS
  } catch {
    return NaN
  }
}

/** Resident set size of process `pid` in MB (Linux /proc; NaN elsewhere). */
export function procRssMb (pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : NaN
  } catch {
    return NaN
  }
}

export function round (n: number, digits = 1): number {
  if (!Number.isFinite(n)) return n
  const f = 10 ** digits
  return Math.round(n * f) / f
}

/** Writes `bench/results/<name>.json` (small, stable key order as given) and returns its path. */
export async function writeResult (name: string, data: unknown): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true })
  const file = path.join(RESULTS_DIR, `${name}.json`)
  await writeFile(file, JSON.stringify(data, null, 2) + '\n')
  return file
}

/** A markdown table. */
export function table (header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`]
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`)
  return lines.join('\n')
}

export function machine (): { node: string, cpus: number, cpuModel: string, memGb: number, platform: string } {
  const cpus = os.cpus()
  return { node: process.version, cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', memGb: round(os.totalmem() / 2 ** 30, 1), platform: `${os.platform()} ${os.release()}` }
}
