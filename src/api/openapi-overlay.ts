/**
 * Where Cloud Hypervisor's code accepts more than its OpenAPI YAML describes, declared as data. Tools built for
 * upstream send these: ch-remote serialises its whole config structs (`preserve_source`, `vfio_fds: null`, ...),
 * and `vm.info` returns them. Each entry names the upstream serde struct it follows (vmm/src/vm_config.rs,
 * vmm/src/config.rs, vmm/src/api/mod.rs). `openapi-schema.ts` applies them to the YAML's component schemas.
 */

/** A JSON Schema fragment as written in the YAML. */
export type SchemaObject = { [keyword: string]: unknown };

export interface SchemaPatch {
  /** Properties added (or replaced) in the component. */
  properties?: Record<string, SchemaObject>;
  /** Replaces the component's `required` list. */
  required?: string[];
  /** Replaces the component's `enum`. */
  enum?: string[];
}

const INTEGER = { type: 'integer', format: 'int32' };
const IOMMU = { type: 'boolean', default: false };
/** Descriptor numbers in JSON are never used (upstream turns them into -1); the real ones come via SCM_RIGHTS. */
const PLACEHOLDER_FD = INTEGER;

/** Components the YAML lacks. */
export const EXTRA_SCHEMAS: Record<string, SchemaObject> = {
  /** `RestoredNetConfig`: a net device id and how many of the passed descriptors are its TAP queues. */
  RestoredNetConfig: {
    type: 'object',
    required: ['id'],
    properties: {
      id: { type: 'string' },
      num_fds: { type: 'integer', format: 'int32', minimum: 0, default: 0 },
      fds: { type: 'array', items: PLACEHOLDER_FD },
    },
  },
  /** `RestoredVfioConfig`: a VFIO device id whose cdev descriptor is passed with the request. */
  RestoredVfioConfig: {
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string' }, fd: PLACEHOLDER_FD },
  },
};

const RESTORED_VFIO_LIST = { type: 'array', items: { $ref: '#/components/schemas/RestoredVfioConfig' } };

export const SCHEMA_PATCHES: Record<string, SchemaPatch> = {
  /** `CpusConfig.profile` (`CpuProfile`, only `Host` on x86_64). */
  CpusConfig: { properties: { profile: { type: 'string', enum: ['Host'], default: 'Host' } } },
  /** `CpuTopology`: every field is required (no serde default). */
  CpuTopology: { required: ['threads_per_core', 'cores_per_die', 'dies_per_package', 'packages'] },
  /** `HotplugMethod` is an enum in code; the YAML only says string. */
  MemoryConfig: { properties: { hotplug_method: { type: 'string', enum: ['Acpi', 'VirtioMem'], default: 'Acpi' } } },
  /** `DiskConfig`: the hidden `_disable_io_uring`/`_disable_aio` switches. */
  DiskConfig: {
    properties: { disable_io_uring: { type: 'boolean', default: false }, disable_aio: { type: 'boolean', default: false } },
  },
  /** `block::ImageType` also has `FlatVmdk`. */
  ImageType: { enum: ['FixedVhd', 'Qcow2', 'Raw', 'Vhdx', 'FlatVmdk', 'Unknown'] },
  /** `NetConfig`: `ip`/`mask` have no default in code (the YAML's are wrong), `VhostMode`, the (ignored) `fds`. */
  NetConfig: {
    properties: {
      ip: { type: 'string' },
      mask: { type: 'string' },
      vhost_mode: { type: 'string', enum: ['Client', 'Server'], default: 'Client' },
      fds: { type: 'array', items: PLACEHOLDER_FD },
    },
  },
  /** `DeviceConfig.fd` (ignored; the VFIO cdev comes via SCM_RIGHTS). */
  DeviceConfig: { properties: { fd: PLACEHOLDER_FD } },
  /** `PlatformConfig.iommufd_fd` (ignored, as above). */
  PlatformConfig: { properties: { iommufd_fd: PLACEHOLDER_FD } },
  /** These flatten `PciDeviceCommonConfig`, so they take `iommu` too (and `vm.info` may show it). */
  FsConfig: { properties: { iommu: IOMMU }, required: ['tag', 'socket'] },
  GenericVhostUserConfig: { properties: { iommu: IOMMU } },
  UserDeviceConfig: { properties: { iommu: IOMMU } },
  /** `num_queues` has a serde default. */
  VdpaConfig: { required: ['path'] },
  /** `RestoreConfig`: how the passed descriptors are shared out (net, then VFIO, then iommufd). */
  RestoreConfig: {
    properties: {
      net_fds: { type: 'array', items: { $ref: '#/components/schemas/RestoredNetConfig' } },
      vfio_fds: RESTORED_VFIO_LIST,
      iommufd_fd: PLACEHOLDER_FD,
    },
  },
  /** `VmReceiveMigrationData`: VFIO and iommufd descriptors for the incoming VM. */
  ReceiveMigrationData: { properties: { vfio_fds: RESTORED_VFIO_LIST, iommufd_fd: PLACEHOLDER_FD } },
  /** `VmSendMigrationData.preserve_source` (documented in live_migration.md). */
  SendMigrationData: { properties: { preserve_source: { type: 'boolean', default: false } } },
  /** The request bodies of `vmm/src/api/mod.rs` have no serde defaults for these. */
  VmResizeDisk: { required: ['id', 'desired_size'] },
  VmResizeZone: { required: ['id', 'desired_ram'] },
  VmRemoveDevice: { required: ['id'] },
  VmSnapshotConfig: { required: ['destination_url'] },
  VmCoredumpData: { required: ['destination_url'] },
};
