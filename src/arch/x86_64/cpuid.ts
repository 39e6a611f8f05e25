/**
 * CPUID policy: starts from the leaves the hypervisor supports and patches in the vCPU's identity and topology
 * (APIC IDs in leaves 1, 0xB, 0x1F, 0x8000001E; core counts in leaf 4), the physical address width, and the
 * hypervisor's TSC frequency leaf 0x40000010 as Cloud Hypervisor does.
 */
import type { CpuidEntry } from '../../hypervisor/x86-types.ts';
import { CPUID_FLAG_SIGNIFICANT_INDEX } from '../../hypervisor/x86-types.ts';
import { apicId, topologyShifts, type CpuTopology } from './topology.ts';

export interface CpuidOptions {
  vcpuIndex: number;
  topology: CpuTopology;
  /** Upper bound on guest physical address bits (Cloud Hypervisor's max_phys_bits, default 46). */
  maxPhysBits: number;
  /** TSC frequency in kHz, for leaf 0x40000010; omitted if unknown. */
  tscKhz?: number;
}

const LEAF1_ECX_HYPERVISOR = 1 << 31;
const LEAF1_EDX_HTT = 1 << 28;
const KVM_SIGNATURE_LEAF = 0x40000000;
const TSC_FREQUENCY_LEAF = 0x40000010;
/** LAPIC timer bus frequency KVM emulates: 1 GHz, in kHz. */
const APIC_BUS_KHZ = 1_000_000;

const LEVEL_TYPE = { INVALID: 0, SMT: 1, CORE: 2, DIE: 5 } as const;

/** Returns the CPUID table for one vCPU. `supported` is not modified. */
export function buildCpuid(supported: readonly CpuidEntry[], options: CpuidOptions): CpuidEntry[] {
  const { topology } = options;
  const id = apicId(options.vcpuIndex, topology);
  const shifts = topologyShifts(topology);
  const threadsPerPackage = topology.threadsPerCore * topology.coresPerDie * topology.diesPerPackage;
  const entries: CpuidEntry[] = [];

  for (const original of supported) {
    const e = { ...original };
    switch (e.function) {
      case 1:
        e.ebx = ((id & 0xff) << 24) | (Math.min(threadsPerPackage, 255) << 16) | (8 << 8) | (e.ebx & 0xff);
        e.ecx |= LEAF1_ECX_HYPERVISOR;
        e.edx = threadsPerPackage > 1 ? e.edx | LEAF1_EDX_HTT : e.edx & ~LEAF1_EDX_HTT;
        break;
      case 4: {
        const cacheType = e.eax & 0x1f;
        if (cacheType !== 0) {
          const coresPerPackage = topology.coresPerDie * topology.diesPerPackage;
          e.eax = (e.eax & 0x03ffffff) | (((Math.min(coresPerPackage, 64) - 1) & 0x3f) << 26);
        }
        break;
      }
      case 0xb:
      case 0x1f:
        patchExtendedTopology(e, id, shifts, topology);
        break;
      case 0x80000008: {
        const hostBits = e.eax & 0xff;
        e.eax = (e.eax & ~0xff) | Math.min(hostBits, options.maxPhysBits);
        break;
      }
      case 0x8000001e:
        e.eax = id;
        e.ebx = (e.ebx & ~0xffff) | (((topology.threadsPerCore - 1) & 0xff) << 8) | ((id >> shifts.core) & 0xff);
        e.ecx = e.ecx & ~0xff;
        break;
      case KVM_SIGNATURE_LEAF:
        if (options.tscKhz !== undefined) e.eax = Math.max(e.eax, TSC_FREQUENCY_LEAF);
        break;
    }
    entries.push(e);
  }
  if (options.tscKhz !== undefined && !entries.some((e) => e.function === TSC_FREQUENCY_LEAF)) {
    entries.push({ function: TSC_FREQUENCY_LEAF, index: 0, flags: 0, eax: options.tscKhz, ebx: APIC_BUS_KHZ, ecx: 0, edx: 0 });
  }
  return entries;
}

function patchExtendedTopology(e: CpuidEntry, id: number, shifts: { core: number; die: number; package: number }, topology: CpuTopology): void {
  e.flags |= CPUID_FLAG_SIGNIFICANT_INDEX;
  e.edx = id;
  const levels: { type: number; shift: number; count: number }[] = [
    { type: LEVEL_TYPE.SMT, shift: shifts.core, count: topology.threadsPerCore },
    { type: LEVEL_TYPE.CORE, shift: shifts.die, count: topology.threadsPerCore * topology.coresPerDie },
  ];
  if (e.function === 0x1f) {
    levels.push({ type: LEVEL_TYPE.DIE, shift: shifts.package, count: topology.threadsPerCore * topology.coresPerDie * topology.diesPerPackage });
  }
  const level = levels[e.index];
  if (level) {
    e.eax = level.shift;
    e.ebx = level.count & 0xffff;
    e.ecx = (level.type << 8) | e.index;
  } else {
    e.eax = 0;
    e.ebx = 0;
    e.ecx = e.index;
  }
}
