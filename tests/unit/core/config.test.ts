import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ENVS, loadConfig } from '../../../workers/core/config'
import { WrkError } from '../../../workers/core/errors'
import { availableWorkerTypes, workerFileName } from '../../../worker'

let root: string

beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'mbt-conf-'))
  mkdirSync(path.join(root, 'config', 'facs'), { recursive: true })
})

afterEach(() => {
  rmSync(root, { recursive: true, force: true })
})

function write (rel: string, content: unknown): string {
  const file = path.join(root, 'config', rel)
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content))
  return file
}

/** The WrkError thrown by `fn` (fails the test if nothing or something else is thrown). */
function thrown (fn: () => unknown): WrkError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(WrkError)
    return err as WrkError
  }
  throw new Error('expected an error')
}

describe('loadConfig: file lookup', () => {
  it('reads config/<name>.json', () => {
    write('common.json', { debug: true, dir_log: 'logs' })
    expect(loadConfig(root, 'development', 'common')).toEqual({ debug: true, dir_log: 'logs' })
  })

  it('config/<env>.<name>.json beats config/<name>.json (whole file, not merged)', () => {
    write('common.json', { debug: false, dir_log: 'plain' })
    write('test.common.json', { debug: true })
    expect(loadConfig(root, 'test', 'common')).toEqual({ debug: true })
    // another env still gets the plain file
    expect(loadConfig(root, 'production', 'common')).toEqual({ debug: false, dir_log: 'plain' })
  })

  it('looks inside a sub-folder for names like facs/net.config, env file first', () => {
    write('facs/net.config.json', { r0: { allow: ['aa'] } })
    write('facs/staging.net.config.json', { r0: { allow: ['bb'] } })
    expect(loadConfig(root, 'staging', 'facs/net.config')).toEqual({ r0: { allow: ['bb'] } })
    expect(loadConfig(root, 'development', 'facs/net.config')).toEqual({ r0: { allow: ['aa'] } })
    // an env file at the top level does not count for a sub-folder name
    write('staging.net.config.json', { r0: { allow: ['cc'] } })
    expect(loadConfig(root, 'staging', 'facs/net.config')).toEqual({ r0: { allow: ['bb'] } })
  })

  it('a top-level key equal to the env name selects that section', () => {
    write('common.json', { development: { debug: true }, production: { debug: false }, dir_log: 'x' })
    expect(loadConfig(root, 'development', 'common')).toEqual({ debug: true })
    expect(loadConfig(root, 'production', 'common')).toEqual({ debug: false })
    // no section for this env → the whole object
    expect(loadConfig(root, 'staging', 'common')).toEqual({ development: { debug: true }, production: { debug: false }, dir_log: 'x' })
  })

  it('an env key that is not an object is plain data, not a section', () => {
    const data = { test: true, production: ['a'], staging: null }
    write('common.json', data)
    expect(loadConfig(root, 'test', 'common')).toEqual(data)
    expect(loadConfig(root, 'production', 'common')).toEqual(data)
    expect(loadConfig(root, 'staging', 'common')).toEqual(data)
  })

  it('a missing optional file is {}', () => {
    expect(loadConfig(root, 'development', 'facs/store.config')).toEqual({})
    expect(loadConfig(root, 'development', 'nothing-here', { required: false })).toEqual({})
  })

  it('every documented env is accepted', () => {
    expect([...ENVS].sort()).toEqual(['development', 'production', 'staging', 'test'])
  })
})

describe('loadConfig: errors name the file', () => {
  it('missing required file → ERR_CONFIG_MISSING naming config/<name>.json', () => {
    const err = thrown(() => loadConfig(root, 'development', 'common', { required: true }))
    expect(err.code).toBe('ERR_CONFIG_MISSING')
    expect(err.message).toContain(path.join(root, 'config', 'common.json'))
    expect(err.message).toContain('setup-config.sh')
  })

  it('a required file present only for another env is still missing', () => {
    write('production.common.json', {})
    const err = thrown(() => loadConfig(root, 'development', 'common', { required: true }))
    expect(err.code).toBe('ERR_CONFIG_MISSING')
  })

  it('bad JSON → ERR_CONFIG_INVALID naming the file', () => {
    const file = write('common.json', '{ "debug": tru')
    const err = thrown(() => loadConfig(root, 'development', 'common', { required: true }))
    expect(err.code).toBe('ERR_CONFIG_INVALID')
    expect(err.message).toContain(file)
  })

  it('bad JSON in an optional file is still an error (never silently {})', () => {
    const file = write('facs/net.config.json', '')
    const err = thrown(() => loadConfig(root, 'development', 'facs/net.config'))
    expect(err.code).toBe('ERR_CONFIG_INVALID')
    expect(err.message).toContain(file)
  })

  it('bad JSON in the env file does not fall back to a good plain file', () => {
    write('common.json', { debug: false })
    const envFile = write('test.common.json', '{,}')
    const err = thrown(() => loadConfig(root, 'test', 'common', { required: true }))
    expect(err.code).toBe('ERR_CONFIG_INVALID')
    expect(err.message).toContain(envFile)
  })

  it.each([
    ['an array', '[1, 2]'],
    ['null', 'null'],
    ['a string', '"debug"'],
    ['a number', '42'],
    ['a boolean', 'true']
  ])('JSON that is %s → ERR_CONFIG_INVALID naming the file', (_kind, text) => {
    const file = write('common.json', text)
    const err = thrown(() => loadConfig(root, 'development', 'common', { required: true }))
    expect(err.code).toBe('ERR_CONFIG_INVALID')
    expect(err.message).toContain(file)
    expect(err.message).toMatch(/object/)
  })
})

describe('worker type ↔ worker file', () => {
  it('workerFileName splits on "-", reverses and joins with "."', () => {
    expect(workerFileName('wrk-container-rack-kehua')).toBe('kehua.rack.container.wrk')
    expect(workerFileName('wrk-container-rack-wonderint')).toBe('wonderint.rack.container.wrk')
    expect(workerFileName('wrk-x')).toBe('x.wrk')
    expect(workerFileName('single')).toBe('single')
  })

  it('availableWorkerTypes lists *.wrk.js files as wtypes, sorted, ignoring everything else', () => {
    const dir = path.join(root, 'workers')
    mkdirSync(dir)
    for (const f of [
      'wonderint.rack.container.wrk.js',
      'kehua.rack.container.wrk.js',
      'kehua.rack.container.wrk.js.map',
      'kehua.rack.container.wrk.ts',
      'helper.js',
      'notes.txt'
    ]) writeFileSync(path.join(dir, f), '')
    mkdirSync(path.join(dir, 'lib'))
    const types = availableWorkerTypes(dir)
    expect(types).toEqual(['wrk-container-rack-kehua', 'wrk-container-rack-wonderint'])
    // the two mappings are inverse: a listed type resolves to its file
    for (const t of types) expect(`${workerFileName(t)}.js`).toMatch(/\.wrk\.js$/)
    expect(types.map((t) => `${workerFileName(t)}.js`).sort()).toEqual(['kehua.rack.container.wrk.js', 'wonderint.rack.container.wrk.js'])
  })

  it('availableWorkerTypes of a missing or empty folder is []', () => {
    expect(availableWorkerTypes(path.join(root, 'nope'))).toEqual([])
    mkdirSync(path.join(root, 'empty'))
    expect(availableWorkerTypes(path.join(root, 'empty'))).toEqual([])
  })
})
