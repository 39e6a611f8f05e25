/**
 * MSI-X for one PCI function (PCI Local Bus 3.0 §6.8.2): the capability in configuration space (message control
 * with the enable and function-mask bits, table and PBA locations), the vector table (16 bytes per vector: message
 * address low/high, data, vector control) and the pending bit array.
 *
 * The device raises vectors through `MsiInterrupt.trigger`. A vector that is masked (by its vector control bit or
 * the function mask) when it fires gets its pending bit set instead, and is delivered as soon as it is unmasked.
 * While MSI-X is disabled, triggers are dropped (Nimbus functions have no INTx fallback). Delivery goes through an
 * MsiRouter, which the VMM implements with KVM GSI routes and irqfds.
 *
 * Guest accesses to the table and PBA may have any width and alignment (drivers use dwords and qwords); bytes past
 * the end read 0xFF, reserved bits read 0, the PBA is read-only. Pure: no node:* imports.
 */
import type { PciCapability, PciConfigSpace } from './config-space.ts';
import { PCI_BAR_COUNT, PCI_CAPABILITY_AREA, PCI_CAPABILITY_ID } from './config-registers.ts';
import { isInteger } from './numbers.ts';
import { PciError } from './pci-error.ts';

/** Where the VMM sends a vector: the 64-bit message address as two dwords, and the message data. */
export interface MsiMessage {
  readonly addressLo: number;
  readonly addressHi: number;
  readonly data: number;
}

/**
 * Implemented by the VMM (KVM GSI routes + irqfds). `route` is called on every transition of a vector between
 * masked and unmasked and whenever the message of an unmasked vector changes (message writes to a masked vector
 * are reported when it is unmasked). Every vector starts masked. `inject` is only called for unmasked vectors.
 */
export interface MsiRouter {
  route(vector: number, message: MsiMessage, masked: boolean): void;
  /** Signals the vector's route now (an irqfd write). */
  inject(vector: number): void;
}

/** What a device raises its interrupts through. Vectors the table does not have are ignored. */
export interface MsiInterrupt {
  trigger(vector: number): void;
}

/** A structure's location: BAR index (BIR) and a qword-aligned offset in that BAR. */
export interface MsixPlacement {
  readonly bar: number;
  readonly offset: number;
}

export interface MsixOptions {
  /** Number of vectors, 1-2048. */
  readonly vectors: number;
  readonly table: MsixPlacement;
  readonly pba: MsixPlacement;
}

/** Field offsets within the MSI-X capability (from its ID byte). */
export const MSIX_CAPABILITY = {
  MESSAGE_CONTROL: 2,
  /** Table offset | BIR (bits 2:0). */
  TABLE: 4,
  /** PBA offset | BIR (bits 2:0). */
  PBA: 8,
  BYTES: 12,
} as const;

export const MSIX_MESSAGE_CONTROL = {
  /** Table size - 1 (read-only). */
  TABLE_SIZE: 0x07ff,
  FUNCTION_MASK: 0x4000,
  ENABLE: 0x8000,
} as const;

/** Field offsets within a 16-byte table entry. */
export const MSIX_TABLE_ENTRY = {
  ADDRESS_LO: 0,
  ADDRESS_HI: 4,
  DATA: 8,
  VECTOR_CONTROL: 12,
  BYTES: 16,
} as const;

/** Vector control bit 0: the vector is masked. */
export const MSIX_VECTOR_MASKED = 0x1;
export const MSIX_MAX_VECTORS = 2048;

const BIR_MASK = 0x7;
/** Guest-writable bits of a table entry, byte by byte (address bits 1:0 and reserved control bits read 0). */
const TABLE_ENTRY_WRITABLE = Uint8Array.of(
  ...[0xfc, 0xff, 0xff, 0xff], // address low
  ...[0xff, 0xff, 0xff, 0xff], // address high
  ...[0xff, 0xff, 0xff, 0xff], // data
  ...[0x01, 0x00, 0x00, 0x00], // vector control
);

/** Plain, JSON-able state from `save()`. */
export interface MsixSnapshot {
  readonly version: 1;
  readonly enabled: boolean;
  readonly functionMasked: boolean;
  readonly entries: { addressLo: number; addressHi: number; data: number; masked: boolean }[];
  /** Vectors whose pending bit is set. */
  readonly pending: number[];
}

