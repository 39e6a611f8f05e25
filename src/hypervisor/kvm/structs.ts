/**
 * Encoders/decoders between the backend-neutral x86 state types and KVM's binary structs (kvm_regs, kvm_sregs,
 * kvm_fpu, kvm_cpuid2, kvm_msrs), using the layouts declared in src/abi/kvm.ts.
 */
import { OFFSET, SIZE } from '../../abi/kvm.ts';
import {
  REGISTER_NAMES,
  SEGMENT_NAMES,
  type CpuidEntry,
  type DescriptorTable,
  type FpuState,
  type MsrEntry,
  type Segment,
  type SpecialRegisters,
  type StandardRegisters,
} from '../x86-types.ts';

export function encodeRegs(regs: StandardRegisters): Uint8Array {
  const buf = new Uint8Array(SIZE.kvm_regs);
  const view = new DataView(buf.buffer);
  REGISTER_NAMES.forEach((name, i) => view.setBigUint64(i * 8, BigInt.asUintN(64, regs[name]), true));
  return buf;
}

export function decodeRegs(buf: Uint8Array): StandardRegisters {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return Object.fromEntries(REGISTER_NAMES.map((name, i) => [name, view.getBigUint64(i * 8, true)])) as unknown as StandardRegisters;
}

function writeSegment(view: DataView, at: number, s: Segment): void {
  view.setBigUint64(at + OFFSET['kvm_segment.base'], BigInt.asUintN(64, s.base), true);
  view.setUint32(at + OFFSET['kvm_segment.limit'], s.limit >>> 0, true);
  view.setUint16(at + OFFSET['kvm_segment.selector'], s.selector, true);
  view.setUint8(at + OFFSET['kvm_segment.type'], s.type);
  view.setUint8(at + OFFSET['kvm_segment.present'], s.present);
  view.setUint8(at + OFFSET['kvm_segment.dpl'], s.dpl);
  view.setUint8(at + OFFSET['kvm_segment.db'], s.db);
  view.setUint8(at + OFFSET['kvm_segment.s'], s.s);
  view.setUint8(at + OFFSET['kvm_segment.l'], s.l);
  view.setUint8(at + OFFSET['kvm_segment.g'], s.g);
  view.setUint8(at + OFFSET['kvm_segment.avl'], s.avl);
  view.setUint8(at + OFFSET['kvm_segment.unusable'], s.unusable);
}

function readSegment(view: DataView, at: number): Segment {
  return {
    base: view.getBigUint64(at + OFFSET['kvm_segment.base'], true),
    limit: view.getUint32(at + OFFSET['kvm_segment.limit'], true),
    selector: view.getUint16(at + OFFSET['kvm_segment.selector'], true),
    type: view.getUint8(at + OFFSET['kvm_segment.type']),
    present: view.getUint8(at + OFFSET['kvm_segment.present']),
    dpl: view.getUint8(at + OFFSET['kvm_segment.dpl']),
    db: view.getUint8(at + OFFSET['kvm_segment.db']),
    s: view.getUint8(at + OFFSET['kvm_segment.s']),
    l: view.getUint8(at + OFFSET['kvm_segment.l']),
    g: view.getUint8(at + OFFSET['kvm_segment.g']),
    avl: view.getUint8(at + OFFSET['kvm_segment.avl']),
    unusable: view.getUint8(at + OFFSET['kvm_segment.unusable']),
  };
}

function writeDtable(view: DataView, at: number, t: DescriptorTable): void {
  view.setBigUint64(at + OFFSET['kvm_dtable.base'], BigInt.asUintN(64, t.base), true);
  view.setUint16(at + OFFSET['kvm_dtable.limit'], t.limit, true);
}

function readDtable(view: DataView, at: number): DescriptorTable {
  return { base: view.getBigUint64(at + OFFSET['kvm_dtable.base'], true), limit: view.getUint16(at + OFFSET['kvm_dtable.limit'], true) };
}

const CONTROL_REGISTERS = [
  ['cr0', OFFSET['kvm_sregs.cr0']],
  ['cr2', OFFSET['kvm_sregs.cr2']],
  ['cr3', OFFSET['kvm_sregs.cr3']],
  ['cr4', OFFSET['kvm_sregs.cr4']],
  ['cr8', OFFSET['kvm_sregs.cr8']],
  ['efer', OFFSET['kvm_sregs.efer']],
  ['apicBase', OFFSET['kvm_sregs.apic_base']],
] as const;

export function encodeSregs(sregs: SpecialRegisters): Uint8Array {
  const buf = new Uint8Array(SIZE.kvm_sregs);
  const view = new DataView(buf.buffer);
  for (const name of SEGMENT_NAMES) writeSegment(view, OFFSET[`kvm_sregs.${name}`], sregs[name]);
  writeDtable(view, OFFSET['kvm_sregs.gdt'], sregs.gdt);
  writeDtable(view, OFFSET['kvm_sregs.idt'], sregs.idt);
  for (const [name, at] of CONTROL_REGISTERS) view.setBigUint64(at, BigInt.asUintN(64, sregs[name]), true);
  sregs.interruptBitmap.forEach((word, i) => view.setBigUint64(OFFSET['kvm_sregs.interrupt_bitmap'] + i * 8, word, true));
  return buf;
}

