/**
 * What README.md tells a new user to run exists: the npm scripts, the `mbt-rpc` bin (built, with
 * a shebang, answering --help with the flags the README names), the `node dist/…` programs,
 * the files and folders it names, and every relative link of README.md and docs/*.md (anchors
 * included). Needs `npm run build` first.
 */
import { spawnSync } from 'node:child_process'
import { accessSync, constants, existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { REPO_ROOT } from '../helpers'

const README = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8')
const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>, bin: Record<string, string> }

/** dist/x/y.js → x/y.ts (what tsc compiles it from). */
function sourceOf (distPath: string): string {
  return distPath.replace(/^dist\//, '').replace(/\.js$/, '.ts')
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces → '-'. */
function slug (heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')
}

function anchorsOf (markdown: string): Set<string> {
  const body = markdown.replace(/```[\s\S]*?```/g, '')
  return new Set([...body.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1])))
}

describe('README.md', () => {
  it('every npm script it names exists in package.json', () => {
    const named = new Set([...README.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]))
    for (const builtin of ['test', 'start']) if (new RegExp(`npm ${builtin}\\b`).test(README)) named.add(builtin)
    expect([...named]).toEqual(expect.arrayContaining(['demo', 'test', 'test:unit', 'test:integration', 'bench']))
    const missing = [...named].filter((s) => pkg.scripts[s] === undefined)
    expect(missing).toEqual([])
  })

  it('bin.mbt-rpc is the built CLI: a dist file compiled from workers/, with a shebang, answering --help', () => {
    const bin = pkg.bin['mbt-rpc']
    expect(bin).toBe('dist/workers/cli/mbt-rpc.js')
    const source = path.join(REPO_ROOT, sourceOf(bin))
    expect(readFileSync(source, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true)
    const built = path.join(REPO_ROOT, bin)
    expect(existsSync(built), `${bin} is missing: run npm run build`).toBe(true)
    expect(readFileSync(built, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true)
    // executable even where npm does not link it (a stale npx cache runs the file itself)
    expect(statSync(built).mode & 0o111).toBe(0o111)
    expect(pkg.scripts.build).toContain(`chmod 755 ${bin}`)
    // `prepare` builds on install, so `npx mbt-rpc` works in a fresh clone
    expect(pkg.scripts.prepare).toBe(pkg.scripts.build)
    const help = spawnSync(process.execPath, [built, '--help'], { encoding: 'utf8' })
    expect(help.status).toBe(0)
    // every flag the README's usage block shows is one the CLI knows
    const usage = /```\nnpx mbt-rpc ([\s\S]*?)```/.exec(README)?.[1] ?? ''
    const flags = new Set([...usage.matchAll(/(?<![\w-])(--?[a-z][\w-]*)/g)].map((m) => m[1]))
    expect(flags.size).toBeGreaterThan(8)
    for (const flag of flags) expect(help.stdout, flag).toContain(flag)
  })

  it('every `node dist/….js` program it runs is built from a source file', () => {
    const programs = new Set([...README.matchAll(/node (dist\/[\w/.-]+\.js)/g)].map((m) => m[1]))
    expect(programs).toContain('dist/worker.js')
    expect(programs).toContain('dist/mock/server.js')
    for (const p of programs) expect(existsSync(path.join(REPO_ROOT, sourceOf(p))), p).toBe(true)
  })

  it('every --wtype it names has a worker file', () => {
    const wtypes = new Set([...README.matchAll(/--wtype (wrk-[a-z0-9-]*[a-z0-9])(?![-<\w])/g)].map((m) => m[1]))
    expect(wtypes.size).toBeGreaterThan(0)
    for (const w of wtypes) expect(existsSync(path.join(REPO_ROOT, 'workers', `${w.split('-').reverse().join('.')}.ts`)), w).toBe(true)
  })

  it('the files and folders it names in backticks exist', () => {
    const named = new Set([...README.matchAll(/`((?:workers|mock|config|docs|tests|bench|\.config|\.ci)\/[^`<>*\s]*|setup-config\.sh|worker\.ts)`/g)].map((m) => m[1]))
    expect(named.size).toBeGreaterThan(5)
    // config/*.json are made by ./setup-config.sh from the committed *.example files
    const exists = (p: string): boolean => existsSync(path.join(REPO_ROOT, p)) || (p.startsWith('config/') && existsSync(path.join(REPO_ROOT, `${p}.example`)))
    const missing = [...named].filter((p) => !exists(p))
    expect(missing).toEqual([])
    accessSync(path.join(REPO_ROOT, 'setup-config.sh'), constants.X_OK)
  })

  it('the product examples are valid JSON requests', () => {
    const requests = [...README.matchAll(/npx mbt-rpc \$RACK -m (\w+) -d '([^']*)'/g)]
    expect(requests.map((m) => m[1])).toEqual(expect.arrayContaining(['listThings', 'queryThing', 'applyThings', 'tailLog', 'getHistoricalLogs', 'getWriteCalls']))
    for (const [, method, json] of requests) expect(() => JSON.parse(json), method).not.toThrow()
    expect(README).toContain('"params":[{"runningSpeed":2,"startTemp":25,"stopTemp":25}]')
  })
})

describe('links in README.md and docs/*.md', () => {
  const files = ['README.md', ...readdirSync(path.join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
  for (const file of files) {
    it(`${file}: every relative link resolves (file and anchor)`, () => {
      const text = readFileSync(path.join(REPO_ROOT, file), 'utf8').replace(/```[\s\S]*?```/g, '')
      const broken: string[] = []
      for (const m of text.matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)) {
        const target = m[1]
        if (/^[a-z]+:/i.test(target)) continue
        const [rel, anchor] = target.split('#')
        const resolved = rel === '' ? path.join(REPO_ROOT, file) : path.resolve(path.dirname(path.join(REPO_ROOT, file)), rel)
        if (!existsSync(resolved)) broken.push(target)
        else if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(readFileSync(resolved, 'utf8')).has(anchor)) broken.push(target)
      }
      expect(broken).toEqual([])
    })
  }
})
