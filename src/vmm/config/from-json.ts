/**
 * Converts the REST API's JSON (already checked against the OpenAPI schemas) into the normalised configuration types,
 * filling Cloud Hypervisor's serde defaults for absent fields the way its code does (vmm/src/vm_config.rs,
 * vmm/src/config.rs): a field-level default applies when an object is given without that field, the struct's
 * `Default` (defaults.ts) when the whole object is absent. `null` means absent (serde's `Option`).
 *
 * Where the YAML and the code disagree the code wins: NetConfig `ip`/`mask` have no default, `FsConfig` queue
 * fields and `VdpaConfig.num_queues` are optional. Descriptor numbers in JSON (`NetConfig.fds`, `DeviceConfig.fd`,
 * `PlatformConfig.iommufd_fd`, `RestoreConfig` fds) are never used: as upstream, each becomes -1, a placeholder for
 * a descriptor passed with the request (SCM_RIGHTS). Pure: no node:* imports.
 */
import { configError } from './config-error.ts';
import {
  DEFAULT_DISK_NUM_QUEUES,
  DEFAULT_DISK_QUEUE_SIZE,
  DEFAULT_FS_NUM_QUEUES,
  DEFAULT_FS_QUEUE_SIZE,
  DEFAULT_NET_NUM_QUEUES,
  DEFAULT_NET_QUEUE_SIZE,
  DEFAULT_PCI_SEGMENT_APERTURE_WEIGHT,
  DEFAULT_VDPA_NUM_QUEUES,
  defaultConsoleConfig,
  defaultCpusConfig,
  defaultDebugConsoleConfig,
  defaultMemoryConfig,
  defaultPlatformConfig,
  defaultRngConfig,
  defaultSerialConfig,
} from './defaults.ts';
import { type AllFields, omitUndefined } from './omit-undefined.ts';
import type {
  BalloonConfig,
  ConsoleConfig,
  CpusConfig,
  DebugConsoleConfig,
  DeviceConfig,
  DiskConfig,
  FsConfig,
  GenericVhostUserConfig,
  LandlockConfig,
  MemoryConfig,
  MemoryZoneConfig,
  NetConfig,
  NumaConfig,
  PayloadConfig,
  PciDeviceCommonConfig,
  PciSegmentConfig,
  PlatformConfig,
  PmemConfig,
  RateLimiterConfig,
  RateLimitGroupConfig,
  RngConfig,
  RtcConfig,
  SerialConfig,
  TokenBucket,
  UserDeviceConfig,
  VdpaConfig,
  VmConfig,
  VmConfigField,
  VsockConfig,
} from './vm-config.ts';
import type { RestoreConfig, RestoredNetConfig, RestoredVfioConfig } from './vmm-options.ts';

/** The JSON form of a configuration type: every field may be absent or `null`, recursively. */
export type Json<T> = T extends readonly (infer Item)[]
  ? Json<Item>[]
  : T extends object
    ? { [K in keyof T]?: Json<T[K]> | null }
    : T;

/** `PlatformConfig` as JSON, with upstream's deprecated aliases `serial_number` and `uuid`. */
export type PlatformConfigJson = Json<PlatformConfig> & { serial_number?: string | null; uuid?: string | null };
export type VmConfigJson = Omit<Json<VmConfig>, 'platform'> & { platform?: PlatformConfigJson | null };

export interface VmConfigFromJson {
  config: VmConfig;
  /** The top-level fields the JSON set (not absent, not null); the others took upstream defaults. */
  explicitFields: ReadonlySet<VmConfigField>;
}

/** Descriptor numbers in JSON are placeholders (see the module comment). */
const PLACEHOLDER_FD = -1;