export function decodeSregs(buf: Uint8Array): SpecialRegisters {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const bitmapAt = OFFSET['kvm_sregs.interrupt_bitmap'];
  const sregs = {
    gdt: readDtable(view, OFFSET['kvm_sregs.gdt']),
    idt: readDtable(view, OFFSET['kvm_sregs.idt']),
    interruptBitmap: [0, 1, 2, 3].map((i) => view.getBigUint64(bitmapAt + i * 8, true)),
  } as unknown as SpecialRegisters;
  for (const name of SEGMENT_NAMES) sregs[name] = readSegment(view, OFFSET[`kvm_sregs.${name}`]);
  for (const [name, at] of CONTROL_REGISTERS) sregs[name] = view.getBigUint64(at, true);
  return sregs;
}

export function encodeFpu(fpu: FpuState): Uint8Array {
  const buf = new Uint8Array(SIZE.kvm_fpu);
  const view = new DataView(buf.buffer);
  buf.set(fpu.fpr.subarray(0, 128), OFFSET['kvm_fpu.fpr']);
  view.setUint16(OFFSET['kvm_fpu.fcw'], fpu.fcw, true);
  view.setUint16(OFFSET['kvm_fpu.fsw'], fpu.fsw, true);
  view.setUint8(OFFSET['kvm_fpu.ftwx'], fpu.ftwx);
  buf.set(fpu.xmm.subarray(0, 256), OFFSET['kvm_fpu.xmm']);
  view.setUint32(OFFSET['kvm_fpu.mxcsr'], fpu.mxcsr, true);
  return buf;
}

export function decodeFpu(buf: Uint8Array): FpuState {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return {
    fpr: buf.slice(OFFSET['kvm_fpu.fpr'], OFFSET['kvm_fpu.fpr'] + 128),
    fcw: view.getUint16(OFFSET['kvm_fpu.fcw'], true),
    fsw: view.getUint16(OFFSET['kvm_fpu.fsw'], true),
    ftwx: view.getUint8(OFFSET['kvm_fpu.ftwx']),
    xmm: buf.slice(OFFSET['kvm_fpu.xmm'], OFFSET['kvm_fpu.xmm'] + 256),
    mxcsr: view.getUint32(OFFSET['kvm_fpu.mxcsr'], true),
  };
}

const CPUID_FIELDS = ['function', 'index', 'flags', 'eax', 'ebx', 'ecx', 'edx'] as const;

/** A kvm_cpuid2 with room for `capacity` entries, filled with `entries`. */
export function encodeCpuid2(entries: readonly CpuidEntry[], capacity = entries.length): Uint8Array {
  const buf = new Uint8Array(SIZE.kvm_cpuid2 + capacity * SIZE.kvm_cpuid_entry2);
  const view = new DataView(buf.buffer);
  view.setUint32(OFFSET['kvm_cpuid2.nent'], Math.max(capacity, entries.length), true);
  entries.forEach((entry, i) => {
    const at = OFFSET['kvm_cpuid2.entries'] + i * SIZE.kvm_cpuid_entry2;
    for (const field of CPUID_FIELDS) view.setUint32(at + OFFSET[`kvm_cpuid_entry2.${field}`], entry[field] >>> 0, true);
  });
  return buf;
}

export function decodeCpuid2(buf: Uint8Array): CpuidEntry[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const count = view.getUint32(OFFSET['kvm_cpuid2.nent'], true);
  const entries: CpuidEntry[] = [];
  for (let i = 0; i < count; i++) {
    const at = OFFSET['kvm_cpuid2.entries'] + i * SIZE.kvm_cpuid_entry2;
    const entry = {} as CpuidEntry;
    for (const field of CPUID_FIELDS) entry[field] = view.getUint32(at + OFFSET[`kvm_cpuid_entry2.${field}`], true);
    entries.push(entry);
  }
  return entries;
}

export function encodeMsrs(entries: readonly MsrEntry[]): Uint8Array {
  const buf = new Uint8Array(SIZE.kvm_msrs + entries.length * SIZE.kvm_msr_entry);
  const view = new DataView(buf.buffer);
  view.setUint32(OFFSET['kvm_msrs.nmsrs'], entries.length, true);
  entries.forEach((entry, i) => {
    const at = OFFSET['kvm_msrs.entries'] + i * SIZE.kvm_msr_entry;
    view.setUint32(at + OFFSET['kvm_msr_entry.index'], entry.index >>> 0, true);
    view.setBigUint64(at + OFFSET['kvm_msr_entry.data'], BigInt.asUintN(64, entry.data), true);
  });
  return buf;
}

export function decodeMsrs(buf: Uint8Array, count: number): MsrEntry[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const entries: MsrEntry[] = [];
  for (let i = 0; i < count; i++) {
    const at = OFFSET['kvm_msrs.entries'] + i * SIZE.kvm_msr_entry;
    entries.push({ index: view.getUint32(at + OFFSET['kvm_msr_entry.index'], true), data: view.getBigUint64(at + OFFSET['kvm_msr_entry.data'], true) });
  }
  return entries;
}
