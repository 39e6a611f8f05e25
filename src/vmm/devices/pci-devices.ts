/**
 * The virtio-pci devices of a VM, from the main thread: one I/O worker per device (spawned as the VM build begins,
 * so their start-up overlaps it), the VM-wide BAR map and GSI route table they share, BAR placement in the
 * segment's 64-bit window, the backend files the main thread opens for them (`--rng src=`, `--disk path=`), what
 * each vCPU worker needs to reach them, and their orderly stop (counters go to the debug log).
 */
import { closeSync, openSync } from 'node:fs';
import type { Vm } from '../../hypervisor/hypervisor.ts';
import type { MappedRegion } from '../../host/guest-memory-views.ts';
import { PCI_DEVICES_PER_BUS } from '../../pci/bus.ts';
import type { Logger, LogLevel } from '../../util/logger.ts';
import { VIRTIO_PCI_BAR } from '../../virtio/transport/virtio-pci-layout.ts';
import type { PciViewData } from '../../vstate/pci-view.ts';
import type { PciDevicePlan } from '../machine-plan.ts';
import { BarMap, type BarMapData, type BarWindows } from './bar-map.ts';
import { openDiskImage } from './disk-file.ts';
import { GsiRouteTable } from './gsi-routes.ts';
import type { IoWorkerCounters, VirtioDeviceSpec } from './io-worker-protocol.ts';
import { IoWorkerThread } from './io-worker-thread.ts';
import { PciDeviceError } from './pci-device-error.ts';

/** What start() needs from the VM being built. */
export interface PciDevicesContext {
  vm: Vm;
  memory: readonly MappedRegion[];
  windows: BarWindows;
  logFd: number;
  logLevel: LogLevel;
  startTime: bigint;
}

/** A running device as the VMM reports it (vm.info's device tree, counters). */
export interface PciDeviceInfo {
  id: string;
  /** segment:bus:device.function, as Cloud Hypervisor prints it. */
  bdf: string;
  /** Where BAR0 is now (the guest may have moved it); undefined before start(). */
  barAddress: number | undefined;
}

interface RunningDevice {
  readonly plan: PciDevicePlan;
  readonly thread: IoWorkerThread;
}

export class PciDevices {
  private readonly devices: RunningDevice[];
  private readonly logger: Logger;
  private readonly openFds: number[] = [];
  private barMap: { data: BarMapData; map: BarMap } | undefined;

  /** Spawns one I/O worker per planned device; they wait for start(). */
  constructor(plans: readonly PciDevicePlan[], logger: Logger) {
    this.logger = logger;
    this.devices = plans.map((plan) => ({ plan, thread: new IoWorkerThread(plan.id, logger) }));
  }

  /** Opens the backends, places each BAR0 and starts the workers. On failure the caller still calls stop() and close(). */
  async start(context: PciDevicesContext): Promise<void> {
    const barMapData = BarMap.create(PCI_DEVICES_PER_BUS, context.windows);
    const barMap = new BarMap(barMapData, 'spin');
    this.barMap = { data: barMapData, map: barMap };
    const gsiRoutes = GsiRouteTable.create();
    const memory = context.memory.map(({ guestBase, size, hostAddress }) => ({ guestBase, size, hostAddress }));
    await Promise.all(
      this.devices.map(({ plan, thread }, index) => {
        const device = this.openBackend(plan);
        const barAddress = barMap.allocate(index, 'memory64', VIRTIO_PCI_BAR.SIZE, VIRTIO_PCI_BAR.ALIGNMENT);
        this.logger.debug(`${plan.id}: ${bdf(plan.slot)}, BAR0 at 0x${barAddress.toString(16)}`);
        return thread.start({
          index,
          device,
          vm: context.vm.handle(),
          memory,
          barAddress,
          barMap: barMapData,
          gsiRoutes,
          logFd: context.logFd,
          logLevel: context.logLevel,
          startTime: context.startTime,
        });
      }),
    );
  }

  /** What a vCPU worker needs to reach the devices (after start()). */
  viewData(): PciViewData {
    if (!this.barMap) throw new Error('PciDevices.viewData() before start()');
    const functions = this.devices.map(({ plan, thread }) => ({ slot: plan.slot, mailbox: thread.mailbox, doorbellFd: thread.doorbell.fd }));
    return { functions, barMap: this.barMap.data };
  }

  info(): PciDeviceInfo[] {
    return this.devices.map(({ plan }, index) => ({ id: plan.id, bdf: bdf(plan.slot), barAddress: this.barMap?.map.barOf(index)?.address }));
  }

  /** Stops every worker (a vCPU waiting on one is released) and logs what each counted. */
  async stop(): Promise<void> {
    await Promise.all(
      this.devices.map(async ({ plan, thread }) => {
        const counters = await thread.stop();
        if (counters) this.logger.debug(`${plan.id}: ${describeCounters(counters)}`);
      }),
    );
  }

  /** Closes the doorbells and backend files; after stop() and after the vCPU workers exited. */
  close(): void {
    for (const { thread } of this.devices) thread.close();
    for (const fd of this.openFds.splice(0)) closeSync(fd);
  }

  private openBackend(plan: PciDevicePlan): VirtioDeviceSpec {
    const { device } = plan;
    switch (device.kind) {
      case 'rng': {
        let sourceFd: number;
        try {
          sourceFd = openSync(device.source, 'r');
        } catch (cause) {
          const message = `--rng: cannot open the entropy source ${device.source}: ${(cause as Error).message}`;
          throw new PciDeviceError('RNG_SOURCE_UNREADABLE', message, { cause });
        }
        this.openFds.push(sourceFd);
        return { kind: 'rng', sourceFd };
      }
      case 'disk': {
        const { readonly, numQueues, queueSize } = device;
        const { fd, serial } = openDiskImage(device);
        this.openFds.push(fd);
        return { kind: 'disk', fd, readonly, numQueues, queueSize, serial };
      }
    }
  }
}

/** Cloud Hypervisor's BDF notation for function 0 of `slot` on segment 0, bus 0. */
function bdf(slot: number): string {
  return `0000:00:${slot.toString(16).padStart(2, '0')}.0`;
}

function describeCounters(counters: IoWorkerCounters): string {
  return (
    `${counters.ioeventfdNotifications} queue notifications through ioeventfds, ${counters.exitNotifications} through MMIO exits, ` +
    `${counters.forwardedAccesses} forwarded register accesses, ${counters.interrupts} MSI-X interrupts`
  );
}