/** `PUT /vm.create`: a whole VM configuration. Does not validate it (`validateVmConfig` does). */
export function vmConfigFromJson(json: VmConfigJson): VmConfigFromJson {
  const explicitFields = new Set(
    (Object.keys(json) as VmConfigField[]).filter((field) => json[field] !== undefined && json[field] !== null),
  );
  const config = omitUndefined<VmConfig>({
    cpus: given(json.cpus) ? cpusFromJson(json.cpus) : defaultCpusConfig(),
    memory: given(json.memory) ? memoryFromJson(json.memory) : defaultMemoryConfig(),
    payload: payloadFromJson(requiredField(json.payload, 'payload')),
    rate_limit_groups: list(json.rate_limit_groups, 'rate_limit_groups', rateLimitGroupFromJson),
    disks: list(json.disks, 'disks', diskConfigFromJson),
    net: list(json.net, 'net', netConfigFromJson),
    rng: given(json.rng) ? rngFromJson(json.rng, 'rng') : defaultRngConfig(),
    balloon: given(json.balloon) ? balloonFromJson(json.balloon, 'balloon') : undefined,
    fs: list(json.fs, 'fs', fsConfigFromJson),
    generic_vhost_user: list(json.generic_vhost_user, 'generic_vhost_user', genericVhostUserConfigFromJson),
    pmem: list(json.pmem, 'pmem', pmemConfigFromJson),
    serial: given(json.serial) ? serialFromJson(json.serial) : defaultSerialConfig(),
    console: given(json.console) ? consoleFromJson(json.console) : defaultConsoleConfig(),
    debug_console: given(json.debug_console) ? debugConsoleFromJson(json.debug_console) : defaultDebugConsoleConfig(),
    devices: list(json.devices, 'devices', deviceConfigFromJson),
    user_devices: list(json.user_devices, 'user_devices', userDeviceConfigFromJson),
    vdpa: list(json.vdpa, 'vdpa', vdpaConfigFromJson),
    vsock: given(json.vsock) ? vsockConfigFromJson(json.vsock, 'vsock') : undefined,
    numa: list(json.numa, 'numa', numaFromJson),
    iommu: json.iommu ?? false,
    watchdog: json.watchdog ?? false,
    rtc: given(json.rtc) ? rtcFromJson(json.rtc) : undefined,
    pvpanic: json.pvpanic ?? false,
    pci_segments: list(json.pci_segments, 'pci_segments', pciSegmentFromJson),
    platform: given(json.platform) ? platformFromJson(json.platform) : undefined,
    tpm: given(json.tpm) ? { socket: requiredField(json.tpm.socket, 'tpm.socket') } : undefined,
    landlock_enable: json.landlock_enable ?? false,
    landlock_rules: list(json.landlock_rules, 'landlock_rules', landlockRuleFromJson),
  });
  return { config, explicitFields };
}

/** `PUT /vm.add-disk` and `VmConfig.disks[]`. */
export function diskConfigFromJson(json: Json<DiskConfig>, at = 'disks'): DiskConfig {
  return omitUndefined<DiskConfig>({
    ...pciCommonFromJson(json),
    path: value(json.path),
    readonly: json.readonly ?? false,
    direct: json.direct ?? false,
    num_queues: json.num_queues ?? DEFAULT_DISK_NUM_QUEUES,
    queue_size: json.queue_size ?? DEFAULT_DISK_QUEUE_SIZE,
    vhost_user: json.vhost_user ?? false,
    vhost_socket: value(json.vhost_socket),
    rate_limit_group: value(json.rate_limit_group),
    rate_limiter_config: given(json.rate_limiter_config)
      ? rateLimiterFromJson(json.rate_limiter_config, `${at}.rate_limiter_config`)
      : undefined,
    disable_io_uring: json.disable_io_uring ?? false,
    disable_aio: json.disable_aio ?? false,
    serial: value(json.serial),
    queue_affinity: list(json.queue_affinity, `${at}.queue_affinity`, (affinity, where) => ({
      queue_index: requiredField(affinity.queue_index, `${where}.queue_index`),
      host_cpus: requiredField(affinity.host_cpus, `${where}.host_cpus`),
    })),
    backing_files: json.backing_files ?? false,
    sparse: json.sparse ?? true,
    image_type: json.image_type ?? 'Unknown',
    lock_granularity: json.lock_granularity ?? 'ByteRange',
  });
}

