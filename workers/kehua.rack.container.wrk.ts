import { WrkContainerRackMbt } from './lib/rack.mbt.wrk'
import { KEHUA } from './lib/registers/profiles/kehua'
import type { WorkerContext } from './tpl/wrk-base'

/** Worker for MicroBT containers with a Kehua cooling/power controller. */
export default class WrkContainerRackKehua extends WrkContainerRackMbt {
  constructor (ctx: WorkerContext) {
    super(ctx, KEHUA)
  }
}
