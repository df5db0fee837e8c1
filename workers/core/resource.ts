/**
 * The lifecycle every resource that opens and closes follows (hyperbee's ReadyResource is the
 * model): `ready()` opens once, however often and concurrently it is called; `close()` waits
 * for an open in progress, closes only what was opened, and is idempotent. Subclasses write
 * `_open()` and `_close()` (each nothing by default).
 */
import { WrkError } from './errors'

export abstract class Resource {
  private opening: Promise<void> | null = null
  private closing: Promise<void> | null = null
  opened = false

  protected async _open (): Promise<void> {}
  protected async _close (): Promise<void> {}

  async ready (): Promise<void> {
    if (this.closing) throw new WrkError('ERR_RESOURCE_CLOSED', `${this.constructor.name} is closed`)
    this.opening ??= this._open().then(() => { this.opened = true })
    await this.opening
  }

  async close (): Promise<void> {
    this.closing ??= (async () => {
      if (this.opening) await this.opening.catch(() => {})
      if (this.opened) await this._close()
    })()
    await this.closing
  }
}
