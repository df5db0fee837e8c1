/** Worker settings (a key/value sub-database) and the rack configuration as read at start. */
import { z } from 'zod'
import type { Bee } from '../../facs/store'
import { defineMethod, type RpcMethod } from '../../rpc/method'
import { project } from './query/select'
import type { RackParts } from './rack-parts'
import { MAX_SETTINGS_BYTES, schemas } from './schemas'
import { WrkError } from '../../core/errors'
import { ALERT_PARAMS_SETTING, assertAlertParams, type AlertParams } from './alerts/alert-params'
import type { AlertConf } from './alerts/engine'
import type { JsonObject } from './types'

/** What the settings need of the rack besides its parts: the alert configuration its overrides are checked against. */
export interface SettingsHost {
  thingType: () => string
  alertConf: () => AlertConf | undefined
}

export class WrkSettings {
  private db: Bee<unknown> | null = null
  /** The saved `alertParams`, kept in memory for the alert evaluation. */
  private params: AlertParams | null = null

  constructor (private readonly rack: RackParts, private readonly host: SettingsHost) {}

  /** The `settings` sub-database (opened by the rack at start). */
  open (db: Bee<unknown>): void {
    this.db = db
  }

  /** Reads the saved alert params (a master at start; a replica evaluates no alerts). */
  async restoreAlertParams (): Promise<void> {
    const saved = (await this.bee.get(ALERT_PARAMS_SETTING))?.value
    this.params = saved === undefined ? null : saved as AlertParams
  }

  /** The saved run-time alert params (null: none). */
  get alertParams (): AlertParams | null {
    return this.params
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

  /**
   * Merges `entries`; refused (nothing written) when all settings together would pass
   * MAX_SETTINGS_BYTES or `alertParams` does not fit the alert configuration.
   */
  async save (entries: JsonObject): Promise<1> {
    const params = entries[ALERT_PARAMS_SETTING]
    if (params !== undefined) assertAlertParams(params, this.host.thingType(), this.host.alertConf())
    const next = { ...(await this.all()), ...entries }
    if (Buffer.byteLength(JSON.stringify(next)) > MAX_SETTINGS_BYTES) {
      throw new WrkError('ERR_SETTINGS_TOO_LARGE', `all settings together would be over ${MAX_SETTINGS_BYTES} bytes`)
    }
    const batch = this.bee.batch()
    for (const [k, v] of Object.entries(entries)) await batch.put(k, v)
    await batch.flush()
    if (params !== undefined) this.params = params
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
      defineMethod({
        name: 'getWrkSettings',
        kind: 'read',
        summary: 'Every saved worker setting.',
        result: z.record(z.string(), z.unknown()),
        errors: [],
        handler: () => this.all()
      }),
      defineMethod({
        name: 'saveWrkSettings',
        kind: 'write',
        summary: 'Saves settings (merged by key); `alertParams` overrides alert thresholds from the next evaluation on.',
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

/** `getWrkExtData` of the rack (./rack.thing.wrk.ts), answered by its hook. */
export function extDataMethod (handler: (req: unknown) => unknown): RpcMethod {
  return defineMethod({
    name: 'getWrkExtData',
    kind: 'read',
    summary: 'Worker-type specific data.',
    result: z.record(z.string(), z.unknown()),
    errors: [],
    handler
  })
}

/** `rackReboot` of the rack (./rack.thing.wrk.ts). */
export function rebootMethod (handler: () => 1): RpcMethod {
  return defineMethod({
    name: 'rackReboot',
    kind: 'write',
    summary: 'Replies 1, then stops the worker (the CLI exits 1 so a supervisor restarts it).',
    result: z.literal(1),
    errors: [],
    handler
  })
}
