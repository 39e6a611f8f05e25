/**
 * Validation of a VM configuration: Cloud Hypervisor's rules (vmm/src/config.rs `VmConfig::validate` and the
 * per-device `validate` methods, x86_64 with default features) plus a few checks upstream only hits later at boot
 * (no guest memory, a disk without a backend, zero queues). Used by the CLI after parsing and by the REST API on
 * `vm.create`; every error is a ConfigError naming the CLI option and the JSON field.
 */
import { VIRTIO_BLK_ID_BYTES } from '../../virtio/devices/block/virtio-blk-layout.ts';
import { configError } from './config-error.ts';
import { validateNuma, validatePciPlacement, validatePciSegments, validatePlatform } from './validate-platform.ts';
import type {
  ConsoleMode,
  CpusConfig,
  DeviceConfig,
  MemoryConfig,
  PayloadConfig,
  PciDeviceCommonConfig,
  PlatformConfig,
  RateLimiterConfig,
  VmConfig,
} from './vm-config.ts';

/** vCPU limit of Cloud Hypervisor with KVM on x86_64. */
export const MAX_SUPPORTED_CPUS = 8192;
const MAX_THREADS_PER_CORE = 2;
/** Largest power of two that fits the u16 virtio queue size. */
const VIRTIO_MAX_QUEUE_SIZE = 32768;
/** virtio-blk needs more than 2 descriptors per queue to advertise a usable seg_max. */
const MINIMUM_BLOCK_QUEUE_SIZE = 2;
const VIRTIO_FS_TAG_LEN = 36;
/** virtio-net minimum MTU (virtio spec). */
const MIN_MTU = 1280;
const VIRTIO_ID_IOMMU = 23;
const VIRTIO_ID_WATCHDOG = 35;
/** Reserved VSOCK context ids: any (-1 as u32), hypervisor, local, host. */
const SPECIAL_VSOCK_CIDS = [0xffffffff, 0, 1, 2];
const MAX_VSOCK_CID = 0xffffffff;
const MAX_PCI_BAR_INDEX = 5;

export interface ValidatedVmConfig {
  /**
   * The input with upstream's normalisation applied: `iommu` is set when any device sits behind the virtual IOMMU
   * (or the platform has IOMMU segments), and a firmware payload's `cmdline`/`initramfs` are dropped.
   */
  config: VmConfig;
  /** What upstream logs as warnings; the caller prints them once logging is set up. */
  warnings: string[];
}

/** Checks `input` against every validation rule; throws the first ConfigError found. Does not modify `input`. */
export function validateVmConfig(input: VmConfig): ValidatedVmConfig {
  const warnings: string[] = [];
  const config: VmConfig = { ...input, payload: validatePayload(input.payload, warnings) };
  validateConsoleOutput('serial', config.serial.mode, config.serial.file, config.serial.socket);
  validateConsoleOutput('console', config.console.mode, config.console.file, config.console.socket);
  validateConsoleOutput('debug_console', config.debug_console.mode, config.debug_console.file, undefined);
  validateCpus(config.cpus);
  validateMemory(config.memory);
  if (config.platform !== undefined) validatePlatform(config.platform);

  const ids = new IdentifierSet();
  validateRateLimitGroups(config, ids);
  validateDisks(config, ids);
  validateNets(config, ids);
  validateVhostUserFrontends(config, ids);
  validateSimpleDevices(config, ids);
  validateAssignedDevices(config, ids);
  validateNuma(config);
  config.memory.zones?.forEach((zone, index) => ids.add(zone.id, `memory.zones[${index}].id`));
  validatePciSegments(config);
  config.landlock_rules?.forEach((rule, index) => validateLandlockAccess(rule.access, `landlock_rules[${index}].access`));

  return { config: { ...config, iommu: needsIommu(config) }, warnings };
}

/** Identifiers shared by devices, memory zones and rate-limit groups: unique, and `__` is reserved. */
class IdentifierSet {
  readonly #seen = new Set<string>();

  add(id: string | undefined, field: string): void {
    if (id === undefined) return;
    if (id.startsWith('__')) {
      throw configError('IDENTIFIER_RESERVED', field, `identifier "${id}" is not valid: ids starting with "__" are reserved`);
    }
    if (this.#seen.has(id)) {
      throw configError(
        'IDENTIFIER_NOT_UNIQUE',
        field,
        `identifier "${id}" is not unique; give every device, memory zone and rate-limit group its own id`,
      );
    }
    this.#seen.add(id);
  }
}