export class Msix implements MsiInterrupt {
  readonly vectors: number;
  /** Bytes the table and the PBA occupy in their BARs. */
  readonly tableBytes: number;
  readonly pbaBytes: number;
  readonly capability: PciCapability;
  private readonly table: Uint8Array;
  private readonly tableView: DataView;
  private readonly pendingBits: Uint8Array;
  private readonly router: MsiRouter;
  private enabled = false;
  private functionMasked = false;

  /** Adds the MSI-X capability to `config`, whose BARs must already hold the table and the PBA. */
  constructor(config: PciConfigSpace, options: MsixOptions, router: MsiRouter) {
    const { vectors } = options;
    if (!Number.isInteger(vectors) || vectors < 1 || vectors > MSIX_MAX_VECTORS) {
      throw new PciError('MSIX_INVALID', `MSI-X vector count ${String(vectors)} must be 1-${MSIX_MAX_VECTORS}`);
    }
    this.vectors = vectors;
    this.tableBytes = vectors * MSIX_TABLE_ENTRY.BYTES;
    this.pbaBytes = Math.ceil(vectors / 64) * 8;
    checkPlacement(config, 'table', options.table, this.tableBytes);
    checkPlacement(config, 'PBA', options.pba, this.pbaBytes);
    const { table, pba } = options;
    if (table.bar === pba.bar && table.offset < pba.offset + this.pbaBytes && pba.offset < table.offset + this.tableBytes) {
      throw new PciError('MSIX_INVALID', `the MSI-X table and PBA overlap in BAR ${table.bar}`);
    }
    this.router = router;
    this.table = new Uint8Array(this.tableBytes);
    this.tableView = new DataView(this.table.buffer);
    for (let vector = 0; vector < vectors; vector++) this.table[entryOffset(vector, 'VECTOR_CONTROL')] = MSIX_VECTOR_MASKED;
    this.pendingBits = new Uint8Array(this.pbaBytes);

    // The body is the capability after its ID and next-pointer bytes.
    const inBody = (field: number): number => field - PCI_CAPABILITY_AREA.HEADER_BYTES;
    const body = new DataView(new ArrayBuffer(inBody(MSIX_CAPABILITY.BYTES)));
    body.setUint16(inBody(MSIX_CAPABILITY.MESSAGE_CONTROL), vectors - 1, true);
    body.setUint32(inBody(MSIX_CAPABILITY.TABLE), table.offset | table.bar, true);
    body.setUint32(inBody(MSIX_CAPABILITY.PBA), pba.offset | pba.bar, true);
    const writableMask = new Uint8Array(body.byteLength);
    const controlHighByte = inBody(MSIX_CAPABILITY.MESSAGE_CONTROL) + 1;
    writableMask[controlHighByte] = (MSIX_MESSAGE_CONTROL.ENABLE | MSIX_MESSAGE_CONTROL.FUNCTION_MASK) >> 8;
    this.capability = config.addCapability(PCI_CAPABILITY_ID.MSIX, new Uint8Array(body.buffer), {
      writableMask,
      hooks: {
        afterWrite: (offset, length) => {
          if (offset < MSIX_CAPABILITY.MESSAGE_CONTROL + 2 && offset + length > MSIX_CAPABILITY.MESSAGE_CONTROL) {
            this.setMessageControl(this.capability.u16(MSIX_CAPABILITY.MESSAGE_CONTROL));
          }
        },
      },
    });
  }

  /** Delivers `vector`, or marks it pending while it is masked. Ignores vectors outside the table. */
  trigger(vector: number): void {
    if (!this.enabled || !Number.isInteger(vector) || vector < 0 || vector >= this.vectors) return;
    if (this.isMasked(vector)) this.setPending(vector, true);
    else this.router.inject(vector);
  }

  /** Guest read of the table; `offset` is relative to the table's start. */
  readTable(offset: number, data: Uint8Array): void {
    readBytes(this.table, offset, data);
  }

