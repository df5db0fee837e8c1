/**
 * Inhibition by cause (docs/alerts.md): while a cause's condition holds, the alerts its rule
 * names are suppressed, each naming the cause (`power_fault`, `unit_unreachable@pdu-3`). Rules
 * apply in order; a cause an earlier rule suppressed suppresses nothing itself, so two rules
 * naming each other cannot hide both. A `*` rule never suppresses a safety alarm (only a rule
 * naming it does).
 */
import type { AlarmSettings, InhibitRule } from './alarm-conf'
import type { AlarmRecord } from './alarm-record'
import type { Transition } from './alarm-machine'

const causeLabel = (cause: AlarmRecord): string => cause.alert.deviceTag === undefined
  ? cause.alert.name
  : `${cause.alert.name}@${cause.alert.deviceTag}`

function targets (rule: InhibitRule, cause: AlarmRecord, rec: AlarmRecord, settings: (name: string) => AlarmSettings): boolean {
  if (rec === cause) return false
  if (rule.sameDevice === true && rec.alert.deviceTag !== cause.alert.deviceTag) return false
  if (rule.suppress.includes(rec.alert.name)) return true
  return rule.suppress.includes('*') && rec.alert.name !== cause.alert.name && settings(rec.alert.name).safety !== true
}

/** Sets `suppressedBy` of every record; the suppress/unsuppress transitions of the active ones. */
export function applyInhibition (
  records: AlarmRecord[], rules: readonly InhibitRule[], settings: (name: string) => AlarmSettings, now: number
): Transition[] {
  const by = new Map<AlarmRecord, string>()
  for (const rule of rules) {
    for (const cause of records) {
      if (cause.alert.name !== rule.cause || !cause.cond || by.has(cause)) continue
      for (const rec of records) if (!by.has(rec) && targets(rule, cause, rec, settings)) by.set(rec, causeLabel(cause))
    }
  }
  const out: Transition[] = []
  for (const rec of records) {
    const next = by.get(rec)
    if (next === rec.suppressedBy) continue
    if (rec.active) {
      out.push(next === undefined
        ? { ts: now, alert: rec.alert, transition: 'unsuppressed', by: 'system', why: `${rec.suppressedBy ?? ''} cleared` }
        : { ts: now, alert: rec.alert, transition: 'suppressed', by: 'system', why: `caused by ${next}` })
    }
    if (next === undefined) delete rec.suppressedBy
    else rec.suppressedBy = next
  }
  return out
}
