/**
 * Parsers for the non-device VM options of the command line (`--cpus`, `--memory`/`--memory-zone`, `--serial`,
 * `--console`, `--debug-console`, `--rng`, `--rtc`, `--balloon`, `--numa`, `--platform`, `--pci-segment`, `--tpm`,
 * `--landlock-rules`) into `VmConfig` shapes, with Cloud Hypervisor's keys and per-key defaults
 * (vmm/src/config.rs `*Config::parse`). Cross-field rules are left to `validateVmConfig`.
 */
import {
  DEFAULT_DEBUG_CONSOLE_IOBASE,
  DEFAULT_MEMORY_SIZE,
  DEFAULT_PCI_SEGMENT_APERTURE_WEIGHT,
  DEFAULT_RNG_SOURCE,
  defaultCpusConfig,
  defaultMemoryConfig,
  defaultPlatformConfig,
} from '../vmm/config/defaults.ts';
import { omitUndefined } from '../vmm/config/omit-undefined.ts';
import type {
  BalloonConfig,
  ConsoleConfig,
  ConsoleMode,
  CpusConfig,
  CpuTopology,
  DebugConsoleConfig,
  LandlockConfig,
  MemoryConfig,
  MemoryZoneConfig,
  NumaConfig,
  PciSegmentConfig,
  PlatformConfig,
  RngConfig,
  RtcConfig,
  SerialConfig,
  TpmConfig,
} from '../vmm/config/vm-config.ts';
import { CliError } from './cli-error.ts';
import { PCI_COMMON_IOMMU_KEYS, parsePciCommon } from './device-option-parsers.ts';
import {
  dequote,
  EXPECTED_INDEXED_LISTS,
  parseIndexedIntegerList,
  parseInteger,
  parseSubOptions,
  type SubOptions,
} from './option-parser.ts';

const CORE_SCHEDULING_MODES = { vm: 'Vm', vcpu: 'Vcpu', off: 'Off' } as const;
const CPU_PROFILES = { Host: 'Host' } as const;
const CPU_FEATURES = ['amx'];

function parseTopology(text: string): CpuTopology | undefined {
  const parts = dequote(text).split(':').map((part) => parseInteger(part, 'u16'));
  if (parts.length !== 4 || parts.includes(undefined)) return undefined;
  const [threadsPerCore, coresPerDie, diesPerPackage, packages] = parts as [number, number, number, number];
  return { threads_per_core: threadsPerCore, cores_per_die: coresPerDie, dies_per_package: diesPerPackage, packages };
}

export function parseCpus(input: string): CpusConfig {
  const options = parseSubOptions('--cpus', input, {
    values: [
      'boot', 'max', 'topology', 'kvm_hyperv', 'max_phys_bits', 'affinity', 'features', 'nested', 'core_scheduling',
      'profile',
    ],
  });
  const defaults = defaultCpusConfig();
  const boot = options.integer('boot', 'u32') ?? defaults.boot_vcpus;
  const features = options.stringList('features') ?? [];
  if (features.some((feature) => !CPU_FEATURES.includes(feature))) {
    throw options.invalid('features', `a list of CPU features; known features are ${CPU_FEATURES.join(', ')}`);
  }
  return omitUndefined<CpusConfig>({
    boot_vcpus: boot,
    max_vcpus: options.integer('max', 'u32') ?? boot,
    topology: options.convert('topology', parseTopology, '<threads_per_core>:<cores_per_die>:<dies_per_package>:<packages>'),
    kvm_hyperv: options.toggle('kvm_hyperv') ?? defaults.kvm_hyperv,
    max_phys_bits: options.integer('max_phys_bits', 'u8') ?? defaults.max_phys_bits,
    affinity: options.tupleList('affinity', EXPECTED_INDEXED_LISTS, (pair) => {
      const item = parseIndexedIntegerList(pair, 'u32', 'u64');
      return item && { vcpu: item.index, host_cpus: item.values };
    }),
    features: { amx: features.includes('amx') },
    nested: options.toggle('nested') ?? defaults.nested,
    core_scheduling: options.choice('core_scheduling', CORE_SCHEDULING_MODES, true) ?? defaults.core_scheduling,
    profile: options.choice('profile', CPU_PROFILES, false) ?? defaults.profile,
  });
}

