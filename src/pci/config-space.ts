/**
 * One PCI function's 4 KiB configuration space with a type 0 header: identification registers, per-byte write
 * masks (read-only bits keep their value, the status error bits are write-1-to-clear), the BAR sizing protocol for
 * I/O, 32-bit and 64-bit memory BARs, the capability list, and two hooks: capability hooks let the device see guest
 * reads and writes of its capabilities, and a BarRelocationHandler hears when the guest moves a BAR.
 *
 * BAR moves: the address in a BAR register only takes effect while the command register enables decoding for the
 * BAR's space. A move is reported when the guest writes a BAR register (the upper half, for a 64-bit BAR) with
 * decoding enabled, or enables decoding after rewriting BARs; a register holding the all-ones sizing pattern is a
 * size probe, not a move. A refused or unreachable move puts the old address back into the register. Disabling
 * decoding does not unmap the BAR: the VMM keeps it registered where it is.
 * Pure: no node:* imports.
 */
import { silentLogger, type Logger } from '../util/logger.ts';
import {
  PCI_BAR_BITS,
  PCI_BAR_COUNT,
  PCI_CAPABILITY_AREA,
  PCI_COMMAND,
  PCI_COMMAND_WRITABLE,
  PCI_CONFIG,
  PCI_CONFIG_SPACE_BYTES,
  PCI_HEADER_TYPE,
  PCI_STATUS,
  PCI_STATUS_WRITE_1_TO_CLEAR,
} from './config-registers.ts';
import { isInteger, isPowerOfTwo } from './numbers.ts';
import { PciError } from './pci-error.ts';

/** What a BAR decodes: port I/O, memory below 4 GiB, or memory anywhere (two BAR registers). */
export type PciBarKind = 'io' | 'memory32' | 'memory64';

export interface PciBarDefinition {
  /** BAR register index, 0-5 (0-4 for a 64-bit BAR, which also takes index + 1). */
  readonly index: number;
  readonly kind: PciBarKind;
  /** Bytes; a power of two (I/O 4-256 bytes, memory at least 16 bytes). */
  readonly size: number;
  /** Where the VMM mapped it; a multiple of `size`. */
  readonly address: number;
  /** Memory BARs only: reads have no side effects. */
  readonly prefetchable?: boolean;
}

/** A BAR as the VMM has it mapped. */
export interface PciBar {
  readonly index: number;
  readonly kind: PciBarKind;
  readonly size: number;
  readonly prefetchable: boolean;
  /** The address the VMM maps the BAR at (the last accepted one). */
  readonly address: number;
}

/** A guest-requested BAR move. */
export interface BarRelocation {
  readonly index: number;
  readonly kind: PciBarKind;
  readonly size: number;
  readonly oldAddress: number;
  readonly newAddress: number;
}

/**
 * Implemented by the VMM: moves a BAR's region on the PIO or MMIO bus (and its BAR allocator entry). Returns true
 * when the region now lives at `newAddress`, false to refuse (the register then reads the old address again).
 * It runs on the guest's config-write path: it should refuse rather than throw; a throw counts as a refusal.
 */
export interface BarRelocationHandler {
  relocateBar(move: BarRelocation): boolean;
}

/** Device callbacks for guest accesses to one capability; offsets are relative to the capability's ID byte. */
export interface CapabilityHooks {
  /** Before the guest reads `length` bytes at `offset`: refresh any bytes computed on demand. */
  beforeRead?(offset: number, length: number): void;
  /** After the guest wrote `length` bytes at `offset`; the capability already holds the masked new bytes. */
  afterWrite?(offset: number, length: number): void;
}

export interface CapabilityOptions {
  /** Per body byte, the bits the guest may write; default: the whole body is read-only. */
  readonly writableMask?: Uint8Array;
  readonly hooks?: CapabilityHooks;
}

export interface PciConfigSpaceOptions {
  readonly vendorId: number;
  readonly deviceId: number;
  /** 24 bits: base class << 16 | subclass << 8 | programming interface. */
  readonly classCode: number;
  readonly revisionId?: number;
  readonly subsystemVendorId?: number;
  readonly subsystemId?: number;
  /** Sets header type bit 7 so the guest probes functions 1-7 of the slot. */
  readonly multiFunction?: boolean;
  /** Required before adding a BAR. */
  readonly barRelocation?: BarRelocationHandler;
  /** Receives a warning when a BAR move is refused. */
  readonly logger?: Logger;
}

