/**
 * Exit round-trip benchmark: a guest executes `out 0x90, al` N times; each exit is handled by Nimbus's vCPU loop
 * (KvmVcpu.run -> runVcpuLoop -> Bus -> device) and compared with bench/c/exit-loop.c doing the same with raw ioctls.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createTinyVm } from '../test/helpers/tiny-vm.ts';
import { Bus } from '../src/bus/bus.ts';
import { runVcpuLoop } from '../src/vstate/vcpu-loop.ts';
import { VcpuControl } from '../src/vstate/vcpu-control.ts';
import { median, type BenchResult } from './stats.ts';

/** Nanoseconds per exit through Nimbus's TypeScript vCPU loop. */
export function nimbusExitCost(iterations: number): number {
  const code = new Uint8Array([0xb9, 0, 0, 0, 0, 0xe6, 0x90, 0xff, 0xc9, 0x75, 0xfa, 0x0f, 0x0b]);
  new DataView(code.buffer).setUint32(1, iterations, true);
  const { vcpu, dispose } = createTinyVm(code);
  try {
    let exits = 0;
    const pio = new Bus('pio');
    pio.insert(0x90, 1, 'sink', { read: () => {}, write: () => void exits++ });
    const start = process.hrtime.bigint();
    const reason = runVcpuLoop({ vcpu, control: new VcpuControl(), pio, mmio: new Bus('mmio'), pendingStop: () => undefined });
    const elapsed = Number(process.hrtime.bigint() - start);
    if (reason.kind !== 'triple-fault' || exits !== iterations) throw new Error(`exit benchmark ended with ${reason.kind} after ${exits} exits`);
    return elapsed / exits;
  } finally {
    dispose();
  }
}

/** Nanoseconds per exit in the C baseline (compiled on first use). */
export function cExitCost(iterations: number, buildDir: string): number {
  mkdirSync(buildDir, { recursive: true });
  const binary = join(buildDir, 'exit-loop');
  execFileSync('gcc', ['-O2', '-o', binary, 'bench/c/exit-loop.c']);
  return Number(execFileSync(binary, [String(iterations)], { encoding: 'utf8' }).trim());
}

export function exitRoundTripBench(options: { runs: number; iterations: number; buildDir: string }): BenchResult {
  const nimbus: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < options.runs; i++) {
    baseline.push(cExitCost(options.iterations, options.buildDir));
    nimbus.push(nimbusExitCost(options.iterations));
  }
  return {
    name: 'exit round trip (port write, handled in TypeScript vs C)',
    unit: 'us/exit',
    nimbus: median(nimbus) / 1000,
    peer: median(baseline) / 1000,
    peerName: 'C KVM_RUN loop',
    goal: 'ratio <= 1.1',
  };
}