/** `PUT /vm.add-net` and `VmConfig.net[]`. */
export function netConfigFromJson(json: Json<NetConfig>, at = 'net'): NetConfig {
  return omitUndefined<NetConfig>({
    ...pciCommonFromJson(json),
    tap: value(json.tap),
    ip: value(json.ip),
    mask: value(json.mask),
    mac: value(json.mac),
    host_mac: value(json.host_mac),
    mtu: value(json.mtu),
    num_queues: json.num_queues ?? DEFAULT_NET_NUM_QUEUES,
    queue_size: json.queue_size ?? DEFAULT_NET_QUEUE_SIZE,
    vhost_user: json.vhost_user ?? false,
    vhost_socket: value(json.vhost_socket),
    vhost_mode: json.vhost_mode ?? 'Client',
    fds: given(json.fds) ? json.fds.map(() => PLACEHOLDER_FD) : undefined,
    rate_limiter_config: given(json.rate_limiter_config)
      ? rateLimiterFromJson(json.rate_limiter_config, `${at}.rate_limiter_config`)
      : undefined,
    offload_tso: json.offload_tso ?? true,
    offload_ufo: json.offload_ufo ?? true,
    offload_csum: json.offload_csum ?? true,
  });
}

/** `PUT /vm.add-fs` and `VmConfig.fs[]`. */
export function fsConfigFromJson(json: Json<FsConfig>, at = 'fs'): FsConfig {
  return omitUndefined<FsConfig>({
    ...pciCommonFromJson(json),
    tag: requiredField(json.tag, `${at}.tag`),
    socket: requiredField(json.socket, `${at}.socket`),
    num_queues: json.num_queues ?? DEFAULT_FS_NUM_QUEUES,
    queue_size: json.queue_size ?? DEFAULT_FS_QUEUE_SIZE,
  });
}

/** `PUT /vm.add-generic-vhost-user` and `VmConfig.generic_vhost_user[]`. */
export function genericVhostUserConfigFromJson(json: Json<GenericVhostUserConfig>, at = 'generic_vhost_user'): GenericVhostUserConfig {
  return omitUndefined<GenericVhostUserConfig>({
    ...pciCommonFromJson(json),
    socket: requiredField(json.socket, `${at}.socket`),
    queue_sizes: requiredField(json.queue_sizes, `${at}.queue_sizes`),
    device_type: requiredField(json.device_type, `${at}.device_type`),
  });
}

/** `PUT /vm.add-pmem` and `VmConfig.pmem[]`. */
export function pmemConfigFromJson(json: Json<PmemConfig>, at = 'pmem'): PmemConfig {
  return omitUndefined<PmemConfig>({
    ...pciCommonFromJson(json),
    file: requiredField(json.file, `${at}.file`),
    size: value(json.size),
    discard_writes: json.discard_writes ?? false,
  });
}

/** `PUT /vm.add-device` and `VmConfig.devices[]`. */
export function deviceConfigFromJson(json: Json<DeviceConfig>): DeviceConfig {
  return omitUndefined<DeviceConfig>({
    ...pciCommonFromJson(json),
    path: value(json.path),
    fd: given(json.fd) ? PLACEHOLDER_FD : undefined,
    x_nv_gpudirect_clique: value(json.x_nv_gpudirect_clique),
    x_exclude_mmap_bars: json.x_exclude_mmap_bars ?? [],
  });
}

/** `VmConfig.user_devices[]`. */
export function userDeviceConfigFromJson(json: Json<UserDeviceConfig>, at = 'user_devices'): UserDeviceConfig {
  return omitUndefined<UserDeviceConfig>({ ...pciCommonFromJson(json), socket: requiredField(json.socket, `${at}.socket`) });
}

/** `PUT /vm.add-vdpa` and `VmConfig.vdpa[]`. */
export function vdpaConfigFromJson(json: Json<VdpaConfig>, at = 'vdpa'): VdpaConfig {
  return omitUndefined<VdpaConfig>({
    ...pciCommonFromJson(json),
    path: requiredField(json.path, `${at}.path`),
    num_queues: json.num_queues ?? DEFAULT_VDPA_NUM_QUEUES,
  });
}

/** `PUT /vm.add-vsock` and `VmConfig.vsock`. */
export function vsockConfigFromJson(json: Json<VsockConfig>, at = 'vsock'): VsockConfig {
  return omitUndefined<VsockConfig>({
    ...pciCommonFromJson(json),
    cid: requiredField(json.cid, `${at}.cid`),
    socket: requiredField(json.socket, `${at}.socket`),
  });
}