/** Plain, JSON-able state from `save()`. */
export interface PciConfigSpaceSnapshot {
  readonly version: 1;
  /** All 4096 configuration bytes. */
  readonly bytes: number[];
  /** The mapped address of each BAR, by BAR index. */
  readonly barAddresses: { index: number; address: number }[];
}

/** x86-64 physical addresses are at most 52 bits wide; a BAR beyond that can never be mapped. */
const PHYSICAL_ADDRESS_LIMIT = 2 ** 52;
const FOUR_GIB = 2 ** 32;
const ADDRESS_LIMIT: Readonly<Record<PciBarKind, number>> = {
  io: 0x1_0000,
  memory32: FOUR_GIB,
  memory64: PHYSICAL_ADDRESS_LIMIT,
};
const MIN_BAR_SIZE: Readonly<Record<PciBarKind, number>> = { io: 4, memory32: 16, memory64: 16 };
const MAX_BAR_SIZE: Readonly<Record<PciBarKind, number>> = { io: 256, memory32: 2 ** 31, memory64: 2 ** 51 };
const DECODE_BIT: Readonly<Record<PciBarKind, number>> = {
  io: PCI_COMMAND.IO_SPACE,
  memory32: PCI_COMMAND.MEMORY_SPACE,
  memory64: PCI_COMMAND.MEMORY_SPACE,
};

interface BarState {
  readonly index: number;
  readonly kind: PciBarKind;
  readonly size: number;
  readonly prefetchable: boolean;
  /** Writable address bits of the (low) BAR register and, for a 64-bit BAR, of the upper register. */
  readonly lowMask: number;
  readonly highMask: number;
  mappedAddress: number;
}

interface CapabilityEntry {
  readonly capability: PciCapability;
  readonly hooks: CapabilityHooks;
}

/** A capability in a configuration space; the device reads and sets its fields (guest write masks do not apply). */
export class PciCapability {
  readonly id: number;
  /** Offset of the ID byte in configuration space. */
  readonly offset: number;
  /** Bytes including the two header bytes (ID, next pointer). */
  readonly length: number;
  private readonly view: DataView;

  /** Created by PciConfigSpace.addCapability. */
  constructor(view: DataView, id: number, offset: number, length: number) {
    this.view = view;
    this.id = id;
    this.offset = offset;
    this.length = length;
  }

  u8(at: number): number {
    return this.view.getUint8(this.at(at, 1));
  }

  u16(at: number): number {
    return this.view.getUint16(this.at(at, 2), true);
  }

  u32(at: number): number {
    return this.view.getUint32(this.at(at, 4), true);
  }

  setU8(at: number, value: number): void {
    this.view.setUint8(this.at(at, 1), value);
  }

  setU16(at: number, value: number): void {
    this.view.setUint16(this.at(at, 2), value, true);
  }

  setU32(at: number, value: number): void {
    this.view.setUint32(this.at(at, 4), value >>> 0, true);
  }

  /** Absolute offset of a field, after checking it lies in the capability body. */
  private at(at: number, width: number): number {
    if (!Number.isInteger(at) || at < PCI_CAPABILITY_AREA.HEADER_BYTES || at + width > this.length) {
      throw new PciError(
        'CAPABILITY_INVALID',
        `capability 0x${this.id.toString(16)} field at ${at} (${width} bytes) is outside its body (bytes 2-${this.length - 1})`,
      );
    }
    return this.offset + at;
  }
}

export class PciConfigSpace {
  private readonly bytes = new Uint8Array(PCI_CONFIG_SPACE_BYTES);
  private readonly view = new DataView(this.bytes.buffer);
  /** Per byte: bits the guest writes directly. */
  private readonly writable = new Uint8Array(PCI_CONFIG_SPACE_BYTES);
  /** Per byte: bits a guest write of 1 clears. */
  private readonly clearOnOne = new Uint8Array(PCI_CONFIG_SPACE_BYTES);
  private readonly barStates: (BarState | undefined)[] = new Array<BarState | undefined>(PCI_BAR_COUNT).fill(undefined);
  /** Which BAR registers are taken (a 64-bit BAR takes two). */
  private readonly barRegisterUsed: boolean[] = new Array<boolean>(PCI_BAR_COUNT).fill(false);
  private readonly capabilities: CapabilityEntry[] = [];
  private nextCapabilityOffset: number = PCI_CAPABILITY_AREA.START;
  private readonly relocation: BarRelocationHandler | undefined;
  private readonly logger: Logger;

