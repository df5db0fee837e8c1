/** The MicroBT stat spec: the container template's, plus the CDU readings per container. */
import { CONTAINER_STAT_SPEC } from '../tpl/container/stats'
import type { StatSpec } from '../tpl/thing/stats/stats'

const CDU = 'last.snap.stats.container_specific.cdu'

/** `<field>_group` of `container_specific_stats_group` ← `cdu.<field>`. */
const CDU_GROUP_FIELDS = [
  'unit_inlet_pressure_p2',
  'unit_outlet_pressure_p3',
  'circulation_pump_inlet_pressure_p1',
  'circulation_pump_outlet_pressure_p5',
  'filter_pressure_difference',
  'makeup_water_pump_fault',
  'unit_inlet_temp_t2',
  'cooling_temp_t1'
] as const

export const MBT_STAT_SPEC: StatSpec = {
  ...CONTAINER_STAT_SPEC,
  container_specific_stats_group: {
    op: 'group_multiple_stats',
    srcs: CDU_GROUP_FIELDS.map((f) => ({ name: `${f}_group`, src: `${CDU}.${f}` })),
    group: 'info.container'
  }
}
