/**
 * ELF64 x86-64 kernel parser and loader for the PVH boot protocol: validates the ELF header, reads the PT_LOAD
 * segments (loaded at p_paddr, zero-filled from p_filesz to p_memsz) and finds the 32-bit PVH entry in the Xen
 * ELF note XEN_ELFNOTE_PHYS32_ENTRY (type 18, name "Xen") inside PT_NOTE segments. Every offset and size read from
 * the file is checked against the file length and, before anything is written, against guest RAM.
 * Pure: no node:* imports.
 */
import { ByteReader } from '../abi/byte-writer.ts';
import { HIGH_RAM_START } from '../arch/x86_64/layout.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import { describeRam, hex, LoaderError } from './loader-error.ts';

/** ELF64 file header field offsets (Elf64_Ehdr). */
const ELF_HEADER = {
  MAGIC: 0x00,
  CLASS: 0x04,
  DATA: 0x05,
  IDENT_VERSION: 0x06,
  TYPE: 0x10,
  MACHINE: 0x12,
  PHOFF: 0x20,
  PHENTSIZE: 0x36,
  PHNUM: 0x38,
  SIZE: 0x40,
} as const;

/** ELF64 program header field offsets (Elf64_Phdr). */
const PROGRAM_HEADER = {
  TYPE: 0x00,
  OFFSET: 0x08,
  PADDR: 0x18,
  FILESZ: 0x20,
  MEMSZ: 0x28,
  ALIGN: 0x30,
  SIZE: 0x38,
} as const;

/** ELF note header (Elf64_Nhdr) field offsets; name and descriptor follow, each padded to the note alignment. */
const NOTE_HEADER = {
  NAMESZ: 0x00,
  DESCSZ: 0x04,
  TYPE: 0x08,
  SIZE: 0x0c,
} as const;

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46] as const; // "\x7fELF"
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const EV_CURRENT = 1;
const ET_EXEC = 2;
const EM_X86_64 = 62;
const PT_LOAD = 1;
const PT_NOTE = 4;
/** Program header count escape value: the real count is in a section header, which kernels never need. */
const PN_XNUM = 0xffff;
/** xen/include/public/elfnote.h: physical address of the 32-bit PVH entry point. */
const XEN_ELFNOTE_PHYS32_ENTRY = 18;
const XEN_NOTE_NAME = 'Xen';

/** One PT_LOAD segment: `fileSize` bytes from `fileOffset` go to `guestAddress`, then zeros up to `memorySize`. */
export interface ElfLoadSegment {
  readonly fileOffset: number;
  readonly fileSize: number;
  readonly guestAddress: number;
  readonly memorySize: number;
}

export interface ElfKernel {
  readonly segments: readonly ElfLoadSegment[];
  /** The 32-bit PVH entry from the Xen note, or undefined when the kernel has none. */
  readonly pvhEntry: number | undefined;
  /** Lowest guest address any segment occupies. */
  readonly start: number;
  /** First guest address after every segment. */
  readonly end: number;
}

/** True if the bytes start with the ELF magic. */
export function isElf(bytes: Uint8Array): boolean {
  return ELF_MAGIC.every((b, i) => bytes[i] === b);
}

