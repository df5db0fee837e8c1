/**
 * The RPC reference is generated from the method declarations (fastify-style: one declaration
 * per method) and the error catalogue; these tests fail when docs/openrpc.json or docs/rpc.md
 * are stale, when a declaration names an undocumented code, or when the code can throw a code
 * that the catalogue (and so docs/rpc.md) does not list.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ERROR_CATALOGUE } from '../../../workers/lib/error-catalogue'
import { REPO_ROOT, microbtDeclarations, renderReference } from '../../../workers/cli/rpc-reference'
import { DISPATCH_ERRORS } from '../../../workers/rpc/method'

const RPC_MD = path.join(REPO_ROOT, 'docs', 'rpc.md')
const OPENRPC = path.join(REPO_ROOT, 'docs', 'openrpc.json')

function sources (dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name)
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : []
  })
}

/** A family `ERR_X_<…>` stands for every code with the prefix `ERR_X_`. */
function familyPrefix (key: string): string | null {
  return key.includes('<') ? key.slice(0, key.indexOf('<')) : null
}

/**
 * Whether `code` is in the catalogue: directly, as a member of a `<…>` family, or — for a
 * prefix such as `ERR_WRK_ALREADY_` (a code built at run time) — as the prefix of an entry.
 */
function catalogued (code: string): boolean {
  if (code in ERROR_CATALOGUE) return true
  const keys = Object.keys(ERROR_CATALOGUE)
  if (code.endsWith('_')) return keys.some((k) => k.startsWith(code))
  return keys.some((k) => { const p = familyPrefix(k); return p !== null && code.startsWith(p) })
}

describe('generated RPC reference', () => {
  it('docs/openrpc.json and the tables of docs/rpc.md are up to date (npm run docs:rpc)', () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }
    const md = readFileSync(RPC_MD, 'utf8')
    const fresh = renderReference(md, pkg.version)
    expect(readFileSync(OPENRPC, 'utf8'), 'docs/openrpc.json is stale: run npm run docs:rpc').toBe(fresh.openrpc)
    expect(md, 'docs/rpc.md is stale: run npm run docs:rpc').toBe(fresh.rpcMd)
  })

  it('the OpenRPC document lists every declared method once, with params, result, errors and kind', () => {
    const doc = JSON.parse(readFileSync(OPENRPC, 'utf8')) as { openrpc: string, methods: Array<{ name: string, params: unknown[], result: { schema: unknown }, errors: Array<{ code: number, message: string }>, 'x-kind': string }> }
    expect(doc.openrpc).toMatch(/^1\.\d+\.\d+$/)
    const names = microbtDeclarations().map((d) => d.name)
    expect(doc.methods.map((m) => m.name)).toEqual(names)
    expect(new Set(names).size).toBe(names.length)
    for (const m of doc.methods) {
      expect(Array.isArray(m.params), m.name).toBe(true)
      expect(m.result.schema, m.name).toBeDefined()
      expect(['read', 'write', 'read for declared read methods, else write'], m.name).toContain(m['x-kind'])
      for (const code of DISPATCH_ERRORS) expect(m.errors.map((e) => e.message), m.name).toContain(code)
    }
    const listThings = doc.methods.find((m) => m.name === 'listThings')
    expect(listThings?.params).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'query', required: false })]))
    expect(doc.methods.find((m) => m.name === 'queryThing')?.params).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'id', required: true })]))
  })
})

describe('error catalogue', () => {
  const files = [path.join(REPO_ROOT, 'worker.ts'), ...sources(path.join(REPO_ROOT, 'workers'))]
    .filter((f) => !f.endsWith('error-catalogue.ts'))
  const thrown = new Map<string, string>()
  for (const file of files) {
    // codes as the code writes them: string and template literals (`ERR_X_${…}` gives a prefix)
    const code = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')
    for (const m of code.matchAll(/['"`](ERR_[A-Z0-9_]+)/g)) thrown.set(m[1], path.relative(REPO_ROOT, file))
  }

  it('every code the worker\'s code names is catalogued (and so documented in docs/rpc.md)', () => {
    expect(thrown.size).toBeGreaterThan(50)
    const missing = [...thrown].filter(([code]) => !catalogued(code)).map(([code, file]) => `${code} (${file})`)
    expect(missing).toEqual([])
    const md = readFileSync(RPC_MD, 'utf8')
    for (const code of Object.keys(ERROR_CATALOGUE)) expect(md, code).toContain(`\`${code}\``)
  })

  it('every declared error is catalogued, and every catalogue entry is used by the code', () => {
    for (const decl of microbtDeclarations()) {
      for (const code of decl.errors) expect(catalogued(code), `${decl.name}: ${code}`).toBe(true)
    }
    const unused = Object.keys(ERROR_CATALOGUE).filter((code) => {
      const prefix = familyPrefix(code)
      return prefix ? ![...thrown.keys()].some((c) => c.startsWith(prefix)) : !thrown.has(code)
    })
    expect(unused).toEqual([])
  })
})
