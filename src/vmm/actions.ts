/**
 * The VMM's request vocabulary: one VmmAction per REST endpoint of Cloud Hypervisor's API (the CLI's boot is a
 * vm.create + vm.boot too), the results the VMM returns, and the errors it raises with the HTTP status each maps
 * to. src/api/ translates HTTP to actions; src/vmm/vmm.ts carries them out. Pure: no node:* imports.
 */
import { NimbusError } from '../errors/nimbus-error.ts';
import type {
  DeviceConfig,
  DiskConfig,
  FsConfig,
  GenericVhostUserConfig,
  NetConfig,
  PmemConfig,
  VdpaConfig,
  VmConfig,
  VmConfigField,
  VsockConfig,
} from './config/vm-config.ts';
import type { RestoreConfig, VmMemoryZoneUpdateData } from './config/vmm-options.ts';

/** OpenAPI `VmState`. */
export type VmState = 'Created' | 'Running' | 'Shutdown' | 'Paused' | 'BreakPoint';

export interface VmResize {
  desired_vcpus?: number;
  desired_ram?: number;
  desired_balloon?: number;
}

export interface VmResizeDisk {
  id: string;
  desired_size: number;
}

export interface VmResizeZone {
  id: string;
  desired_ram: number;
}

export interface VmRemoveDevice {
  id: string;
}

export interface VmSnapshotConfig {
  destination_url: string;
}

export interface VmCoredumpData {
  destination_url: string;
}

export interface VmAddUserDevice {
  socket: string;
  pci_segment?: number;
  pci_device_id?: number;
}

export type MigrationMode = 'Precopy' | 'Postcopy';

export interface ReceiveMigrationData {
  receiver_url: string;
  tls_dir?: string;
  memory_mode?: MigrationMode;
  zone_updates?: VmMemoryZoneUpdateData[];
}

export interface SendMigrationData {
  destination_url: string;
  local?: boolean;
  downtime_ms?: number;
  timeout_s?: number;
  timeout_strategy?: 'Cancel' | 'Ignore';
  connections?: number;
  tls_dir?: string;
  memory_mode?: MigrationMode;
  /** Accepted by upstream's code and documented in live_migration.md, though not in the OpenAPI spec. */
  preserve_source?: boolean;
}

/** A device-adding action: the endpoint's config and any file descriptors passed with it (SCM_RIGHTS). */
type AddAction<Kind extends string, Config> = { kind: Kind; config: Config; fds: number[] };

export type VmmAction =
  | { kind: 'vmm.ping' }
  | { kind: 'vmm.shutdown' }
  /** `explicitFields`: the top-level VmConfig fields the request gave (the rest took upstream defaults). */
  | { kind: 'vm.create'; config: VmConfig; explicitFields: ReadonlySet<VmConfigField>; fds: number[] }
  | { kind: 'vm.boot' }
  | { kind: 'vm.info' }
  | { kind: 'vm.counters' }
  | { kind: 'vm.delete' }
  | { kind: 'vm.pause' }
  | { kind: 'vm.resume' }
  | { kind: 'vm.shutdown' }
  | { kind: 'vm.reboot' }
  | { kind: 'vm.power-button' }
  | { kind: 'vm.nmi' }
  | { kind: 'vm.resize'; body: VmResize }
  | { kind: 'vm.resize-disk'; body: VmResizeDisk }
  | { kind: 'vm.resize-zone'; body: VmResizeZone }
  | AddAction<'vm.add-device', DeviceConfig>
  | AddAction<'vm.add-disk', DiskConfig>
  | AddAction<'vm.add-fs', FsConfig>
  | AddAction<'vm.add-generic-vhost-user', GenericVhostUserConfig>
  | AddAction<'vm.add-pmem', PmemConfig>
  | AddAction<'vm.add-net', NetConfig>
  | AddAction<'vm.add-vsock', VsockConfig>
  | AddAction<'vm.add-vdpa', VdpaConfig>
  | AddAction<'vm.add-user-device', VmAddUserDevice>
  | { kind: 'vm.remove-device'; body: VmRemoveDevice }
  | { kind: 'vm.snapshot'; body: VmSnapshotConfig }
  | { kind: 'vm.coredump'; body: VmCoredumpData }
  | { kind: 'vm.restore'; body: RestoreConfig; fds: number[] }
  | { kind: 'vm.receive-migration'; body: ReceiveMigrationData; fds: number[] }
  | { kind: 'vm.send-migration'; body: SendMigrationData };

export type VmmActionKind = VmmAction['kind'];

/** OpenAPI `VmmPingResponse`. */
export interface VmmPingResponse {
  build_version?: string;
  version: string;
  pid?: number;
  features?: string[];
}

/** OpenAPI `DeviceNode`. */
export interface DeviceNode {
  id?: string;
  resources?: Record<string, unknown>[];
  children?: string[];
  pci_bdf?: string;
}

/** OpenAPI `VmInfo`. */
export interface VmInfo {
  config: VmConfig;
  state: VmState;
  memory_actual_size?: number;
  device_tree?: Record<string, DeviceNode>;
}

/** OpenAPI `VmCounters`: device id -> counter name -> value. */
export type VmCounters = Record<string, Record<string, number>>;

/** OpenAPI `PciDeviceInfo`. */
export interface PciDeviceInfo {
  id: string;
  bdf: string;
}

/** What an action returns: nothing (HTTP 204) or a JSON body (HTTP 200). */
export type ActionResult = { body?: unknown };

/** Carries out actions. Throws VmmActionError (or ConfigError for an invalid configuration). */
export interface VmmControl {
  handle(action: VmmAction): Promise<ActionResult>;
}

/**
 * Why an action failed, each with the HTTP status the API answers (documented choice: the OpenAPI spec's codes
 * where it lists one; upstream's code answers 500 for most of them):
 * - VM_NOT_CREATED / VM_MISSING_CONFIG / UNKNOWN_DEVICE: 404, as upstream;
 * - INVALID_STATE (e.g. pause when not running, snapshot when not paused): 405, as the spec documents;
 * - VM_ALREADY_CREATED (create or boot twice, restore over a VM): 409;
 * - NOT_IMPLEMENTED (an endpoint or option whose feature Nimbus has not built yet): 501, naming the feature;
 * - FAILED (the action was valid but failed on the host, e.g. KVM refused): 500.
 */
export const VMM_ERROR_STATUS = {
  VM_NOT_CREATED: 404,
  VM_MISSING_CONFIG: 404,
  UNKNOWN_DEVICE: 404,
  INVALID_STATE: 405,
  VM_ALREADY_CREATED: 409,
  NOT_IMPLEMENTED: 501,
  FAILED: 500,
} as const;

export type VmmErrorCode = keyof typeof VMM_ERROR_STATUS;

export class VmmActionError extends NimbusError<VmmErrorCode> {}