/** `PUT /vm.restore`. */
export function restoreConfigFromJson(json: Json<RestoreConfig>): RestoreConfig {
  return omitUndefined<RestoreConfig>({
    source_url: requiredField(json.source_url, 'source_url'),
    prefault: json.prefault ?? false,
    memory_restore_mode: json.memory_restore_mode ?? 'Copy',
    net_fds: list(json.net_fds, 'net_fds', (net, where) =>
      omitUndefined<RestoredNetConfig>({
        id: requiredField(net.id, `${where}.id`),
        num_fds: net.num_fds ?? 0,
        fds: given(net.fds) ? net.fds.map(() => PLACEHOLDER_FD) : undefined,
      }),
    ),
    vfio_fds: list(json.vfio_fds, 'vfio_fds', restoredVfioFromJson),
    iommufd_fd: given(json.iommufd_fd) ? PLACEHOLDER_FD : undefined,
    resume: json.resume ?? false,
    zone_updates: list(json.zone_updates, 'zone_updates', (update, where) => ({
      id: requiredField(update.id, `${where}.id`),
      host_numa_node: requiredField(update.host_numa_node, `${where}.host_numa_node`),
    })) ?? [],
  });
}

/** A VFIO device to re-attach with a passed descriptor (`RestoreConfig.vfio_fds[]`). */
export function restoredVfioFromJson(json: Json<RestoredVfioConfig>, at = 'vfio_fds'): RestoredVfioConfig {
  return omitUndefined<RestoredVfioConfig>({
    id: requiredField(json.id, `${at}.id`),
    fd: given(json.fd) ? PLACEHOLDER_FD : undefined,
  });
}

/** A given `cpus` object: field defaults are the struct's (defaults.ts), except the required vCPU counts. */
function cpusFromJson(json: Json<CpusConfig>): CpusConfig {
  const defaults = defaultCpusConfig();
  const topology = json.topology;
  return omitUndefined<CpusConfig>({
    boot_vcpus: requiredField(json.boot_vcpus, 'cpus.boot_vcpus'),
    max_vcpus: requiredField(json.max_vcpus, 'cpus.max_vcpus'),
    topology: given(topology)
      ? {
          threads_per_core: requiredField(topology.threads_per_core, 'cpus.topology.threads_per_core'),
          cores_per_die: requiredField(topology.cores_per_die, 'cpus.topology.cores_per_die'),
          dies_per_package: requiredField(topology.dies_per_package, 'cpus.topology.dies_per_package'),
          packages: requiredField(topology.packages, 'cpus.topology.packages'),
        }
      : undefined,
    kvm_hyperv: json.kvm_hyperv ?? defaults.kvm_hyperv,
    max_phys_bits: json.max_phys_bits ?? defaults.max_phys_bits,
    affinity: list(json.affinity, 'cpus.affinity', (affinity, where) => ({
      vcpu: requiredField(affinity.vcpu, `${where}.vcpu`),
      host_cpus: requiredField(affinity.host_cpus, `${where}.host_cpus`),
    })),
    features: { amx: json.features?.amx ?? defaults.features.amx },
    nested: json.nested ?? defaults.nested,
    core_scheduling: json.core_scheduling ?? defaults.core_scheduling,
    profile: json.profile ?? defaults.profile,
  });
}

/** A given `memory` object: field defaults are the struct's (defaults.ts), except the required size. */
function memoryFromJson(json: Json<MemoryConfig>): MemoryConfig {
  const defaults = defaultMemoryConfig();
  return omitUndefined<MemoryConfig>({
    size: requiredField(json.size, 'memory.size'),
    hotplug_size: value(json.hotplug_size),
    hotplugged_size: value(json.hotplugged_size),
    mergeable: json.mergeable ?? defaults.mergeable,
    hotplug_method: json.hotplug_method ?? defaults.hotplug_method,
    shared: json.shared ?? defaults.shared,
    hugepages: json.hugepages ?? defaults.hugepages,
    hugepage_size: value(json.hugepage_size),
    prefault: json.prefault ?? defaults.prefault,
    reserve: json.reserve ?? defaults.reserve,
    thp: json.thp ?? defaults.thp,
    zones: list(json.zones, 'memory.zones', memoryZoneFromJson),
  });
}

