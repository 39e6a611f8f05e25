/**
 * The pure part of building a VM: from a validated VmConfig and what the host supports, derive the RAM layout, the
 * CPU topology and APIC IDs, the physical address width, the PCI windows the ACPI tables describe and the PCI
 * devices of segment 0 with their slots.
 */
import type { AcpiConfig } from '../acpi/index.ts';
import {
  ECAM_BYTES_PER_BUS,
  MEM_32BIT_DEVICES_SIZE,
  MEM_32BIT_DEVICES_START,
  PCI_MMCONFIG_START,
  RAM_64BIT_START,
  ramRegions,
  type RamRegion,
} from '../arch/x86_64/layout.ts';
import { apicId, defaultTopology, validateTopology, type CpuTopology } from '../arch/x86_64/topology.ts';
import type { CpuidEntry } from '../hypervisor/x86-types.ts';
import { PciBus } from '../pci/bus.ts';
import { createHostBridge } from '../pci/host-bridge.ts';
import type { DiskConfig, VmConfig } from './config/vm-config.ts';

const MiB = 1 << 20;
const GiB = 2 ** 30;
/** The platform device area (GED, hotplug controllers) is the last MiB below the top of the address space. */
const PLATFORM_DEVICE_AREA_SIZE = MiB;
/** Cloud Hypervisor keeps the last 64 KiB of the physical address space unused. */
const ADDRESS_SPACE_RESERVED_TOP = 64 * 1024;

export interface MachinePlan {
  ram: RamRegion[];
  memoryBelow4G: number;
  memoryAbove4G: number;
  topology: CpuTopology;
  bootVcpus: number;
  maxVcpus: number;
  /** APIC ID (= KVM vCPU id) of each possible vCPU. */
  apicIds: number[];
  physBits: number;
  acpi: AcpiConfig;
  /** The virtio-pci devices of segment 0, in Cloud Hypervisor's creation order. */
  pciDevices: PciDevicePlan[];
}

/** What a virtio-pci device is and where it sits: function 0 of `slot` on bus 0 of segment 0. */
export interface PciDevicePlan {
  /** The device id (`--rng id=`, `--disk id=`, or upstream's automatic one). */
  id: string;
  slot: number;
  device: PlannedDevice;
}

/** The virtio device behind a PCI function, with what its backend needs. */
export type PlannedDevice =
  | { kind: 'rng'; source: string }
  | {
      kind: 'disk';
      /** The raw image file. */
      path: string;
      readonly: boolean;
      numQueues: number;
      queueSize: number;
      /** `--disk serial=`; without it the device id comes from the file (see pci-devices.ts). */
      serial?: string;
      /** No image_type was given: refuse an image that is visibly another format rather than expose it as raw. */
      detectFormat: boolean;
    };

/** Cloud Hypervisor's id of the virtio-rng device it always creates. */
export const RNG_DEVICE_ID = '__rng';
/** Prefix of the automatic ids of disks without `id=`. */
export const DISK_DEVICE_ID_PREFIX = '_disk';

/** Host physical address bits from CPUID 0x80000008 (36 if the leaf is missing). */
export function hostPhysBits(cpuid: readonly CpuidEntry[]): number {
  const leaf = cpuid.find((e) => e.function === 0x80000008);
  return leaf ? leaf.eax & 0xff : 36;
}

