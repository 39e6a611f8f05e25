/**
 * The VM-wide map of where each PCI device's BAR0 lives, shared by every thread (docs/design/virtio-devices.md):
 * the main thread places BARs when it builds the devices, a device's I/O worker moves its BAR when the guest
 * reprograms it, and vCPU workers look addresses up on every BAR MMIO exit, without asking anyone.
 *
 * Layout: one SharedArrayBuffer of Int32 words: a writer lock (a SharedLock: writers are rare and serialised), a
 * sequence counter, and per device (by index) the BAR's address and size as 32-bit halves (size 0: no BAR).
 * Readers use the sequence counter as a seqlock: a writer makes it odd, changes entries and makes it even again; a
 * reader retries when it saw it odd or changed. Placement rules are PciBarAllocator's (inside the segment's 32- or
 * 64-bit window, naturally aligned, no overlap), applied to the map's current contents under the writer lock.
 * Pure: no node:* imports.
 */
import { SharedLock, type LockMode } from '../../devices/shared-lock.ts';
import { PciBarAllocator, type AddressWindow } from '../../pci/bar-allocator.ts';
import type { BarRelocation, PciBarKind } from '../../pci/config-space.ts';
import { PciError } from '../../pci/pci-error.ts';
import { withLock } from './with-lock.ts';

/** The BAR windows of the segment (what the DSDT's _CRS describes). */
export interface BarWindows {
  readonly mmio32: AddressWindow;
  readonly mmio64: AddressWindow;
}

/** What each thread needs to open the map (structured-clone safe). */
export interface BarMapData {
  readonly buffer: SharedArrayBuffer;
  readonly windows: BarWindows;
}

/** A BAR hit: which device's BAR0 holds the address, and the offset into it. */
export interface BarHit {
  readonly device: number;
  readonly offset: number;
}

/** Word 0 is the writer lock (SharedLock). */
const SEQUENCE_WORD = 1;
const FIRST_ENTRY_WORD = 2;
/** Entry fields (word offsets within an entry). */
const ENTRY = { ADDRESS_LO: 0, ADDRESS_HI: 1, SIZE_LO: 2, SIZE_HI: 3, WORDS: 4 } as const;
const TWO_32 = 2 ** 32;

export class BarMap {
  readonly windows: BarWindows;
  /** Number of device entries. */
  readonly capacity: number;
  private readonly words: Int32Array;
  private readonly lock: SharedLock;

  /** A new, empty map for `capacity` devices. */
  static create(capacity: number, windows: BarWindows): BarMapData {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new PciError('ALLOCATION_INVALID', `a BAR map needs room for at least one device (got ${String(capacity)})`);
    }
    return { buffer: new SharedArrayBuffer(4 * (FIRST_ENTRY_WORD + capacity * ENTRY.WORDS)), windows };
  }

  /** Opens the map in this thread; `mode` is "wait" in Workers and "spin" on the main thread. */
  constructor(data: BarMapData, mode: LockMode) {
    this.windows = data.windows;
    this.words = new Int32Array(data.buffer);
    this.capacity = (this.words.length - FIRST_ENTRY_WORD) / ENTRY.WORDS;
    this.lock = new SharedLock(data.buffer, mode);
  }

  /**
   * Places device `device`'s BAR (a memory BAR of `size` bytes, aligned to max(size, alignment)) top-down in the
   * window for `kind`, and returns its address. Throws PciError WINDOW_FULL when it does not fit.
   */
  allocate(device: number, kind: PciBarKind, size: number, alignment = size): number {
    this.checkDevice(device);
    return withLock(this.lock, () => {
      if (this.entry(device).size !== 0) {
        throw new PciError('BAR_IN_USE', `PCI device ${device} already has a BAR in the BAR map`);
      }
      const address = this.allocator().allocate(kind, size, alignment);
      this.publish(device, address, size);
      return address;
    });
  }

  /**
   * Follows a guest move of device `device`'s BAR: true if the new place is free and inside a window (the map then
   * says so), false to refuse (nothing changes). Never throws for a guest-chosen address.
   */
  relocate(device: number, move: BarRelocation): boolean {
    this.checkDevice(device);
    return withLock(this.lock, () => {
      const current = this.entry(device);
      if (current.size === 0 || current.address !== move.oldAddress) return false;
      if (!this.allocator().relocate(move)) return false;
      this.publish(device, move.newAddress, current.size);
      return true;
    });
  }

  /** The device whose BAR holds `address`, and the offset into that BAR. Lock-free (seqlock read). */
  lookup(address: number): BarHit | undefined {
    for (;;) {
      const sequence = Atomics.load(this.words, SEQUENCE_WORD);
      if (sequence & 1) continue;
      let hit: BarHit | undefined;
      for (let device = 0; device < this.capacity && !hit; device++) {
        const { address: base, size } = this.entry(device);
        if (size !== 0 && address >= base && address < base + size) hit = { device, offset: address - base };
      }
      if (Atomics.load(this.words, SEQUENCE_WORD) === sequence) return hit;
    }
  }

  /** Where device `device`'s BAR is now (undefined if it has none). */
  barOf(device: number): { address: number; size: number } | undefined {
    this.checkDevice(device);
    for (;;) {
      const sequence = Atomics.load(this.words, SEQUENCE_WORD);
      if (sequence & 1) continue;
      const entry = this.entry(device);
      if (Atomics.load(this.words, SEQUENCE_WORD) === sequence) return entry.size === 0 ? undefined : entry;
    }
  }

  /** An allocator holding every BAR of the map (with the writer lock held). */
  private allocator(): PciBarAllocator {
    const allocator = new PciBarAllocator(this.windows);
    for (let device = 0; device < this.capacity; device++) {
      const { address, size } = this.entry(device);
      if (size !== 0) allocator.allocateAt(address, size);
    }
    return allocator;
  }

  private entry(device: number): { address: number; size: number } {
    const at = FIRST_ENTRY_WORD + device * ENTRY.WORDS;
    const word = (field: number): number => Atomics.load(this.words, at + field) >>> 0;
    return {
      address: word(ENTRY.ADDRESS_HI) * TWO_32 + word(ENTRY.ADDRESS_LO),
      size: word(ENTRY.SIZE_HI) * TWO_32 + word(ENTRY.SIZE_LO),
    };
  }

  /** Writes an entry inside a seqlock write section (with the writer lock held). */
  private publish(device: number, address: number, size: number): void {
    const at = FIRST_ENTRY_WORD + device * ENTRY.WORDS;
    Atomics.add(this.words, SEQUENCE_WORD, 1);
    Atomics.store(this.words, at + ENTRY.ADDRESS_LO, address % TWO_32);
    Atomics.store(this.words, at + ENTRY.ADDRESS_HI, Math.floor(address / TWO_32));
    Atomics.store(this.words, at + ENTRY.SIZE_LO, size % TWO_32);
    Atomics.store(this.words, at + ENTRY.SIZE_HI, Math.floor(size / TWO_32));
    Atomics.add(this.words, SEQUENCE_WORD, 1);
  }

  private checkDevice(device: number): void {
    if (!Number.isInteger(device) || device < 0 || device >= this.capacity) {
      throw new PciError('SLOT_INVALID', `PCI device index ${String(device)} is outside the BAR map (0-${this.capacity - 1})`);
    }
  }
}
