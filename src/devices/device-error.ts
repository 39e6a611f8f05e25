/**
 * The legacy devices' error class. Guest accesses never raise it (a misbehaving guest gets defined register
 * behaviour instead); it reports mistakes of the VMM side: a bad snapshot, a shared state buffer of the wrong size,
 * a bad platform configuration, or a device lock that cannot be taken.
 */
import { NimbusError } from '../errors/nimbus-error.ts';

export type DeviceErrorCode =
  /** A snapshot that is not the versioned object `save()` produces (wrong version, missing or out-of-range field). */
  | 'BAD_SNAPSHOT'
  /** A device was given shared state that is not a SharedArrayBuffer of at least its STATE_BYTES. */
  | 'BAD_STATE_BUFFER'
  /** A platform configuration value out of range (e.g. a negative memory size). */
  | 'BAD_CONFIG'
  /** A device lock stayed held by another thread for longer than the lock timeout. */
  | 'LOCK_TIMEOUT'
  /** A thread tried to take a device lock it already holds (a device callback re-entered the device). */
  | 'LOCK_REENTERED'
  /** An operation on a device the platform was configured without (e.g. serial input with `--serial off`). */
  | 'DEVICE_ABSENT';

export class DeviceError extends NimbusError<DeviceErrorCode> {}