function memoryZoneFromJson(json: Json<MemoryZoneConfig>, at: string): MemoryZoneConfig {
  return omitUndefined<MemoryZoneConfig>({
    id: requiredField(json.id, `${at}.id`),
    size: requiredField(json.size, `${at}.size`),
    file: value(json.file),
    mergeable: json.mergeable ?? false,
    shared: json.shared ?? false,
    hugepages: json.hugepages ?? false,
    hugepage_size: value(json.hugepage_size),
    host_numa_node: value(json.host_numa_node),
    hotplug_size: value(json.hotplug_size),
    hotplugged_size: value(json.hotplugged_size),
    prefault: json.prefault ?? false,
    reserve: json.reserve ?? false,
  });
}

function payloadFromJson(json: Json<PayloadConfig>): PayloadConfig {
  return omitUndefined<PayloadConfig>({
    firmware: value(json.firmware),
    kernel: value(json.kernel),
    cmdline: value(json.cmdline),
    initramfs: value(json.initramfs),
    igvm: value(json.igvm),
    host_data: value(json.host_data),
  });
}

function rateLimitGroupFromJson(json: Json<RateLimitGroupConfig>, at: string): RateLimitGroupConfig {
  return {
    id: requiredField(json.id, `${at}.id`),
    rate_limiter_config: rateLimiterFromJson(requiredField(json.rate_limiter_config, `${at}.rate_limiter_config`), at),
  };
}

function rateLimiterFromJson(json: Json<RateLimiterConfig>, at: string): RateLimiterConfig {
  const bucket = (bucketJson: Json<TokenBucket> | null | undefined, where: string): TokenBucket | undefined =>
    given(bucketJson)
      ? omitUndefined<TokenBucket>({
          size: requiredField(bucketJson.size, `${where}.size`),
          one_time_burst: value(bucketJson.one_time_burst),
          refill_time: requiredField(bucketJson.refill_time, `${where}.refill_time`),
        })
      : undefined;
  return omitUndefined<RateLimiterConfig>({
    bandwidth: bucket(json.bandwidth, `${at}.bandwidth`),
    ops: bucket(json.ops, `${at}.ops`),
  });
}

function rngFromJson(json: Json<RngConfig>, at: string): RngConfig {
  return omitUndefined<RngConfig>({ ...pciCommonFromJson(json), src: requiredField(json.src, `${at}.src`) });
}

function rtcFromJson(json: Json<RtcConfig>): RtcConfig {
  return omitUndefined<RtcConfig>(pciCommonFromJson(json));
}

function balloonFromJson(json: Json<BalloonConfig>, at: string): BalloonConfig {
  return omitUndefined<BalloonConfig>({
    ...pciCommonFromJson(json),
    size: requiredField(json.size, `${at}.size`),
    deflate_on_oom: json.deflate_on_oom ?? false,
    free_page_reporting: json.free_page_reporting ?? false,
  });
}

function serialFromJson(json: Json<SerialConfig>): SerialConfig {
  return omitUndefined<SerialConfig>({
    mode: requiredField(json.mode, 'serial.mode'),
    file: value(json.file),
    socket: value(json.socket),
  });
}

function consoleFromJson(json: Json<ConsoleConfig>): ConsoleConfig {
  return omitUndefined<ConsoleConfig>({
    ...pciCommonFromJson(json),
    mode: requiredField(json.mode, 'console.mode'),
    file: value(json.file),
    socket: value(json.socket),
  });
}

/** `iobase` has no field-level default: an explicit debug console without it has none. */
function debugConsoleFromJson(json: Json<DebugConsoleConfig>): DebugConsoleConfig {
  return omitUndefined<DebugConsoleConfig>({
    mode: requiredField(json.mode, 'debug_console.mode'),
    file: value(json.file),
    iobase: value(json.iobase),
  });
}