function validatePayload(payload: PayloadConfig, warnings: string[]): PayloadConfig {
  if (payload.igvm !== undefined) {
    if (payload.firmware !== undefined) {
      throw configError('CONFLICTING_VALUES', 'payload.igvm', 'a firmware cannot be combined with an IGVM payload');
    }
    return payload;
  }
  if (payload.firmware !== undefined && payload.kernel !== undefined) {
    throw configError(
      'CONFLICTING_VALUES',
      'payload.kernel',
      'specifying a kernel is not supported when a firmware is provided; give either --kernel or --firmware',
    );
  }
  if (payload.firmware === undefined && payload.kernel === undefined) {
    throw configError(
      'PAYLOAD_NOT_BOOTABLE',
      'payload',
      'payload configuration is not bootable: give --kernel <path> or --firmware <path>',
    );
  }
  if (payload.firmware === undefined) return payload;
  const firmwareOnly = { ...payload };
  if (firmwareOnly.cmdline !== undefined) {
    warnings.push('Ignoring --cmdline as a firmware is provided as the payload');
    delete firmwareOnly.cmdline;
  }
  if (firmwareOnly.initramfs !== undefined) {
    warnings.push('Ignoring --initramfs as a firmware is provided as the payload');
    delete firmwareOnly.initramfs;
  }
  return firmwareOnly;
}

function validateConsoleOutput(field: string, mode: ConsoleMode, file: string | undefined, socket: string | undefined): void {
  if (mode === 'File' && (file === undefined || file === '')) {
    throw configError('MISSING_VALUE', `${field}.file`, 'file mode needs a path: file=<path>');
  }
  if (mode === 'Socket' && field === 'debug_console') {
    throw configError('INVALID_VALUE', `${field}.mode`, 'socket mode is not available for the debug console');
  }
  if (mode === 'Socket' && (socket === undefined || socket === '')) {
    throw configError('MISSING_VALUE', `${field}.socket`, 'socket mode needs a path: socket=<path>');
  }
}

function validateCpus(cpus: CpusConfig): void {
  if (cpus.boot_vcpus < 1) {
    throw configError('INVALID_VALUE', 'cpus.boot_vcpus', `boot=${cpus.boot_vcpus}: a VM needs at least one vCPU`);
  }
  if (cpus.max_vcpus < cpus.boot_vcpus) {
    throw configError(
      'CPUS_MAX_LOWER_THAN_BOOT',
      'cpus.max_vcpus',
      `max=${cpus.max_vcpus} is lower than boot=${cpus.boot_vcpus}; raise max or lower boot`,
    );
  }
  if (cpus.max_vcpus > MAX_SUPPORTED_CPUS) {
    throw configError(
      'INVALID_VALUE',
      'cpus.max_vcpus',
      `max=${cpus.max_vcpus} is above the limit of ${MAX_SUPPORTED_CPUS} vCPUs`,
    );
  }
  const topology = cpus.topology;
  if (topology === undefined) return;
  const parts = [topology.threads_per_core, topology.cores_per_die, topology.dies_per_package, topology.packages];
  if (parts.some((part) => part === 0)) {
    throw configError('INVALID_CPU_TOPOLOGY', 'cpus.topology', 'no part of the CPU topology can be zero');
  }
  if (topology.threads_per_core > MAX_THREADS_PER_CORE) {
    throw configError(
      'INVALID_CPU_TOPOLOGY',
      'cpus.topology.threads_per_core',
      `the CPU topology supports at most ${MAX_THREADS_PER_CORE} threads per core`,
    );
  }
  const total = parts.reduce((product, part) => product * part, 1);
  if (total !== cpus.max_vcpus) {
    throw configError(
      'INVALID_CPU_TOPOLOGY',
      'cpus.topology',
      `topology ${parts.join(':')} describes ${total} vCPUs but max=${cpus.max_vcpus}; the product of its parts must equal max`,
    );
  }
}

