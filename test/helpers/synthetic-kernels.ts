/**
 * Test support: builds small synthetic kernels (an ELF64 x86-64 executable with an optional Xen PVH note, and a
 * bzImage with a 64-bit boot protocol setup header) so the loaders can be tested byte for byte, including broken
 * variants. Used only by the loader tests.
 */
import { ByteWriter } from '../../src/abi/byte-writer.ts';

export interface SyntheticSegment {
  readonly paddr: number;
  readonly data: Uint8Array;
  /** Defaults to data.length. */
  readonly memsz?: number;
}

export interface SyntheticElfOptions {
  readonly segments: readonly SyntheticSegment[];
  /** Adds a Xen XEN_ELFNOTE_PHYS32_ENTRY note with this value. */
  readonly pvhEntry?: number;
  /** Descriptor size of the PVH note: 4 (.long) or 8 (Linux's pointer-sized value). Default 8. */
  readonly pvhDescriptorSize?: 4 | 8;
  /** Adds a GNU build-id note before the Xen note, to exercise note walking. */
  readonly withOtherNote?: boolean;
}

/** Offsets inside the images built here, for tests that corrupt them. */
export const SYNTHETIC_ELF = {
  PHOFF: 0x40,
  PHENTSIZE: 0x38,
} as const;

/** Builds an ELF64 little-endian x86-64 ET_EXEC: header, program headers (PT_NOTE first if any, then PT_LOAD), notes, segment data. */
export function buildElf(options: SyntheticElfOptions): Uint8Array {
  const notes = new ByteWriter();
  if (options.withOtherNote) {
    notes.u32(4).u32(8).u32(3).fixedAscii('GNU', 4).u32(0xdeadbeef).u32(0xfeedface); // NT_GNU_BUILD_ID
  }
  if (options.pvhEntry !== undefined) {
    const descSize = options.pvhDescriptorSize ?? 8;
    notes.u32(4).u32(descSize).u32(18).fixedAscii('Xen', 4);
    if (descSize === 8) notes.u64(options.pvhEntry);
    else notes.u32(options.pvhEntry);
  }
  const hasNotes = notes.length > 0;
  const phnum = options.segments.length + (hasNotes ? 1 : 0);
  const notesOffset = SYNTHETIC_ELF.PHOFF + phnum * SYNTHETIC_ELF.PHENTSIZE;
  let dataOffset = align(notesOffset + notes.length, 16);

  const file = new ByteWriter();
  file.u8(0x7f).fixedAscii('ELF', 3).u8(2).u8(1).u8(1).zeros(9); // e_ident: ELF64, little-endian, version 1
  file.u16(2).u16(62).u32(1); // ET_EXEC, EM_X86_64, EV_CURRENT
  file.u64(options.pvhEntry ?? options.segments[0]?.paddr ?? 0); // e_entry
  file.u64(SYNTHETIC_ELF.PHOFF).u64(0).u32(0); // e_phoff, e_shoff, e_flags
  file.u16(0x40).u16(SYNTHETIC_ELF.PHENTSIZE).u16(phnum).u16(0x40).u16(0).u16(0);
  if (hasNotes) programHeader(file, 4, notesOffset, 0, notes.length, notes.length, 4);
  const placed: { offset: number; data: Uint8Array }[] = [];
  for (const segment of options.segments) {
    programHeader(file, 1, dataOffset, segment.paddr, segment.data.length, segment.memsz ?? segment.data.length, 0x1000);
    placed.push({ offset: dataOffset, data: segment.data });
    dataOffset = align(dataOffset + segment.data.length, 16);
  }
  file.seek(notesOffset).bytes(notes.toBytes());
  for (const { offset, data } of placed) file.seek(offset).bytes(data);
  return file.toBytes();
}

function programHeader(file: ByteWriter, type: number, offset: number, paddr: number, filesz: number, memsz: number, alignment: number): void {
  file.u32(type).u32(5).u64(offset).u64(paddr).u64(paddr).u64(filesz).u64(memsz).u64(alignment);
}

export interface SyntheticBzImageOptions {
  /** The protected-mode kernel bytes (what gets loaded); its first 0x200 bytes precede the 64-bit entry. */
  readonly kernel: Uint8Array;
  readonly setupSects?: number;
  readonly protocol?: number;
  readonly loadflags?: number;
  readonly xloadflags?: number;
  readonly relocatable?: boolean;
  readonly kernelAlignment?: number;
  readonly prefAddress?: number;
  readonly initSize?: number;
  readonly cmdlineSize?: number;
  readonly initrdAddrMax?: number;
  readonly kernelVersion?: string;
}

/** Builds a bzImage: boot sector + setup sectors holding a protocol 2.15 setup header, then the kernel. */
export function buildBzImage(options: SyntheticBzImageOptions): Uint8Array {
  const setupSects = options.setupSects ?? 4;
  const setupSize = ((setupSects || 4) + 1) * 512;
  const image = new ByteWriter().zeros(setupSize);
  image.patchU8(0x1f1, setupSects);
  image.patchU32(0x1f4, Math.ceil(options.kernel.length / 16)); // syssize
  image.patchU16(0x1fa, 0xffff); // vid_mode
  image.patchU16(0x1fe, 0xaa55);
  image.patchU8(0x200, 0xeb).patchU8(0x201, 0x6a); // jmp over the header, which ends at 0x26c
  image.seek(0x202).fixedAscii('HdrS', 4);
  image.patchU16(0x206, options.protocol ?? 0x020f);
  image.patchU8(0x211, options.loadflags ?? 0x01);
  image.patchU32(0x22c, options.initrdAddrMax ?? 0x7fffffff);
  image.patchU32(0x230, options.kernelAlignment ?? 0x200000);
  image.patchU8(0x234, options.relocatable === false ? 0 : 1);
  image.patchU8(0x235, 21); // min_alignment
  image.patchU16(0x236, options.xloadflags ?? 0x03);
  image.patchU32(0x238, options.cmdlineSize ?? 2047);
  image.patchU32(0x248, 0x10).patchU32(0x24c, Math.min(0x20, Math.max(0, options.kernel.length - 0x10))); // payload
  image.seek(0x258).u64(options.prefAddress ?? 0x1000000);
  image.patchU32(0x260, options.initSize ?? 0x400000);
  if (options.kernelVersion !== undefined) {
    const at = 0x400;
    image.patchU16(0x20e, at - 0x200);
    image.seek(at).fixedAscii(options.kernelVersion, options.kernelVersion.length + 1);
  }
  image.seek(setupSize).bytes(options.kernel);
  return image.toBytes();
}

/** A protected-mode kernel of `size` bytes with recognisable content (byte i = i & 0xff, 0xfc 0xfa at 0x200). */
export function syntheticKernelBody(size: number): Uint8Array {
  const body = new Uint8Array(size);
  for (let i = 0; i < size; i++) body[i] = i & 0xff;
  body[0x200] = 0xfc; // cld
  body[0x201] = 0xfa; // cli
  return body;
}

function align(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}