export function planMachine(config: VmConfig, supportedCpuid: readonly CpuidEntry[]): MachinePlan {
  const ram = ramRegions(config.memory.size);
  const memoryBelow4G = ram.filter((r) => r.guestBase < RAM_64BIT_START).reduce((sum, r) => sum + r.size, 0);
  const memoryAbove4G = config.memory.size - memoryBelow4G;
  const { boot_vcpus: bootVcpus, max_vcpus: maxVcpus } = config.cpus;
  const topology = config.cpus.topology
    ? {
        threadsPerCore: config.cpus.topology.threads_per_core,
        coresPerDie: config.cpus.topology.cores_per_die,
        diesPerPackage: config.cpus.topology.dies_per_package,
        packages: config.cpus.topology.packages,
      }
    : defaultTopology(maxVcpus);
  validateTopology(topology, maxVcpus);
  const apicIds = Array.from({ length: maxVcpus }, (_, i) => apicId(i, topology));
  const physBits = Math.min(hostPhysBits(supportedCpuid), config.cpus.max_phys_bits);
  const ramEnd = Math.max(...ram.map((r) => r.guestBase + r.size));
  const mmio64Base = Math.ceil(Math.max(ramEnd, RAM_64BIT_START) / GiB) * GiB;
  const mmio64End = 2 ** physBits - ADDRESS_SPACE_RESERVED_TOP - PLATFORM_DEVICE_AREA_SIZE;
  const acpi: AcpiConfig = {
    bootCpus: bootVcpus,
    maxCpus: maxVcpus,
    apicIds,
    serial: config.serial.mode !== 'Off',
    pciSegments: [
      {
        id: 0,
        ecam: { base: PCI_MMCONFIG_START, size: ECAM_BYTES_PER_BUS },
        mmio32: { base: MEM_32BIT_DEVICES_START, size: MEM_32BIT_DEVICES_SIZE },
        mmio64: { base: mmio64Base, size: Math.max(mmio64End - mmio64Base, 0) },
      },
    ],
  };
  const pciDevices = planPciDevices(config);
  return { ram, memoryBelow4G, memoryAbove4G, topology, bootVcpus, maxVcpus, apicIds, physBits, acpi, pciDevices };
}

/**
 * Slots as Cloud Hypervisor hands them out (catalogue §e): devices are created in a fixed order (console, disks,
 * nets, rng, ...; Nimbus has disks and rng so far, and upstream always creates the rng), slots a device names with
 * pci_device_id are reserved first, and the others get the lowest free slot (slot 0 is the host bridge's).
 */
function planPciDevices(config: VmConfig): PciDevicePlan[] {
  const automaticIds = automaticIdAllocator(config);
  const disks = (config.disks ?? []).map((disk) => ({
    id: disk.id ?? automaticIds(DISK_DEVICE_ID_PREFIX),
    slot: disk.pci_device_id,
    device: {
      kind: 'disk',
      path: diskPath(disk),
      readonly: disk.readonly,
      numQueues: disk.num_queues,
      queueSize: disk.queue_size,
      detectFormat: disk.image_type === 'Unknown',
      ...(disk.serial !== undefined ? { serial: disk.serial } : {}),
    } as const,
  }));
  const rng = { id: config.rng.id ?? RNG_DEVICE_ID, slot: config.rng.pci_device_id, device: { kind: 'rng', source: config.rng.src } as const };
  const wanted = [...disks, rng];
  const bus = new PciBus(createHostBridge());
  for (const { slot } of wanted) if (slot !== undefined) bus.reserveSlot(slot);
  return wanted.map(({ id, slot, device }) => ({ id, slot: bus.allocateSlot(slot), device }));
}

/** validate.ts requires path= for every disk that is not vhost-user, and supported.ts refuses vhost-user. */
function diskPath(disk: DiskConfig): string {
  if (disk.path === undefined) throw new Error('a --disk without path= reached the machine plan: validate the configuration first');
  return disk.path;
}

/**
 * Upstream's automatic device names: one counter shared by every prefix, and a name that a device of the
 * configuration already uses as its `id` is skipped.
 */
function automaticIdAllocator(config: VmConfig): (prefix: string) => string {
  const taken = new Set((config.disks ?? []).flatMap((disk) => (disk.id !== undefined ? [disk.id] : [])));
  if (config.rng.id !== undefined) taken.add(config.rng.id);
  let counter = 0;
  return (prefix) => {
    for (;;) {
      const name = `${prefix}${counter++}`;
      if (!taken.has(name)) return name;
    }
  };
}
