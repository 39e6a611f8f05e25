/**
 * Kernel loading entry point: detects the kernel format (ELF with a PVH note -> PVH boot; bzImage -> Linux 64-bit
 * boot protocol), checks that kernel, initramfs and boot structures fit guest RAM, writes them, and returns what
 * the vCPU setup needs. Everything is validated before anything is written. Reading the files is the caller's job.
 * Pure: no node:* imports.
 */
import type { E820Entry } from '../arch/x86_64/e820.ts';
import { CMDLINE_START, HIGH_RAM_START, ZERO_PAGE_START } from '../arch/x86_64/layout.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import { buildBootParams } from './boot-params.ts';
import { isBzImage, parseBzImage, placeBzImage, writeBzImage } from './bzimage.ts';
import { encodeCmdline, writeCmdline } from './cmdline.ts';
import { checkElfPlacement, isElf, parseElfKernel, writeElfSegments } from './elf.ts';
import { placeInitramfs, writeInitramfs } from './initramfs.ts';
import { describeRam, hex, LoaderError } from './loader-error.ts';
import { writePvhStartInfo } from './pvh.ts';

export { LoaderError, type LoaderErrorCode } from './loader-error.ts';

export interface LoadKernelOptions {
  readonly kernel: Uint8Array;
  /** Names the kernel in error messages. */
  readonly kernelPath: string;
  readonly initramfs?: Uint8Array;
  readonly cmdline: string;
  readonly memory: GuestMemory;
  /** Guest address of the ACPI RSDP; omit when the VM has no ACPI tables. */
  readonly rsdpAddress?: number;
  /** The e820 map to hand over, usually buildE820Map(memory.regions). */
  readonly e820: readonly E820Entry[];
}

/**
 * What the boot vCPU needs.
 * - `pvh`: start in 32-bit protected mode with paging off at `entry`, RBX = `startInfoAddress`.
 * - `linux64`: start in 64-bit long mode with an identity map covering the kernel, boot_params, command line and
 *   initramfs, at `entry` (load address + 0x200), RSI = `bootParamsAddress` (boot.rst, "64-bit Boot Protocol").
 */
export type BootSetup =
  | { readonly protocol: 'pvh'; readonly entry: number; readonly startInfoAddress: number }
  | { readonly protocol: 'linux64'; readonly entry: number; readonly bootParamsAddress: number };

/** Loads the kernel (and initramfs, command line, boot structures) into guest memory. Throws LoaderError. */
export function loadKernel(options: LoadKernelOptions): BootSetup {
  checkBootMemory(options);
  if (isElf(options.kernel)) return loadPvhKernel(options);
  if (isBzImage(options.kernel)) return loadLinux64Kernel(options);
  throw new LoaderError('NOT_A_KERNEL', `${options.kernelPath}: not an ELF vmlinux with a PVH note nor a bzImage`);
}

function loadPvhKernel(options: LoadKernelOptions): BootSetup {
  const { kernel, kernelPath, memory } = options;
  const elf = parseElfKernel(kernel, kernelPath);
  if (elf.pvhEntry === undefined) {
    throw new LoaderError(
      'NO_PVH_ENTRY',
      `${kernelPath}: kernel has no PVH entry point (Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY); build it with CONFIG_PVH=y or pass a bzImage`,
    );
  }
  checkElfPlacement(elf, memory, kernelPath);
  const cmdline = encodeCmdline(options.cmdline);
  const initramfs = options.initramfs && { bytes: options.initramfs, placement: placeInitramfs(options.initramfs.length, memory, { kernelEnd: elf.end }) };

  // The start info is written first: it validates its inputs, so a failure leaves the rest unwritten.
  const startInfoAddress = writePvhStartInfo(memory, {
    cmdlineAddress: CMDLINE_START,
    initramfs: initramfs?.placement,
    e820: options.e820,
    rsdpAddress: options.rsdpAddress,
  });
  writeElfSegments(elf, kernel, memory);
  if (initramfs) writeInitramfs(memory, initramfs.bytes, initramfs.placement);
  writeCmdline(memory, cmdline);
  return { protocol: 'pvh', entry: elf.pvhEntry, startInfoAddress };
}

function loadLinux64Kernel(options: LoadKernelOptions): BootSetup {
  const { kernel, kernelPath, memory } = options;
  const image = parseBzImage(kernel, kernelPath);
  const placement = placeBzImage(image, memory, kernelPath);
  const cmdline = encodeCmdline(options.cmdline, image.header.cmdlineSize);
  const initramfs = options.initramfs && {
    bytes: options.initramfs,
    placement: placeInitramfs(options.initramfs.length, memory, { kernelEnd: placement.end, addressLimit: image.header.initrdAddrMax + 1 }),
  };
  const zeroPage = buildBootParams({
    setupHeader: image.headerBytes,
    cmdlineAddress: CMDLINE_START,
    initramfs: initramfs?.placement,
    e820: options.e820,
    rsdpAddress: options.rsdpAddress,
  });

  writeBzImage(image, kernel, memory, placement);
  if (initramfs) writeInitramfs(memory, initramfs.bytes, initramfs.placement);
  writeCmdline(memory, cmdline);
  memory.write(ZERO_PAGE_START, zeroPage);
  return { protocol: 'linux64', entry: placement.entry, bootParamsAddress: ZERO_PAGE_START };
}

/** The boot structures live below HIGH_RAM_START, so guest RAM must cover it; the RSDP must be in RAM too. */
function checkBootMemory(options: LoadKernelOptions): void {
  const { memory, rsdpAddress } = options;
  if (!memory.isValid(0, HIGH_RAM_START)) {
    throw new LoaderError('BOOT_SETUP_INVALID', `guest RAM (${describeRam(memory)}) must cover 0..${hex(HIGH_RAM_START)}, where the boot structures live`);
  }
  if (rsdpAddress !== undefined && !memory.isValid(rsdpAddress, 1)) {
    throw new LoaderError('BOOT_SETUP_INVALID', `the ACPI RSDP address ${String(rsdpAddress)} is outside guest RAM`);
  }
}
