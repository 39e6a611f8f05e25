/**
 * Guest RAM as seen from a thread other than the one that mapped it (a device's I/O worker): GuestMemory views over
 * the regions' host addresses. `postMessage` copies ArrayBuffers, so each thread builds its own external views from
 * the (guest base, size, host address) of each region; the mapping itself is process-wide.
 */
import { GuestMemory, MAX_CHUNK_BYTES } from '../memory/guest-memory.ts';
import { native } from './native.ts';

/** A region of guest RAM and where the VMM mapped it (GuestRam's regions are these). */
export interface MappedRegion {
  readonly guestBase: number;
  readonly size: number;
  readonly hostAddress: bigint;
}

/** Views over already mapped guest RAM; valid until the RAM is released. */
export function guestMemoryViews(regions: readonly MappedRegion[]): GuestMemory {
  const addon = native();
  return new GuestMemory(
    regions.map(({ guestBase, size, hostAddress }) => {
      const backing: Uint8Array[] = [];
      for (let done = 0; done < size; done += MAX_CHUNK_BYTES) {
        backing.push(new Uint8Array(addon.view(hostAddress + BigInt(done), Math.min(MAX_CHUNK_BYTES, size - done))));
      }
      return { guestBase, size, backing };
    }),
  );
}
