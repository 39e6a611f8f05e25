/**
 * The PCI layer's error class. Guest accesses never raise it (config space, CF8/CFC, ECAM and MSI-X accesses by a
 * misbehaving guest get defined register behaviour instead); it reports mistakes of the VMM side: a device built
 * with an impossible BAR or capability, a slot that is taken, a BAR window that is full, a bad snapshot.
 * Pure: no node:* imports.
 */
import { NimbusError } from '../errors/nimbus-error.ts';

export type PciErrorCode =
  /** An identification field (vendor, device, class code, revision, subsystem) out of range. */
  | 'HEADER_INVALID'
  /** A BAR definition that cannot exist (bad index, size not a power of two, misaligned or out-of-range address). */
  | 'BAR_INVALID'
  /** A BAR index (or the upper half of a 64-bit BAR) that the function already uses. */
  | 'BAR_IN_USE'
  /** A function with BARs but no BAR relocation handler to tell when the guest moves them. */
  | 'BAR_RELOCATION_MISSING'
  /** A capability that is empty, too long, or does not fit in the standard configuration space. */
  | 'CAPABILITY_INVALID'
  /** An MSI-X vector count, table or PBA placement that is invalid. */
  | 'MSIX_INVALID'
  /** A device or function number outside the bus (0-31, 0-7). */
  | 'SLOT_INVALID'
  /** A device slot or function that is already taken. */
  | 'SLOT_IN_USE'
  /** An operation on a device slot that was never allocated. */
  | 'SLOT_NOT_ALLOCATED'
  /** Every device slot of the bus is taken. */
  | 'BUS_FULL'
  /** A BAR allocation request that is malformed (size or alignment not a power of two, unsupported BAR kind). */
  | 'ALLOCATION_INVALID'
  /** A BAR window has no free, suitably aligned range of the requested size. */
  | 'WINDOW_FULL'
  /** A fixed-address BAR allocation outside its window or overlapping another BAR. */
  | 'ADDRESS_UNAVAILABLE'
  /** Freeing an address that is not the start of an allocated BAR. */
  | 'NOT_ALLOCATED'
  /** A snapshot that is not the versioned object `save()` produces. */
  | 'BAD_SNAPSHOT';

export class PciError extends NimbusError<PciErrorCode> {}
