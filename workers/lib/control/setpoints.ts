/**
 * Safety of the cooling-fan setpoints: each value inside the vendor's configured range (0
 * included where the range includes it), the start temperature never below the stop
 * temperature once the change is applied (the value not given is the device's), and each
 * setpoint moved at most `maxSetpointChange` from what the device holds.
 */
import { WrkError } from '../../core/errors'
import type { CoolingFanThresholds } from '../../tpl/container/base-container'
import type { ControlConf, SetpointRanges } from './conf'

const RANGE_OF: Record<keyof CoolingFanThresholds, keyof SetpointRanges> = {
  runningSpeed: 'runningSpeed', startTemp: 'temperature', stopTemp: 'temperature'
}

/** The range check alone (no device read): what `validateWriteAction` can tell. */
export function checkSetpointRanges (t: CoolingFanThresholds, ranges: SetpointRanges): void {
  for (const key of Object.keys(RANGE_OF) as Array<keyof CoolingFanThresholds>) {
    const v = t[key]
    if (v === undefined) continue
    const r = ranges[RANGE_OF[key]]
    if (v >= r.min && v <= r.max) continue
    throw new WrkError('ERR_COOLING_FAN_THRESHOLD_INVALID', `${key} must be in ${r.min}…${r.max} for this vendor`)
  }
}

/** Every check against the values the device holds now. */
export function checkSetpoints (
  t: CoolingFanThresholds, current: Required<CoolingFanThresholds>, ranges: SetpointRanges, conf: ControlConf
): void {
  checkSetpointRanges(t, ranges)
  const start = t.startTemp ?? current.startTemp
  const stop = t.stopTemp ?? current.stopTemp
  if (start < stop) {
    const why = `the start temperature ${start} °C would be below the stop temperature ${stop} °C`
    throw new WrkError('ERR_COOLING_FAN_THRESHOLD_INVALID', why)
  }
  for (const key of Object.keys(RANGE_OF) as Array<keyof CoolingFanThresholds>) {
    const v = t[key]
    const limit = conf.maxSetpointChange[RANGE_OF[key]]
    if (v === undefined || limit === null) continue
    const change = Math.abs(v - current[key])
    if (change > limit + 1e-9) {
      const why = `${key} would move ${change.toFixed(2)} from ${current[key]}; at most ${limit} per action`
      throw new WrkError('ERR_SETPOINT_CHANGE_TOO_LARGE', why)
    }
  }
}
