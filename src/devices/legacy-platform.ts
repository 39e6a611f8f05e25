/**
 * The legacy devices of Nimbus's x86-64 platform (Cloud Hypervisor's set: the port-I/O devices and the MMIO ACPI
 * Generic Event Device) as one data table, and the plumbing that lets the VM builder and every vCPU worker build
 * the same set over the same shared state:
 * - the VM builder calls createLegacySharedState(config) once (allocates and powers on each stateful device's
 *   state and lock buffers) and posts the result to each vCPU worker (SharedArrayBuffers stay shared);
 * - each thread builds `new LegacyPlatform(shared, deps)` with its own dependencies (interrupt lines, sinks,
 *   clocks, lock mode) and attaches it to its own port-I/O and MMIO buses; stateful devices come wrapped in
 *   LockedDevice;
 * - the main thread also uses it for serial input, the power button and snapshots (`save`/`restore`).
 * Pure: no node:* imports.
 */
import { GED_NOTIFICATION } from '../acpi/dsdt.ts';
import {
  ACPI_PM_PORT_START,
  CMOS_PORT_START,
  COM1_PORT_START,
  DEBUG_PORT,
  FW_DEBUG_PORT,
  GED_MMIO_SIZE,
  GED_MMIO_START,
  I8042_PORT_START,
} from '../arch/x86_64/layout.ts';
import type { Bus, BusDevice } from '../bus/bus.ts';
import type { InterruptLine } from '../interrupt/interrupt-line.ts';
import type { Logger } from '../util/logger.ts';
import { AcpiPowerManagement, ACPI_PM_PORT_COUNT } from './acpi_pm/acpi-pm.ts';
import { Cmos } from './cmos/cmos.ts';
import { CMOS_PORT_COUNT } from './cmos/cmos-registers.ts';
import { DebugPort, DEBUG_PORT_PORT_COUNT } from './debug_port/debug-port.ts';
import type {
  ByteSink,
  DeviceSnapshot,
  MonotonicClock,
  PlatformControl,
  StatefulDevice,
  WallClock,
} from './device-contracts.ts';
import { DeviceError } from './device-error.ts';
import { FirmwareDebugPort, FW_DEBUG_PORT_COUNT } from './fw_debug/fw-debug.ts';
import { GenericEventDevice } from './ged/ged.ts';
import { I8042, I8042_PORT_COUNT } from './i8042/i8042.ts';
import { Uart16550 } from './serial/uart-16550.ts';
import { UART_PORT_COUNT } from './serial/uart-registers.ts';
import { LockedDevice, SharedLock, type LockMode } from './shared-lock.ts';
import { SNAPSHOT_VERSION, SnapshotReader } from './snapshot.ts';

export interface LegacyPlatformConfig {
  /** Whether COM1 (the 16550A at 0x3F8) exists: false for `--serial off`. */
  readonly serial: boolean;
  /** Bytes of guest RAM below 4 GiB and above it, reported in CMOS. */
  readonly memoryBelow4G: number;
  readonly memoryAbove4G: number;
}

/** What one thread hands its devices. */
export interface LegacyDeviceDeps {
  /** IRQ 4. */
  readonly serialInterrupt: InterruptLine;
  /**
   * GSI 5, the ACPI GED's interrupt. Only the thread that raises GED events (the main thread, through
   * pressPowerButton) needs it: the vCPU workers only read the GED's register.
   */
  readonly gedInterrupt?: InterruptLine;
  readonly serialOutput: ByteSink;
  /** Where 0x402 firmware debug bytes go (stdout in Cloud Hypervisor). */
  readonly firmwareDebugOutput: ByteSink;
  readonly platform: PlatformControl;
  readonly logger: Logger;
  readonly monotonicClock: MonotonicClock;
  readonly wallClock: WallClock;
  /** "wait" in vCPU Workers, "spin" on the main thread (which must not sleep). */
  readonly lockMode: LockMode;
}

export type LegacyDeviceName = 'i8042' | 'cmos' | 'debug_port' | 'serial' | 'fw_debug' | 'acpi_pm' | 'ged';

/** The bus a device sits on: port I/O or MMIO. */
export type LegacyBusKind = 'pio' | 'mmio';

interface DeviceSpecBase {
  readonly name: LegacyDeviceName;
  readonly bus: LegacyBusKind;
  readonly base: number;
  readonly length: number;
  /** Whether the platform has the device under `config`; always when absent. */
  readonly present?: (config: LegacyPlatformConfig) => boolean;
}

/** A device without mutable state: every thread's instance is independent and needs no lock. */
interface StatelessDeviceSpec extends DeviceSpecBase {
  readonly kind: 'stateless';
  readonly create: (deps: LegacyDeviceDeps) => BusDevice;
}

