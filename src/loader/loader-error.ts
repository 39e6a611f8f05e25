/**
 * The one error class of the kernel loaders, with their stable codes. Messages name the file (kernel path) and
 * say what is wrong with it and what to do. Pure: no node:* imports.
 */
import { NimbusError } from '../errors/nimbus-error.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';

export type LoaderErrorCode =
  /** Neither an ELF nor a bzImage. */
  | 'NOT_A_KERNEL'
  /** The file ends before a header, table or segment it declares. */
  | 'KERNEL_TRUNCATED'
  /** A header field has a value we cannot boot (wrong class/machine/type, bad sizes, old protocol). */
  | 'KERNEL_INVALID'
  /** An ELF kernel without the Xen PVH entry note. */
  | 'NO_PVH_ENTRY'
  /** The kernel does not fit the guest RAM, or would overwrite the boot structures below 1 MiB. */
  | 'KERNEL_PLACEMENT'
  | 'INITRAMFS_PLACEMENT'
  | 'CMDLINE_INVALID'
  /** Guest memory or boot inputs (e820 map, RSDP address) that the boot structures cannot describe. */
  | 'BOOT_SETUP_INVALID';

export class LoaderError extends NimbusError<LoaderErrorCode> {}

/** Formats an address or size for messages. */
export function hex(value: number | bigint): string {
  return `0x${value.toString(16)}`;
}

/** Lists guest RAM ranges for messages. */
export function describeRam(memory: GuestMemory): string {
  return memory.regions.map((r) => `${hex(r.guestBase)}..${hex(r.guestBase + r.size)}`).join(', ');
}
