import type { RegisterProfile } from './profile'

/** Kehua controllers (registers.md, "Vendor differences"). */
export const KEHUA: RegisterProfile = {
  name: 'kehua',
  overlay: {
    fcdu: [
      { reg: 208, type: 's', map: 'pumpStatus', field: 'circulation_pump_running_status' },
      { reg: 212, type: 's', scale: 100, field: 'cooling_system_status' },
      { reg: 606, type: 's', field: 'cycle_pump_control' }
    ],
    gtemp: [
      { reg: 3, type: 's', scale: 100, field: 'temperature' },
      { reg: 4, type: 's', scale: 100, field: 'humidity' }
    ]
  },
  valueMaps: {
    /** 100 → 'running', 200 → 'error', anything else → 'stopped' */
    pumpStatus: { values: { 100: 'running', 200: 'error' }, otherwise: 'stopped' }
  }
}
