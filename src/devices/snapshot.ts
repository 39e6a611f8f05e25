/**
 * Validation of device snapshots read back for restore: a snapshot must be the plain `{ version: 1, ... }` object
 * a device's `save()` produced, with every field present and in range; anything else is a DeviceError BAD_SNAPSHOT
 * that names the device and the field. Pure: no node:* imports.
 */
import { SnapshotReader as TypedSnapshotReader } from '../util/snapshot-reader.ts';
import { DeviceError } from './device-error.ts';

/** The snapshot version every legacy device writes and accepts. */
export const SNAPSHOT_VERSION = 1;

/** Reads typed fields out of an untrusted device snapshot, failing with BAD_SNAPSHOT on the first bad one. */
export class SnapshotReader extends TypedSnapshotReader {
  constructor(data: unknown, device: string) {
    super(data, `the ${device} snapshot`, (message) => new DeviceError('BAD_SNAPSHOT', message), SNAPSHOT_VERSION);
  }
}
