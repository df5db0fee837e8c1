/**
 * The controller of each thing: created by the `connectThing` hook, replaced when its opts
 * change, closed when the thing is forgotten or the rack stops. A controller it replaces is
 * closed, and none is kept for a thing forgotten or a rack stopping meanwhile.
 */
import { errorCode } from '../../core/errors'
import type { RackParts } from './rack-parts'
import type { ThingController, ThingState } from './types'

export class ThingControllers {
  private closing = false

  constructor (private readonly rack: RackParts) {}

  get isClosing (): boolean {
    return this.closing
  }

  /** (Re)creates the thing's controller; resolves with the failure code, or null. */
  async connect (state: ThingState): Promise<string | null> {
    if (state.forgotten || this.closing) return 'ERR_THING_NOT_CONNECTED'
    // waiting for its address from the DHCP service: not connected, and why
    const pending = this.rack.dhcp.pendingCode(state)
    if (pending !== null) {
      await this.disconnect(state)
      return pending
    }
    const previous = state.ctrl
    try {
      await this.rack.hooks.connectThing(state)
    } catch (err) {
      state.ctrl = null
      this.rack.logger.warn({ thingId: state.record.id, code: errorCode(err) }, 'thing connect failed')
      return errorCode(err, 'ERR_THING_CONNECTION_FAILURE')
    } finally {
      if (previous && previous !== state.ctrl) await this.close(state.record.id, previous)
    }
    if (state.forgotten || this.closing) await this.disconnect(state)
    return null
  }

  async disconnect (state: ThingState): Promise<void> {
    const ctrl = state.ctrl
    state.ctrl = null
    if (ctrl) await this.close(state.record.id, ctrl)
  }

  /** From now on nothing connects; closes every controller. */
  async closeAll (things: ThingState[]): Promise<void> {
    this.closing = true
    await Promise.all(things.map((s) => this.disconnect(s)))
  }

  private async close (thingId: string, ctrl: ThingController): Promise<void> {
    try {
      await ctrl.close()
    } catch (err) {
      this.rack.logger.debug({ err, thingId }, 'thing close failed')
    }
  }
}