/** Parses and validates an ELF64 x86-64 executable; `path` names the file in errors. Does not touch guest memory. */
export function parseElfKernel(bytes: Uint8Array, path: string): ElfKernel {
  if (!isElf(bytes)) throw new LoaderError('NOT_A_KERNEL', `${path}: not an ELF file (no \\x7fELF magic)`);
  const reader = new ElfFileReader(bytes, path);
  reader.need(0, ELF_HEADER.SIZE, 'the ELF header');
  const elfClass = reader.u8(ELF_HEADER.CLASS);
  if (elfClass !== ELFCLASS64) {
    throw invalid(path, `ELF class ${elfClass} is not ELF64; PVH kernels must be 64-bit x86-64 ELF files`);
  }
  if (reader.u8(ELF_HEADER.DATA) !== ELFDATA2LSB) throw invalid(path, 'the ELF file is not little-endian');
  if (reader.u8(ELF_HEADER.IDENT_VERSION) !== EV_CURRENT) throw invalid(path, `unknown ELF version ${reader.u8(ELF_HEADER.IDENT_VERSION)}`);
  const machine = reader.u16(ELF_HEADER.MACHINE);
  if (machine !== EM_X86_64) throw invalid(path, `ELF machine ${machine} is not x86-64 (${EM_X86_64})`);
  const type = reader.u16(ELF_HEADER.TYPE);
  if (type !== ET_EXEC) {
    throw invalid(path, `ELF type ${type} is not an executable (ET_EXEC = ${ET_EXEC}); relocatable and shared objects cannot be booted`);
  }
  const phoff = reader.u64(ELF_HEADER.PHOFF, 'e_phoff');
  const phentsize = reader.u16(ELF_HEADER.PHENTSIZE);
  const phnum = reader.u16(ELF_HEADER.PHNUM);
  if (phentsize !== PROGRAM_HEADER.SIZE) throw invalid(path, `program header size ${phentsize} is not ${PROGRAM_HEADER.SIZE}`);
  if (phnum === 0 || phnum === PN_XNUM) throw invalid(path, `unsupported program header count ${phnum}`);
  reader.need(phoff, phnum * PROGRAM_HEADER.SIZE, `the ${phnum} program headers`);

  const segments: ElfLoadSegment[] = [];
  let pvhEntry: number | undefined;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * PROGRAM_HEADER.SIZE;
    const phType = reader.u32(ph + PROGRAM_HEADER.TYPE);
    if (phType !== PT_LOAD && phType !== PT_NOTE) continue;
    const fileOffset = reader.u64(ph + PROGRAM_HEADER.OFFSET, `p_offset of program header ${i}`);
    const fileSize = reader.u64(ph + PROGRAM_HEADER.FILESZ, `p_filesz of program header ${i}`);
    reader.need(fileOffset, fileSize, `the data of program header ${i}`);
    if (phType === PT_NOTE) {
      const align = reader.u64(ph + PROGRAM_HEADER.ALIGN, `p_align of program header ${i}`) === 8 ? 8 : 4;
      pvhEntry ??= findPvhEntry(reader, fileOffset, fileSize, align);
      continue;
    }
    const guestAddress = reader.u64(ph + PROGRAM_HEADER.PADDR, `p_paddr of program header ${i}`);
    const memorySize = reader.u64(ph + PROGRAM_HEADER.MEMSZ, `p_memsz of program header ${i}`);
    if (fileSize > memorySize) throw invalid(path, `program header ${i} has p_filesz ${hex(fileSize)} larger than p_memsz ${hex(memorySize)}`);
    if (!Number.isSafeInteger(guestAddress + memorySize)) {
      throw invalid(path, `program header ${i} at ${hex(guestAddress)} with size ${hex(memorySize)} overflows the address space`);
    }
    if (memorySize > 0) segments.push({ fileOffset, fileSize, guestAddress, memorySize });
  }
  if (segments.length === 0) throw invalid(path, 'the ELF file has no loadable (PT_LOAD) segment');
  const start = Math.min(...segments.map((s) => s.guestAddress));
  const end = Math.max(...segments.map((s) => s.guestAddress + s.memorySize));
  const entry = pvhEntry;
  if (entry !== undefined && !segments.some((s) => entry >= s.guestAddress && entry < s.guestAddress + s.memorySize)) {
    throw invalid(path, `the PVH entry ${hex(entry)} lies outside every loadable segment`);
  }
  return { segments, pvhEntry, start, end };
}

/**
 * Checks that every segment lies in guest RAM at or above HIGH_RAM_START (below it live the boot structures:
 * GDT, start info, memmap, stack, page tables, command line, EBDA/RSDP). Throws LoaderError KERNEL_PLACEMENT.
 */
export function checkElfPlacement(kernel: ElfKernel, memory: GuestMemory, path: string): void {
  kernel.segments.forEach((segment, i) => {
    const range = `${hex(segment.guestAddress)}..${hex(segment.guestAddress + segment.memorySize)}`;
    if (segment.guestAddress < HIGH_RAM_START) {
      throw new LoaderError(
        'KERNEL_PLACEMENT',
        `${path}: loadable segment ${i} (${range}) starts below 1 MiB, where the boot structures live; link the kernel at or above ${hex(HIGH_RAM_START)}`,
      );
    }
    if (!memory.isValid(segment.guestAddress, segment.memorySize)) {
      throw new LoaderError(
        'KERNEL_PLACEMENT',
        `${path}: loadable segment ${i} (${range}) is outside guest RAM (${describeRam(memory)}); give the VM more memory`,
      );
    }
  });
}

