/**
 * The shape of the tree (docs/architecture.md): arrows only point down (vendor files → lib →
 * tpl → facs → rpc → core), no import circle anywhere under workers/ or mock/ (type-only
 * imports included), folders of at most 15 source files, source files of at most 400 lines.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = path.resolve(__dirname, '..', '..')
const rel = (p: string): string => path.relative(ROOT, p).split(path.sep).join('/')

function sources (dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) out.push(...sources(p))
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

const FILES = [...sources(path.join(ROOT, 'workers')), ...sources(path.join(ROOT, 'mock')), path.join(ROOT, 'worker.ts')]
const SPEC = /(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s*['"](\.{1,2}\/[^'"]+)['"]|require\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g

/** The project files a file imports (relative specifiers, resolved). */
function importsOf (file: string): string[] {
  const text = readFileSync(file, 'utf8')
  const out: string[] = []
  for (const m of text.matchAll(SPEC)) {
    const spec = m[1] ?? m[2] as string
    const base = path.resolve(path.dirname(file), spec)
    const found = [`${base}.ts`, path.join(base, 'index.ts')].find((c) => { try { return statSync(c).isFile() } catch { return false } })
    if (found) out.push(found)
  }
  return out
}

const GRAPH = new Map(FILES.map((f) => [f, importsOf(f)]))

/** Layer of a file, lowest first; files outside the layers (cli, vendor entry files, mock) → null. */
const LAYERS = ['workers/core/', 'workers/rpc/', 'workers/facs/', 'workers/tpl/', 'workers/lib/']
const layerOf = (file: string): number | null => {
  const r = rel(file)
  const i = LAYERS.findIndex((l) => r.startsWith(l))
  return i < 0 ? null : i
}

describe('layers', () => {
  it('arrows only point down: no layer imports a layer above it, the CLI, the mock or a vendor entry file', () => {
    const wrong: string[] = []
    for (const [file, deps] of GRAPH) {
      const from = layerOf(file)
      if (from === null) continue
      for (const dep of deps) {
        const to = layerOf(dep)
        if (to === null || to > from) wrong.push(`${rel(file)} → ${rel(dep)}`)
      }
    }
    expect(wrong).toEqual([])
  })

  it('no import circle under workers/ or mock/ (type-only imports included)', () => {
    // Tarjan's strongly connected components
    let index = 0
    const idx = new Map<string, number>()
    const low = new Map<string, number>()
    const stack: string[] = []
    const on = new Set<string>()
    const circles: string[][] = []
    const visit = (v: string): void => {
      idx.set(v, index)
      low.set(v, index++)
      stack.push(v)
      on.add(v)
      for (const w of GRAPH.get(v) ?? []) {
        if (!idx.has(w)) {
          visit(w)
          low.set(v, Math.min(low.get(v) as number, low.get(w) as number))
        } else if (on.has(w)) {
          low.set(v, Math.min(low.get(v) as number, idx.get(w) as number))
        }
      }
      if (low.get(v) === idx.get(v)) {
        const scc: string[] = []
        let w: string
        do {
          w = stack.pop() as string
          on.delete(w)
          scc.push(rel(w))
        } while (w !== v)
        if (scc.length > 1 || (GRAPH.get(v) ?? []).includes(v)) circles.push(scc.sort())
      }
    }
    for (const f of GRAPH.keys()) if (!idx.has(f)) visit(f)
    expect(circles).toEqual([])
  })
})

describe('size', () => {
  it('no folder under workers/ holds more than 15 source files', () => {
    const counts = new Map<string, number>()
    for (const f of FILES.filter((f) => rel(f).startsWith('workers/'))) counts.set(rel(path.dirname(f)), (counts.get(rel(path.dirname(f))) ?? 0) + 1)
    expect([...counts].filter(([, n]) => n > 15)).toEqual([])
  })

  it('no source file over 400 lines: the register tables excepted', () => {
    const EXCEPT = new Set(['workers/lib/registers/units.ts'])
    const lines = (text: string): number => text.split('\n').length - (text.endsWith('\n') ? 1 : 0)
    const long = FILES.map((f) => [rel(f), lines(readFileSync(f, 'utf8'))] as const)
      .filter(([f, n]) => n > 400 && !EXCEPT.has(f))
    expect(long).toEqual([])
  })
})

describe('names', () => {
  it('the vendor names are spelled as a type or a list in exactly one module', () => {
    const LIST = /['"]kehua['"]\s*[,|]\s*['"]wonderint['"]|['"]Kehua['"]\s*[,|]\s*['"]Wonderint['"]|\bKEHUA\s*,\s*WONDERINT\b/
    const all = [...FILES, ...sources(path.join(ROOT, 'bench')), ...sources(path.join(ROOT, 'tests'))]
    const spelled = all.filter((f) => LIST.test(readFileSync(f, 'utf8').replace(/\/\*\*[\s\S]*?\*\/|\/\/[^\n]*/g, ''))).map(rel)
    expect(spelled).toEqual(['workers/lib/registers/profiles/index.ts'])
  })
})
