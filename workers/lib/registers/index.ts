/** The MicroBT register map as data, its request planner and its decoder. */
export * from './types'
export * from './errors'
export * from './units'
export * from './vendors'
export * from './plan'
export * from './decode'
export * from './controls'
