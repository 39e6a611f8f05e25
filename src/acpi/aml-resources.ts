/**
 * ACPI resource descriptors (ACPI 6.5 §6.4) and ResourceTemplate(), the Buffer that holds them and ends with an
 * End Tag whose checksum byte makes the descriptors sum to zero. Used for _CRS objects. Address-space descriptors
 * are written as a host bridge produces them: ResourceProducer, MinFixed, MaxFixed, PosDecode, granularity 0,
 * no translation, length = max - min + 1. Pure: no node:* imports.
 */
import { AcpiError } from './acpi-error.ts';
import { buffer, concat, type Aml } from './aml.ts';

/** Small descriptor tag byte = (item name << 3) | data length. */
const SMALL = {
  irqNoFlags: (0x04 << 3) | 2,
  io: (0x08 << 3) | 7,
  fixedIo: (0x09 << 3) | 3,
  endTag: (0x0f << 3) | 1,
} as const;

/** Large descriptor tag byte = 0x80 | item name; a u16 data length follows. */
const LARGE = {
  memory32Fixed: 0x86,
  dwordAddressSpace: 0x87,
  wordAddressSpace: 0x88,
  extendedInterrupt: 0x89,
  qwordAddressSpace: 0x8a,
} as const;

/** Resource Type byte of an address-space descriptor. */
const ADDRESS_SPACE_TYPE = { memory: 0, io: 1, busNumber: 2 } as const;
/** General Flags: _MAF (bit 3) and _MIF (bit 2) set, _DEC (bit 1) positive decode, bit 0 clear = producer. */
const PRODUCER_MIN_MAX_FIXED = (1 << 3) | (1 << 2);
/** I/O type-specific flags: _RNG = 3, the window covers ISA and non-ISA ports. */
const IO_ENTIRE_RANGE = 3;

/** _MEM values of memory type-specific flags (bits 2-1). */
export const MEMORY_CACHEABILITY = { NonCacheable: 0, Cacheable: 1, WriteCombining: 2, Prefetchable: 3 } as const;
export type MemoryCacheability = keyof typeof MEMORY_CACHEABILITY;

function checkUnsigned(value: number, bits: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0 || value >= 2 ** bits) {
    throw new AcpiError('INVALID_RESOURCE', `${what} ${value} does not fit the descriptor's ${bits}-bit field`);
  }
}

function checkRange(min: number, max: number, bits: number, what: string): void {
  checkUnsigned(min, bits, `${what} minimum`);
  checkUnsigned(max, bits, `${what} maximum`);
  if (max < min) {
    throw new AcpiError('INVALID_RESOURCE', `${what} maximum 0x${max.toString(16)} is below its minimum 0x${min.toString(16)}`);
  }
}

/** Little-endian bytes of an unsigned value that has been range-checked. */
function le(value: number, size: number): number[] {
  return Array.from({ length: size }, (_, i) => Math.floor(value / 2 ** (8 * i)) & 0xff);
}

function largeDescriptor(tag: number, data: readonly number[]): Uint8Array {
  return Uint8Array.of(tag, ...le(data.length, 2), ...data);
}

/** ResourceTemplate() { descriptors }: a Buffer of the descriptors followed by an End Tag with a valid checksum. */
export function resourceTemplate(descriptors: readonly Uint8Array[]): Aml {
  const body = concat([...descriptors, Uint8Array.of(SMALL.endTag)]);
  const sum = body.reduce((acc, byte) => acc + byte, 0);
  return buffer(concat([body, Uint8Array.of((0x100 - (sum & 0xff)) & 0xff)]));
}

/** IO(Decode16, min, max, alignment, length): a 16-bit decoded I/O port range that may be relocated within min..max. */
export function ioPort(min: number, max: number, alignment: number, length: number): Uint8Array {
  checkRange(min, max, 16, 'IO base');
  checkUnsigned(alignment, 8, 'IO alignment');
  checkUnsigned(length, 8, 'IO length');
  return Uint8Array.of(SMALL.io, 0x01, ...le(min, 2), ...le(max, 2), alignment, length);
}

/** FixedIO(base, length): a fixed ISA port range (10-bit decode). */
export function fixedIoPort(base: number, length: number): Uint8Array {
  checkUnsigned(base, 10, 'FixedIO base');
  checkUnsigned(length, 8, 'FixedIO length');
  return Uint8Array.of(SMALL.fixedIo, ...le(base, 2), length);
}

