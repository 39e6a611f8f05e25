/**
 * Guest addresses for memory BARs. A segment has a 32-bit window (segment 0: MEM_32BIT_DEVICES_START, 640 MiB)
 * and a 64-bit window (from the machine plan: above RAM, below the platform area). Allocation is top-down within a
 * window, like Cloud Hypervisor's AddressAllocator, and naturally aligned (at least to the BAR's size; callers may
 * ask for more, e.g. 8 MiB for virtio-pci BARs). When the guest moves a BAR, `relocate` moves its range so the VMM's
 * BarRelocationHandler can accept or refuse the move. I/O BARs are not allocated here (no Nimbus device has one).
 * Pure: no node:* imports.
 */
import type { BarRelocation, PciBarKind } from './config-space.ts';
import { isInteger, isPowerOfTwo } from './numbers.ts';
import { PciError } from './pci-error.ts';

export interface AddressWindow {
  readonly base: number;
  readonly size: number;
}

interface Range {
  readonly address: number;
  readonly size: number;
}

/** Non-overlapping ranges inside one address window. */
export class AddressAllocator {
  readonly name: string;
  readonly base: number;
  readonly end: number;
  /** Sorted by address. */
  private readonly ranges: Range[] = [];

  constructor(name: string, window: AddressWindow) {
    const { base, size } = window;
    if (!isInteger(base, Number.MAX_SAFE_INTEGER) || !isInteger(size, Number.MAX_SAFE_INTEGER - base)) {
      throw new PciError(
        'ALLOCATION_INVALID',
        `the ${name} window (base ${String(base)}, size ${String(size)}) is not a valid address range`,
      );
    }
    this.name = name;
    this.base = base;
    this.end = base + size;
  }

  /** The highest free address aligned to max(size, alignment) with `size` bytes free above it. */
  allocate(size: number, alignment = size): number {
    if (!isPowerOfTwo(size) || !isPowerOfTwo(alignment)) {
      throw new PciError(
        'ALLOCATION_INVALID',
        `a ${this.name} allocation needs a power-of-two size and alignment (got size ${String(size)}, alignment ${String(alignment)})`,
      );
    }
    const align = Math.max(size, alignment);
    let ceiling = this.end;
    for (let i = this.ranges.length - 1; i >= -1; i--) {
      const below = i >= 0 ? this.ranges[i]! : undefined;
      const floor = below ? below.address + below.size : this.base;
      const candidate = Math.floor((ceiling - size) / align) * align;
      if (ceiling - floor >= size && candidate >= floor) {
        this.ranges.splice(i + 1, 0, { address: candidate, size });
        return candidate;
      }
      if (below) ceiling = below.address;
    }
    throw new PciError(
      'WINDOW_FULL',
      `the ${this.name} window ${this.describe()} has no free 0x${size.toString(16)}-byte range aligned to ` +
        `0x${align.toString(16)}; use fewer or smaller devices`,
    );
  }

  /** Takes [address, address + size) as it is (a restored or guest-chosen BAR). */
  allocateAt(address: number, size: number): void {
    const problem = this.conflict(address, size);
    if (problem) {
      throw new PciError('ADDRESS_UNAVAILABLE', `0x${size.toString(16)} bytes at 0x${address.toString(16)}: ${problem}`);
    }
    this.insert({ address, size });
  }

  /** Frees the range that starts at `address`; returns its size. */
  free(address: number): number {
    const [range] = this.ranges.splice(this.indexOf(address), 1);
    return range!.size;
  }

  /** True if [address, address + size) lies in the window and no range overlaps it. */
  isFree(address: number, size: number): boolean {
    return this.conflict(address, size) === undefined;
  }

  /** True if `address` lies inside the window. */
  contains(address: number): boolean {
    return address >= this.base && address < this.end;
  }

  /** Why [address, address + size) cannot be taken, or undefined if it can. */
  private conflict(address: number, size: number): string | undefined {
    if (!isInteger(address, Number.MAX_SAFE_INTEGER) || !isInteger(size, Number.MAX_SAFE_INTEGER) || size === 0) {
      return 'not a valid address range';
    }
    if (address < this.base || address + size > this.end) {
      return `outside the ${this.name} window ${this.describe()}`;
    }
    const clash = this.ranges.find((r) => address < r.address + r.size && r.address < address + size);
    return clash ? `overlaps the BAR at 0x${clash.address.toString(16)}` : undefined;
  }

  private describe(): string {
    return `0x${this.base.toString(16)}-0x${this.end.toString(16)}`;
  }

  private insert(range: Range): void {
    const index = this.ranges.findIndex((r) => r.address > range.address);
    this.ranges.splice(index < 0 ? this.ranges.length : index, 0, range);
  }

  private indexOf(address: number): number {
    const index = this.ranges.findIndex((r) => r.address === address);
    if (index < 0) throw new PciError('NOT_ALLOCATED', `no ${this.name} BAR is allocated at 0x${address.toString(16)}`);
    return index;
  }
}

/** A segment's BAR address space: 32-bit memory BARs from `mmio32`, 64-bit ones from `mmio64`. */
export class PciBarAllocator {
  private readonly mmio32: AddressAllocator;
  private readonly mmio64: AddressAllocator;

  constructor(windows: { mmio32: AddressWindow; mmio64: AddressWindow }) {
    this.mmio32 = new AddressAllocator('32-bit PCI BAR', windows.mmio32);
    this.mmio64 = new AddressAllocator('64-bit PCI BAR', windows.mmio64);
  }

  /** An address for a new BAR of `kind`, naturally aligned (or to `alignment` if larger). */
  allocate(kind: PciBarKind, size: number, alignment = size): number {
    if (kind === 'io') {
      throw new PciError('ALLOCATION_INVALID', 'I/O BARs are not supported by Nimbus; give the device a memory BAR');
    }
    return (kind === 'memory32' ? this.mmio32 : this.mmio64).allocate(size, alignment);
  }

  /** Takes a BAR's range at a known address (restore): the window holding `address` must have it free. */
  allocateAt(address: number, size: number): void {
    this.windowOf(address).allocateAt(address, size);
  }

  /** Frees the BAR range starting at `address`. */
  free(address: number): void {
    this.windowOf(address).free(address);
  }

  /**
   * Follows a guest BAR move (call it from the VMM's BarRelocationHandler before re-registering the region):
   * true if the range moved, false if the new place is outside both windows or taken (nothing changes then).
   */
  relocate(move: BarRelocation): boolean {
    const from = this.windowOf(move.oldAddress);
    const size = from.free(move.oldAddress);
    const to = [this.mmio32, this.mmio64].find((window) => window.isFree(move.newAddress, size));
    if (!to) {
      from.allocateAt(move.oldAddress, size);
      return false;
    }
    to.allocateAt(move.newAddress, size);
    return true;
  }

  private windowOf(address: number): AddressAllocator {
    const window = [this.mmio32, this.mmio64].find((w) => w.contains(address));
    if (!window) {
      throw new PciError('NOT_ALLOCATED', `0x${address.toString(16)} is in neither PCI BAR window`);
    }
    return window;
  }
}
