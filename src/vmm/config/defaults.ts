/**
 * Cloud Hypervisor's configuration defaults (vmm/src/vm_config.rs and the CLI's default option strings), declared
 * once: the CLI parsers start from these builders and the REST API fills omitted JSON fields with them.
 */
import type {
  ConsoleConfig,
  CpusConfig,
  DebugConsoleConfig,
  MemoryConfig,
  PayloadConfig,
  PlatformConfig,
  RngConfig,
  SerialConfig,
  VmConfig,
} from './vm-config.ts';

export const MIB = 1 << 20;

export const DEFAULT_VCPUS = 1;
export const DEFAULT_MAX_PHYS_BITS = 46;
export const DEFAULT_MEMORY_SIZE = 512 * MIB;
export const DEFAULT_RNG_SOURCE = '/dev/urandom';
export const DEFAULT_DEBUG_CONSOLE_IOBASE = 0xe9;
export const DEFAULT_DISK_NUM_QUEUES = 1;
export const DEFAULT_DISK_QUEUE_SIZE = 128;
export const DEFAULT_NET_NUM_QUEUES = 2;
export const DEFAULT_NET_QUEUE_SIZE = 256;
export const DEFAULT_FS_NUM_QUEUES = 1;
export const DEFAULT_FS_QUEUE_SIZE = 1024;
export const DEFAULT_VDPA_NUM_QUEUES = 1;
export const DEFAULT_NUM_PCI_SEGMENTS = 1;
export const DEFAULT_IOMMU_ADDRESS_WIDTH_BITS = 64;
export const DEFAULT_PCI_SEGMENT_APERTURE_WEIGHT = 1;

export function defaultCpusConfig(): CpusConfig {
  return {
    boot_vcpus: DEFAULT_VCPUS,
    max_vcpus: DEFAULT_VCPUS,
    kvm_hyperv: false,
    max_phys_bits: DEFAULT_MAX_PHYS_BITS,
    features: { amx: false },
    nested: true,
    core_scheduling: 'Vm',
    profile: 'Host',
  };
}

export function defaultMemoryConfig(): MemoryConfig {
  return {
    size: DEFAULT_MEMORY_SIZE,
    mergeable: false,
    hotplug_method: 'Acpi',
    shared: false,
    hugepages: false,
    prefault: false,
    reserve: false,
    thp: true,
  };
}

export function defaultRngConfig(): RngConfig {
  return { src: DEFAULT_RNG_SOURCE, iommu: false, pci_segment: 0 };
}

export function defaultSerialConfig(): SerialConfig {
  return { mode: 'Null' };
}

export function defaultConsoleConfig(): ConsoleConfig {
  return { mode: 'Tty', iommu: false, pci_segment: 0 };
}

export function defaultDebugConsoleConfig(): DebugConsoleConfig {
  return { mode: 'Off', iobase: DEFAULT_DEBUG_CONSOLE_IOBASE };
}

export function defaultPlatformConfig(): PlatformConfig {
  return {
    num_pci_segments: DEFAULT_NUM_PCI_SEGMENTS,
    iommu_address_width_bits: DEFAULT_IOMMU_ADDRESS_WIDTH_BITS,
    iommufd: false,
    vfio_p2p_dma: true,
  };
}

/** The configuration Cloud Hypervisor uses when only a payload is given. */
export function defaultVmConfig(payload: PayloadConfig): VmConfig {
  return {
    cpus: defaultCpusConfig(),
    memory: defaultMemoryConfig(),
    payload,
    rng: defaultRngConfig(),
    serial: defaultSerialConfig(),
    console: defaultConsoleConfig(),
    debug_console: defaultDebugConsoleConfig(),
    iommu: false,
    watchdog: false,
    pvpanic: false,
    landlock_enable: false,
  };
}