/** A device whose state lives in a shared buffer of `stateBytes`, powered on once and guarded by a lock. */
interface StatefulDeviceSpec extends DeviceSpecBase {
  readonly kind: 'stateful';
  readonly stateBytes: number;
  readonly powerOn: (state: SharedArrayBuffer, config: LegacyPlatformConfig) => void;
  readonly create: (state: SharedArrayBuffer, deps: LegacyDeviceDeps) => StatefulDevice;
}

export type LegacyDeviceSpec = StatelessDeviceSpec | StatefulDeviceSpec;

/** The platform's legacy devices: the port-I/O ones in port order, then the MMIO ones. */
export const LEGACY_DEVICES: readonly LegacyDeviceSpec[] = [
  {
    name: 'i8042',
    bus: 'pio',
    base: I8042_PORT_START,
    length: I8042_PORT_COUNT,
    kind: 'stateless',
    create: (deps) => new I8042(deps.platform, deps.logger),
  },
  {
    name: 'cmos',
    bus: 'pio',
    base: CMOS_PORT_START,
    length: CMOS_PORT_COUNT,
    kind: 'stateful',
    stateBytes: Cmos.STATE_BYTES,
    powerOn: (state, config) => Cmos.powerOn(state, config),
    create: (state, deps) => new Cmos(state, deps.wallClock, deps.platform, deps.logger),
  },
  {
    name: 'debug_port',
    bus: 'pio',
    base: DEBUG_PORT,
    length: DEBUG_PORT_PORT_COUNT,
    kind: 'stateless',
    create: (deps) => new DebugPort(deps.logger, deps.monotonicClock),
  },
  {
    name: 'serial',
    bus: 'pio',
    base: COM1_PORT_START,
    length: UART_PORT_COUNT,
    present: (config) => config.serial,
    kind: 'stateful',
    stateBytes: Uart16550.STATE_BYTES,
    powerOn: (state) => Uart16550.powerOn(state),
    create: (state, deps) => new Uart16550(state, deps.serialInterrupt, deps.serialOutput),
  },
  {
    name: 'fw_debug',
    bus: 'pio',
    base: FW_DEBUG_PORT,
    length: FW_DEBUG_PORT_COUNT,
    kind: 'stateless',
    create: (deps) => new FirmwareDebugPort(deps.firmwareDebugOutput),
  },
  {
    name: 'acpi_pm',
    bus: 'pio',
    base: ACPI_PM_PORT_START,
    length: ACPI_PM_PORT_COUNT,
    kind: 'stateful',
    stateBytes: AcpiPowerManagement.STATE_BYTES,
    powerOn: (state) => AcpiPowerManagement.powerOn(state),
    create: (state, deps) => new AcpiPowerManagement(state, deps.platform, deps.logger, deps.monotonicClock),
  },
  {
    name: 'ged',
    bus: 'mmio',
    base: GED_MMIO_START,
    length: GED_MMIO_SIZE,
    kind: 'stateful',
    stateBytes: GenericEventDevice.STATE_BYTES,
    powerOn: (state) => GenericEventDevice.powerOn(state),
    create: (state, deps) => new GenericEventDevice(state, deps.gedInterrupt),
  },
];

/** A stateful device's shared buffers. */
export interface SharedDeviceBuffers {
  readonly state: SharedArrayBuffer;
  readonly lock: SharedArrayBuffer;
}

/** Everything the threads share; structured-clone it to workers (postMessage keeps the buffers shared). */
export interface LegacySharedState {
  readonly config: LegacyPlatformConfig;
  readonly buffers: Readonly<Partial<Record<LegacyDeviceName, SharedDeviceBuffers>>>;
}

export interface LegacyPlatformSnapshot {
  readonly version: 1;
  /** One snapshot per stateful device present. */
  readonly devices: Readonly<Partial<Record<LegacyDeviceName, DeviceSnapshot>>>;
}

/** One device of this thread's platform and where it sits on its bus. */
export interface LegacyDeviceInstance {
  readonly name: LegacyDeviceName;
  readonly bus: LegacyBusKind;
  readonly base: number;
  readonly length: number;
  readonly device: BusDevice;
}

function presentDevices(config: LegacyPlatformConfig): LegacyDeviceSpec[] {
  return LEGACY_DEVICES.filter((spec) => spec.present?.(config) ?? true);
}

/** Allocates and powers on the shared state of every stateful device `config` has. Call once per VM. */
export function createLegacySharedState(config: LegacyPlatformConfig): LegacySharedState {
  const buffers: Partial<Record<LegacyDeviceName, SharedDeviceBuffers>> = {};
  for (const spec of presentDevices(config)) {
    if (spec.kind === 'stateless') continue;
    const state = new SharedArrayBuffer(spec.stateBytes);
    spec.powerOn(state, config);
    buffers[spec.name] = { state, lock: new SharedArrayBuffer(SharedLock.BYTES) };
  }
  return { config: { ...config }, buffers };
}