const HOTPLUG_METHODS = { acpi: 'Acpi', 'virtio-mem': 'VirtioMem' } as const;

/** `--memory` plus every `--memory-zone`; a zone's `mergeable` defaults to the memory's. */
export function parseMemory(input: string, zones: readonly string[] | undefined): MemoryConfig {
  const options = parseSubOptions('--memory', input, {
    values: [
      'size', 'file', 'mergeable', 'hotplug_method', 'hotplug_size', 'hotplugged_size', 'shared', 'hugepages',
      'hugepage_size', 'prefault', 'reserve', 'thp',
    ],
  });
  if (options.isSet('file')) {
    throw new CliError(
      'IGNORED_KEY',
      '--memory: key "file" is ignored by Cloud Hypervisor and refused by Nimbus; use --memory-zone file=<path>',
    );
  }
  const defaults = defaultMemoryConfig();
  const mergeable = options.toggle('mergeable') ?? defaults.mergeable;
  return omitUndefined<MemoryConfig>({
    size: options.byteSize('size') ?? defaults.size,
    hotplug_size: options.byteSize('hotplug_size'),
    hotplugged_size: options.byteSize('hotplugged_size'),
    mergeable,
    hotplug_method: options.choice('hotplug_method', HOTPLUG_METHODS, true) ?? defaults.hotplug_method,
    shared: options.toggle('shared') ?? defaults.shared,
    hugepages: options.toggle('hugepages') ?? defaults.hugepages,
    hugepage_size: options.byteSize('hugepage_size'),
    prefault: options.toggle('prefault') ?? defaults.prefault,
    reserve: options.toggle('reserve') ?? defaults.reserve,
    thp: options.toggle('thp') ?? defaults.thp,
    zones: zones?.map((zone) => parseMemoryZone(zone, mergeable)),
  });
}

function parseMemoryZone(input: string, mergeableDefault: boolean): MemoryZoneConfig {
  const options = parseSubOptions('--memory-zone', input, {
    values: [
      'id', 'size', 'file', 'shared', 'hugepages', 'hugepage_size', 'host_numa_node', 'hotplug_size', 'hotplugged_size',
      'prefault', 'reserve', 'mergeable',
    ],
  });
  return omitUndefined<MemoryZoneConfig>({
    id: options.requiredString('id', '<zone_identifier>'),
    size: options.byteSize('size') ?? DEFAULT_MEMORY_SIZE,
    file: options.string('file'),
    mergeable: options.toggle('mergeable') ?? mergeableDefault,
    shared: options.toggle('shared') ?? false,
    hugepages: options.toggle('hugepages') ?? false,
    hugepage_size: options.byteSize('hugepage_size'),
    host_numa_node: options.integer('host_numa_node', 'u32'),
    hotplug_size: options.byteSize('hotplug_size'),
    hotplugged_size: options.byteSize('hotplugged_size'),
    prefault: options.toggle('prefault') ?? false,
    reserve: options.toggle('reserve') ?? false,
  });
}

const OUTPUT_MODE_FLAGS = ['off', 'pty', 'tty', 'null'] as const;
const OUTPUT_MODES: Readonly<Record<(typeof OUTPUT_MODE_FLAGS)[number], ConsoleMode>> = {
  off: 'Off',
  pty: 'Pty',
  tty: 'Tty',
  null: 'Null',
};

interface ConsoleOutput {
  mode: ConsoleMode;
  file: string | undefined;
  socket: string | undefined;
}

