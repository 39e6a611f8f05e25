/**
 * Port-I/O and MMIO bus: maps address ranges to devices with overlap checks and dispatches guest accesses.
 * A device sees offsets relative to the start of its range. Pure: no node:* imports.
 */
import { NimbusError } from '../errors/nimbus-error.ts';

export class BusError extends NimbusError {}

/** A device reachable through a bus. `data.length` is the access width (1, 2, 4 or 8 bytes). */
export interface BusDevice {
  /** Fills `data` with the value read at `offset` (little-endian). */
  read(offset: number, data: Uint8Array): void;
  /** Handles a guest write of `data` at `offset`. */
  write(offset: number, data: Uint8Array): void;
}

interface BusEntry {
  readonly base: number;
  readonly length: number;
  readonly name: string;
  readonly device: BusDevice;
}

export class Bus {
  private entries: BusEntry[] = [];
  readonly kind: string;

  /** @param kind "pio" or "mmio", used in error messages. */
  constructor(kind: string) {
    this.kind = kind;
  }

  /** Registers `device` at [base, base+length); throws BusError on overlap or an empty range. */
  insert(base: number, length: number, name: string, device: BusDevice): void {
    if (length <= 0) throw new BusError('EMPTY_RANGE', `${this.kind} range for ${name} is empty`);
    const clash = this.entries.find((e) => base < e.base + e.length && e.base < base + length);
    if (clash) {
      throw new BusError(
        'OVERLAP',
        `${this.kind} range 0x${base.toString(16)}+0x${length.toString(16)} of ${name} overlaps ${clash.name} at 0x${clash.base.toString(16)}`,
      );
    }
    this.entries.push({ base, length, name, device });
    this.entries.sort((a, b) => a.base - b.base);
  }

  /** Unregisters the device registered at exactly `base`. */
  remove(base: number): void {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.base !== base);
    if (this.entries.length === before) throw new BusError('NOT_FOUND', `no ${this.kind} device at 0x${base.toString(16)}`);
  }

  /** The device and offset for an address, or undefined. */
  resolve(addr: number): { device: BusDevice; offset: number; name: string } | undefined {
    let lo = 0;
    let hi = this.entries.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const e = this.entries[mid]!;
      if (addr < e.base) hi = mid - 1;
      else if (addr >= e.base + e.length) lo = mid + 1;
      else return { device: e.device, offset: addr - e.base, name: e.name };
    }
    return undefined;
  }

  /** Dispatches a read; unclaimed addresses read as all ones (like an open bus). Returns whether a device answered. */
  read(addr: number, data: Uint8Array): boolean {
    const hit = this.resolve(addr);
    if (!hit) {
      data.fill(0xff);
      return false;
    }
    hit.device.read(hit.offset, data);
    return true;
  }

  /** Dispatches a write; writes to unclaimed addresses are dropped. Returns whether a device took it. */
  write(addr: number, data: Uint8Array): boolean {
    const hit = this.resolve(addr);
    if (!hit) return false;
    hit.device.write(hit.offset, data);
    return true;
  }
}
