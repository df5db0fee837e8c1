/** The container template's stat spec (worker.md §8): alerts, status and power per container, nominal figures from `info`. */
import type { StatSpec } from '../thing/stats/stats'

export const CONTAINER_STAT_SPEC: StatSpec = {
  alerts_cnt: { op: 'alerts_group_cnt', src: 'last.alerts' },
  container_status: { op: 'group', src: 'last.snap.stats.status', group: 'info.container' },
  container_power_w: { op: 'group', src: 'last.snap.stats.power_w', group: 'info.container' },
  container_power_w_sum: { op: 'sum', src: 'last.snap.stats.power_w' },
  container_nominal_hashrate_mhs_sum: { op: 'sum', src: 'info.nominalHashrateMhs' },
  container_nominal_hashrate_mhs_avg: { op: 'avg', src: 'info.nominalHashrateMhs' },
  container_nominal_efficiency_w_ths_avg: { op: 'avg', src: 'info.nominalEfficiencyWThs' },
  container_nominal_miner_capacity_sum: { op: 'sum', src: 'info.nominalMinerCapacity' }
}