/** IRQNoFlags() { irqs }: ISA IRQs 0-15, edge-triggered, active high. */
export function irqNoFlags(irqs: readonly number[]): Uint8Array {
  let mask = 0;
  for (const irq of irqs) {
    checkUnsigned(irq, 4, 'IRQNoFlags IRQ');
    mask |= 1 << irq;
  }
  return Uint8Array.of(SMALL.irqNoFlags, ...le(mask, 2));
}

export interface InterruptFlags {
  /** ResourceConsumer (true) or ResourceProducer. */
  readonly consumer: boolean;
  /** Edge (true) or Level triggered. */
  readonly edgeTriggered: boolean;
  readonly activeLow: boolean;
  readonly shared: boolean;
  readonly wakeCapable: boolean;
}

/** Interrupt(consumer, Edge|Level, ActiveHigh|ActiveLow, Exclusive|Shared, wake) { gsis }: extended interrupt. */
export function extendedInterrupt(flags: InterruptFlags, gsis: readonly number[]): Uint8Array {
  if (gsis.length === 0 || gsis.length > 0xff) {
    throw new AcpiError('INVALID_RESOURCE', `an Interrupt descriptor holds 1-255 interrupts, not ${gsis.length}`);
  }
  for (const gsi of gsis) checkUnsigned(gsi, 32, 'Interrupt number');
  const flagsByte =
    (flags.consumer ? 1 : 0) |
    (flags.edgeTriggered ? 1 << 1 : 0) |
    (flags.activeLow ? 1 << 2 : 0) |
    (flags.shared ? 1 << 3 : 0) |
    (flags.wakeCapable ? 1 << 4 : 0);
  return largeDescriptor(LARGE.extendedInterrupt, [flagsByte, gsis.length, ...gsis.flatMap((gsi) => le(gsi, 4))]);
}

/** Memory32Fixed(ReadWrite|ReadOnly, base, length). */
export function memory32Fixed(readWrite: boolean, base: number, length: number): Uint8Array {
  checkUnsigned(base, 32, 'Memory32Fixed base');
  checkUnsigned(length, 32, 'Memory32Fixed length');
  return largeDescriptor(LARGE.memory32Fixed, [readWrite ? 1 : 0, ...le(base, 4), ...le(length, 4)]);
}

/**
 * Word/DWord/QWord address space descriptor: type, general flags, type-specific flags, then granularity, min,
 * max, translation offset and length, each `size` bytes.
 */
function addressSpace(tag: number, size: number, type: number, typeFlags: number, min: number, max: number, what: string): Uint8Array {
  checkRange(min, max, Math.min(8 * size, 53), what);
  const length = max - min + 1;
  checkUnsigned(length, Math.min(8 * size, 53), `${what} length`);
  return largeDescriptor(tag, [type, PRODUCER_MIN_MAX_FIXED, typeFlags, ...[0, min, max, 0, length].flatMap((v) => le(v, size))]);
}

function memoryFlags(cacheability: MemoryCacheability, readWrite: boolean): number {
  return (MEMORY_CACHEABILITY[cacheability] << 1) | (readWrite ? 1 : 0);
}

/** WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, min, max, 0, len). */
export function wordBusNumber(min: number, max: number): Uint8Array {
  return addressSpace(LARGE.wordAddressSpace, 2, ADDRESS_SPACE_TYPE.busNumber, 0, min, max, 'WordBusNumber');
}

/** WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, min, max, 0, len). */
export function wordIo(min: number, max: number): Uint8Array {
  return addressSpace(LARGE.wordAddressSpace, 2, ADDRESS_SPACE_TYPE.io, IO_ENTIRE_RANGE, min, max, 'WordIO');
}

/** DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, cacheability, ReadWrite|ReadOnly, 0, min, max, 0, len). */
export function dwordMemory(cacheability: MemoryCacheability, readWrite: boolean, min: number, max: number): Uint8Array {
  return addressSpace(LARGE.dwordAddressSpace, 4, ADDRESS_SPACE_TYPE.memory, memoryFlags(cacheability, readWrite), min, max, 'DWordMemory');
}

/**
 * QWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, cacheability, ReadWrite|ReadOnly, 0, min, max, 0,
 * len). Guest addresses are numbers, so min/max stay below 2^53.
 */
export function qwordMemory(cacheability: MemoryCacheability, readWrite: boolean, min: number, max: number): Uint8Array {
  return addressSpace(LARGE.qwordAddressSpace, 8, ADDRESS_SPACE_TYPE.memory, memoryFlags(cacheability, readWrite), min, max, 'QWordMemory');
}