  constructor(options: PciConfigSpaceOptions) {
    checkField('vendor ID', options.vendorId, 0xffff);
    checkField('device ID', options.deviceId, 0xffff);
    checkField('class code', options.classCode, 0xff_ffff);
    checkField('revision ID', options.revisionId ?? 0, 0xff);
    checkField('subsystem vendor ID', options.subsystemVendorId ?? 0, 0xffff);
    checkField('subsystem ID', options.subsystemId ?? 0, 0xffff);
    this.relocation = options.barRelocation;
    this.logger = options.logger ?? silentLogger;

    this.view.setUint16(PCI_CONFIG.VENDOR_ID, options.vendorId, true);
    this.view.setUint16(PCI_CONFIG.DEVICE_ID, options.deviceId, true);
    this.view.setUint8(PCI_CONFIG.REVISION_ID, options.revisionId ?? 0);
    this.view.setUint16(PCI_CONFIG.CLASS_CODE, options.classCode & 0xffff, true);
    this.view.setUint8(PCI_CONFIG.CLASS_CODE + 2, options.classCode >>> 16);
    const headerType = options.multiFunction ? PCI_HEADER_TYPE.MULTI_FUNCTION : PCI_HEADER_TYPE.FUNCTION;
    this.view.setUint8(PCI_CONFIG.HEADER_TYPE, headerType);
    this.view.setUint16(PCI_CONFIG.SUBSYSTEM_VENDOR_ID, options.subsystemVendorId ?? 0, true);
    this.view.setUint16(PCI_CONFIG.SUBSYSTEM_ID, options.subsystemId ?? 0, true);

    this.setMask(this.writable, PCI_CONFIG.COMMAND, 2, PCI_COMMAND_WRITABLE);
    this.setMask(this.clearOnOne, PCI_CONFIG.STATUS, 2, PCI_STATUS_WRITE_1_TO_CLEAR);
    this.setMask(this.writable, PCI_CONFIG.CACHE_LINE_SIZE, 1, 0xff);
    // The interrupt line is a scratch byte for the OS; the pin stays 0 (no INTx: Nimbus functions use MSI-X).
    this.setMask(this.writable, PCI_CONFIG.INTERRUPT_LINE, 1, 0xff);
  }

  // ---- Guest accesses (through CF8/CFC or ECAM) ----

  /** Fills `data` with the bytes at `offset`; bytes outside the 4 KiB space read 0xFF. Never throws. */
  readConfig(offset: number, data: Uint8Array): void {
    if (!Number.isInteger(offset)) {
      data.fill(0xff);
      return;
    }
    this.forEachCapability(offset, data.length, (entry, at, length) => entry.hooks.beforeRead?.(at, length));
    for (let i = 0; i < data.length; i++) {
      const at = offset + i;
      data[i] = at >= 0 && at < PCI_CONFIG_SPACE_BYTES ? this.bytes[at]! : 0xff;
    }
  }

  /** Applies a guest write through the write masks; bytes outside the 4 KiB space are dropped. Never throws. */
  writeConfig(offset: number, data: Uint8Array): void {
    if (!Number.isInteger(offset)) return;
    const start = Math.max(offset, 0);
    const end = Math.min(offset + data.length, PCI_CONFIG_SPACE_BYTES);
    if (start >= end) return;
    for (let at = start; at < end; at++) {
      const value = data[at - offset]!;
      const old = this.bytes[at]!;
      const writable = this.writable[at]!;
      const clearOnOne = this.clearOnOne[at]!;
      this.bytes[at] = (old & ~writable & ~clearOnOne) | (value & writable) | (old & clearOnOne & ~value);
    }
    this.forEachCapability(start, end - start, (entry, at, length) => entry.hooks.afterWrite?.(at, length));
    if (overlaps(start, end, PCI_CONFIG.COMMAND, 2)) {
      for (const bar of this.barStates) if (bar) this.syncBar(bar);
      return;
    }
    for (const bar of this.barStates) {
      if (!bar) continue;
      // A 64-bit BAR moves when its upper half is written: the guest writes the lower half first.
      const upperHalf = bar.kind === 'memory64' ? 1 : 0;
      if (overlaps(start, end, barRegisterOffset(bar.index + upperHalf), 4)) this.syncBar(bar);
    }
  }

