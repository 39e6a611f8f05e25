/**
 * Linux bzImage parser and loader for the 64-bit boot protocol (Documentation/arch/x86/boot.rst): validates the
 * setup header (boot flag, "HdrS", protocol >= 2.12, XLF_KERNEL_64), loads the protected-mode kernel at 1 MiB (or
 * at pref_address when it is not relocatable) and reports the 64-bit entry (load address + 0x200) and how much
 * memory the kernel uses while it decompresses itself. Pure: no node:* imports.
 */
import { ByteReader } from '../abi/byte-writer.ts';
import { HIGH_RAM_START } from '../arch/x86_64/layout.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import { describeRam, hex, LoaderError } from './loader-error.ts';

/**
 * Setup header field offsets. They are the same in the bzImage file and in `struct boot_params`, where the header
 * is copied at 0x1F1.
 */
export const SETUP_HEADER = {
  START: 0x1f1,
  SETUP_SECTS: 0x1f1,
  SYSSIZE: 0x1f4,
  BOOT_FLAG: 0x1fe,
  /** Second byte of the jump at 0x200: the header ends at 0x202 + this value. */
  JUMP_LENGTH: 0x201,
  HEADER_MAGIC: 0x202,
  VERSION: 0x206,
  KERNEL_VERSION: 0x20e,
  TYPE_OF_LOADER: 0x210,
  LOADFLAGS: 0x211,
  RAMDISK_IMAGE: 0x218,
  RAMDISK_SIZE: 0x21c,
  CMD_LINE_PTR: 0x228,
  INITRD_ADDR_MAX: 0x22c,
  KERNEL_ALIGNMENT: 0x230,
  RELOCATABLE_KERNEL: 0x234,
  XLOADFLAGS: 0x236,
  CMDLINE_SIZE: 0x238,
  PAYLOAD_OFFSET: 0x248,
  PAYLOAD_LENGTH: 0x24c,
  PREF_ADDRESS: 0x258,
  INIT_SIZE: 0x260,
  /** boot_params has other fields from 0x290 on, so no header may extend past it. */
  MAX_END: 0x290,
} as const;

export const LOADFLAGS = {
  LOADED_HIGH: 0x01,
  KASLR: 0x02,
  QUIET: 0x20,
  KEEP_SEGMENTS: 0x40,
  CAN_USE_HEAP: 0x80,
} as const;

export const XLOADFLAGS = {
  KERNEL_64: 0x01,
  CAN_BE_LOADED_ABOVE_4G: 0x02,
} as const;

const BOOT_FLAG = 0xaa55;
const HEADER_MAGIC = 0x53726448; // "HdrS"
/** 2.12 introduced xloadflags, which says whether the 64-bit entry exists. */
const MIN_PROTOCOL = 0x020c;
const SECTOR_SIZE = 512;
/** setup_sects 0 means 4 (boot.rst). */
const DEFAULT_SETUP_SECTS = 4;
/** The 64-bit entry (startup_64) sits 0x200 bytes into the protected-mode kernel. */
const ENTRY_64_OFFSET = 0x200;
/** kernel_version points 0x200 bytes before the string it names. */
const KERNEL_VERSION_BASE = 0x200;
const KERNEL_VERSION_MAX_LENGTH = 256;

export interface SetupHeader {
  /** Boot protocol version, e.g. 0x020f for 2.15. */
  readonly protocolVersion: number;
  /** Setup sectors after the boot sector (0 in the file already turned into 4). */
  readonly setupSects: number;
  /** Protected-mode kernel size in 16-byte paragraphs. */
  readonly syssize: number;
  readonly loadflags: number;
  readonly xloadflags: number;
  readonly relocatable: boolean;
  readonly kernelAlignment: number;
  /** LOAD_PHYSICAL_ADDR: where a non-relocatable kernel must be loaded, and the lowest address it runs at. */
  readonly prefAddress: number;
  /** Bytes the kernel needs from where it runs, until it has set up its own memory management. */
  readonly initSize: number;
  /** Longest command line, without its terminating NUL. */
  readonly cmdlineSize: number;
  /** Highest address the initramfs may occupy (its last byte). */
  readonly initrdAddrMax: number;
  /** Compressed payload, relative to the start of the protected-mode kernel. */
  readonly payloadOffset: number;
  readonly payloadLength: number;
  /** The kernel's version string, when the header points at a readable one. */
  readonly kernelVersion: string | undefined;
}

