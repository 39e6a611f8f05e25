/**
 * A running VM: guest RAM, the hypervisor VM with its irqchip and vCPUs, the legacy platform devices, the virtio-pci
 * devices (each in its I/O worker) and the vCPU workers. Built in a straight line from a validated VmConfig; reports
 * how the guest ended (power-off, reset, triple fault or error) through `exited`, and can be paused, resumed and
 * stopped.
 */
import { buildAcpiTables } from '../acpi/index.ts';
import { bootFpu, bootMsrs, configureLint, linux64BootState, pvhBootState, writeDescriptorTables, writeIdentityPageTables } from '../arch/x86_64/boot-cpu.ts';
import { buildCpuid } from '../arch/x86_64/cpuid.ts';
import { buildE820Map } from '../arch/x86_64/e820.ts';
import { COM1_IRQ, GED_IRQ, KVM_IDENTITY_MAP_START, KVM_TSS_START } from '../arch/x86_64/layout.ts';
import { createLegacySharedState, LegacyPlatform, type LegacyDeviceInstance, type LegacySharedState } from '../devices/legacy-platform.ts';
import { NimbusError } from '../errors/nimbus-error.ts';
import { EventFd, eventFdInterruptLine } from '../host/eventfd.ts';
import { GuestRam } from '../host/guest-ram.ts';
import { MappedFile } from '../host/mapped-file.ts';
import { fdSink, nullSink } from '../host/fd-sink.ts';
import type { Hypervisor, Vcpu, Vm } from '../hypervisor/hypervisor.ts';
import { loadKernel, type BootSetup } from '../loader/index.ts';
import type { Logger, LogLevel } from '../util/logger.ts';
import type { VcpuStopReason } from '../vstate/vcpu-loop.ts';
import { VcpuExitCounters, type VcpuExitCounts } from '../vstate/exit-counters.ts';
import { VcpuWorkerPool, type VcpuThreads } from '../vstate/vcpu-threads.ts';
import type { VmConfig } from './config/vm-config.ts';
import { PciDevices, type PciDeviceInfo } from './devices/pci-devices.ts';
import { planMachine, type MachinePlan } from './machine-plan.ts';

export class MachineError extends NimbusError {}

/** How a machine's run ended. */
export type MachineExit =
  | { kind: 'shutdown' }
  | { kind: 'reset' }
  | { kind: 'stopped' }
  | { kind: 'triple-fault'; vcpu: number }
  | { kind: 'error'; vcpu: number; message: string };

export interface MachineOptions {
  config: VmConfig;
  hypervisor: Hypervisor;
  logger: Logger;
  logLevel: LogLevel;
  logFd: number;
  /** Where serial output goes (undefined: discarded). Opening `--serial file=` is the caller's job. */
  serialOutputFd: number | undefined;
  /** process.hrtime.bigint() at VMM start. */
  startTime: bigint;
}

export class Machine {
  readonly config: VmConfig;
  readonly plan: MachinePlan;
  readonly exited: Promise<MachineExit>;
  private readonly vm: Vm;
  private readonly ram: GuestRam;
  /** eventfds wired by irqfd to the legacy IRQs (any thread raises them by writing 1). */
  private readonly irqs: LegacyIrqs;
  private readonly platform: LegacyPlatform;
  private readonly pciDevices: PciDevices;
  private readonly logger: Logger;
  private readonly vcpus: Vcpu[] = [];
  private readonly exitCounters: VcpuExitCounters[] = [];
  private threads: VcpuThreads | undefined;
  private resolveExit!: (exit: MachineExit) => void;
  private exitReported = false;
  private destroying: Promise<void> | undefined;

  private constructor(options: MachineOptions, plan: MachinePlan, vm: Vm, ram: GuestRam, irqs: LegacyIrqs, platform: LegacyPlatform, pciDevices: PciDevices) {
    this.config = options.config;
    this.logger = options.logger;
    this.plan = plan;
    this.vm = vm;
    this.ram = ram;
    this.irqs = irqs;
    this.platform = platform;
    this.pciDevices = pciDevices;
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
  }

  /** Builds the VM from `options.config` and starts its vCPUs. */
  static async boot(options: MachineOptions): Promise<Machine> {
    const { config, hypervisor } = options;
    const plan = planMachine(config, hypervisor.supportedCpuid());
    const kernelPath = config.payload.kernel ?? config.payload.firmware;
    if (!kernelPath) throw new MachineError('NO_PAYLOAD', 'the VM has no kernel or firmware to boot');
    const kernel = mapPayload(kernelPath, config.payload.kernel ? '--kernel' : '--firmware');
    let initramfs: MappedFile | undefined;
    try {
      initramfs = config.payload.initramfs ? mapPayload(config.payload.initramfs, '--initramfs') : undefined;
      return await Machine.build(options, plan, kernelPath, kernel.bytes, initramfs?.bytes);
    } finally {
      kernel.unmap();
      initramfs?.unmap();
    }
  }

