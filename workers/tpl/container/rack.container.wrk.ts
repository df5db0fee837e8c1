import { WrkThingRack } from '../thing/rack.thing.wrk'
import { READ_METHODS, WRITE_METHODS } from './base-container'

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
}