  /** Guest write to the table; `offset` is relative to the table's start. */
  writeTable(offset: number, data: Uint8Array): void {
    if (!Number.isInteger(offset)) return;
    const start = Math.max(offset, 0);
    const end = Math.min(offset + data.length, this.tableBytes);
    if (start >= end) return;
    const first = Math.floor(start / MSIX_TABLE_ENTRY.BYTES);
    const last = Math.floor((end - 1) / MSIX_TABLE_ENTRY.BYTES);
    const before = [];
    for (let vector = first; vector <= last; vector++) {
      before.push({ masked: this.isMasked(vector), message: this.message(vector) });
    }
    for (let at = start; at < end; at++) {
      const writable = TABLE_ENTRY_WRITABLE[at % MSIX_TABLE_ENTRY.BYTES]!;
      this.table[at] = (this.table[at]! & ~writable) | (data[at - offset]! & writable);
    }
    before.forEach(({ masked: wasMasked, message: oldMessage }, i) => {
      const vector = first + i;
      const masked = this.isMasked(vector);
      const message = this.message(vector);
      if (masked !== wasMasked || (!masked && !sameMessage(message, oldMessage))) {
        this.router.route(vector, message, masked);
      }
      if (!masked) this.deliverPending(vector);
    });
  }

  /** Guest read of the pending bit array; `offset` is relative to its start. */
  readPba(offset: number, data: Uint8Array): void {
    readBytes(this.pendingBits, offset, data);
  }

  /** The PBA is read-only: guest writes are ignored. */
  writePba(_offset: number, _data: Uint8Array): void {}

  save(): MsixSnapshot {
    const entries = [];
    const pending = [];
    for (let vector = 0; vector < this.vectors; vector++) {
      entries.push({ ...this.message(vector), masked: this.entryMasked(vector) });
      if (this.isPending(vector)) pending.push(vector);
    }
    return { version: 1, enabled: this.enabled, functionMasked: this.functionMasked, entries, pending };
  }

  /** Restores a snapshot into a freshly built instance with the same vector count, then routes the unmasked vectors. */
  restore(data: unknown): void {
    const snapshot = data as Partial<MsixSnapshot> | null;
    if (typeof snapshot !== 'object' || snapshot === null || snapshot.version !== 1) {
      throw badSnapshot('is not a version 1 MSI-X snapshot');
    }
    const { enabled, functionMasked, entries, pending } = snapshot;
    if (typeof enabled !== 'boolean' || typeof functionMasked !== 'boolean') {
      throw badSnapshot('needs boolean "enabled" and "functionMasked" fields');
    }
    if (!Array.isArray(entries) || entries.length !== this.vectors || !entries.every(isEntry)) {
      throw badSnapshot(`field "entries" must hold ${this.vectors} entries {addressLo, addressHi, data, masked}`);
    }
    if (!Array.isArray(pending) || !pending.every((vector) => isInteger(vector, this.vectors - 1))) {
      throw badSnapshot(`field "pending" must list vectors from 0 to ${this.vectors - 1}`);
    }
    entries.forEach((entry, vector) => {
      this.tableView.setUint32(entryOffset(vector, 'ADDRESS_LO'), entry.addressLo & ~0x3, true);
      this.tableView.setUint32(entryOffset(vector, 'ADDRESS_HI'), entry.addressHi, true);
      this.tableView.setUint32(entryOffset(vector, 'DATA'), entry.data, true);
      this.tableView.setUint32(entryOffset(vector, 'VECTOR_CONTROL'), entry.masked ? MSIX_VECTOR_MASKED : 0, true);
    });
    this.pendingBits.fill(0);
    for (const vector of pending) this.setPending(vector, true);
    this.enabled = enabled;
    this.functionMasked = functionMasked;
    for (let vector = 0; vector < this.vectors; vector++) {
      if (!this.isMasked(vector)) this.router.route(vector, this.message(vector), false);
    }
  }