/** The first mode found in upstream's order off, pty, tty, null, file=, socket=. */
function parseConsoleOutput(options: SubOptions, modes: string): ConsoleOutput {
  const flag = OUTPUT_MODE_FLAGS.find((mode) => options.isSet(mode));
  if (flag !== undefined) return { mode: OUTPUT_MODES[flag], file: undefined, socket: undefined };
  if (options.isSet('file')) return { mode: 'File', file: options.string('file'), socket: undefined };
  if (options.isSet('socket')) return { mode: 'Socket', file: undefined, socket: options.string('socket') };
  throw new CliError('INVALID_VALUE', `${options.option}: no output mode given; use one of ${modes}`);
}

export function parseSerial(input: string): SerialConfig {
  const options = parseSubOptions('--serial', input, { flags: OUTPUT_MODE_FLAGS, values: ['file', 'socket'] });
  return omitUndefined<SerialConfig>(parseConsoleOutput(options, 'off, null, pty, tty, file=<path>, socket=<path>'));
}

export function parseConsole(input: string): ConsoleConfig {
  const options = parseSubOptions('--console', input, {
    flags: OUTPUT_MODE_FLAGS,
    values: ['file', 'socket', ...PCI_COMMON_IOMMU_KEYS],
  });
  const output = parseConsoleOutput(options, 'off, null, pty, tty, file=<path>');
  return omitUndefined<ConsoleConfig>({ ...output, ...parsePciCommon(options) });
}

/** `iobase` must be hexadecimal with a `0x` prefix, like upstream. */
function parseIoPort(text: string): number | undefined {
  return /^0x[0-9a-fA-F]{1,4}$/.test(text) ? Number.parseInt(text.slice(2), 16) : undefined;
}

export function parseDebugConsole(input: string): DebugConsoleConfig {
  const options = parseSubOptions('--debug-console', input, { flags: OUTPUT_MODE_FLAGS, values: ['file', 'iobase'] });
  const { mode, file } = parseConsoleOutput(options, 'off, null, pty, tty, file=<path>');
  const example = `0x${DEFAULT_DEBUG_CONSOLE_IOBASE.toString(16)}`;
  const iobase = options.convert('iobase', (value) => parseIoPort(dequote(value)), `an I/O port in hex with a 0x prefix, like ${example}`);
  return omitUndefined<DebugConsoleConfig>({ mode, file, iobase });
}

export function parseRng(input: string): RngConfig {
  const options = parseSubOptions('--rng', input, { values: ['src', ...PCI_COMMON_IOMMU_KEYS] });
  return omitUndefined<RngConfig>({ ...parsePciCommon(options), src: options.string('src') ?? DEFAULT_RNG_SOURCE });
}

export function parseRtc(input: string): RtcConfig {
  const options = parseSubOptions('--rtc', input, { values: PCI_COMMON_IOMMU_KEYS });
  return omitUndefined<RtcConfig>(parsePciCommon(options));
}

export function parseBalloon(input: string): BalloonConfig {
  const options = parseSubOptions('--balloon', input, {
    values: ['size', 'deflate_on_oom', 'free_page_reporting', ...PCI_COMMON_IOMMU_KEYS],
  });
  return omitUndefined<BalloonConfig>({
    ...parsePciCommon(options),
    size: options.byteSize('size') ?? 0,
    deflate_on_oom: options.toggle('deflate_on_oom') ?? false,
    free_page_reporting: options.toggle('free_page_reporting') ?? false,
  });
}

export function parseNuma(input: string): NumaConfig {
  const options = parseSubOptions('--numa', input, {
    values: ['guest_numa_id', 'cpus', 'distances', 'device_id', 'memory_zones', 'pci_segments'],
  });
  const guestNumaId = options.integer('guest_numa_id', 'u32');
  if (guestNumaId === undefined) {
    throw new CliError('MISSING_KEY', '--numa: guest_numa_id=<node_id> is required for every NUMA node');
  }
  return omitUndefined<NumaConfig>({
    guest_numa_id: guestNumaId,
    cpus: options.integerList('cpus', 'u32'),
    distances: options.tupleList('distances', 'a list like [1@15,2@20] (node@distance, distance up to 255)', (pair) => {
      const destination = parseInteger(dequote(pair.key), 'u32');
      const distance = parseInteger(pair.value, 'u8');
      return destination === undefined || distance === undefined ? undefined : { destination, distance };
    }),
    memory_zones: options.stringList('memory_zones'),
    pci_segments: options.integerList('pci_segments', 'u16'),
    device_id: options.string('device_id'),
  });
}