/** One thread's instances of the legacy devices, over the shared state. */
export class LegacyPlatform {
  readonly devices: readonly LegacyDeviceInstance[];
  private readonly stateful: readonly { name: LegacyDeviceName; device: LockedDevice<StatefulDevice> }[];
  private readonly serial: { locked: LockedDevice<Uart16550>; uart: Uart16550 } | undefined;
  private readonly ged: LockedDevice<GenericEventDevice> | undefined;

  constructor(shared: LegacySharedState, deps: LegacyDeviceDeps) {
    const devices: LegacyDeviceInstance[] = [];
    const stateful: { name: LegacyDeviceName; device: LockedDevice<StatefulDevice> }[] = [];
    let serial: { locked: LockedDevice<Uart16550>; uart: Uart16550 } | undefined;
    let ged: LockedDevice<GenericEventDevice> | undefined;
    for (const spec of presentDevices(shared.config)) {
      const { name, bus, base, length } = spec;
      if (spec.kind === 'stateless') {
        devices.push({ name, bus, base, length, device: spec.create(deps) });
        continue;
      }
      const buffers = shared.buffers[name];
      if (!buffers) {
        throw new DeviceError(
          'BAD_STATE_BUFFER',
          `the shared legacy state has no buffers for ${name}; build it with createLegacySharedState`,
        );
      }
      const lock = new SharedLock(buffers.lock, deps.lockMode);
      const device = spec.create(buffers.state, deps);
      let locked: LockedDevice<StatefulDevice>;
      if (device instanceof Uart16550) {
        const lockedUart = new LockedDevice(lock, device);
        serial = { locked: lockedUart, uart: device };
        locked = lockedUart;
      } else if (device instanceof GenericEventDevice) {
        ged = new LockedDevice(lock, device);
        locked = ged;
      } else {
        locked = new LockedDevice(lock, device);
      }
      devices.push({ name, bus, base, length, device: locked });
      stateful.push({ name, device: locked });
    }
    this.devices = devices;
    this.stateful = stateful;
    this.serial = serial;
    this.ged = ged;
  }

  /** Registers every device on this thread's bus of its kind. */
  attach(buses: Readonly<Record<LegacyBusKind, Bus>>): void {
    for (const { name, bus, base, length, device } of this.devices) buses[bus].insert(base, length, name, device);
  }

  /** Queues host input for the guest's serial port; returns how many bytes fit (see Uart16550.enqueueInput). */
  enqueueSerialInput(bytes: Uint8Array): number {
    return this.requireSerial().locked.locked((uart) => uart.enqueueInput(bytes));
  }

  /** Resolves once the serial receive FIFO has room. */
  waitForSerialInputSpace(): Promise<void> {
    return this.requireSerial().uart.waitForInputSpace();
  }

  /**
   * Presses the ACPI power button: sets the GED's power-button bit and raises its interrupt; the guest's _EVT
   * then does Notify(\_SB_.PWRB, 0x80). Needs a platform built with `gedInterrupt` (the main thread's).
   */
  pressPowerButton(): void {
    if (!this.ged) throw new DeviceError('DEVICE_ABSENT', 'the legacy platform has no ACPI GED, so it has no power button');
    this.ged.locked((ged) => ged.notify(GED_NOTIFICATION.POWER_BUTTON));
  }

  /** The state of every stateful device (take it with the vCPUs paused). */
  save(): LegacyPlatformSnapshot {
    const devices: Partial<Record<LegacyDeviceName, DeviceSnapshot>> = {};
    for (const { name, device } of this.stateful) devices[name] = device.locked((d) => d.save());
    return { version: SNAPSHOT_VERSION, devices };
  }

  /** Restores a snapshot taken from a platform with the same devices (vCPUs paused). */
  restore(data: unknown): void {
    const snapshots = new SnapshotReader(data, 'legacy platform').record('devices');
    const mismatch = (problem: string): DeviceError =>
      new DeviceError(
        'BAD_SNAPSHOT',
        `the legacy platform snapshot ${problem}; restore it with the configuration it was taken with`,
      );
    const expected = new Set<string>(this.stateful.map((s) => s.name));
    for (const name of Object.keys(snapshots)) {
      if (!expected.has(name)) throw mismatch(`has state for "${name}", which this VM does not have`);
    }
    for (const { name } of this.stateful) {
      if (!Object.hasOwn(snapshots, name)) throw mismatch(`has no state for "${name}"`);
    }
    for (const { name, device } of this.stateful) device.locked((d) => d.restore(snapshots[name]));
  }

  private requireSerial(): { locked: LockedDevice<Uart16550>; uart: Uart16550 } {
    if (!this.serial) {
      throw new DeviceError('DEVICE_ABSENT', 'this VM has no serial port (--serial off), so it takes no serial input');
    }
    return this.serial;
  }
}
