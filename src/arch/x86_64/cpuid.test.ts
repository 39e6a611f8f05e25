/** The CPUID policy patches identity and topology into the supported leaves. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CpuidEntry } from '../../hypervisor/x86-types.ts';
import { buildCpuid } from './cpuid.ts';

const leaf = (fn: number, index: number, regs: Partial<CpuidEntry> = {}): CpuidEntry => ({ function: fn, index, flags: 0, eax: 0, ebx: 0, ecx: 0, edx: 0, ...regs });

const supported: CpuidEntry[] = [
  leaf(1, 0, { eax: 0x830f10, ebx: 0x00000800, ecx: 0x01202000, edx: 0x178bfbff }),
  leaf(4, 0, { eax: 0x121 }),
  leaf(4, 1, { eax: 0x122 }),
  leaf(4, 2, { eax: 0 }),
  leaf(0xb, 0),
  leaf(0xb, 1),
  leaf(0xb, 2),
  leaf(0x40000000, 0, { eax: 0x40000001 }),
  leaf(0x80000008, 0, { eax: 0x3030 }),
];

function find(entries: CpuidEntry[], fn: number, index = 0): CpuidEntry {
  const e = entries.find((x) => x.function === fn && x.index === index);
  assert.ok(e, `leaf 0x${fn.toString(16)}.${index}`);
  return e;
}

test('leaf 1 carries the APIC ID, logical count, hypervisor bit and HTT', () => {
  const topology = { threadsPerCore: 2, coresPerDie: 2, diesPerPackage: 1, packages: 1 };
  const entries = buildCpuid(supported, { vcpuIndex: 3, topology, maxPhysBits: 46 });
  const l1 = find(entries, 1);
  assert.equal(l1.ebx >>> 24, 3);
  assert.equal((l1.ebx >> 16) & 0xff, 4);
  assert.equal((l1.ebx >> 8) & 0xff, 8, 'CLFLUSH line size in quadwords');
  assert.equal(l1.ecx >>> 31, 1);
  assert.equal((l1.edx >>> 28) & 1, 1);
  const single = find(buildCpuid(supported, { vcpuIndex: 0, topology: { threadsPerCore: 1, coresPerDie: 1, diesPerPackage: 1, packages: 1 }, maxPhysBits: 46 }), 1);
  assert.equal((single.edx >>> 28) & 1, 0, 'no HTT with one logical CPU');
  assert.deepEqual(supported[0], leaf(1, 0, { eax: 0x830f10, ebx: 0x00000800, ecx: 0x01202000, edx: 0x178bfbff }), 'input not modified');
});

test('leaf 0xB describes SMT and core levels with the x2APIC ID', () => {
  const topology = { threadsPerCore: 2, coresPerDie: 3, diesPerPackage: 1, packages: 1 };
  const entries = buildCpuid(supported, { vcpuIndex: 5, topology, maxPhysBits: 46 });
  const smt = find(entries, 0xb, 0);
  const core = find(entries, 0xb, 1);
  const end = find(entries, 0xb, 2);
  assert.deepEqual([smt.eax, smt.ebx, smt.ecx >> 8, smt.edx], [1, 2, 1, 5]);
  assert.deepEqual([core.eax, core.ebx, core.ecx >> 8, core.edx], [3, 6, 2, 5]);
  assert.deepEqual([end.eax, end.ebx, end.ecx >> 8], [0, 0, 0]);
  assert.equal(smt.flags & 1, 1, 'sub-leaf index is significant');
});

test('leaf 4 core count, physical address width and the TSC frequency leaf', () => {
  const topology = { threadsPerCore: 1, coresPerDie: 4, diesPerPackage: 1, packages: 1 };
  const entries = buildCpuid(supported, { vcpuIndex: 0, topology, maxPhysBits: 40, tscKhz: 2_596_098 });
  assert.equal(find(entries, 4, 0).eax >>> 26, 3);
  assert.equal(find(entries, 4, 2).eax, 0, 'the null cache leaf stays null');
  assert.equal(find(entries, 0x80000008).eax & 0xff, 40, 'capped at max_phys_bits');
  assert.equal(find(entries, 0x40000000).eax, 0x40000010);
  assert.deepEqual([find(entries, 0x40000010).eax, find(entries, 0x40000010).ebx], [2_596_098, 1_000_000]);
  const uncapped = buildCpuid(supported, { vcpuIndex: 0, topology, maxPhysBits: 52 });
  assert.equal(find(uncapped, 0x80000008).eax & 0xff, 0x30, 'host width kept when below the cap');
  assert.ok(!uncapped.some((e) => e.function === 0x40000010), 'no TSC leaf without a frequency');
});
