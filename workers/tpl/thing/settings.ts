/** Worker settings (a key/value sub-database) and the rack configuration as read at start. */
import { z } from 'zod'
import type { Bee } from '../../facs/store'
import { defineMethod, type RpcMethod } from '../rpc/method'
import { project } from './query'
import type { RackParts } from './rack-parts'
import { MAX_SETTINGS_BYTES, schemas } from './schemas'
import { WrkError } from '../errors'
import type { JsonObject } from './types'

export class WrkSettings {
  private db: Bee<unknown> | null = null

  constructor (private readonly rack: RackParts) {}

  /** The `settings` sub-database (opened by the rack at start). */
  open (db: Bee<unknown>): void {
    this.db = db
  }

  private get bee (): Bee<unknown> {
    if (!this.db) throw new Error('settings are not open')
    return this.db
  }

  async all (): Promise<JsonObject> {
    const out: JsonObject = {}
    for await (const entry of this.bee.createReadStream()) out[entry.key] = entry.value
    return out
  }

  /** Merges `entries`; refused (nothing written) when all settings together would pass MAX_SETTINGS_BYTES. */
  async save (entries: JsonObject): Promise<1> {
    const next = { ...(await this.all()), ...entries }
    if (Buffer.byteLength(JSON.stringify(next)) > MAX_SETTINGS_BYTES) throw new WrkError('ERR_SETTINGS_TOO_LARGE', `all settings together would be over ${MAX_SETTINGS_BYTES} bytes`)
    const batch = this.bee.batch()
    for (const [k, v] of Object.entries(entries)) await batch.put(k, v)
    await batch.flush()
    return 1
  }

  /** The global configuration, projected; ERR_GLOBAL_CONFIG_MISSING without the file. */
  globalConf (fields: JsonObject | undefined): JsonObject {
    const conf = this.rack.globalConf
    if (conf === null) throw new WrkError('ERR_GLOBAL_CONFIG_MISSING', 'no config/global.config.json')
    return project([conf], fields)[0] ?? {}
  }

  declarations (): RpcMethod[] {
    return [
      defineMethod({ name: 'getWrkSettings', kind: 'read', summary: 'Every saved worker setting.', result: z.record(z.string(), z.unknown()), errors: [], handler: () => this.all() }),
      defineMethod({
        name: 'saveWrkSettings',
        kind: 'write',
        summary: 'Saves settings (merged by key).',
        params: schemas.saveWrkSettings,
        fieldErrors: { entries: 'ERR_ENTRIES_INVALID' },
        result: z.literal(1),
        errors: ['ERR_ENTRIES_INVALID', 'ERR_SETTINGS_TOO_LARGE'],
        handler: (req) => this.save(req.entries)
      }),
      defineMethod({
        name: 'getWrkConf',
        kind: 'read',
        summary: 'The global configuration (`config/global.config.json`, e.g. `pduGridLayout` per thing type), optionally projected.',
        params: schemas.getWrkConf,
        result: z.record(z.string(), z.unknown()),
        errors: ['ERR_GLOBAL_CONFIG_MISSING', 'ERR_FIELDS_INVALID'],
        handler: (req) => this.globalConf(req.fields)
      })
    ]
  }
}
