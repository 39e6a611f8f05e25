/**
 * The VMM: holds at most one VM configuration and running Machine, and carries out VmmActions from the API and the
 * CLI with Cloud Hypervisor's state machine (catalogue §d): Created -> Running <-> Paused -> Shutdown -> Running
 * (boot again). Guest-initiated events (power-off, reset, crash) arrive from the Machine. Lifecycle events go to the
 * event monitor. Endpoints whose feature Nimbus has not built yet answer NOT_IMPLEMENTED naming the feature.
 */
import { closeSync } from 'node:fs';
import type { Hypervisor } from '../hypervisor/hypervisor.ts';
import type { Logger, LogLevel } from '../util/logger.ts';
import {
  VmmActionError,
  type ActionResult,
  type DeviceNode,
  type VmInfo,
  type VmmAction,
  type VmmControl,
  type VmmPingResponse,
  type VmState,
} from './actions.ts';
import { checkSupported } from './config/supported.ts';
import { validateVmConfig } from './config/validate.ts';
import type { VmConfig } from './config/vm-config.ts';
import { Machine, type MachineExit } from './machine.ts';

/** Receives lifecycle events (the event monitor implements it). */
export interface VmmEvents {
  emit(source: string, event: string, properties?: Record<string, string>): void;
}

export interface VmmOptions {
  hypervisor: Hypervisor;
  version: string;
  logger: Logger;
  logLevel: LogLevel;
  logFd: number;
  startTime: bigint;
  events: VmmEvents;
  /** Opens where serial output goes for a config (undefined: discarded); called once per created VM. */
  openSerialOutput: (config: VmConfig) => number | undefined;
  /** Closes what openSerialOutput returned, when the VM is deleted. */
  closeSerialOutput: (fd: number) => void;
  /** `--no-shutdown`: keep the VMM running after the guest powers off. */
  noShutdown: boolean;
  /** Called when the VMM should exit: vmm.shutdown, a guest power-off (without --no-shutdown) or a guest crash. */
  onExit: (status: number) => void;
  /** Called when a VM starts running (e.g. to attach terminal input to its serial port). */
  onMachine?: (machine: Machine) => void;
}

/** Actions of features Nimbus has not built yet, and the feature each needs. */
const NOT_BUILT: Partial<Record<VmmAction['kind'], string>> = {
  'vm.resize': 'CPU and memory hotplug (vm.resize)',
  'vm.resize-disk': 'block devices (vm.resize-disk)',
  'vm.resize-zone': 'memory zones (vm.resize-zone)',
  'vm.add-device': 'VFIO device assignment (vm.add-device)',
  'vm.add-disk': 'block devices (vm.add-disk)',
  'vm.add-fs': 'virtio-fs (vm.add-fs)',
  'vm.add-generic-vhost-user': 'generic vhost-user devices (vm.add-generic-vhost-user)',
  'vm.add-pmem': 'virtio-pmem (vm.add-pmem)',
  'vm.add-net': 'network devices (vm.add-net)',
  'vm.add-vsock': 'virtio-vsock (vm.add-vsock)',
  'vm.add-vdpa': 'vDPA devices (vm.add-vdpa)',
  'vm.add-user-device': 'vfio-user devices (vm.add-user-device)',
  'vm.remove-device': 'device hot-unplug (vm.remove-device)',
  'vm.snapshot': 'snapshots (vm.snapshot)',
  'vm.coredump': 'guest core dumps (vm.coredump)',
  'vm.restore': 'snapshot restore (vm.restore)',
  'vm.receive-migration': 'live migration (vm.receive-migration)',
  'vm.send-migration': 'live migration (vm.send-migration)',
};

export class Vmm implements VmmControl {
  private readonly options: VmmOptions;
  private config: VmConfig | undefined;
  /** The lifecycle state once a config exists. */
  private state: VmState = 'Created';
  private machine: Machine | undefined;
  private serialFd: number | undefined;
  /** Serialises actions: each runs to completion before the next starts. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: VmmOptions) {
    this.options = options;
    options.events.emit('vmm', 'starting');
  }

  /** Carries out one action; concurrent calls are queued (the API serves several clients). */
  handle(action: VmmAction): Promise<ActionResult> {
    return this.enqueue(() => this.dispatch(action));
  }

