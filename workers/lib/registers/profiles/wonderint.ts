import type { RegisterProfile } from './profile'

/** Wonderint controllers (registers.md, "Vendor differences"). */
export const WONDERINT: RegisterProfile = {
  name: 'wonderint',
  overlay: {
    fcdu: [
      { reg: 208, type: 's', field: 'cycle_pump_control' },
      { reg: 211, type: 's', scale: 100, field: 'unit_outlet_temp_t3' },
      { reg: 606, type: 's', map: 'pumpStatus', field: 'circulation_pump_running_status' }
    ],
    gtemp: [
      { reg: 3, type: 's', scale: 10, field: 'temperature' },
      { reg: 4, type: 's', scale: 10, field: 'humidity' }
    ]
  },
  valueMaps: {
    /** 1 → 'running', anything else → 'stopped' */
    pumpStatus: { values: { 1: 'running' }, otherwise: 'stopped' }
  }
}