  private static async build(options: MachineOptions, plan: MachinePlan, kernelPath: string, kernel: Uint8Array, initramfs: Uint8Array | undefined): Promise<Machine> {
    const { config, hypervisor, logger } = options;
    const workers = new VcpuWorkerPool(plan.bootVcpus);
    const pciDevices = new PciDevices(plan.pciDevices, logger);
    const ram = GuestRam.allocate(plan.ram);
    const vm = hypervisor.createVm();
    const irqs: LegacyIrqs = { serial: new EventFd(), ged: new EventFd() };
    let devicesStarted: Promise<void> | undefined;
    try {
      ram.regions.forEach((region, slot) => vm.setMemorySlot({ slot, guestBase: region.guestBase, size: region.size, hostAddress: region.hostAddress }));
      vm.setTssAddress(KVM_TSS_START);
      vm.setIdentityMapAddress(KVM_IDENTITY_MAP_START);
      vm.createIrqchip();
      // ISA IRQs are GSIs of the same number on the in-kernel IOAPIC.
      vm.registerIrqfd(irqs.serial.fd, COM1_IRQ);
      vm.registerIrqfd(irqs.ged.fd, GED_IRQ);
      // The device workers get ready while the rest of the VM is built; the vCPUs start once they are.
      const segment = plan.acpi.pciSegments[0]!;
      devicesStarted = pciDevices.start({
        vm,
        memory: ram.regions,
        windows: { mmio32: segment.mmio32, mmio64: segment.mmio64 },
        logFd: options.logFd,
        logLevel: options.logLevel,
        startTime: options.startTime,
      });

      const acpi = buildAcpiTables(plan.acpi, ram.memory);
      const boot = loadKernel({
        kernel,
        kernelPath,
        ...(initramfs ? { initramfs } : {}),
        cmdline: config.payload.cmdline ?? '',
        memory: ram.memory,
        rsdpAddress: acpi.rsdpAddress,
        e820: buildE820Map(plan.ram),
      });
      writeDescriptorTables(ram.memory);
      writeIdentityPageTables(ram.memory);
      logger.info(`loaded ${kernelPath} (${boot.protocol} entry 0x${boot.entry.toString(16)}), ${plan.bootVcpus} vCPU(s), ${config.memory.size >> 20} MiB`);

      const vcpus = createVcpus(vm, hypervisor, plan, boot);
      const legacy = createLegacySharedState({ serial: plan.acpi.serial, memoryBelow4G: plan.memoryBelow4G, memoryAbove4G: plan.memoryAbove4G });
      const platform = new LegacyPlatform(legacy, {
        serialInterrupt: eventFdInterruptLine(irqs.serial.fd),
        gedInterrupt: eventFdInterruptLine(irqs.ged.fd),
        serialOutput: options.serialOutputFd === undefined ? nullSink : fdSink(options.serialOutputFd),
        firmwareDebugOutput: fdSink(1),
        platform: { requestShutdown: () => {}, requestReset: () => {} },
        logger,
        monotonicClock: () => Number(process.hrtime.bigint() - options.startTime),
        wallClock: Date.now,
        lockMode: 'spin',
      });
      await devicesStarted;
      const machine = new Machine(options, plan, vm, ram, irqs, platform, pciDevices);
      await machine.startVcpus(workers, vcpus, legacy, options);
      return machine;
    } catch (error) {
      await devicesStarted?.catch(() => {});
      await Promise.all([workers.terminate(), pciDevices.stop()]);
      pciDevices.close();
      vm.close();
      ram.release();
      closeIrqs(irqs);
      throw error;
    }
  }

  /** Queues bytes for the guest's serial port; returns how many fit. */
  enqueueSerialInput(bytes: Uint8Array): number {
    return this.platform.enqueueSerialInput(bytes);
  }

  waitForSerialInputSpace(): Promise<void> {
    return this.platform.waitForSerialInputSpace();
  }

  /** The legacy platform devices and their port ranges. */
  devices(): readonly LegacyDeviceInstance[] {
    return this.platform.devices;
  }

  /** The virtio-pci devices: id, BDF and where BAR0 is. */
  pciDeviceInfo(): PciDeviceInfo[] {
    return this.pciDevices.info();
  }

  /** Exits to user space so far, per vCPU. */
  exitCounts(): VcpuExitCounts[] {
    return this.exitCounters.map((counters) => counters.read());
  }

