/**
 * The static PDU grid of a MicroBT container, as the MiningOS app backend's PDU view reads it from
 * `getWrkConf` (`pduGridLayout[<thing type>]`): every PDU with its sockets, numbered exactly as
 * `pdu_data` numbers them in a snapshot (both come from the PDU unit table). Live socket state
 * comes from `pdu_data`; this is the layout only.
 */
import { PDU, unitOrdinal } from './units'

export interface PduLayoutSocket { socket: string, enabled: boolean, cooling?: boolean }
export interface PduLayout { pdu: string, sockets: PduLayoutSocket[] }

export function pduGridLayout (): PduLayout[] {
  const list = PDU.lists.find((l) => l.field === 'sockets')
  if (list === undefined) throw new Error('the PDU unit has no socket list')
  const count = list.end - list.start + 1
  return PDU.ids.map((id) => ({
    pdu: String(unitOrdinal(id)),
    sockets: Array.from({ length: count }, (_, i) => ({ socket: String(list.firstLabel + i), enabled: true }))
  }))
}
