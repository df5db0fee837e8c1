import { WrkThingRack } from '../thing/rack.thing.wrk'
import type { StatSpec } from '../thing/stats/stats'
import { THING_TIMEFRAMES, type Timeframe } from '../thing/stats/stat-ticks'
import { READ_METHODS, WRITE_METHODS } from './base-container'
import { CONTAINER_STAT_SPEC } from './stats'

/** What the container write actions answer for invalid arguments or unsupported actions. */
const CONTAINER_ACTION_ERRORS = [
  'ERR_WRITE_ACTION_NOT_SUPPORTED', 'ERR_SWITCH_SOCKET_INVALID_PARAMS', 'ERR_SWITCH_SOCKET_PDU_INVALID', 'ERR_SWITCH_SOCKET_SOCKET_INVALID',
  'ERR_SWITCH_SOCKET_ENABLED_INVALID', 'ERR_SWITCH_CONTAINER_ENABLED_INVALID', 'ERR_SWITCH_COOLING_SYSTEM_ENABLED_INVALID',
  'ERR_COOLING_FAN_THRESHOLD_INVALID'
] as const

/**
 * Fourth layer: the container template. Thing type `container`, the container controller
 * methods as the declared queryThing/applyThings surface.
 */
export abstract class WrkContainerRack extends WrkThingRack {
  /** `container`; a container brand's worker adds its part (`container-mbt-kehua`). */
  override getThingType (): string {
    return 'container'
  }

  override readMethods (): readonly string[] {
    return READ_METHODS
  }

  override writeMethods (): readonly string[] {
    return WRITE_METHODS
  }

  override controllerErrors (): readonly string[] {
    return CONTAINER_ACTION_ERRORS
  }

  override statSpec (): StatSpec | null {
    return CONTAINER_STAT_SPEC
  }

  /** Containers add the real-time and short timeframes. */
  override statTimeframes (): readonly Timeframe[] {
    return [['rtd', '*/30 * * * * *'], ['20s', '*/20 * * * * *'], ['1m', '0 */1 * * * *'], ...THING_TIMEFRAMES]
  }

  override writeActions (): ReadonlyArray<readonly [string, number]> {
    return [...super.writeActions(), ['switchContainer', 1], ['switchSocket', 1], ['switchCoolingSystem', 1], ['setCoolingFanThreshold', 1]]
  }
}
