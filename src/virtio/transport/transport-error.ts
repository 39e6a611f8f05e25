/**
 * The virtio transport's error class. Guest accesses never raise it (bad register writes are ignored as the spec
 * says, and a configuration the device cannot use sets DEVICE_NEEDS_RESET); it reports mistakes of the VMM side:
 * a device the transport cannot present, a device signalling a queue it does not have, a bad snapshot.
 * Pure: no node:* imports.
 */
import { NimbusError } from '../../errors/nimbus-error.ts';

export type VirtioTransportErrorCode =
  /** A device whose type, queue sizes or configuration size the transport cannot present. */
  | 'DEVICE_INVALID'
  /** A device offering a transport feature bit this transport does not implement. */
  | 'FEATURE_UNSUPPORTED'
  /** A device signalled a queue index it does not have. */
  | 'QUEUE_INVALID'
  /** A snapshot that is not the versioned object `save()` produces. */
  | 'BAD_SNAPSHOT'
  /** A restore into a transport whose device is already active. */
  | 'RESTORE_ACTIVE';

export class VirtioTransportError extends NimbusError<VirtioTransportErrorCode> {}
