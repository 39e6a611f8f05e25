/**
 * CPU topology (threads per core, cores per die, dies per package, packages) and the x2APIC IDs it implies, as
 * Cloud Hypervisor computes them: each level's field is as wide as the next power of two of its count.
 */
import { NimbusError } from '../../errors/nimbus-error.ts';

export class TopologyError extends NimbusError {}

export interface CpuTopology {
  threadsPerCore: number;
  coresPerDie: number;
  diesPerPackage: number;
  packages: number;
}

/** Cloud Hypervisor's default: one package, one die, `maxVcpus` single-threaded cores. */
export function defaultTopology(maxVcpus: number): CpuTopology {
  return { threadsPerCore: 1, coresPerDie: maxVcpus, diesPerPackage: 1, packages: 1 };
}

export function validateTopology(topology: CpuTopology, maxVcpus: number): void {
  const { threadsPerCore, coresPerDie, diesPerPackage, packages } = topology;
  for (const [name, value] of Object.entries(topology)) {
    if (!Number.isInteger(value) || value < 1 || value > 255) throw new TopologyError('INVALID', `--cpus topology: ${name} must be 1..255, got ${value}`);
  }
  const product = threadsPerCore * coresPerDie * diesPerPackage * packages;
  if (product !== maxVcpus) {
    throw new TopologyError('MISMATCH', `--cpus topology ${threadsPerCore}:${coresPerDie}:${diesPerPackage}:${packages} describes ${product} vCPUs but max is ${maxVcpus}`);
  }
}

/** Number of bits needed to hold values 0..count-1. */
export function fieldWidth(count: number): number {
  return count <= 1 ? 0 : Math.ceil(Math.log2(count));
}

export interface TopologyShifts {
  /** Bits below the core field (thread id width). */
  core: number;
  /** Bits below the die field. */
  die: number;
  /** Bits below the package field. */
  package: number;
}

export function topologyShifts(topology: CpuTopology): TopologyShifts {
  const core = fieldWidth(topology.threadsPerCore);
  const die = core + fieldWidth(topology.coresPerDie);
  return { core, die, package: die + fieldWidth(topology.diesPerPackage) };
}

/** The x2APIC ID of vCPU `index` (0-based) under `topology`. */
export function apicId(index: number, topology: CpuTopology): number {
  const shifts = topologyShifts(topology);
  const thread = index % topology.threadsPerCore;
  const core = Math.floor(index / topology.threadsPerCore) % topology.coresPerDie;
  const die = Math.floor(index / (topology.threadsPerCore * topology.coresPerDie)) % topology.diesPerPackage;
  const pkg = Math.floor(index / (topology.threadsPerCore * topology.coresPerDie * topology.diesPerPackage));
  return (pkg << shifts.package) | (die << shifts.die) | (core << shifts.core) | thread;
}
