/**
 * Initramfs placement, as Cloud Hypervisor does it (arch::initramfs_load_addr): page-aligned at the top of the RAM
 * that starts at address 0 (which ends at or below 3 GiB), additionally below the kernel's initrd_addr_max for a
 * bzImage, and never over the kernel. Pure: no node:* imports.
 */
import { MEM_32BIT_RESERVED_START, PAGE_SIZE } from '../arch/x86_64/layout.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import { hex, LoaderError } from './loader-error.ts';

export interface InitramfsPlacement {
  readonly address: number;
  readonly size: number;
}

export interface InitramfsConstraints {
  /** First address after the kernel; the initramfs must start at or above it. */
  readonly kernelEnd: number;
  /** Exclusive upper bound for the initramfs end (bzImage: initrd_addr_max + 1). */
  readonly addressLimit?: number;
}

/** Chooses where an initramfs of `size` bytes goes; throws LoaderError INITRAMFS_PLACEMENT if it cannot fit. */
export function placeInitramfs(size: number, memory: GuestMemory, constraints: InitramfsConstraints): InitramfsPlacement {
  if (size === 0) throw new LoaderError('INITRAMFS_PLACEMENT', 'the initramfs file is empty');
  const top = Math.min(lowRamEnd(memory), constraints.addressLimit ?? Number.POSITIVE_INFINITY);
  const address = Math.floor((top - size) / PAGE_SIZE) * PAGE_SIZE;
  if (address < constraints.kernelEnd) {
    throw new LoaderError(
      'INITRAMFS_PLACEMENT',
      `the initramfs (${size} bytes) does not fit between the end of the kernel (${hex(constraints.kernelEnd)}) and ${hex(top)}; give the VM more memory or use a smaller initramfs`,
    );
  }
  return { address, size };
}

/** Copies the initramfs to its placement. */
export function writeInitramfs(memory: GuestMemory, bytes: Uint8Array, placement: InitramfsPlacement): void {
  memory.write(placement.address, bytes.subarray(0, placement.size));
}

/** End of the contiguous RAM that starts at 0, capped at the 32-bit hole. */
function lowRamEnd(memory: GuestMemory): number {
  let end = 0;
  for (const region of memory.regions) {
    if (region.guestBase !== end) break;
    end = region.guestBase + region.size;
  }
  return Math.min(end, MEM_32BIT_RESERVED_START);
}
