/**
 * The VM configuration model: TypeScript types mirroring Cloud Hypervisor's `VmConfig` JSON (OpenAPI schema in
 * cloud-hypervisor.yaml, serde structs in vmm/src/vm_config.rs) with the same snake_case field names, so the CLI and
 * the REST API produce and accept the same objects. These are the *normalised* shapes: fields that have an upstream
 * default are always present; fields that are `Option` upstream are optional here. Sizes are bytes.
 */

/** Output mode of the serial port, the virtio console and the debug console (OpenAPI `ConsoleMode`). */
export type ConsoleMode = 'Off' | 'Pty' | 'Tty' | 'File' | 'Socket' | 'Null';

export interface PayloadConfig {
  firmware?: string;
  kernel?: string;
  cmdline?: string;
  initramfs?: string;
  igvm?: string;
  host_data?: string;
}

export interface CpuAffinity {
  vcpu: number;
  host_cpus: number[];
}

export interface CpuFeatures {
  amx: boolean;
}

export interface CpuTopology {
  threads_per_core: number;
  cores_per_die: number;
  dies_per_package: number;
  packages: number;
}

export type CoreSchedulingMode = 'Vm' | 'Vcpu' | 'Off';

/** The only CPU profile upstream knows (`profile=` is accepted by the parser but undocumented). */
export type CpuProfile = 'Host';

export interface CpusConfig {
  boot_vcpus: number;
  max_vcpus: number;
  topology?: CpuTopology;
  kvm_hyperv: boolean;
  max_phys_bits: number;
  affinity?: CpuAffinity[];
  features: CpuFeatures;
  nested: boolean;
  core_scheduling: CoreSchedulingMode;
  profile: CpuProfile;
}

export interface PciSegmentConfig {
  pci_segment: number;
  mmio32_aperture_weight: number;
  mmio64_aperture_weight: number;
}

export interface PlatformConfig {
  num_pci_segments: number;
  iommu_segments?: number[];
  iommu_address_width_bits: number;
  system_serial_number?: string;
  system_uuid?: string;
  oem_strings?: string[];
  system_manufacturer?: string;
  system_product_name?: string;
  system_version?: string;
  system_family?: string;
  system_sku_number?: string;
  chassis_asset_tag?: string;
  /** Only in upstream builds with the `tdx` feature. */
  tdx?: boolean;
  /** Only in upstream builds with the `sev_snp` feature. */
  sev_snp?: boolean;
  iommufd: boolean;
  iommufd_fd?: number;
  vfio_p2p_dma: boolean;
}

export interface MemoryZoneConfig {
  id: string;
  size: number;
  file?: string;
  mergeable: boolean;
  shared: boolean;
  hugepages: boolean;
  hugepage_size?: number;
  host_numa_node?: number;
  hotplug_size?: number;
  hotplugged_size?: number;
  prefault: boolean;
  reserve: boolean;
}

export type HotplugMethod = 'Acpi' | 'VirtioMem';

export interface MemoryConfig {
  size: number;
  hotplug_size?: number;
  hotplugged_size?: number;
  mergeable: boolean;
  hotplug_method: HotplugMethod;
  shared: boolean;
  hugepages: boolean;
  hugepage_size?: number;
  prefault: boolean;
  reserve: boolean;
  thp: boolean;
  zones?: MemoryZoneConfig[];
}

export interface TokenBucket {
  size: number;
  one_time_burst?: number;
  refill_time: number;
}

export interface RateLimiterConfig {
  bandwidth?: TokenBucket;
  ops?: TokenBucket;
}

export interface RateLimitGroupConfig {
  id: string;
  rate_limiter_config: RateLimiterConfig;
}

export interface VirtQueueAffinity {
  queue_index: number;
  host_cpus: number[];
}

/** `FlatVmdk` is not in the OpenAPI enum but upstream code accepts it (`image_type=vmdk`). */
export type ImageType = 'FixedVhd' | 'Qcow2' | 'Raw' | 'Vhdx' | 'FlatVmdk' | 'Unknown';

export type LockGranularity = 'ByteRange' | 'Full';

/** Fields every PCI device shares (flattened into each device's JSON upstream: `PciDeviceCommonConfig`). */
export interface PciDeviceCommonConfig {
  id?: string;
  iommu: boolean;
  pci_segment: number;
  pci_device_id?: number;
}