function validateHugepages(hugepages: boolean, hugepageSize: number | undefined, field: string): void {
  if (hugepageSize === undefined) return;
  if (!hugepages) {
    throw configError(
      'INVALID_HUGEPAGES',
      `${field}.hugepage_size`,
      'hugepage_size is given but huge pages are not enabled; add hugepages=on',
    );
  }
  if (!isPowerOfTwo(hugepageSize)) {
    throw configError('INVALID_HUGEPAGES', `${field}.hugepage_size`, `hugepage_size=${hugepageSize} is not a power of two`);
  }
}

function validateMemory(memory: MemoryConfig): void {
  if (memory.size === 0 && (memory.zones === undefined || memory.zones.length === 0)) {
    throw configError(
      'INVALID_VALUE',
      'memory.size',
      'size=0 leaves the guest without memory; give a size or add --memory-zone',
    );
  }
  validateHugepages(memory.hugepages, memory.hugepage_size, 'memory');
  if (memory.shared && memory.mergeable) {
    throw configError('CONFLICTING_VALUES', 'memory.mergeable', 'shared=on and mergeable=on cannot be combined');
  }
  memory.zones?.forEach((zone, index) => {
    const field = `memory.zones[${index}]`;
    if (zone.shared && zone.mergeable) {
      throw configError('CONFLICTING_VALUES', `${field}.mergeable`, 'shared=on and mergeable=on cannot be combined');
    }
    validateHugepages(zone.hugepages, zone.hugepage_size, field);
  });
}

/** Whether guest memory can be mapped by another process (needed by vhost-user and vfio-user backends). */
function backedBySharedMemory(memory: MemoryConfig): boolean {
  if (memory.shared || memory.hugepages) return true;
  if (memory.size !== 0) return false;
  return (memory.zones ?? []).every((zone) => zone.shared || zone.hugepages);
}

function requireSharedMemory(config: VmConfig, field: string, what: string): void {
  if (!backedBySharedMemory(config.memory)) {
    throw configError(
      'SHARED_MEMORY_REQUIRED',
      field,
      `${what} needs guest memory shared with its backend: add --memory shared=on (or hugepages=on)`,
    );
  }
}

function validateQueueSize(size: number, field: string): void {
  if (!isPowerOfTwo(size) || size > VIRTIO_MAX_QUEUE_SIZE) {
    throw configError(
      'INVALID_VALUE',
      field,
      `queue size ${size} must be a power of two no greater than ${VIRTIO_MAX_QUEUE_SIZE}`,
    );
  }
}

function validateQueueCount(queues: number, bootVcpus: number, field: string): void {
  if (queues < 1) throw configError('INVALID_VALUE', field, 'num_queues must be at least 1');
  if (queues > bootVcpus) {
    throw configError('INVALID_VALUE', field, `num_queues=${queues} exceeds the number of boot vCPUs (${bootVcpus})`);
  }
}

function rejectIommu(device: PciDeviceCommonConfig, field: string, reason: string): void {
  if (device.iommu) throw configError('CONFLICTING_VALUES', `${field}.iommu`, `iommu=on is not supported ${reason}`);
}

function hasRateLimit(limiter: RateLimiterConfig | undefined): boolean {
  return limiter !== undefined && (limiter.bandwidth !== undefined || limiter.ops !== undefined);
}

function validateRateLimitGroups(config: VmConfig, ids: IdentifierSet): void {
  config.rate_limit_groups?.forEach((group, index) => {
    const field = `rate_limit_groups[${index}]`;
    if (!hasRateLimit(group.rate_limiter_config)) {
      throw configError(
        'MISSING_VALUE',
        `${field}.rate_limiter_config`,
        'a rate-limit group needs bw_size and bw_refill_time, or ops_size and ops_refill_time',
      );
    }
    if (group.id === '') throw configError('MISSING_VALUE', `${field}.id`, 'a rate-limit group needs id=<group_id>');
    ids.add(group.id, `${field}.id`);
  });
}

