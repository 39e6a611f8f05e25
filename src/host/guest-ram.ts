/**
 * Guest RAM backed by one memfd (so vhost-user backends and snapshots can share it later), mapped once into the VMM
 * and exposed as GuestMemory views plus the host address of each region for the hypervisor's memory slots.
 */
import { ftruncateSync } from 'node:fs';
import { NimbusError } from '../errors/nimbus-error.ts';
import type { GuestMemory, MemoryRegion } from '../memory/guest-memory.ts';
import { guestMemoryViews } from './guest-memory-views.ts';
import { MAP_NORESERVE, MAP_SHARED, MADV_DONTDUMP, native, PROT_READ, PROT_WRITE } from './native.ts';

export class GuestRamError extends NimbusError {}

export interface RamRegion extends MemoryRegion {
  /** Host virtual address where this region is mapped. */
  readonly hostAddress: bigint;
  /** Offset of this region in the memfd. */
  readonly fileOffset: number;
}

export class GuestRam {
  readonly memory: GuestMemory;
  readonly regions: readonly RamRegion[];
  readonly fd: number;
  private readonly base: bigint;
  private readonly length: number;
  private released = false;

  private constructor(fd: number, base: bigint, length: number, regions: RamRegion[], memory: GuestMemory) {
    this.fd = fd;
    this.base = base;
    this.length = length;
    this.regions = regions;
    this.memory = memory;
  }

  /** Allocates RAM for the given guest-physical layout (regions laid out back to back in the memfd). */
  static allocate(layout: readonly MemoryRegion[]): GuestRam {
    const addon = native();
    const total = layout.reduce((sum, r) => sum + r.size, 0);
    if (total <= 0) throw new GuestRamError('EMPTY', 'guest memory size must be positive');
    const fd = addon.memfdCreate('nimbus-guest-ram', 0);
    try {
      ftruncateSync(fd, total);
    } catch (cause) {
      addon.close(fd);
      throw new GuestRamError('ALLOCATE', `cannot size guest memory to ${total} bytes: ${(cause as Error).message}`, { cause });
    }
    const base = addon.mmap(total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    addon.madvise(base, total, MADV_DONTDUMP);
    const regions: RamRegion[] = [];
    let offset = 0;
    for (const r of layout) {
      regions.push({ guestBase: r.guestBase, size: r.size, hostAddress: base + BigInt(offset), fileOffset: offset });
      offset += r.size;
    }
    return new GuestRam(fd, base, total, regions, guestMemoryViews(regions));
  }

  /** Unmaps the memory and closes the memfd. Views over it must not be used afterwards. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const addon = native();
    addon.munmap(this.base, this.length);
    addon.close(this.fd);
  }
}
