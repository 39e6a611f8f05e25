/** Boot vCPU state for PVH and the Linux 64-bit protocol, and the tables the host writes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../../memory/guest-memory.ts';
import { FakeVcpu } from '../../hypervisor/fake/fake-hypervisor.ts';
import { BOOT_TABLES, configureLint, GDT, linux64BootState, pvhBootState, segmentFromDescriptor, writeDescriptorTables, writeIdentityPageTables } from './boot-cpu.ts';

test('GDT descriptors decode to flat segments', () => {
  const code64 = segmentFromDescriptor(GDT.entries[2]!, GDT.code64);
  assert.deepEqual([code64.l, code64.db, code64.type, code64.limit, code64.present, code64.s], [1, 0, 11, 0xffffffff, 1, 1]);
  const code32 = segmentFromDescriptor(GDT.entries[1]!, GDT.code32);
  assert.deepEqual([code32.l, code32.db], [0, 1]);
  const tss = segmentFromDescriptor(GDT.entries[4]!, GDT.tss);
  assert.deepEqual([tss.type, tss.s, tss.limit, tss.g], [11, 0, 0x67, 0]);
});

test('PVH state: protected mode, paging off, EBX = start info, CS = 32-bit code', () => {
  const { regs, sregs } = pvhBootState(new FakeVcpu(0).getSpecialRegisters(), 0x1000000, 0x6000);
  assert.equal(regs.rip, 0x1000000n);
  assert.equal(regs.rbx, 0x6000n);
  assert.equal(regs.rflags, 2n);
  assert.equal(sregs.cr0 & 0x80000001n, 1n);
  assert.deepEqual([sregs.cr4, sregs.efer], [0n, 0n]);
  assert.deepEqual([sregs.cs.selector, sregs.cs.db, sregs.ds.selector, sregs.tr.selector], [0x08, 1, 0x18, 0x20]);
});

test('Linux 64-bit state: long mode on the identity map, RSI = boot_params, __BOOT_CS/__BOOT_DS', () => {
  const { regs, sregs } = linux64BootState(new FakeVcpu(0).getSpecialRegisters(), 0x1000200, 0x7000);
  assert.deepEqual([regs.rip, regs.rsi], [0x1000200n, 0x7000n]);
  assert.equal(sregs.cr0 >> 31n, 1n);
  assert.equal(sregs.cr3, BigInt(BOOT_TABLES.pml4));
  assert.equal(sregs.efer, 0x500n);
  assert.deepEqual([sregs.cs.selector, sregs.cs.l, sregs.ss.selector], [0x10, 1, 0x18]);
});

test('identity page tables map 4 GiB with 2 MiB pages; the GDT lands at 0x500', () => {
  const memory = GuestMemory.anonymous([{ guestBase: 0, size: 1 << 20 }]);
  writeIdentityPageTables(memory);
  writeDescriptorTables(memory);
  assert.equal(memory.readU64(BOOT_TABLES.pml4), BigInt(BOOT_TABLES.pdpt) | 3n);
  const pd3 = BOOT_TABLES.pd + 3 * 0x1000;
  assert.equal(memory.readU64(BOOT_TABLES.pdpt + 3 * 8), BigInt(pd3) | 3n);
  assert.equal(memory.readU64(pd3 + 511 * 8), 0xffe00000n | 0x83n, 'last 2 MiB page below 4 GiB');
  assert.equal(memory.readU64(BOOT_TABLES.gdt + 16), GDT.entries[2]);
});

test('LINT0 becomes ExtINT and LINT1 NMI, other LVT bits kept', () => {
  const lapic = new Uint8Array(1024);
  const view = new DataView(lapic.buffer);
  view.setUint32(0x350, 0x10000, true); // masked
  configureLint(lapic);
  assert.equal(view.getUint32(0x350, true), 0x10700);
  assert.equal(view.getUint32(0x360, true), 0x400);
});