  /** Runs `work` after everything queued before it: actions and guest-initiated events never interleave. */
  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async dispatch(action: VmmAction): Promise<ActionResult> {
    const missing = NOT_BUILT[action.kind];
    if (missing) throw new VmmActionError('NOT_IMPLEMENTED', `${missing} is not supported by Nimbus yet`);
    switch (action.kind) {
      case 'vmm.ping':
        return { body: this.ping() };
      case 'vmm.shutdown':
        await this.deleteVm();
        this.options.events.emit('vmm', 'shutdown');
        // Exit after this action's answer has gone out (the caller of handle() replies when it resolves).
        setImmediate(() => this.options.onExit(0));
        return {};
      case 'vm.create':
        // No device that takes descriptors (TAP fds for net) exists yet: the VMM keeps none of them.
        for (const fd of action.fds) closeSync(fd);
        return this.create(action.config, action.explicitFields);
      case 'vm.boot':
        await this.boot();
        return {};
      case 'vm.info':
        return { body: this.info() };
      case 'vm.counters':
        this.requireBooted('vm.counters');
        return { body: {} };
      case 'vm.delete':
        await this.deleteVm();
        return {};
      case 'vm.pause':
        await this.pause();
        return {};
      case 'vm.resume':
        this.resume();
        return {};
      case 'vm.shutdown':
        this.requireBooted('vm.shutdown');
        await this.shutdownVm();
        return {};
      case 'vm.reboot':
        await this.reboot();
        return {};
      case 'vm.power-button':
        this.requireBooted('vm.power-button').pressPowerButton();
        return {};
      case 'vm.nmi':
        this.requireBooted('vm.nmi').injectNmi();
        return {};
      default:
        throw new VmmActionError('NOT_IMPLEMENTED', `${action.kind} is not supported by Nimbus yet`);
    }
  }

  private ping(): VmmPingResponse {
    return { build_version: this.options.version, version: this.options.version, pid: process.pid, features: ['kvm'] };
  }

  private create(config: VmConfig, explicitFields: ReadonlySet<keyof VmConfig>): ActionResult {
    if (this.config) throw new VmmActionError('VM_ALREADY_CREATED', 'a VM is already created; delete it first (vm.delete)');
    const validated = validateVmConfig(config).config;
    checkSupported(validated, explicitFields);
    this.config = validated;
    this.state = 'Created';
    return {};
  }

  private async boot(): Promise<void> {
    if (!this.config) throw new VmmActionError('VM_MISSING_CONFIG', 'no VM is created: create one first (vm.create)');
    if (this.machine) throw new VmmActionError('VM_ALREADY_CREATED', `the VM is already booted (state ${this.state})`);
    const { events } = this.options;
    events.emit('vm', 'booting');
    await this.startMachine(this.config);
    events.emit('vm', 'booted');
  }

  private async startMachine(config: VmConfig): Promise<void> {
    const { hypervisor, logger, logLevel, logFd, startTime } = this.options;
    this.serialFd ??= this.options.openSerialOutput(config);
    const machine = await Machine.boot({ config, hypervisor, logger, logLevel, logFd, startTime, serialOutputFd: this.serialFd });
    this.machine = machine;
    this.state = 'Running';
    this.options.onMachine?.(machine);
    void machine.exited.then((exit) => this.enqueue(() => this.onGuestExit(machine, exit)));
  }

  /** Stops and releases the running machine (if any); the config stays. */
  private async stopMachine(): Promise<void> {
    const machine = this.machine;
    if (!machine) return;
    this.machine = undefined;
    await machine.destroy();
  }

