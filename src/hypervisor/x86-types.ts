/**
 * x86-64 vCPU state as plain data, independent of the backend: general registers, segment and control registers,
 * CPUID entries, MSRs and FPU state. 64-bit register values are bigints.
 */

export interface StandardRegisters {
  rax: bigint;
  rbx: bigint;
  rcx: bigint;
  rdx: bigint;
  rsi: bigint;
  rdi: bigint;
  rsp: bigint;
  rbp: bigint;
  r8: bigint;
  r9: bigint;
  r10: bigint;
  r11: bigint;
  r12: bigint;
  r13: bigint;
  r14: bigint;
  r15: bigint;
  rip: bigint;
  rflags: bigint;
}

export const REGISTER_NAMES = [
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'rflags',
] as const satisfies readonly (keyof StandardRegisters)[];

/** All-zero registers with the reserved RFLAGS bit 1 set, the architectural reset value. */
export function resetRegisters(): StandardRegisters {
  const regs = Object.fromEntries(REGISTER_NAMES.map((name) => [name, 0n])) as unknown as StandardRegisters;
  regs.rflags = 2n;
  return regs;
}

export interface Segment {
  base: bigint;
  limit: number;
  selector: number;
  type: number;
  present: number;
  dpl: number;
  db: number;
  s: number;
  l: number;
  g: number;
  avl: number;
  unusable: number;
}

export interface DescriptorTable {
  base: bigint;
  limit: number;
}

export interface SpecialRegisters {
  cs: Segment;
  ds: Segment;
  es: Segment;
  fs: Segment;
  gs: Segment;
  ss: Segment;
  tr: Segment;
  ldt: Segment;
  gdt: DescriptorTable;
  idt: DescriptorTable;
  cr0: bigint;
  cr2: bigint;
  cr3: bigint;
  cr4: bigint;
  cr8: bigint;
  efer: bigint;
  apicBase: bigint;
  /** Pending external interrupt bitmap (256 bits as four 64-bit words). */
  interruptBitmap: [bigint, bigint, bigint, bigint];
}

export const SEGMENT_NAMES = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldt'] as const;

export interface CpuidEntry {
  function: number;
  index: number;
  flags: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

/** KVM_CPUID_FLAG_SIGNIFCANT_INDEX: the entry applies only to this sub-leaf index. */
export const CPUID_FLAG_SIGNIFICANT_INDEX = 1;

export interface MsrEntry {
  index: number;
  data: bigint;
}

export interface FpuState {
  fcw: number;
  fsw: number;
  ftwx: number;
  mxcsr: number;
  /** Raw fpr (128 bytes) and xmm (256 bytes) areas. */
  fpr: Uint8Array;
  xmm: Uint8Array;
}
