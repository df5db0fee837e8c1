import { z } from 'zod'
import { WrkContainerRack } from '../tpl/container/rack.container.wrk'
import type { WorkerContext } from '../tpl/wrk-base'
import type { JsonObject, Snap, ThingRecord, ThingState } from '../tpl/thing/types'
import { WrkError } from '../core/errors'
import { isDeviceAddress } from '../tpl/thing/dhcp/address'
import type { AlertSpec } from '../tpl/thing/alerts/engine'
import type { StatSpec } from '../tpl/thing/stats/stats'
import { MBT_ALERT_SPECS } from './alerts'
import { MBT_ALARM_DEFAULTS } from './alarm-defaults'
import type { AlarmDefaults } from '../tpl/thing/alerts/alarm-conf'
import { MBT_STAT_SPEC } from './stats'
import { MicroBTContainer, type MicroBTContainerOptions } from './container'
import { MAX_READ_REGISTERS } from './modbus/frame'
import { CONTROL_CONF_DEFAULTS, CONTROL_CONF_KEYS, parseControlConf, type ControlConf } from './control/conf'
import type { KeySpec } from '../core/config-keys'
import type { MetricValue } from '../tpl/thing/rack-metrics'
import type { RpcMethod } from '../rpc/method'
import { packageVersion } from '../core/version'
import { RackLinks } from './rack-links'

export type { ContainerVendor as Vendor } from './registers/types'
import type { ContainerVendor as Vendor } from './registers/types'
import { registerProfile, type RegisterProfile } from './registers/profiles'

/** Connection options of a MicroBT container thing; other keys are kept as given. */
const OPTS_SCHEMA = z.object({
  address: z.string().min(1).max(253).refine(isDeviceAddress, { message: 'a usable IP address or a hostname' }).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  username: z.string().max(256).optional(),
  password: z.string().max(256).optional(),
  timeout: z.number().int().min(10).max(60_000).optional(),
  retry: z.number().int().min(0).max(10).optional(),
  retryInterval: z.number().int().min(0).max(60_000).optional()
}).passthrough()

const SECRET_OPTS = ['username', 'password'] as const

const CDU = 'stats.container_specific.cdu'
/** What an operator graphs of a MicroBT container (registers.md for units). */
const MBT_METRIC_VALUES: readonly MetricValue[] = [
  { name: 'container_power_watts', help: 'Total active power of the container\'s meters (W)', path: 'stats.power_w' },
  { name: 'container_ambient_temperature_celsius', help: 'Ambient temperature (°C)', path: 'stats.ambient_temp_c' },
  { name: 'container_humidity_percent', help: 'Relative humidity (%)', path: 'stats.humidity_percent' },
  { name: 'container_inlet_temperature_celsius', help: 'Unit inlet water temperature T2 (°C)', path: `${CDU}.unit_inlet_temp_t2` },
  { name: 'container_cooling_temperature_celsius', help: 'Cooling water temperature T1 (°C)', path: `${CDU}.cooling_temp_t1` },
  { name: 'container_inlet_pressure_bar', help: 'Unit inlet pressure P2 (bar)', path: `${CDU}.unit_inlet_pressure_p2` },
  { name: 'container_outlet_pressure_bar', help: 'Unit outlet pressure P3 (bar)', path: `${CDU}.unit_outlet_pressure_p3` },
  {
    name: 'container_pump_inlet_pressure_bar',
    help: 'Circulation pump inlet pressure P1 (bar)',
    path: `${CDU}.circulation_pump_inlet_pressure_p1`
  },
  {
    name: 'container_pump_outlet_pressure_bar',
    help: 'Circulation pump outlet pressure P5 (bar)',
    path: `${CDU}.circulation_pump_outlet_pressure_p5`
  }
]

/** What a MicroBT controller method may answer besides the container template's codes. */
const MBT_CONTROLLER_ERRORS = [
  'ERR_AUTH_FAILED', 'ERR_AUTH_CHALLENGE_INVALID', 'ERR_THING_NOT_CONNECTED', 'ERR_THING_CLOSED',
  'ERR_MODBUS_TIMEOUT', 'ERR_MODBUS_NOT_CONNECTED', 'ERR_MODBUS_CONNECTION_CLOSED', 'ERR_MODBUS_CONNECTION_CHANGED',
  'ERR_MODBUS_MALFORMED_REPLY', 'ERR_MODBUS_FLOOD', 'ERR_MODBUS_EXCEPTION_<hex>',
  'ERR_CONTROL_OPTIONS_INVALID', 'ERR_CONTROL_GUARD_TRIPPED', 'ERR_CONTROL_FORCE_REQUIRED', 'ERR_SETPOINT_CHANGE_TOO_LARGE'
] as const

/** Per-container Modbus settings from base.thing.json `container`. */
const CONTAINER_CONF_SCHEMA = z.object({
  timeout: z.number().int().min(10).max(60_000).optional(),
  retry: z.number().int().min(0).max(10).optional(),
  retryInterval: z.number().int().min(0).max(60_000).optional(),
  halfOpenAfterTimeouts: z.number().int().min(1).optional(),
  maxInFlight: z.number().int().min(1).max(16).optional(),
  maxGap: z.number().int().min(0).max(100).optional(),
  maxRegsPerRequest: z.number().int().min(1).max(MAX_READ_REGISTERS).optional(),
  offlineAfterMs: z.number().int().min(0).optional()
}).passthrough()