function numaFromJson(json: Json<NumaConfig>, at: string): NumaConfig {
  return omitUndefined<NumaConfig>({
    guest_numa_id: requiredField(json.guest_numa_id, `${at}.guest_numa_id`),
    cpus: value(json.cpus),
    distances: list(json.distances, `${at}.distances`, (distance, where) => ({
      destination: requiredField(distance.destination, `${where}.destination`),
      distance: requiredField(distance.distance, `${where}.distance`),
    })),
    memory_zones: value(json.memory_zones),
    pci_segments: value(json.pci_segments),
    device_id: value(json.device_id),
  });
}

function pciSegmentFromJson(json: Json<PciSegmentConfig>, at: string): PciSegmentConfig {
  return {
    pci_segment: requiredField(json.pci_segment, `${at}.pci_segment`),
    mmio32_aperture_weight: json.mmio32_aperture_weight ?? DEFAULT_PCI_SEGMENT_APERTURE_WEIGHT,
    mmio64_aperture_weight: json.mmio64_aperture_weight ?? DEFAULT_PCI_SEGMENT_APERTURE_WEIGHT,
  };
}

function platformFromJson(json: PlatformConfigJson): PlatformConfig {
  const defaults = defaultPlatformConfig();
  return omitUndefined<PlatformConfig>({
    num_pci_segments: json.num_pci_segments ?? defaults.num_pci_segments,
    iommu_segments: value(json.iommu_segments),
    iommu_address_width_bits: json.iommu_address_width_bits ?? defaults.iommu_address_width_bits,
    system_serial_number: aliased(json.system_serial_number, json.serial_number, 'platform.system_serial_number', 'serial_number'),
    system_uuid: aliased(json.system_uuid, json.uuid, 'platform.system_uuid', 'uuid'),
    oem_strings: value(json.oem_strings),
    system_manufacturer: value(json.system_manufacturer),
    system_product_name: value(json.system_product_name),
    system_version: value(json.system_version),
    system_family: value(json.system_family),
    system_sku_number: value(json.system_sku_number),
    chassis_asset_tag: value(json.chassis_asset_tag),
    tdx: value(json.tdx),
    sev_snp: value(json.sev_snp),
    iommufd: json.iommufd ?? defaults.iommufd,
    iommufd_fd: given(json.iommufd_fd) ? PLACEHOLDER_FD : undefined,
    vfio_p2p_dma: json.vfio_p2p_dma ?? defaults.vfio_p2p_dma,
  });
}

function landlockRuleFromJson(json: Json<LandlockConfig>, at: string): LandlockConfig {
  return { path: requiredField(json.path, `${at}.path`), access: requiredField(json.access, `${at}.access`) };
}

function pciCommonFromJson(json: Json<PciDeviceCommonConfig>): AllFields<PciDeviceCommonConfig> {
  return {
    id: value(json.id),
    iommu: json.iommu ?? false,
    pci_segment: json.pci_segment ?? 0,
    pci_device_id: value(json.pci_device_id),
  };
}

/** A field given under its current name or its deprecated alias (both at once is an error, as in serde). */
function aliased(current: string | null | undefined, alias: string | null | undefined, field: string, aliasName: string): string | undefined {
  if (given(current) && given(alias)) {
    throw configError('CONFLICTING_VALUES', field, `give ${field.split('.').pop()} or its old name ${aliasName}, not both`);
  }
  return value(current) ?? value(alias);
}

function given<T>(field: T | null | undefined): field is T {
  return field !== undefined && field !== null;
}

function value<T>(field: T | null | undefined): T | undefined {
  return field ?? undefined;
}

/** A field the schema requires; a ConfigError (MISSING_VALUE) naming `path` if it is absent or null. */
export function requiredField<T>(field: T | null | undefined, path: string): T {
  if (!given(field)) throw configError('MISSING_VALUE', path, `${path.split('.').pop()} is required`);
  return field;
}

/** Converts each item of an optional JSON array, naming it `at[i]` in errors. */
function list<In, Out>(items: readonly In[] | null | undefined, at: string, convert: (item: In, where: string) => Out): Out[] | undefined {
  return given(items) ? items.map((item, index) => convert(item, `${at}[${index}]`)) : undefined;
}
