import { WrkThingRack } from '../thing/rack.thing.wrk'
import { READ_METHODS, WRITE_METHODS } from './base-container'

/** What the container write actions answer for invalid arguments or unsupported actions. */
const CONTAINER_ACTION_ERRORS = [
  'ERR_WRITE_ACTION_NOT_SUPPORTED', 'ERR_SWITCH_SOCKET_INVALID_PARAMS', 'ERR_SWITCH_SOCKET_PDU_INVALID', 'ERR_SWITCH_SOCKET_SOCKET_INVALID',
  'ERR_SWITCH_SOCKET_ENABLED_INVALID', 'ERR_SWITCH_CONTAINER_ENABLED_INVALID', 'ERR_SWITCH_COOLING_SYSTEM_ENABLED_INVALID', 'ERR_COOLING_FAN_THRESHOLD_INVALID'
] as const

/**
 * Fourth layer: the container template. Thing type `container`, the container controller
 * methods as the declared queryThing/applyThings surface.
 */
export class WrkContainerRack extends WrkThingRack {
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
}