function validateDisks(config: VmConfig, ids: IdentifierSet): void {
  config.disks?.forEach((disk, index) => {
    const field = `disks[${index}]`;
    if (disk.vhost_socket !== undefined && disk.path !== undefined) {
      throw configError(
        'CONFLICTING_VALUES',
        `${field}.vhost_socket`,
        'path= and socket= cannot both be given: use path for an image, or vhost_user=on,socket=<path>',
      );
    }
    if (disk.vhost_user) {
      requireSharedMemory(config, `${field}.vhost_user`, 'a vhost-user disk');
      if (disk.vhost_socket === undefined) {
        throw configError('MISSING_VALUE', `${field}.vhost_socket`, 'vhost_user=on needs socket=<path>');
      }
      if (hasRateLimit(disk.rate_limiter_config) || disk.rate_limit_group !== undefined) {
        throw configError(
          'CONFLICTING_VALUES',
          `${field}.rate_limiter_config`,
          'rate limiting is not supported with vhost-user',
        );
      }
      rejectIommu(disk, field, 'with vhost-user');
    } else if (disk.path === undefined) {
      throw configError(
        'MISSING_VALUE',
        `${field}.path`,
        'a disk needs path=<disk_image_path> (or vhost_user=on,socket=<path>)',
      );
    }
    if (disk.rate_limit_group !== undefined) {
      if (config.rate_limit_groups?.some((group) => group.id === disk.rate_limit_group) !== true) {
        throw configError(
          'INVALID_VALUE',
          `${field}.rate_limit_group`,
          `rate_limit_group=${disk.rate_limit_group} does not name a --rate-limit-group`,
        );
      }
      if (hasRateLimit(disk.rate_limiter_config)) {
        throw configError(
          'CONFLICTING_VALUES',
          `${field}.rate_limit_group`,
          'a disk cannot have both bw_*/ops_* limits and rate_limit_group',
        );
      }
    }
    validatePciPlacement(disk, field, config.platform);
    validateQueueCount(disk.num_queues, config.cpus.boot_vcpus, `${field}.num_queues`);
    validateQueueSize(disk.queue_size, `${field}.queue_size`);
    if (disk.queue_size <= MINIMUM_BLOCK_QUEUE_SIZE) {
      throw configError(
        'INVALID_VALUE',
        `${field}.queue_size`,
        `a block queue size must be greater than ${MINIMUM_BLOCK_QUEUE_SIZE}`,
      );
    }
    if (disk.serial !== undefined && utf8Length(disk.serial) > VIRTIO_BLK_ID_BYTES) {
      throw configError(
        'INVALID_VALUE',
        `${field}.serial`,
        `serial is ${utf8Length(disk.serial)} bytes long; at most ${VIRTIO_BLK_ID_BYTES} are allowed`,
      );
    }
    ids.add(disk.id, `${field}.id`);
  });
}

function validateNets(config: VmConfig, ids: IdentifierSet): void {
  config.net?.forEach((net, index) => {
    const field = `net[${index}]`;
    if (net.vhost_user) {
      requireSharedMemory(config, `${field}.vhost_user`, 'a vhost-user network device');
      if (net.vhost_socket === undefined) {
        throw configError('MISSING_VALUE', `${field}.vhost_socket`, 'vhost_user=on needs socket=<path>');
      }
      if (hasRateLimit(net.rate_limiter_config)) {
        throw configError(
          'CONFLICTING_VALUES',
          `${field}.rate_limiter_config`,
          'rate limiting is not supported with vhost-user',
        );
      }
      rejectIommu(net, field, 'with vhost-user');
    }
    validatePciPlacement(net, field, config.platform);
    if (net.num_queues < 2) {
      throw configError(
        'INVALID_VALUE',
        `${field}.num_queues`,
        `num_queues=${net.num_queues}: virtio-net needs at least 2 queues (one RX/TX pair)`,
      );
    }
    if (net.fds !== undefined) {
      if (net.fds.length * 2 !== net.num_queues) {
        throw configError(
          'CONFLICTING_VALUES',
          `${field}.num_queues`,
          `num_queues=${net.num_queues} does not match the ${net.fds.length} TAP fd(s) given (two queues per fd)`,
        );
      }
      const reserved = net.fds.find((fd) => fd <= 2);
      if (reserved !== undefined) {
        throw configError('INVALID_VALUE', `${field}.fds`, `fd ${reserved} is reserved (0-2 are stdin, stdout and stderr)`);
      }
    }
    const pairs = Math.floor(net.num_queues / 2);
    if (pairs > config.cpus.boot_vcpus) {
      throw configError(
        'INVALID_VALUE',
        `${field}.num_queues`,
        `${pairs} queue pairs exceed the number of boot vCPUs (${config.cpus.boot_vcpus})`,
      );
    }
    validateQueueSize(net.queue_size, `${field}.queue_size`);
    if (net.mtu !== undefined && net.mtu < MIN_MTU) {
      throw configError(
        'INVALID_VALUE',
        `${field}.mtu`,
        `mtu=${net.mtu} is lower than ${MIN_MTU}, the minimum the virtio specification expects`,
      );
    }
    if (!net.offload_csum && (net.offload_tso || net.offload_ufo)) {
      throw configError('CONFLICTING_VALUES', `${field}.offload_csum`, 'offload_tso and offload_ufo depend on offload_csum=on');
    }
    if (net.mask !== undefined && net.ip === undefined) {
      throw configError('MISSING_VALUE', `${field}.ip`, 'mask is given without ip');
    }
    if (net.ip !== undefined && net.mask === undefined) {
      throw configError('MISSING_VALUE', `${field}.mask`, 'ip is given without mask');
    }
    ids.add(net.id, `${field}.id`);
  });
}