/** Copies the segments into guest memory and zero-fills their tails. Call checkElfPlacement first. */
export function writeElfSegments(kernel: ElfKernel, bytes: Uint8Array, memory: GuestMemory): void {
  for (const segment of kernel.segments) {
    memory.write(segment.guestAddress, bytes.subarray(segment.fileOffset, segment.fileOffset + segment.fileSize));
    memory.fill(segment.guestAddress + segment.fileSize, segment.memorySize - segment.fileSize, 0);
  }
}

/** Walks the notes of one PT_NOTE segment; returns the PVH entry if a Xen PHYS32_ENTRY note is present. */
function findPvhEntry(reader: ElfFileReader, offset: number, size: number, align: number): number | undefined {
  const end = offset + size;
  let at = offset;
  while (end - at >= NOTE_HEADER.SIZE) {
    const nameSize = reader.u32(at + NOTE_HEADER.NAMESZ);
    const descSize = reader.u32(at + NOTE_HEADER.DESCSZ);
    const type = reader.u32(at + NOTE_HEADER.TYPE);
    const nameAt = at + NOTE_HEADER.SIZE;
    const descAt = nameAt + alignUp(nameSize, align);
    if (descAt + descSize > end) throw reader.truncated(`the ELF note at file offset ${hex(at)}`);
    if (type === XEN_ELFNOTE_PHYS32_ENTRY && noteName(reader, nameAt, nameSize) === XEN_NOTE_NAME) {
      return pvhEntryFromDescriptor(reader, descAt, descSize);
    }
    at = descAt + alignUp(descSize, align);
  }
  return undefined;
}

/** The descriptor is a 32-bit address, or a 64-bit one (Linux writes a pointer-sized value) whose high half is 0. */
function pvhEntryFromDescriptor(reader: ElfFileReader, descAt: number, descSize: number): number {
  if (descSize !== 4 && descSize !== 8) {
    throw invalid(reader.path, `the Xen PHYS32_ENTRY note has a ${descSize}-byte descriptor; expected 4 or 8`);
  }
  const entry = reader.u32(descAt);
  if (descSize === 8 && reader.u32(descAt + 4) !== 0) {
    throw invalid(reader.path, `the PVH entry ${hex(reader.u64(descAt, 'PVH entry'))} is above 4 GiB; it must be a 32-bit address`);
  }
  if (entry === 0) throw invalid(reader.path, 'the PVH entry in the Xen PHYS32_ENTRY note is 0');
  return entry;
}

function noteName(reader: ElfFileReader, at: number, size: number): string {
  let name = '';
  for (let i = 0; i < size; i++) {
    const c = reader.u8(at + i);
    if (c === 0) break;
    name += String.fromCharCode(c);
  }
  return name;
}

function alignUp(value: number, align: number): number {
  return Math.ceil(value / align) * align;
}

function invalid(path: string, reason: string): LoaderError {
  return new LoaderError('KERNEL_INVALID', `${path}: ${reason}`);
}

/** Bounds-checked little-endian reads at absolute file offsets; failures are LoaderErrors naming the file. */
class ElfFileReader {
  readonly path: string;
  private readonly bytes: ByteReader;

  constructor(bytes: Uint8Array, path: string) {
    this.bytes = new ByteReader(bytes);
    this.path = path;
  }

  need(offset: number, length: number, what: string): void {
    if (offset + length > this.bytes.length) throw this.truncated(what);
  }

  truncated(what: string): LoaderError {
    return new LoaderError('KERNEL_TRUNCATED', `${this.path}: the file (${this.bytes.length} bytes) ends inside ${what}; it is truncated or not a valid ELF kernel`);
  }

  u8(at: number): number {
    this.need(at, 1, `the byte at ${hex(at)}`);
    return this.bytes.u8(at);
  }

  u16(at: number): number {
    this.need(at, 2, `the field at ${hex(at)}`);
    return this.bytes.u16(at);
  }

  u32(at: number): number {
    this.need(at, 4, `the field at ${hex(at)}`);
    return this.bytes.u32(at);
  }

  /** A 64-bit field as a number; values beyond 2^53 cannot be valid offsets or addresses. */
  u64(at: number, field: string): number {
    this.need(at, 8, field);
    const value = this.bytes.u64big(at);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(this.path, `${field} = ${hex(value)} is too large`);
    return Number(value);
  }
}
