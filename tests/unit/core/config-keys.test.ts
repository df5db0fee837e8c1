import { describe, expect, it } from 'vitest'
import { unknownKeys } from '../../../workers/core/config-keys'
import { NET_CONF_KEYS } from '../../../workers/facs/net'
import { THING_CONF_KEYS } from '../../../workers/tpl/thing/thing-conf'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { REPO_ROOT } from '../../helpers'

describe('unknown config keys', () => {
  it('names a misspelt key with the closest valid one, at any depth', () => {
    expect(unknownKeys({ r0: { dhtOpts: { bootstap: ['127.0.0.1:1'] }, allow: [] } }, { r0: NET_CONF_KEYS })).toEqual([{ path: 'r0.dhtOpts.bootstap', suggestion: 'bootstrap' }])
    expect(unknownKeys({ collectSnapItvMs: 1000, alerts: { anything: {} } }, THING_CONF_KEYS)).toEqual([{ path: 'collectSnapItvMs', suggestion: 'collectSnapsItvMs' }])
    // nothing close: no suggestion; a leaf spec does not look inside
    expect(unknownKeys({ zzzzzzzz: 1, container: { whatever: 1 } }, THING_CONF_KEYS)).toEqual([{ path: 'zzzzzzzz', suggestion: null }])
  })

  it('the example configuration has no unknown key', () => {
    const read = (name: string): Record<string, unknown> => JSON.parse(readFileSync(path.join(REPO_ROOT, 'config', `${name}.json.example`), 'utf8')) as Record<string, unknown>
    expect(unknownKeys(read('base.thing'), { ...THING_CONF_KEYS })).toEqual([])
    expect(unknownKeys(read('facs/net.config'), { r0: NET_CONF_KEYS })).toEqual([])
  })
})