/** virtio-fs, generic vhost-user and vfio-user devices: all need shared memory and none can sit behind the IOMMU. */
function validateVhostUserFrontends(config: VmConfig, ids: IdentifierSet): void {
  if ((config.fs?.length ?? 0) > 0) requireSharedMemory(config, 'fs', 'virtio-fs');
  config.fs?.forEach((fs, index) => {
    const field = `fs[${index}]`;
    if (utf8Length(fs.tag) > VIRTIO_FS_TAG_LEN) {
      throw configError('INVALID_VALUE', `${field}.tag`, `tag is longer than ${VIRTIO_FS_TAG_LEN} bytes`);
    }
    validateQueueCount(fs.num_queues, config.cpus.boot_vcpus, `${field}.num_queues`);
    validateQueueSize(fs.queue_size, `${field}.queue_size`);
    rejectIommu(fs, field, 'for virtio-fs');
    validatePciPlacement(fs, field, config.platform);
    ids.add(fs.id, `${field}.id`);
  });

  if ((config.generic_vhost_user?.length ?? 0) > 0) {
    requireSharedMemory(config, 'generic_vhost_user', 'a generic vhost-user device');
  }
  config.generic_vhost_user?.forEach((device, index) => {
    const field = `generic_vhost_user[${index}]`;
    if (device.device_type === VIRTIO_ID_WATCHDOG || device.device_type === VIRTIO_ID_IOMMU) {
      throw configError(
        'INVALID_VALUE',
        `${field}.device_type`,
        `device_type=${device.device_type} (watchdog or iommu) cannot be implemented via vhost-user`,
      );
    }
    rejectIommu(device, field, 'for generic vhost-user devices');
    device.queue_sizes.forEach((size, queue) => validateQueueSize(size, `${field}.queue_sizes[${queue}]`));
    validatePciPlacement(device, field, config.platform);
    ids.add(device.id, `${field}.id`);
  });

  if ((config.user_devices?.length ?? 0) > 0) requireSharedMemory(config, 'user_devices', 'a vfio-user device');
  config.user_devices?.forEach((device, index) => {
    const field = `user_devices[${index}]`;
    rejectIommu(device, field, 'for vfio-user devices');
    validatePciPlacement(device, field, config.platform);
    ids.add(device.id, `${field}.id`);
  });
}

/** Devices whose only rules are PCI placement and a unique id (plus the vsock CID and balloon size). */
function validateSimpleDevices(config: VmConfig, ids: IdentifierSet): void {
  const placed = (device: PciDeviceCommonConfig, field: string): void => {
    validatePciPlacement(device, field, config.platform);
    ids.add(device.id, `${field}.id`);
  };
  config.pmem?.forEach((pmem, index) => placed(pmem, `pmem[${index}]`));
  placed(config.rng, 'rng');
  if (config.rtc !== undefined) placed(config.rtc, 'rtc');
  placed(config.console, 'console');
  config.vdpa?.forEach((vdpa, index) => placed(vdpa, `vdpa[${index}]`));
  const vsock = config.vsock;
  if (vsock !== undefined) {
    if (SPECIAL_VSOCK_CIDS.includes(vsock.cid)) {
      throw configError('INVALID_VALUE', 'vsock.cid', `cid=${vsock.cid} is a special VSOCK CID; use 3 or above`);
    }
    if (vsock.cid > MAX_VSOCK_CID) throw configError('INVALID_VALUE', 'vsock.cid', `cid=${vsock.cid} does not fit in 32 bits`);
    placed(vsock, 'vsock');
  }
  const balloon = config.balloon;
  if (balloon !== undefined) {
    placed(balloon, 'balloon');
    const ram = totalMemorySize(config.memory);
    if (balloon.size >= ram) {
      throw configError(
        'INVALID_VALUE',
        'balloon.size',
        `size=${balloon.size} is not smaller than the guest RAM (${ram} bytes)`,
      );
    }
  }
}

