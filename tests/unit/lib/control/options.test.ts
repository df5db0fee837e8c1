/** Control options of a request over the `control` configuration, and the configuration itself. */
import { describe, expect, it } from 'vitest'
import { CONTROL_CONF_DEFAULTS, parseControlConf, setpointRanges } from '../../../../workers/lib/control/conf'
import { controlSettings } from '../../../../workers/lib/control/options'
import { thrown, thrownCode } from '../../../helpers/errors'

const conf = { ...CONTROL_CONF_DEFAULTS, maxPowerW: 400_000, batchDelayMs: 5000, minBatchDelayMs: 1000 }

describe('controlSettings', () => {
  it('without options: the configuration (one PDU per batch, rollback, power-downs not staged, no force)', () => {
    expect(controlSettings(undefined, conf))
      .toEqual({ batchSize: 20, batchDelayMs: 5000, maxPowerW: 400_000, onBreach: 'rollback', stagePowerDown: false, force: false })
  })

  it('a request may lower the delay down to the minimum, lower the cap, change the batch size, stop only, stage power-downs, force', () => {
    expect(controlSettings({ batchSize: 40, batchDelayMs: 1000, maxPowerW: 300_000, onBreach: 'stop', staged: true, force: true }, conf))
      .toEqual({ batchSize: 40, batchDelayMs: 1000, maxPowerW: 300_000, onBreach: 'stop', stagePowerDown: true, force: true })
    // the approval trailer's keys are tolerated
    expect(controlSettings({ actionId: 'a', user: 'u' }, conf).batchSize).toBe(20)
  })

  it('refuses what the configuration does not allow, with the reason', () => {
    for (const [opts, why] of [
      [{ batchDelayMs: 999 }, /batchDelayMs must be an integer in 1000…600000/],
      [{ maxPowerW: 400_001 }, /not be above the configured 400000 W/],
      [{ maxPowerW: 0 }, /positive/],
      [{ batchSize: 241 }, /batchSize/],
      [{ batchSize: 1.5 }, /batchSize/],
      [{ onBreach: 'ignore' }, /onBreach/],
      [{ staged: 1 }, /staged must be a boolean/],
      [{ force: 'true' }, /force must be a boolean/],
      [{ surprise: 1 }, /unknown control option surprise/],
      [[1], /must be an object/],
      [null, /must be an object/]
    ] as const) {
      const err = thrown(() => controlSettings(opts, conf))
      expect(err.code).toBe('ERR_CONTROL_OPTIONS_INVALID')
      expect(err.message).toMatch(why)
    }
  })

  it('without a configured cap a request may set any cap', () => {
    expect(controlSettings({ maxPowerW: 9e6 }, CONTROL_CONF_DEFAULTS).maxPowerW).toBe(9e6)
  })
})

describe('parseControlConf', () => {
  it('defaults, vendor ranges, and the first wrong key named', () => {
    expect(parseControlConf(undefined)).toEqual(CONTROL_CONF_DEFAULTS)
    const c = parseControlConf({ setpoints: { wonderint: { temperature: { min: 0, max: 45 } } } })
    expect(setpointRanges(c, 'wonderint')).toEqual({ runningSpeed: { min: 0, max: 100 }, temperature: { min: 0, max: 45 } })
    expect(setpointRanges(c, 'kehua').temperature).toEqual({ min: -20, max: 80 })
    expect(thrownCode(() => parseControlConf({ batchSize: 0 }))).toBe('ERR_CONFIG_INVALID')
    expect(thrown(() => parseControlConf({ minBatchDelayMs: 9000, batchDelayMs: 5000 })).message).toMatch(/minBatchDelayMs/)
    expect(thrown(() => parseControlConf({ pressureBar: { min: 1, mx: 2 } })).message).toMatch(/pressureBar/)
    const upsideDown = { setpoints: { kehua: { temperature: { min: 50, max: 40 } } } }
    expect(thrown(() => parseControlConf(upsideDown)).message).toMatch(/min must not be above max/)
  })
})
