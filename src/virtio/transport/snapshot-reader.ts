/**
 * Typed reads of an untrusted snapshot object for the virtio transport's restore(): every failure is a
 * VirtioTransportError BAD_SNAPSHOT that names the field. Pure: no node:* imports.
 */
import { SnapshotReader } from '../../util/snapshot-reader.ts';
import { VirtioTransportError } from './transport-error.ts';

export type { SnapshotReader };

/** Wraps `value`, which must be a plain object; `what` names it in error messages ("the virtio-pci snapshot"). */
export function snapshotReader(value: unknown, what: string): SnapshotReader {
  return new SnapshotReader(value, what, (message) => new VirtioTransportError('BAD_SNAPSHOT', message));
}

export function badSnapshot(problem: string): VirtioTransportError {
  return new VirtioTransportError('BAD_SNAPSHOT', `${problem}; restore only state saved by this version of Nimbus`);
}