function totalMemorySize(memory: MemoryConfig): number {
  const zones = memory.zones ?? [];
  const zoneSizes = zones.reduce((sum, zone) => sum + zone.size + (zone.hotplugged_size ?? 0), 0);
  return memory.size + (memory.hotplugged_size ?? 0) + zoneSizes;
}

function validateAssignedDevices(config: VmConfig, ids: IdentifierSet): void {
  const paths = new Set<string>();
  config.devices?.forEach((device, index) => {
    const field = `devices[${index}]`;
    if (device.path !== undefined) {
      if (paths.has(device.path)) {
        throw configError('DUPLICATE_DEVICE_PATH', `${field}.path`, `device path ${device.path} is assigned twice`);
      }
      paths.add(device.path);
    }
    validatePciPlacement(device, field, config.platform);
    validateVfioSource(device, field, config.platform);
    ids.add(device.id, `${field}.id`);
  });
}

function validateVfioSource(device: DeviceConfig, field: string, platform: PlatformConfig | undefined): void {
  if (device.path === undefined && device.fd === undefined) {
    throw configError('MISSING_VALUE', `${field}.path`, 'a VFIO device needs path=<device_path> or fd=<vfio_cdev_fd>');
  }
  if (device.path !== undefined && device.fd !== undefined) {
    throw configError('CONFLICTING_VALUES', `${field}.fd`, 'give at most one of path= and fd=');
  }
  if (device.fd !== undefined && platform?.iommufd_fd === undefined) {
    throw configError('MISSING_VALUE', `${field}.fd`, 'fd= needs an iommufd: add --platform iommufd_fd=<fd>');
  }
  if (device.x_nv_gpudirect_clique !== undefined && platform?.vfio_p2p_dma === false) {
    throw configError(
      'CONFLICTING_VALUES',
      `${field}.x_nv_gpudirect_clique`,
      'x_nv_gpudirect_clique needs --platform vfio_p2p_dma=on',
    );
  }
  const badBar = device.x_exclude_mmap_bars.find((bar) => bar > MAX_PCI_BAR_INDEX);
  if (badBar !== undefined) {
    throw configError(
      'INVALID_VALUE',
      `${field}.x_exclude_mmap_bars`,
      `BAR index ${badBar} is invalid; PCI BARs are 0 to ${MAX_PCI_BAR_INDEX}`,
    );
  }
}

function validateLandlockAccess(access: string, field: string): void {
  if (!/^(r|w|rw|wr)$/.test(access)) {
    throw configError('INVALID_VALUE', field, `access=${access} is invalid; use r, w or rw`);
  }
}

/** Upstream turns the virtual IOMMU on when any device asks for it or the platform has IOMMU segments. */
function needsIommu(config: VmConfig): boolean {
  const devices: (PciDeviceCommonConfig | undefined)[] = [
    ...(config.disks ?? []),
    ...(config.net ?? []),
    ...(config.pmem ?? []),
    ...(config.vdpa ?? []),
    ...(config.devices ?? []),
    config.rng,
    config.rtc,
    config.console,
    config.balloon,
    config.vsock,
  ];
  return config.iommu || config.platform?.iommu_segments !== undefined || devices.some((device) => device?.iommu === true);
}

function isPowerOfTwo(value: number): boolean {
  if (!Number.isSafeInteger(value) || value < 1) return false;
  let rest = value;
  while (rest % 2 === 0) rest /= 2;
  return rest === 1;
}

function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}
