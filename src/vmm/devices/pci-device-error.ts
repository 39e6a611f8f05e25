/**
 * The error class of the PCI device plumbing (src/vmm/devices/): the shared GSI route table and BAR map, the I/O
 * workers that own virtio devices, and building those devices from the VM configuration.
 */
import { NimbusError } from '../../errors/nimbus-error.ts';

export type PciDeviceErrorCode =
  /** Every GSI the route table can hand out for MSI-X vectors is taken. */
  | 'GSI_EXHAUSTED'
  /** A GSI that the route table did not hand out. */
  | 'GSI_INVALID'
  /** A device's I/O worker failed to start (the message says why). */
  | 'WORKER_START_FAILED'
  /** The `--rng` entropy source cannot be opened. */
  | 'RNG_SOURCE_UNREADABLE'
  /** A `--disk` image that cannot be opened (missing, no permission, read-only file without readonly=on). */
  | 'DISK_OPEN_FAILED'
  /** A `--disk` image in a format Nimbus cannot read (qcow2, VHD, VHDX). */
  | 'DISK_FORMAT_UNSUPPORTED';

export class PciDeviceError extends NimbusError<PciDeviceErrorCode> {}