  // ---- Building the function (VMM and device side) ----

  /** Declares a BAR at the address the VMM mapped it. Throws PciError for an impossible BAR. */
  addBar(definition: PciBarDefinition): void {
    const { index, kind, size, address } = definition;
    const prefetchable = definition.prefetchable ?? false;
    const name = `BAR ${String(index)}`;
    const lastIndex = kind === 'memory64' ? PCI_BAR_COUNT - 2 : PCI_BAR_COUNT - 1;
    if (!Number.isInteger(index) || index < 0 || index > lastIndex) {
      throw new PciError('BAR_INVALID', `${name}: a ${kind} BAR index must be 0-${lastIndex}`);
    }
    if (this.barRegisterUsed[index] || (kind === 'memory64' && this.barRegisterUsed[index + 1])) {
      throw new PciError('BAR_IN_USE', `${name}: the BAR register${kind === 'memory64' ? 's are' : ' is'} already used`);
    }
    if (!isPowerOfTwo(size) || size < MIN_BAR_SIZE[kind] || size > MAX_BAR_SIZE[kind]) {
      throw new PciError(
        'BAR_INVALID',
        `${name}: size ${String(size)} must be a power of two from ${MIN_BAR_SIZE[kind]} to ` +
          `0x${MAX_BAR_SIZE[kind].toString(16)} for a ${kind} BAR`,
      );
    }
    if (!Number.isSafeInteger(address) || address < 0 || address % size !== 0 || address + size > ADDRESS_LIMIT[kind]) {
      throw new PciError(
        'BAR_INVALID',
        `${name}: address ${String(address)} must be a multiple of its size 0x${size.toString(16)} ` +
          `and end by 0x${ADDRESS_LIMIT[kind].toString(16)}`,
      );
    }
    if (kind === 'io' && prefetchable) throw new PciError('BAR_INVALID', `${name}: an I/O BAR cannot be prefetchable`);
    if (!this.relocation) {
      throw new PciError(
        'BAR_RELOCATION_MISSING',
        `${name}: give the configuration space a barRelocation handler before adding BARs`,
      );
    }

    const addressMask = kind === 'io' ? PCI_BAR_BITS.IO_ADDRESS_MASK : PCI_BAR_BITS.MEMORY_ADDRESS_MASK;
    // ~(size - 1) truncated to 32 bits: the address bits at and above the size, the ones sizing reads back.
    const lowMask = (~(size - 1) & addressMask) >>> 0;
    const highMask = kind !== 'memory64' ? 0 : size <= FOUR_GIB ? 0xffff_ffff : ~(size / FOUR_GIB - 1) >>> 0;
    const flags =
      kind === 'io'
        ? PCI_BAR_BITS.IO_SPACE
        : (kind === 'memory64' ? PCI_BAR_BITS.MEMORY_64BIT : 0) | (prefetchable ? PCI_BAR_BITS.PREFETCHABLE : 0);
    const bar: BarState = { index, kind, size, prefetchable, lowMask, highMask, mappedAddress: address };
    this.barStates[index] = bar;
    this.barRegisterUsed[index] = true;
    this.view.setUint32(barRegisterOffset(index), flags, true);
    this.setMask(this.writable, barRegisterOffset(index), 4, lowMask);
    if (kind === 'memory64') {
      this.barRegisterUsed[index + 1] = true;
      this.setMask(this.writable, barRegisterOffset(index + 1), 4, highMask);
    }
    this.writeBarAddress(bar, address);
  }

  /** The BAR declared at `index`, with the address it is mapped at. */
  bar(index: number): PciBar | undefined {
    const state = this.barStates[index];
    return state && barView(state);
  }

  /** Every declared BAR, by index. */
  bars(): PciBar[] {
    return this.barStates.filter((bar): bar is BarState => bar !== undefined).map(barView);
  }

