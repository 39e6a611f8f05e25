/**
 * `npm run bench`: runs the benchmarks and prints each as Nimbus vs a peer measured in the same run (a C baseline or
 * QEMU), with the ratio. On PVM machines absolute figures are inflated (every exit and CPL0 instruction is costlier);
 * the ratios are what to compare.
 */
import { apiLoadOnRunningVm } from './api-running-vm.ts';
import { bootBenchmarks } from './boot.ts';
import { exitRoundTripBench } from './exit-roundtrip.ts';
import { formatResult, type BenchResult } from './stats.ts';

const results: BenchResult[] = [
  ...(await bootBenchmarks({ runs: 10, memoryMiB: 256, vcpus: 1 })),
  exitRoundTripBench({ runs: 5, iterations: 50_000, buildDir: 'build/bench' }),
];
for (const r of results) console.log(formatResult(r));

const clients = 50;
const seconds = 30;
const load = await apiLoadOnRunningVm({ clients, durationSeconds: seconds });
console.log(`API load (${clients} clients, vm.info/vmm.ping for ${seconds} s, running 2-vCPU VM)`);
console.log(`  ${load.requests} requests (${Math.round(load.requests / seconds)}/s), ${load.errors} errors, p50 ${load.p50.toFixed(2)} ms, p99 ${load.p99.toFixed(2)} ms (goal: no errors)`);