  private async pause(): Promise<void> {
    const machine = this.requireState('Running', 'vm.pause');
    this.options.events.emit('vm', 'pausing');
    await machine.pause();
    this.state = 'Paused';
    this.options.events.emit('vm', 'paused');
  }

  private resume(): void {
    const machine = this.requireState('Paused', 'vm.resume');
    this.options.events.emit('vm', 'resuming');
    machine.resume();
    this.state = 'Running';
    this.options.events.emit('vm', 'resumed');
  }

  private async shutdownVm(): Promise<void> {
    await this.stopMachine();
    this.state = 'Shutdown';
    this.options.events.emit('vm', 'shutdown');
  }

  private async reboot(): Promise<void> {
    this.requireBooted('vm.reboot');
    const { events } = this.options;
    events.emit('vm', 'rebooting');
    await this.stopMachine();
    await this.startMachine(this.config!);
    events.emit('vm', 'rebooted');
  }

  private async deleteVm(): Promise<void> {
    if (!this.config) return;
    if (this.machine) await this.shutdownVm();
    if (this.serialFd !== undefined) this.options.closeSerialOutput(this.serialFd);
    this.serialFd = undefined;
    this.config = undefined;
    this.options.events.emit('vm', 'deleted');
  }

  private info(): VmInfo {
    if (!this.config) throw new VmmActionError('VM_NOT_CREATED', 'no VM is created');
    const info: VmInfo = { config: this.config, state: this.state, memory_actual_size: this.config.memory.size };
    if (this.machine) info.device_tree = deviceTree(this.machine);
    return info;
  }

  /** The running machine, or INVALID_STATE / VM_NOT_CREATED naming the action. */
  private requireBooted(action: string): Machine {
    if (!this.config) throw new VmmActionError('VM_NOT_CREATED', `${action}: no VM is created`);
    if (!this.machine) throw new VmmActionError('INVALID_STATE', `${action}: the VM is not booted (state ${this.state})`);
    return this.machine;
  }

  private requireState(wanted: VmState, action: string): Machine {
    const machine = this.requireBooted(action);
    if (this.state !== wanted) throw new VmmActionError('INVALID_STATE', `${action}: the VM is ${this.state}, not ${wanted}`);
    return machine;
  }

  /**
   * Guest-initiated end of a machine: power-off, reset (reboot) or a crash. Runs in the action queue; a machine that
   * an action already stopped or replaced in the meantime (shutdown, reboot, delete) is ignored.
   */
  private async onGuestExit(machine: Machine, exit: MachineExit): Promise<void> {
    if (this.machine !== machine || exit.kind === 'stopped') return;
    const { logger, events } = this.options;
    try {
      switch (exit.kind) {
        case 'reset':
          logger.info('the guest requested a reset: rebooting the VM');
          await this.reboot();
          return;
        case 'shutdown':
          logger.info('the guest powered off');
          await this.shutdownVm();
          if (!this.options.noShutdown) {
            await this.deleteVm();
            events.emit('vmm', 'shutdown');
            this.options.onExit(0);
          }
          return;
        case 'triple-fault':
          logger.error(`vCPU ${exit.vcpu} triple-faulted: the guest crashed`);
          break;
        case 'error':
          logger.error(`vCPU ${exit.vcpu} stopped: ${exit.message}`);
          break;
      }
      await this.shutdownVm();
      this.options.onExit(1);
    } catch (error) {
      logger.error(`handling the guest's ${exit.kind}: ${(error as Error).message}`);
      this.options.onExit(1);
    }
  }
}

/** The VM's devices for vm.info: the platform devices with their port or MMIO ranges (upstream's resource names). */
function deviceTree(machine: Machine): Record<string, DeviceNode> {
  const tree: Record<string, DeviceNode> = {};
  for (const device of machine.devices()) {
    const id = `__${device.name}`;
    const range = { base: device.base, size: device.length };
    tree[id] = { id, resources: [device.bus === 'pio' ? { PioAddressRange: range } : { MmioAddressRange: range }], children: [] };
  }
  return tree;
}