  /**
   * Appends a capability: `body` is what follows the ID and next-pointer bytes. It is placed at the next dword
   * boundary after the previous one (the first at 0x40), linked from the previous capability (or the capabilities
   * pointer), and the status register's capability-list bit is set.
   */
  addCapability(id: number, body: Uint8Array, options: CapabilityOptions = {}): PciCapability {
    checkField('capability ID', id, 0xff);
    const offset = this.nextCapabilityOffset;
    const length = PCI_CAPABILITY_AREA.HEADER_BYTES + body.length;
    if (offset + length > PCI_CAPABILITY_AREA.END) {
      throw new PciError(
        'CAPABILITY_INVALID',
        `capability 0x${id.toString(16)} of ${length} bytes does not fit at 0x${offset.toString(16)}: ` +
          `the capability area ends at 0x${PCI_CAPABILITY_AREA.END.toString(16)}`,
      );
    }
    if (options.writableMask && options.writableMask.length !== body.length) {
      throw new PciError(
        'CAPABILITY_INVALID',
        `capability 0x${id.toString(16)}: the writable mask has ${options.writableMask.length} bytes, the body ${body.length}`,
      );
    }
    const previous = this.capabilities.at(-1)?.capability;
    this.bytes[previous ? previous.offset + PCI_CAPABILITY_AREA.NEXT : PCI_CONFIG.CAPABILITIES_POINTER] = offset;
    this.setStatusBits(PCI_STATUS.CAPABILITIES_LIST);
    this.bytes[offset + PCI_CAPABILITY_AREA.ID] = id;
    this.bytes[offset + PCI_CAPABILITY_AREA.NEXT] = 0;
    const bodyOffset = offset + PCI_CAPABILITY_AREA.HEADER_BYTES;
    this.bytes.set(body, bodyOffset);
    if (options.writableMask) this.writable.set(options.writableMask, bodyOffset);
    const capability = new PciCapability(this.view, id, offset, length);
    this.capabilities.push({ capability, hooks: options.hooks ?? {} });
    this.nextCapabilityOffset = Math.ceil((offset + length) / 4) * 4;
    return capability;
  }

  /** Sets write-1-to-clear status bits (an error the function detected); the guest clears them. */
  raiseStatus(bits: number): void {
    if (!Number.isInteger(bits) || bits <= 0 || (bits & ~PCI_STATUS_WRITE_1_TO_CLEAR) !== 0) {
      throw new PciError(
        'HEADER_INVALID',
        `status bits 0x${bits.toString(16)} are not all write-1-to-clear bits (0x${PCI_STATUS_WRITE_1_TO_CLEAR.toString(16)})`,
      );
    }
    this.setStatusBits(bits);
  }

  // ---- Snapshots ----

  save(): PciConfigSpaceSnapshot {
    return {
      version: 1,
      bytes: [...this.bytes],
      barAddresses: this.bars().map((bar) => ({ index: bar.index, address: bar.address })),
    };
  }

  /**
   * Restores a snapshot into a function built the same way (same BARs and capabilities). The VMM then maps each
   * BAR at `bar(i).address`; no relocation is reported.
   */
  restore(data: unknown): void {
    const snapshot = data as Partial<PciConfigSpaceSnapshot> | null;
    if (typeof snapshot !== 'object' || snapshot === null || snapshot.version !== 1) {
      throw badSnapshot('is not a version 1 PCI configuration snapshot');
    }
    const { bytes, barAddresses } = snapshot;
    if (!Array.isArray(bytes) || bytes.length !== PCI_CONFIG_SPACE_BYTES || !bytes.every((b) => isInteger(b, 0xff))) {
      throw badSnapshot(`field "bytes" must be an array of ${PCI_CONFIG_SPACE_BYTES} bytes`);
    }
    const defined = this.bars();
    if (!Array.isArray(barAddresses) || barAddresses.length !== defined.length) {
      throw badSnapshot(`field "barAddresses" must list the ${defined.length} BARs of this function`);
    }
    const addresses = defined.map((bar, i) => {
      const entry = barAddresses[i] as { index?: unknown; address?: unknown } | undefined;
      const address = entry?.address;
      const valid = entry?.index === bar.index && isInteger(address, ADDRESS_LIMIT[bar.kind] - bar.size);
      if (!valid || address % bar.size !== 0) {
        throw badSnapshot(`BAR ${bar.index} has no valid address (a multiple of 0x${bar.size.toString(16)} in range)`);
      }
      return address;
    });
    this.bytes.set(bytes);
    defined.forEach((bar, i) => {
      this.barStates[bar.index]!.mappedAddress = addresses[i]!;
    });
  }

