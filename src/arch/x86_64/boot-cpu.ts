/**
 * Boot-time state of the boot vCPU for the two entry protocols:
 * - PVH: 32-bit protected mode, paging off, EBX = hvm_start_info (xen/arch-x86/hvm/start_info.h);
 * - Linux 64-bit boot protocol: long mode on identity-mapped page tables, RSI = boot_params,
 *   CS = __BOOT_CS (0x10), DS/ES/SS = __BOOT_DS (0x18) (Documentation/arch/x86/boot.rst).
 * Also the GDT and page tables the host writes into guest memory, the boot MSRs, FPU and LAPIC LINT setup.
 */
import type { GuestMemory } from '../../memory/guest-memory.ts';
import { BOOT_GDT_START, BOOT_IDT_START, BOOT_STACK_POINTER, PDE_START, PDPTE_START, PML4_START } from './layout.ts';
import { resetRegisters, type FpuState, type MsrEntry, type Segment, type SpecialRegisters, type StandardRegisters } from '../../hypervisor/x86-types.ts';

/** Guest-physical addresses of the boot GDT, IDT, stack and page tables (see layout.ts). */
export const BOOT_TABLES = {
  gdt: BOOT_GDT_START,
  idt: BOOT_IDT_START,
  pml4: PML4_START,
  pdpt: PDPTE_START,
  /** Four page directories of 2 MiB pages, identity-mapping the first 4 GiB (PDE_START .. PDE_START + 16 KiB). */
  pd: PDE_START,
  stackPointer: BOOT_STACK_POINTER,
} as const;

/** GDT entries and their selectors. One table serves both protocols. */
export const GDT = {
  entries: [
    0n, // null
    0x00cf9b000000ffffn, // 0x08: 32-bit code, flat (PVH entry)
    0x00af9b000000ffffn, // 0x10: 64-bit code (__BOOT_CS)
    0x00cf93000000ffffn, // 0x18: data, flat (__BOOT_DS)
    0x00008b0000000067n, // 0x20: 32-bit busy TSS (base 0, limit 0x67)
  ],
  code32: 0x08,
  code64: 0x10,
  data: 0x18,
  tss: 0x20,
} as const;

const CR0_PE = 1n;
const CR0_ET = 1n << 4n;
const CR0_PG = 1n << 31n;
const CR4_PAE = 1n << 5n;
const EFER_LME = 1n << 8n;
const EFER_LMA = 1n << 10n;
const PAGE_PRESENT_RW = 0x3n;
const PAGE_PS = 0x80n;

/** Decodes a GDT descriptor into the segment form the hypervisor takes. */
export function segmentFromDescriptor(descriptor: bigint, selector: number): Segment {
  const d = descriptor;
  const field = (shift: bigint, bits: bigint): number => Number((d >> shift) & ((1n << bits) - 1n));
  const base = BigInt(field(16n, 24n)) | (BigInt(field(56n, 8n)) << 24n);
  const rawLimit = field(0n, 16n) | (field(48n, 4n) << 16);
  const g = field(55n, 1n);
  return {
    base,
    limit: g ? rawLimit * 4096 + 4095 : rawLimit,
    selector,
    type: field(40n, 4n),
    s: field(44n, 1n),
    dpl: field(45n, 2n),
    present: field(47n, 1n),
    avl: field(52n, 1n),
    l: field(53n, 1n),
    db: field(54n, 1n),
    g,
    unusable: field(47n, 1n) ? 0 : 1,
  };
}

/** Writes the boot GDT and an empty IDT into guest memory. */
export function writeDescriptorTables(memory: GuestMemory): void {
  GDT.entries.forEach((entry, i) => memory.writeU64(BOOT_TABLES.gdt + i * 8, entry));
  memory.writeU64(BOOT_TABLES.idt, 0n);
}

/** Writes page tables identity-mapping the first 4 GiB with 2 MiB pages. */
export function writeIdentityPageTables(memory: GuestMemory): void {
  memory.writeU64(BOOT_TABLES.pml4, BigInt(BOOT_TABLES.pdpt) | PAGE_PRESENT_RW);
  for (let i = 0; i < 4; i++) {
    const pd = BOOT_TABLES.pd + i * 0x1000;
    memory.writeU64(BOOT_TABLES.pdpt + i * 8, BigInt(pd) | PAGE_PRESENT_RW);
    for (let j = 0; j < 512; j++) {
      const physical = (BigInt(i) << 30n) | (BigInt(j) << 21n);
      memory.writeU64(pd + j * 8, physical | PAGE_PRESENT_RW | PAGE_PS);
    }
  }
}