export interface BzImage {
  readonly header: SetupHeader;
  /** The setup header exactly as in the file (file offsets 0x1F1 to its end), to be copied into boot_params. */
  readonly headerBytes: Uint8Array;
  /** File offset of the protected-mode kernel: (setup_sects + 1) * 512. */
  readonly kernelOffset: number;
  /** Bytes of protected-mode kernel loaded into the guest (the rest of the file). */
  readonly kernelSize: number;
}

export interface BzImagePlacement {
  readonly loadAddress: number;
  /** The 64-bit entry point: loadAddress + 0x200. */
  readonly entry: number;
  /** First address after everything the kernel occupies while booting (loaded image and decompression area). */
  readonly end: number;
}

/** True if the bytes carry the boot flag and the "HdrS" magic of a Linux boot image. */
export function isBzImage(bytes: Uint8Array): boolean {
  if (bytes.length < SETUP_HEADER.VERSION) return false;
  const reader = new ByteReader(bytes);
  return reader.u16(SETUP_HEADER.BOOT_FLAG) === BOOT_FLAG && reader.u32(SETUP_HEADER.HEADER_MAGIC) === HEADER_MAGIC;
}

/** Parses and validates a bzImage; `path` names the file in errors. Does not touch guest memory. */
export function parseBzImage(bytes: Uint8Array, path: string): BzImage {
  if (!isBzImage(bytes)) throw new LoaderError('NOT_A_KERNEL', `${path}: not a Linux boot image (no 0xAA55 boot flag and "HdrS" magic)`);
  const reader = new ByteReader(bytes);
  const headerEnd = SETUP_HEADER.JUMP_LENGTH + 1 + reader.u8(SETUP_HEADER.JUMP_LENGTH);
  if (bytes.length < Math.max(headerEnd, SETUP_HEADER.VERSION + 2)) throw truncated(path, bytes.length, 'the setup header');
  const protocolVersion = reader.u16(SETUP_HEADER.VERSION);
  if (protocolVersion < MIN_PROTOCOL) {
    throw invalid(path, `boot protocol ${formatVersion(protocolVersion)} is older than 2.12, which is needed for the 64-bit entry; use a newer kernel`);
  }
  if (headerEnd < SETUP_HEADER.INIT_SIZE + 4 || headerEnd > SETUP_HEADER.MAX_END) {
    throw invalid(path, `setup header length ${hex(headerEnd - SETUP_HEADER.START)} does not fit protocol ${formatVersion(protocolVersion)}`);
  }
  const setupSects = reader.u8(SETUP_HEADER.SETUP_SECTS) || DEFAULT_SETUP_SECTS;
  const kernelOffset = (setupSects + 1) * SECTOR_SIZE;
  if (bytes.length <= kernelOffset) throw truncated(path, bytes.length, `the ${setupSects} setup sectors`);
  const kernelSize = bytes.length - kernelOffset;

  const syssize = reader.u32(SETUP_HEADER.SYSSIZE);
  if (syssize * 16 > kernelSize) throw truncated(path, bytes.length, `the protected-mode kernel (${syssize * 16} bytes per syssize)`);
  const loadflags = reader.u8(SETUP_HEADER.LOADFLAGS);
  if (!(loadflags & LOADFLAGS.LOADED_HIGH)) throw invalid(path, 'the kernel is a zImage (LOADED_HIGH is clear); only bzImages are supported');
  const xloadflags = reader.u16(SETUP_HEADER.XLOADFLAGS);
  if (!(xloadflags & XLOADFLAGS.KERNEL_64)) {
    throw invalid(path, 'the kernel has no 64-bit entry point (XLF_KERNEL_64 is clear); boot an x86-64 kernel');
  }
  const relocatable = reader.u8(SETUP_HEADER.RELOCATABLE_KERNEL) !== 0;
  const kernelAlignment = reader.u32(SETUP_HEADER.KERNEL_ALIGNMENT);
  if (relocatable && (kernelAlignment === 0 || (kernelAlignment & (kernelAlignment - 1)) !== 0)) {
    throw invalid(path, `kernel_alignment ${hex(kernelAlignment)} is not a power of two`);
  }
  const payloadOffset = reader.u32(SETUP_HEADER.PAYLOAD_OFFSET);
  const payloadLength = reader.u32(SETUP_HEADER.PAYLOAD_LENGTH);
  if (payloadOffset + payloadLength > kernelSize) throw truncated(path, bytes.length, 'the compressed payload');
  const prefAddressField = reader.u64big(SETUP_HEADER.PREF_ADDRESS);
  if (prefAddressField > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(path, `pref_address ${hex(prefAddressField)} is too large`);
  const prefAddress = Number(prefAddressField);
  const initSize = reader.u32(SETUP_HEADER.INIT_SIZE);
  if (initSize === 0) throw invalid(path, 'init_size is 0');

  const header: SetupHeader = {
    protocolVersion,
    setupSects,
    syssize,
    loadflags,
    xloadflags,
    relocatable,
    kernelAlignment,
    prefAddress,
    initSize,
    cmdlineSize: reader.u32(SETUP_HEADER.CMDLINE_SIZE),
    initrdAddrMax: reader.u32(SETUP_HEADER.INITRD_ADDR_MAX),
    payloadOffset,
    payloadLength,
    kernelVersion: readKernelVersion(bytes, reader.u16(SETUP_HEADER.KERNEL_VERSION), kernelOffset),
  };
  return { header, headerBytes: bytes.slice(SETUP_HEADER.START, headerEnd), kernelOffset, kernelSize };
}

/**
 * Decides where the kernel goes and checks it fits guest RAM. A relocatable kernel is loaded at 1 MiB; its 64-bit
 * entry then decompresses it to max(load address aligned up to kernel_alignment, pref_address) and uses init_size
 * bytes from there (arch/x86/boot/compressed/head_64.S). A non-relocatable kernel is loaded at pref_address.
 */
export function placeBzImage(image: BzImage, memory: GuestMemory, path: string): BzImagePlacement {
  const { header } = image;
  const loadAddress = header.relocatable ? HIGH_RAM_START : header.prefAddress;
  if (loadAddress < HIGH_RAM_START) {
    throw new LoaderError('KERNEL_PLACEMENT', `${path}: the kernel is not relocatable and wants to load at ${hex(loadAddress)}, below 1 MiB where the boot structures live`);
  }
  const runAddress = header.relocatable ? Math.max(alignUp(loadAddress, header.kernelAlignment), header.prefAddress) : loadAddress;
  const end = Math.max(loadAddress + image.kernelSize, runAddress + header.initSize);
  if (!memory.isValid(loadAddress, image.kernelSize) || !memory.isValid(runAddress, header.initSize)) {
    throw new LoaderError(
      'KERNEL_PLACEMENT',
      `${path}: the kernel needs guest RAM from ${hex(loadAddress)} to ${hex(end)} (image ${image.kernelSize} bytes, init_size ${hex(header.initSize)} at ${hex(runAddress)}) but RAM is ${describeRam(memory)}; give the VM more memory`,
    );
  }
  return { loadAddress, entry: loadAddress + ENTRY_64_OFFSET, end };
}

/** Copies the protected-mode kernel to its load address. Call placeBzImage first. */
export function writeBzImage(image: BzImage, bytes: Uint8Array, memory: GuestMemory, placement: BzImagePlacement): void {
  memory.write(placement.loadAddress, bytes.subarray(image.kernelOffset, image.kernelOffset + image.kernelSize));
}

function readKernelVersion(bytes: Uint8Array, pointer: number, setupEnd: number): string | undefined {
  if (pointer === 0) return undefined;
  const start = pointer + KERNEL_VERSION_BASE;
  let text = '';
  for (let at = start; at < Math.min(setupEnd, start + KERNEL_VERSION_MAX_LENGTH); at++) {
    const c = bytes[at]!;
    if (c === 0) return text;
    if (c < 0x20 || c > 0x7e) return undefined;
    text += String.fromCharCode(c);
  }
  return undefined;
}

function alignUp(value: number, align: number): number {
  return Math.ceil(value / align) * align;
}

function formatVersion(version: number): string {
  return `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`;
}

function invalid(path: string, reason: string): LoaderError {
  return new LoaderError('KERNEL_INVALID', `${path}: ${reason}`);
}

function truncated(path: string, length: number, what: string): LoaderError {
  return new LoaderError('KERNEL_TRUNCATED', `${path}: the file (${length} bytes) ends inside ${what}; it is truncated`);
}