  /** Applies a new message control value (enable, function mask), re-routing and delivering what it unmasks. */
  private setMessageControl(value: number): void {
    const enabled = (value & MSIX_MESSAGE_CONTROL.ENABLE) !== 0;
    const functionMasked = (value & MSIX_MESSAGE_CONTROL.FUNCTION_MASK) !== 0;
    if (enabled === this.enabled && functionMasked === this.functionMasked) return;
    const wasMasked = Array.from({ length: this.vectors }, (_, vector) => this.isMasked(vector));
    this.enabled = enabled;
    this.functionMasked = functionMasked;
    for (let vector = 0; vector < this.vectors; vector++) {
      const masked = this.isMasked(vector);
      if (masked !== wasMasked[vector]) this.router.route(vector, this.message(vector), masked);
    }
    for (let vector = 0; vector < this.vectors; vector++) {
      if (!this.isMasked(vector)) this.deliverPending(vector);
    }
  }

  private deliverPending(vector: number): void {
    if (!this.isPending(vector)) return;
    this.setPending(vector, false);
    this.router.inject(vector);
  }

  private isMasked(vector: number): boolean {
    return !this.enabled || this.functionMasked || this.entryMasked(vector);
  }

  private entryMasked(vector: number): boolean {
    return (this.table[entryOffset(vector, 'VECTOR_CONTROL')]! & MSIX_VECTOR_MASKED) !== 0;
  }

  private message(vector: number): MsiMessage {
    return {
      addressLo: this.tableView.getUint32(entryOffset(vector, 'ADDRESS_LO'), true),
      addressHi: this.tableView.getUint32(entryOffset(vector, 'ADDRESS_HI'), true),
      data: this.tableView.getUint32(entryOffset(vector, 'DATA'), true),
    };
  }

  private isPending(vector: number): boolean {
    return (this.pendingBits[vector >> 3]! & (1 << (vector & 7))) !== 0;
  }

  private setPending(vector: number, pending: boolean): void {
    const bit = 1 << (vector & 7);
    const index = vector >> 3;
    this.pendingBits[index] = pending ? this.pendingBits[index]! | bit : this.pendingBits[index]! & ~bit;
  }
}

function entryOffset(vector: number, field: Exclude<keyof typeof MSIX_TABLE_ENTRY, 'BYTES'>): number {
  return vector * MSIX_TABLE_ENTRY.BYTES + MSIX_TABLE_ENTRY[field];
}

function checkPlacement(config: PciConfigSpace, what: string, placement: MsixPlacement, bytes: number): void {
  const { bar: index, offset } = placement;
  if (!isInteger(index, PCI_BAR_COUNT - 1) || !isInteger(offset, 0xffff_ffff) || (offset & BIR_MASK) !== 0) {
    throw new PciError(
      'MSIX_INVALID',
      `MSI-X ${what} placement (BAR ${String(index)}, offset ${String(offset)}) ` +
        'needs a BAR index 0-5 and an 8-byte aligned offset',
    );
  }
  const bar = config.bar(index);
  if (!bar || bar.kind === 'io' || offset + bytes > bar.size) {
    throw new PciError(
      'MSIX_INVALID',
      `MSI-X ${what} (${bytes} bytes at 0x${offset.toString(16)}) must lie inside memory BAR ${index}; add that BAR first`,
    );
  }
}

function readBytes(source: Uint8Array, offset: number, data: Uint8Array): void {
  for (let i = 0; i < data.length; i++) {
    const at = offset + i;
    data[i] = Number.isInteger(at) && at >= 0 && at < source.length ? source[at]! : 0xff;
  }
}

function sameMessage(a: MsiMessage, b: MsiMessage): boolean {
  return a.addressLo === b.addressLo && a.addressHi === b.addressHi && a.data === b.data;
}

function isEntry(value: unknown): value is MsixSnapshot['entries'][number] {
  const entry = value as Partial<MsixSnapshot['entries'][number]> | null;
  return (
    typeof entry === 'object' &&
    entry !== null &&
    isInteger(entry.addressLo, 0xffff_ffff) &&
    isInteger(entry.addressHi, 0xffff_ffff) &&
    isInteger(entry.data, 0xffff_ffff) &&
    typeof entry.masked === 'boolean'
  );
}

function badSnapshot(problem: string): PciError {
  return new PciError('BAD_SNAPSHOT', `the MSI-X snapshot ${problem}; restore only state saved by this version of Nimbus`);
}