/**
 * MicroBT layer: `-mbt` thing type, `microbt` tag, and `connectThing` building a
 * MicroBTContainer (Modbus TCP) from the thing's opts.
 */
export class WrkContainerRackMbt extends WrkContainerRack {
  private containerConf: z.infer<typeof CONTAINER_CONF_SCHEMA> = {}
  /** base.thing.json `control`: guarded control actions (./control/conf.ts). */
  private controlConf: ControlConf = CONTROL_CONF_DEFAULTS
  /** Link health per thing (./rack-links.ts). */
  private readonly links = new RackLinks()

  /** The vendor's name (`kehua`), its register profile's. */
  readonly vendor: Vendor

  /** `profile`: the vendor's register profile, handed in by the vendor worker (and registered here). */
  constructor (ctx: WorkerContext, readonly profile: RegisterProfile) {
    super(ctx)
    this.vendor = registerProfile(profile).name
  }

  override getThingType (): string {
    return `${super.getThingType()}-mbt-${this.vendor}`
  }

  override getThingTags (): string[] {
    return ['microbt']
  }

  /** The controller credentials (used for the write authentication). */
  override secretOptKeys (): readonly string[] {
    return SECRET_OPTS
  }

  override controllerErrors (): readonly string[] {
    return [...super.controllerErrors(), ...MBT_CONTROLLER_ERRORS]
  }

  override alertSpecs (): readonly AlertSpec[] {
    return MBT_ALERT_SPECS
  }

  override alarmDefaults (): AlarmDefaults {
    return MBT_ALARM_DEFAULTS
  }

  override statSpec (): StatSpec | null {
    return MBT_STAT_SPEC
  }

  override selectThingInfo (record: ThingRecord): JsonObject {
    return { address: record.opts.address, port: record.opts.port }
  }

  override metricValues (): readonly MetricValue[] {
    return MBT_METRIC_VALUES
  }

  override thingConfKeys (): KeySpec {
    const containerKeys: KeySpec = Object.fromEntries(Object.keys(CONTAINER_CONF_SCHEMA.shape).map((k) => [k, true]))
    return { ...super.thingConfKeys(), container: containerKeys, control: CONTROL_CONF_KEYS }
  }

  protected override init (): void {
    super.init()
    const parsed = CONTAINER_CONF_SCHEMA.safeParse(this.thingConf.container ?? {})
    if (!parsed.success) {
      throw new WrkError('ERR_CONFIG_INVALID',
        `config base.thing.json: invalid container settings (${parsed.error.issues[0]?.path.join('.')})`)
    }
    this.containerConf = parsed.data
    this.controlConf = parseControlConf(this.thingConf.control)
  }

  override validateThingOpts (opts: JsonObject): void {
    const res = OPTS_SCHEMA.safeParse(opts)
    if (!res.success) throw new WrkError('ERR_THING_OPTS_INVALID', `invalid opts.${String(res.error.issues[0]?.path[0] ?? '')}`)
  }

  /** A thing without address, port and credentials stays registered but unconnected. */
  override async connectThing (state: ThingState): Promise<void> {
    const opts = OPTS_SCHEMA.parse(state.record.opts)
    if (!opts.address || !opts.port || opts.username === undefined || opts.password === undefined) {
      state.ctrl = null
      return
    }
    const options: MicroBTContainerOptions = {
      ...this.containerConf,
      address: opts.address,
      port: opts.port,
      username: opts.username,
      password: opts.password,
      timeout: opts.timeout ?? this.containerConf.timeout,
      retry: opts.retry ?? this.containerConf.retry,
      retryInterval: opts.retryInterval,
      vendor: this.vendor,
      logger: this.logger.child({ thingId: state.record.id }),
      control: () => this.controlConf,
      inletMaxC: () => {
        const t = this.alerts.source.conf()?.water_max_inlet_temp_warn?.params?.temp
        return typeof t === 'number' ? t : null
      },
      clientFactory: this.links.clientFactory(state)
    }
    state.ctrl = new MicroBTContainer(options)
  }

  protected override async getWrkExtData (_req: unknown): Promise<unknown> {
    return { vendor: this.vendor, thingType: this.getThingType(), things: this.registry.size, version: packageVersion() }
  }

  /** A collected snapshot that misses units names each with its reason (./rack-links.ts). */
  override async collectThingSnap (state: ThingState): Promise<Snap> {
    return this.links.withUnitErrors(state, await super.collectThingSnap(state))
  }

  protected override declareRpc (): RpcMethod[] {
    return [...super.declareRpc(), this.links.declaration((id) => this.registry.get(id))]
  }

  protected override async onStart (): Promise<void> {
    await super.onStart()
    if (this.metrics && !this.isReplica) this.metrics.addText(() => this.links.metricsText(this.registry.all()))
  }
}
