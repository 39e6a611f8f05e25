/**
 * Parsers for the request bodies that are not VM configuration (those are in vmm/config/from-json.ts): resizing,
 * device removal, snapshots, core dumps, user devices and migration. Bodies arrive checked against their OpenAPI
 * schema; these drop `null`s, fill upstream's serde defaults (vmm/src/api/mod.rs) and refuse, as not implemented,
 * fields upstream accepts that the action types cannot carry yet. Pure: no node:* imports.
 */
import { omitUndefined } from '../vmm/config/omit-undefined.ts';
import { type Json, requiredField } from '../vmm/config/from-json.ts';
import {
  type ReceiveMigrationData,
  type SendMigrationData,
  type VmAddUserDevice,
  type VmCoredumpData,
  VmmActionError,
  type VmRemoveDevice,
  type VmResize,
  type VmResizeDisk,
  type VmResizeZone,
  type VmSnapshotConfig,
} from '../vmm/actions.ts';
import type { RestoredVfioConfig } from '../vmm/config/vmm-options.ts';

/** `VmSendMigrationData` defaults: 300 ms downtime and a one-hour timeout (as QEMU), one connection. */
export const DEFAULT_MIGRATION_DOWNTIME_MS = 300;
export const DEFAULT_MIGRATION_TIMEOUT_S = 3600;
export const DEFAULT_MIGRATION_CONNECTIONS = 1;

export function resizeFromJson(json: Json<VmResize>): VmResize {
  return omitUndefined<VmResize>({
    desired_vcpus: json.desired_vcpus ?? undefined,
    desired_ram: json.desired_ram ?? undefined,
    desired_balloon: json.desired_balloon ?? undefined,
  });
}

export function resizeDiskFromJson(json: Json<VmResizeDisk>): VmResizeDisk {
  return { id: requiredField(json.id, 'id'), desired_size: requiredField(json.desired_size, 'desired_size') };
}

export function resizeZoneFromJson(json: Json<VmResizeZone>): VmResizeZone {
  return { id: requiredField(json.id, 'id'), desired_ram: requiredField(json.desired_ram, 'desired_ram') };
}

export function removeDeviceFromJson(json: Json<VmRemoveDevice>): VmRemoveDevice {
  return { id: requiredField(json.id, 'id') };
}

export function snapshotFromJson(json: Json<VmSnapshotConfig>): VmSnapshotConfig {
  return { destination_url: requiredField(json.destination_url, 'destination_url') };
}

export function coredumpFromJson(json: Json<VmCoredumpData>): VmCoredumpData {
  return { destination_url: requiredField(json.destination_url, 'destination_url') };
}

export function addUserDeviceFromJson(json: Json<VmAddUserDevice>): VmAddUserDevice {
  return omitUndefined<VmAddUserDevice>({
    socket: requiredField(json.socket, 'socket'),
    pci_segment: json.pci_segment ?? undefined,
    pci_device_id: json.pci_device_id ?? undefined,
  });
}

/** `VmReceiveMigrationData`, with upstream's `vfio_fds`/`iommufd_fd` (sent as null by ch-remote). */
export type ReceiveMigrationJson = Json<ReceiveMigrationData> & {
  vfio_fds?: Json<RestoredVfioConfig>[] | null;
  iommufd_fd?: number | null;
};

export function receiveMigrationFromJson(json: ReceiveMigrationJson): ReceiveMigrationData {
  if (json.vfio_fds != null) throw notImplemented('vm.receive-migration: vfio_fds (VFIO devices)');
  if (json.iommufd_fd != null) throw notImplemented('vm.receive-migration: iommufd_fd (iommufd)');
  return omitUndefined<ReceiveMigrationData>({
    receiver_url: requiredField(json.receiver_url, 'receiver_url'),
    tls_dir: json.tls_dir ?? undefined,
    memory_mode: json.memory_mode ?? 'Precopy',
    zone_updates: (json.zone_updates ?? []).map((update, index) => ({
      id: requiredField(update.id, `zone_updates[${index}].id`),
      host_numa_node: requiredField(update.host_numa_node, `zone_updates[${index}].host_numa_node`),
    })),
  });
}

export function sendMigrationFromJson(json: Json<SendMigrationData>): SendMigrationData {
  return omitUndefined<SendMigrationData>({
    destination_url: requiredField(json.destination_url, 'destination_url'),
    local: json.local ?? false,
    downtime_ms: json.downtime_ms ?? DEFAULT_MIGRATION_DOWNTIME_MS,
    timeout_s: json.timeout_s ?? DEFAULT_MIGRATION_TIMEOUT_S,
    timeout_strategy: json.timeout_strategy ?? 'Cancel',
    connections: json.connections ?? DEFAULT_MIGRATION_CONNECTIONS,
    tls_dir: json.tls_dir ?? undefined,
    memory_mode: json.memory_mode ?? 'Precopy',
    preserve_source: json.preserve_source ?? false,
  });
}

function notImplemented(what: string): VmmActionError {
  return new VmmActionError('NOT_IMPLEMENTED', `${what} is not supported by Nimbus yet`);
}
