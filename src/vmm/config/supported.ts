/**
 * What Nimbus implements today, and the one place that rejects everything else with "`--<option>` is not supported by
 * Nimbus yet". The CLI and the REST API both call `checkSupported` on a validated config; as features land, their
 * checks are removed here and they are added to `SUPPORTED_FEATURES`.
 */
import { ConfigError } from './config-error.ts';
import { defaultCpusConfig, defaultMemoryConfig } from './defaults.ts';
import { optionForField } from './option-names.ts';
import type { CpusConfig, DiskConfig, ImageType, MemoryConfig, VmConfig, VmConfigField } from './vm-config.ts';
import type { VmmOptions } from './vmm-options.ts';

export interface SupportedFeature {
  option: string;
  /** Which values or keys of the option are implemented. */
  scope: string;
}

/** The configuration Nimbus builds today (shown by `--help`). */
export const SUPPORTED_FEATURES: readonly SupportedFeature[] = [
  { option: '--kernel', scope: 'ELF vmlinux with a PVH entry point, or a bzImage' },
  { option: '--firmware', scope: 'PVH ELF firmware, loaded like a kernel' },
  { option: '--initramfs', scope: 'initramfs image' },
  { option: '--cmdline', scope: 'kernel command line' },
  { option: '--cpus', scope: 'boot, max, topology, max_phys_bits' },
  { option: '--memory', scope: 'size' },
  { option: '--serial', scope: 'off, null, tty, file=<path>' },
  { option: '--console', scope: 'off (omitting it is fine too)' },
  { option: '--disk', scope: 'path=<raw image>, readonly, direct=off, num_queues, queue_size, serial, id, pci_device_id (virtio-blk)' },
  { option: '--rng', scope: 'src=<path>, id, pci_device_id (virtio-rng; always present, like Cloud Hypervisor)' },
  { option: '-v', scope: 'log verbosity' },
  { option: '--log-file', scope: 'log to a file' },
  { option: '--seccomp', scope: 'false only (no syscall filter exists yet)' },
  { option: '--no-shutdown', scope: 'keep the VMM running after the guest powers off' },
  { option: '--event-monitor', scope: 'path=<path> or fd=<fd>: lifecycle events as JSON' },
  { option: '--api-socket', scope: 'path=<path> or fd=<fd>: the REST API (see nimbus-remote)' },
];

function unsupported(what: string, field: string, hint = ''): ConfigError {
  return new ConfigError('UNSUPPORTED', field, `${what} is not supported by Nimbus yet${hint} [${field}]`);
}

/**
 * Throws a ConfigError (code UNSUPPORTED) for the first setting of `config` that Nimbus cannot build yet.
 * `given` lists the top-level fields the user set explicitly (options on the command line, keys in the API JSON):
 * upstream's implicit default for `console` (tty) is accepted, an explicit one is not.
 */
export function checkSupported(config: VmConfig, given: ReadonlySet<VmConfigField>): void {
  const payload = config.payload;
  if (payload.igvm !== undefined) throw unsupported('--igvm', 'payload.igvm');
  if (payload.host_data !== undefined) throw unsupported('--host-data', 'payload.host_data');
  checkCpus(config.cpus);
  checkMemory(config.memory);
  const serialMode = config.serial.mode;
  if (serialMode === 'Pty' || serialMode === 'Socket') {
    throw unsupported(`--serial ${serialMode.toLowerCase()}`, 'serial.mode', '; use off, null, tty or file=<path>');
  }
  if (given.has('console') && config.console.mode !== 'Off') {
    const what = `--console ${config.console.mode.toLowerCase()}`;
    throw unsupported(what, 'console.mode', ' (no virtio-console yet); use --console off');
  }
  if (config.rng.iommu) throw unsupported('--rng iommu=on', 'rng.iommu', ' (no virtual IOMMU yet)');
  if (config.debug_console.mode !== 'Off') throw unsupported('--debug-console', 'debug_console.mode');
  config.disks?.forEach(checkDisk);

  const devices: VmConfigField[] = [
    'rate_limit_groups', 'net', 'balloon', 'fs', 'generic_vhost_user', 'pmem', 'devices', 'user_devices',
    'vdpa', 'vsock', 'numa', 'rtc', 'pci_segments', 'platform', 'tpm', 'landlock_rules',
  ];
  const present = devices.find((field) => config[field] !== undefined);
  if (present !== undefined) throw unsupported(optionForField(present), present);
  const flags: VmConfigField[] = ['iommu', 'watchdog', 'pvpanic', 'landlock_enable'];
  const enabled = flags.find((field) => config[field] === true);
  if (enabled !== undefined) throw unsupported(optionForField(enabled), enabled);
}