export interface DiskConfig extends PciDeviceCommonConfig {
  path?: string;
  readonly: boolean;
  direct: boolean;
  num_queues: number;
  queue_size: number;
  vhost_user: boolean;
  vhost_socket?: string;
  rate_limit_group?: string;
  rate_limiter_config?: RateLimiterConfig;
  /** Hidden CLI key `_disable_io_uring` (upstream code, not in OpenAPI). */
  disable_io_uring: boolean;
  /** Hidden CLI key `_disable_aio` (upstream code, not in OpenAPI). */
  disable_aio: boolean;
  serial?: string;
  queue_affinity?: VirtQueueAffinity[];
  backing_files: boolean;
  sparse: boolean;
  image_type: ImageType;
  lock_granularity: LockGranularity;
}

export type VhostMode = 'Client' | 'Server';

export interface NetConfig extends PciDeviceCommonConfig {
  tap?: string;
  ip?: string;
  mask?: string;
  mac?: string;
  host_mac?: string;
  mtu?: number;
  num_queues: number;
  queue_size: number;
  vhost_user: boolean;
  vhost_socket?: string;
  vhost_mode: VhostMode;
  /** TAP file descriptors (`fd=[3,4]` on the CLI; SCM_RIGHTS through the API). */
  fds?: number[];
  rate_limiter_config?: RateLimiterConfig;
  offload_tso: boolean;
  offload_ufo: boolean;
  offload_csum: boolean;
}

export interface RngConfig extends PciDeviceCommonConfig {
  src: string;
}

export type RtcConfig = PciDeviceCommonConfig;

export interface BalloonConfig extends PciDeviceCommonConfig {
  size: number;
  deflate_on_oom: boolean;
  free_page_reporting: boolean;
}

export interface FsConfig extends PciDeviceCommonConfig {
  tag: string;
  socket: string;
  num_queues: number;
  queue_size: number;
}

export interface GenericVhostUserConfig extends PciDeviceCommonConfig {
  socket: string;
  queue_sizes: number[];
  device_type: number;
}

export interface PmemConfig extends PciDeviceCommonConfig {
  file: string;
  size?: number;
  discard_writes: boolean;
}

export interface SerialConfig {
  mode: ConsoleMode;
  file?: string;
  socket?: string;
}

export interface ConsoleConfig extends PciDeviceCommonConfig {
  mode: ConsoleMode;
  file?: string;
  socket?: string;
}

export interface DebugConsoleConfig {
  mode: ConsoleMode;
  file?: string;
  iobase?: number;
}

export interface DeviceConfig extends PciDeviceCommonConfig {
  path?: string;
  fd?: number;
  x_nv_gpudirect_clique?: number;
  x_exclude_mmap_bars: number[];
}

export interface UserDeviceConfig extends PciDeviceCommonConfig {
  socket: string;
}

export interface TpmConfig {
  socket: string;
}

export interface VdpaConfig extends PciDeviceCommonConfig {
  path: string;
  num_queues: number;
}

export interface VsockConfig extends PciDeviceCommonConfig {
  cid: number;
  socket: string;
}

export interface NumaDistance {
  destination: number;
  distance: number;
}

export interface NumaConfig {
  guest_numa_id: number;
  cpus?: number[];
  distances?: NumaDistance[];
  memory_zones?: string[];
  pci_segments?: number[];
  device_id?: string;
}

export interface LandlockConfig {
  path: string;
  access: string;
}

export interface VmConfig {
  cpus: CpusConfig;
  memory: MemoryConfig;
  payload: PayloadConfig;
  rate_limit_groups?: RateLimitGroupConfig[];
  disks?: DiskConfig[];
  net?: NetConfig[];
  rng: RngConfig;
  balloon?: BalloonConfig;
  fs?: FsConfig[];
  generic_vhost_user?: GenericVhostUserConfig[];
  pmem?: PmemConfig[];
  serial: SerialConfig;
  console: ConsoleConfig;
  debug_console: DebugConsoleConfig;
  devices?: DeviceConfig[];
  user_devices?: UserDeviceConfig[];
  vdpa?: VdpaConfig[];
  vsock?: VsockConfig;
  numa?: NumaConfig[];
  iommu: boolean;
  watchdog: boolean;
  rtc?: RtcConfig;
  pvpanic: boolean;
  pci_segments?: PciSegmentConfig[];
  platform?: PlatformConfig;
  tpm?: TpmConfig;
  landlock_enable: boolean;
  landlock_rules?: LandlockConfig[];
}

/** A top-level `VmConfig` field name; front-ends report which ones the user set explicitly. */
export type VmConfigField = keyof VmConfig;