  // ---- Internals ----

  private setStatusBits(bits: number): void {
    this.view.setUint16(PCI_CONFIG.STATUS, this.view.getUint16(PCI_CONFIG.STATUS, true) | bits, true);
  }

  /** Makes the BAR's mapping follow its register, or puts the mapped address back. */
  private syncBar(bar: BarState): void {
    const command = this.view.getUint16(PCI_CONFIG.COMMAND, true);
    if ((command & DECODE_BIT[bar.kind]) === 0) return;
    const low = (this.view.getUint32(barRegisterOffset(bar.index), true) & bar.lowMask) >>> 0;
    const high =
      bar.kind === 'memory64' ? (this.view.getUint32(barRegisterOffset(bar.index + 1), true) & bar.highMask) >>> 0 : 0;
    const sizing = (bar.lowMask !== 0 && low === bar.lowMask) || (bar.kind === 'memory64' && high === bar.highMask);
    if (sizing) return;
    const newAddress = high * FOUR_GIB + low;
    if (newAddress === bar.mappedAddress) return;
    const { index, kind, size, mappedAddress: oldAddress } = bar;
    const move: BarRelocation = { index, kind, size, oldAddress, newAddress };
    if (newAddress + bar.size <= ADDRESS_LIMIT[bar.kind] && this.askToRelocate(move)) {
      bar.mappedAddress = newAddress;
      return;
    }
    this.logger.warn(
      `PCI BAR ${index} move from 0x${oldAddress.toString(16)} to 0x${newAddress.toString(16)} refused; keeping the old address`,
    );
    this.writeBarAddress(bar, bar.mappedAddress);
  }

  private askToRelocate(move: BarRelocation): boolean {
    try {
      return this.relocation?.relocateBar(move) === true;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.logger.warn(`PCI BAR ${move.index} relocation failed: ${reason}`);
      return false;
    }
  }

  /** Writes the address bits of a BAR register (pair), keeping its read-only flag bits. */
  private writeBarAddress(bar: BarState, address: number): void {
    const lowOffset = barRegisterOffset(bar.index);
    const flags = this.view.getUint32(lowOffset, true) & ~bar.lowMask;
    this.view.setUint32(lowOffset, (flags | (address & bar.lowMask)) >>> 0, true);
    if (bar.kind === 'memory64') this.view.setUint32(lowOffset + 4, Math.floor(address / FOUR_GIB) & bar.highMask, true);
  }

  /** Calls `visit` for each capability overlapping [offset, offset + length) with the overlap in its coordinates. */
  private forEachCapability(
    offset: number,
    length: number,
    visit: (entry: CapabilityEntry, at: number, length: number) => void,
  ): void {
    for (const entry of this.capabilities) {
      const { offset: capOffset, length: capLength } = entry.capability;
      const start = Math.max(offset, capOffset);
      const end = Math.min(offset + length, capOffset + capLength);
      if (start < end) visit(entry, start - capOffset, end - start);
    }
  }

  private setMask(mask: Uint8Array, offset: number, width: number, value: number): void {
    for (let i = 0; i < width; i++) mask[offset + i] = (value >>> (8 * i)) & 0xff;
  }
}

function barRegisterOffset(index: number): number {
  return PCI_CONFIG.BAR0 + 4 * index;
}

function barView(state: BarState): PciBar {
  const { index, kind, size, prefetchable, mappedAddress } = state;
  return { index, kind, size, prefetchable, address: mappedAddress };
}

function overlaps(start: number, end: number, offset: number, width: number): boolean {
  return start < offset + width && offset < end;
}

function checkField(name: string, value: number, max: number): void {
  if (!isInteger(value, max)) {
    throw new PciError('HEADER_INVALID', `${name} ${String(value)} must be an integer from 0 to 0x${max.toString(16)}`);
  }
}

function badSnapshot(problem: string): PciError {
  return new PciError(
    'BAD_SNAPSHOT',
    `the PCI configuration snapshot ${problem}; restore only state saved by this version of Nimbus`,
  );
}