function bootSegments(sregs: SpecialRegisters, codeSelector: number): void {
  const code = segmentFromDescriptor(GDT.entries[codeSelector / 8]!, codeSelector);
  const data = segmentFromDescriptor(GDT.entries[GDT.data / 8]!, GDT.data);
  sregs.cs = code;
  sregs.ds = { ...data };
  sregs.es = { ...data };
  sregs.fs = { ...data };
  sregs.gs = { ...data };
  sregs.ss = { ...data };
  sregs.tr = segmentFromDescriptor(GDT.entries[GDT.tss / 8]!, GDT.tss);
  sregs.gdt = { base: BigInt(BOOT_TABLES.gdt), limit: GDT.entries.length * 8 - 1 };
  sregs.idt = { base: BigInt(BOOT_TABLES.idt), limit: 7 };
}

/** PVH entry: protected mode, paging off, EBX = start info (`sregs` comes from the vCPU and is modified). */
export function pvhBootState(sregs: SpecialRegisters, entry: number, startInfoAddress: number): { regs: StandardRegisters; sregs: SpecialRegisters } {
  bootSegments(sregs, GDT.code32);
  sregs.cr0 = CR0_PE | CR0_ET;
  sregs.cr3 = 0n;
  sregs.cr4 = 0n;
  sregs.efer = 0n;
  const regs = resetRegisters();
  regs.rip = BigInt(entry);
  regs.rbx = BigInt(startInfoAddress);
  return { regs, sregs };
}

/** Linux 64-bit boot protocol: long mode with the identity page tables, RSI = boot_params. */
export function linux64BootState(sregs: SpecialRegisters, entry: number, bootParamsAddress: number): { regs: StandardRegisters; sregs: SpecialRegisters } {
  bootSegments(sregs, GDT.code64);
  sregs.cr0 = CR0_PE | CR0_ET | CR0_PG;
  sregs.cr3 = BigInt(BOOT_TABLES.pml4);
  sregs.cr4 = CR4_PAE;
  sregs.efer = EFER_LME | EFER_LMA;
  const regs = resetRegisters();
  regs.rip = BigInt(entry);
  regs.rsi = BigInt(bootParamsAddress);
  regs.rsp = BigInt(BOOT_TABLES.stackPointer);
  regs.rbp = BigInt(BOOT_TABLES.stackPointer);
  return { regs, sregs };
}

export const MSR = {
  IA32_TSC: 0x10,
  IA32_SYSENTER_CS: 0x174,
  IA32_SYSENTER_ESP: 0x175,
  IA32_SYSENTER_EIP: 0x176,
  IA32_MISC_ENABLE: 0x1a0,
  MTRR_DEF_TYPE: 0x2ff,
  STAR: 0xc0000081,
  LSTAR: 0xc0000082,
  CSTAR: 0xc0000083,
  SYSCALL_MASK: 0xc0000084,
  KERNEL_GS_BASE: 0xc0000102,
} as const;

const MISC_ENABLE_FAST_STRING = 1n;
const MTRR_ENABLE = 1n << 11n;
const MTRR_TYPE_WRITE_BACK = 6n;

/** MSR values every vCPU starts with (as Firecracker and Cloud Hypervisor set them). */
export function bootMsrs(): MsrEntry[] {
  return [
    { index: MSR.IA32_SYSENTER_CS, data: 0n },
    { index: MSR.IA32_SYSENTER_ESP, data: 0n },
    { index: MSR.IA32_SYSENTER_EIP, data: 0n },
    { index: MSR.STAR, data: 0n },
    { index: MSR.CSTAR, data: 0n },
    { index: MSR.KERNEL_GS_BASE, data: 0n },
    { index: MSR.SYSCALL_MASK, data: 0n },
    { index: MSR.LSTAR, data: 0n },
    { index: MSR.IA32_TSC, data: 0n },
    { index: MSR.IA32_MISC_ENABLE, data: MISC_ENABLE_FAST_STRING },
    { index: MSR.MTRR_DEF_TYPE, data: MTRR_ENABLE | MTRR_TYPE_WRITE_BACK },
  ];
}

/** x87 and SSE control words at their reset defaults. */
export function bootFpu(): FpuState {
  return { fcw: 0x37f, fsw: 0, ftwx: 0, mxcsr: 0x1f80, fpr: new Uint8Array(128), xmm: new Uint8Array(256) };
}

const APIC_LVT_LINT0 = 0x350;
const APIC_LVT_LINT1 = 0x360;
const DELIVERY_MODE_EXTINT = 7;
const DELIVERY_MODE_NMI = 4;

/** LINT0 = ExtINT (the PIC), LINT1 = NMI, as a BIOS leaves them; `lapic` is the 1 KiB register page, modified. */
export function configureLint(lapic: Uint8Array): Uint8Array {
  const view = new DataView(lapic.buffer, lapic.byteOffset, lapic.byteLength);
  const setMode = (reg: number, mode: number): void => view.setUint32(reg, (view.getUint32(reg, true) & ~0x700) | (mode << 8), true);
  setMode(APIC_LVT_LINT0, DELIVERY_MODE_EXTINT);
  setMode(APIC_LVT_LINT1, DELIVERY_MODE_NMI);
  return lapic;
}