  /** Presses the ACPI power button (the GED notifies \_SB_.PWRB); the guest decides what to do. */
  pressPowerButton(): void {
    this.platform.pressPowerButton();
  }

  injectNmi(): void {
    this.threads?.injectNmi();
  }

  async pause(): Promise<void> {
    await this.threads?.pause();
  }

  resume(): void {
    this.threads?.resume();
  }

  /** Stops the vCPUs (if still running) and releases the VM, its memory and fds. Safe to call more than once. */
  destroy(): Promise<void> {
    this.destroying ??= this.release();
    return this.destroying;
  }

  private async release(): Promise<void> {
    // Together: a vCPU waiting for a device whose backend blocks is released when that device's worker stops.
    await Promise.all([this.threads?.stop(), this.pciDevices.stop()]);
    this.report({ kind: 'stopped' });
    this.vcpus.forEach((vcpu, index) => {
      const { pio, mmio, pciForwarded } = this.exitCounters[index]!.read();
      this.logger.debug(`vCPU ${vcpu.id}: ${pio} port-I/O exits, ${mmio} MMIO exits, ${pciForwarded} accesses forwarded to PCI devices`);
      vcpu.close();
    });
    this.pciDevices.close();
    this.vm.close();
    this.ram.release();
    closeIrqs(this.irqs);
  }

  private async startVcpus(workers: VcpuWorkerPool, vcpus: Vcpu[], legacy: LegacySharedState, options: MachineOptions): Promise<void> {
    this.vcpus.push(...vcpus);
    this.exitCounters.push(...vcpus.map(() => new VcpuExitCounters()));
    const pci = this.pciDevices.viewData();
    this.threads = await workers.start(
      vcpus,
      (vcpu, control) => ({
        vcpu: vcpu.handle(),
        control,
        legacy,
        serialIrqFd: this.irqs.serial.fd,
        serialOutputFd: options.serialOutputFd,
        firmwareDebugFd: 1,
        logFd: options.logFd,
        logLevel: options.logLevel,
        startTime: options.startTime,
        pci,
        exitCounters: this.exitCounters[vcpus.indexOf(vcpu)]!.buffer,
      }),
      (index, reason) => this.onVcpuStop(vcpus[index]!.id, reason),
    );
  }

  private onVcpuStop(vcpu: number, reason: VcpuStopReason): void {
    if (reason.kind === 'stopped') return;
    const exit: MachineExit =
      reason.kind === 'guest-shutdown'
        ? { kind: 'shutdown' }
        : reason.kind === 'guest-reset'
          ? { kind: 'reset' }
          : reason.kind === 'triple-fault'
            ? { kind: 'triple-fault', vcpu }
            : { kind: 'error', vcpu, message: reason.message };
    this.report(exit);
  }

  private report(exit: MachineExit): void {
    if (this.exitReported) return;
    this.exitReported = true;
    this.resolveExit(exit);
  }
}

interface LegacyIrqs {
  serial: EventFd;
  ged: EventFd;
}

function closeIrqs(irqs: LegacyIrqs): void {
  irqs.serial.close();
  irqs.ged.close();
}

function mapPayload(path: string, option: string): MappedFile {
  try {
    return MappedFile.open(path);
  } catch (cause) {
    throw new MachineError('PAYLOAD_UNREADABLE', `${option}: cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
}

/** Creates the boot vCPUs with their CPUID, MSRs, FPU and LAPIC, and puts the boot vCPU at the kernel entry. */
function createVcpus(vm: Vm, hypervisor: Hypervisor, plan: MachinePlan, boot: BootSetup): Vcpu[] {
  const supported = hypervisor.supportedCpuid();
  const vcpus: Vcpu[] = [];
  for (let index = 0; index < plan.bootVcpus; index++) {
    const vcpu = vm.createVcpu(plan.apicIds[index]!);
    vcpu.setCpuid(buildCpuid(supported, { vcpuIndex: index, topology: plan.topology, maxPhysBits: plan.physBits, tscKhz: vcpu.tscKhz() }));
    vcpu.setMsrs(bootMsrs());
    vcpu.setFpu(bootFpu());
    vcpu.setLapic(configureLint(vcpu.getLapic()));
    if (index === 0) {
      const sregs = vcpu.getSpecialRegisters();
      const state = boot.protocol === 'pvh' ? pvhBootState(sregs, boot.entry, boot.startInfoAddress) : linux64BootState(sregs, boot.entry, boot.bootParamsAddress);
      vcpu.setSpecialRegisters(state.sregs);
      vcpu.setRegisters(state.regs);
    }
    vcpus.push(vcpu);
  }
  return vcpus;
}