const SMBIOS_KEYS = [
  'system_manufacturer', 'system_product_name', 'system_version', 'system_serial_number', 'system_uuid',
  'system_sku_number', 'system_family', 'chassis_asset_tag',
] as const;

export function parsePlatform(input: string, warn: (message: string) => void): PlatformConfig {
  const options = parseSubOptions('--platform', input, {
    values: [
      'num_pci_segments', 'iommu_segments', 'iommu_address_width', 'serial_number', 'uuid', 'oem_strings', 'iommufd',
      'iommufd_fd', 'vfio_p2p_dma', ...SMBIOS_KEYS,
    ],
  });
  const defaults = defaultPlatformConfig();
  const legacySerial = options.string('serial_number');
  if (legacySerial !== undefined) warn("'serial_number' in --platform is deprecated; use 'system_serial_number'.");
  const legacyUuid = options.string('uuid');
  if (legacyUuid !== undefined) warn("'uuid' in --platform is deprecated; use 'system_uuid'.");
  const iommufdFd = options.integer('iommufd_fd', 'i32');
  return omitUndefined<PlatformConfig>({
    num_pci_segments: options.integer('num_pci_segments', 'u16') ?? defaults.num_pci_segments,
    iommu_segments: options.integerList('iommu_segments', 'u16'),
    iommu_address_width_bits: options.integer('iommu_address_width', 'u8') ?? defaults.iommu_address_width_bits,
    system_serial_number: options.string('system_serial_number') ?? legacySerial,
    system_uuid: options.string('system_uuid') ?? legacyUuid,
    oem_strings: options.stringList('oem_strings'),
    system_manufacturer: options.string('system_manufacturer'),
    system_product_name: options.string('system_product_name'),
    system_version: options.string('system_version'),
    system_family: options.string('system_family'),
    system_sku_number: options.string('system_sku_number'),
    chassis_asset_tag: options.string('chassis_asset_tag'),
    tdx: undefined,
    sev_snp: undefined,
    // Giving iommufd_fd implies iommufd=on unless iommufd is set explicitly.
    iommufd: options.toggle('iommufd') ?? iommufdFd !== undefined,
    iommufd_fd: iommufdFd,
    vfio_p2p_dma: options.toggle('vfio_p2p_dma') ?? defaults.vfio_p2p_dma,
  });
}

export function parsePciSegment(input: string): PciSegmentConfig {
  const options = parseSubOptions('--pci-segment', input, {
    values: ['mmio32_aperture_weight', 'mmio64_aperture_weight', 'pci_segment'],
  });
  return {
    pci_segment: options.integer('pci_segment', 'u16') ?? 0,
    mmio32_aperture_weight: options.integer('mmio32_aperture_weight', 'u32') ?? DEFAULT_PCI_SEGMENT_APERTURE_WEIGHT,
    mmio64_aperture_weight: options.integer('mmio64_aperture_weight', 'u32') ?? DEFAULT_PCI_SEGMENT_APERTURE_WEIGHT,
  };
}

export function parseTpm(input: string): TpmConfig {
  const options = parseSubOptions('--tpm', input, { values: ['socket'] });
  return { socket: options.requiredString('socket', '</path/to/a/socket>') };
}

export function parseLandlockRule(input: string): LandlockConfig {
  const options = parseSubOptions('--landlock-rules', input, { values: ['path', 'access'] });
  return { path: options.requiredString('path', '<path/to/{file/dir}>'), access: options.requiredString('access', '[rw]') };
}
