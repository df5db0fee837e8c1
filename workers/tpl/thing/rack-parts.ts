/**
 * What the rack's collaborators (snapshot loop, controllers, registry methods, controller
 * calls, comments, logs, settings) see of the rack: its state and its extension points. The
 * rack implements it; state is read at call time (the registry and logs exist once started).
 */
import type { Logger } from '../../core/types'
import type { ThingRegistry } from './registry/registry'
import type { TimeLogs } from './logs/time-log'
import type { ThingConf } from './thing-conf'
import type { KeyedLock } from '../../core/async'
import type { Alert, JsonObject, Snap, ThingRecord, ThingState } from './types'

/** The extension points the layers above override. */
export interface RackHooks {
  /** Thing type, e.g. `container-mbt-kehua`. */
  getThingType: () => string
  /** Extra public fields of a listed thing, derived from its record. */
  selectThingInfo: (record: ThingRecord) => JsonObject
  /** Controller methods callable through queryThing/applyThings. */
  readMethods: () => readonly string[]
  writeMethods: () => readonly string[]
  /** Codes the controller methods may answer (listed in the docs of queryThing/applyThings). */
  controllerErrors: () => readonly string[]
  /** `opts` keys that are credentials: stored and used to connect, never returned or queried. */
  secretOptKeys: () => readonly string[]
  /** Checks `opts` of a register/update request; throws ERR_THING_OPTS_INVALID. */
  validateThingOpts: (opts: JsonObject) => void
  /** Creates `state.ctrl` from the record; leaves it null when the thing cannot be connected. */
  connectThing: (state: ThingState) => Promise<void>
  collectThingSnap: (state: ThingState) => Promise<Snap>
  /** Called before a thing is deleted; the rack's own releases its DHCP address (call it from an override). */
  forgetThingHook: (state: ThingState) => Promise<void>
}

/** What the collaborators use of the alerts (the rack's AlertBook). */
export interface AlertPort {
  /** The alerts of a collection; null for a thing type without alert configuration. */
  evaluate: (state: ThingState, snap: Snap | null, err: string | null) => Alert[] | null
  /** Logs the alerts that started and keeps the active set when it changed. */
  record: (state: ThingState, prev: readonly Alert[] | null | undefined, next: readonly Alert[] | null) => Promise<void>
  forget: (id: string) => Promise<void>
}

/** What the collaborators use of DHCP address assignment (the rack's DhcpAssigner). */
export interface DhcpGate {
  /** The code a thing waiting for its address answers instead of connecting, or null. */
  pendingCode: (state: ThingState) => string | null
  /** After a registration or update: asks for an address when the thing needs one; true when it did. */
  onThingWritten: (state: ThingState) => Promise<boolean>
}

export interface RackParts {
  readonly hooks: RackHooks
  readonly alerts: AlertPort
  /** Addresses from the DHCP service (things with `info.macAddress` and `info.subnet`). */
  readonly dhcp: DhcpGate
  readonly rackId: string
  readonly thingConf: ThingConf
  /** `config/global.config.json` (what getWrkConf answers; the app backend reads `pduGridLayout` there); null without the file. */
  readonly globalConf: JsonObject | null
  readonly registry: ThingRegistry
  readonly logs: TimeLogs
  readonly logger: Logger
  /** Writes to one thing (update, comments, forget) run one at a time. */
  readonly thingLock: KeyedLock
}
