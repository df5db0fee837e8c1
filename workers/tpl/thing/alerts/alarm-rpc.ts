/** What the rack wires of the alerts: their RPC methods, sub-databases and policy (one import for the rack). */
import type { RpcMethod } from '../../../rpc/method'
import type { RackParts } from '../rack-parts'
import type { AlertBook } from './alert-book'
import { AlertHistory } from './alert-history'
import { AlarmMethods } from './alarm-methods'

export { alarmBeesOf } from './alarm-store'
export { NO_ALARM_DEFAULTS, type AlarmDefaults } from './alarm-conf'

/** getHistoricalLogs and the alarm management methods. */
export function alertDeclarations (rack: RackParts, book: AlertBook): RpcMethod[] {
  return [...new AlertHistory(rack).declarations(), ...new AlarmMethods(book).declarations()]
}