/** Any key of --cpus other than boot, max, topology and max_phys_bits must keep its default. */
function checkCpus(cpus: CpusConfig): void {
  const defaults = defaultCpusConfig();
  if (cpus.kvm_hyperv !== defaults.kvm_hyperv) throw unsupported('--cpus kvm_hyperv', 'cpus.kvm_hyperv');
  if (cpus.affinity !== undefined) throw unsupported('--cpus affinity', 'cpus.affinity');
  if (cpus.features.amx !== defaults.features.amx) throw unsupported('--cpus features', 'cpus.features');
  if (cpus.nested !== defaults.nested) throw unsupported('--cpus nested', 'cpus.nested');
  if (cpus.core_scheduling !== defaults.core_scheduling) throw unsupported('--cpus core_scheduling', 'cpus.core_scheduling');
}

/** Any key of --memory other than size must keep its default. */
function checkMemory(memory: MemoryConfig): void {
  if (memory.zones !== undefined) throw unsupported('--memory-zone', 'memory.zones');
  const defaults = defaultMemoryConfig();
  const keys = [
    'hotplug_size', 'hotplugged_size', 'mergeable', 'hotplug_method', 'shared', 'hugepages', 'hugepage_size', 'prefault',
    'reserve', 'thp',
  ] as const;
  for (const key of keys) {
    if (memory[key] !== defaults[key]) throw unsupported(`--memory ${key}`, `memory.${key}`);
  }
}

/**
 * A --disk is a raw image opened with buffered, synchronous I/O: path, readonly, num_queues, queue_size, serial,
 * id and pci_device_id are built; every other key must keep its default.
 */
function checkDisk(disk: DiskConfig, index: number): void {
  const field = (key: string): string => `disks[${index}].${key}`;
  if (disk.direct) {
    throw unsupported(
      '--disk direct=on',
      field('direct'),
      ' (O_DIRECT needs block-aligned buffers, which Node.js cannot allocate for bounce copies and zeroing); use direct=off',
    );
  }
  if (disk.image_type !== 'Unknown' && disk.image_type !== 'Raw') {
    throw unsupported(`--disk image_type=${IMAGE_TYPE_NAMES[disk.image_type]}`, field('image_type'), '; only raw images are built');
  }
  if (disk.iommu) throw unsupported('--disk iommu=on', field('iommu'), ' (no virtual IOMMU yet)');
  if (disk.pci_segment !== 0) throw unsupported('--disk pci_segment', field('pci_segment'), ' (only PCI segment 0 exists)');
  const defaults = { vhost_user: false, disable_io_uring: false, disable_aio: false, backing_files: false, sparse: true, lock_granularity: 'ByteRange' };
  const changed = (Object.keys(defaults) as (keyof typeof defaults)[]).find((key) => disk[key] !== defaults[key]);
  if (changed !== undefined) throw unsupported(`--disk ${diskKeyName(changed)}`, field(changed));
  const absent = (['vhost_socket', 'rate_limit_group', 'rate_limiter_config', 'queue_affinity'] as const).find((key) => disk[key] !== undefined);
  if (absent !== undefined) throw unsupported(`--disk ${diskKeyName(absent)}`, field(absent));
}

/** The CLI spelling of each image type. */
const IMAGE_TYPE_NAMES: Record<ImageType, string> = { FixedVhd: 'vhd', Qcow2: 'qcow2', Raw: 'raw', Vhdx: 'vhdx', FlatVmdk: 'vmdk', Unknown: 'unknown' };

/** The CLI spelling of a DiskConfig field. */
function diskKeyName(key: keyof DiskConfig): string {
  const names: Partial<Record<keyof DiskConfig, string>> = {
    vhost_socket: 'socket',
    rate_limiter_config: 'bw_*/ops_*',
    disable_io_uring: '_disable_io_uring',
    disable_aio: '_disable_aio',
  };
  return names[key] ?? key;
}

/** Throws a ConfigError (code UNSUPPORTED) for the first VMM option Nimbus does not implement yet. */
export function checkVmmSupported(options: VmmOptions): void {
  if (options.logFormat !== undefined) throw unsupported('--log-format', 'logFormat');
  // No syscall filter exists yet: only `--seccomp false` (no filtering) describes what Nimbus does.
  if (options.seccomp !== undefined && options.seccomp !== 'false') throw unsupported('--seccomp', 'seccomp');
  if (options.restore !== undefined) throw unsupported('--restore', 'restore');
}
