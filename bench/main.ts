/**
 * `npm run bench`: runs the benchmarks and prints each as Nimbus vs a peer measured in the same run (a C baseline or
 * QEMU), with the ratio. On PVM machines absolute figures are inflated (every exit and CPL0 instruction is costlier);
 * the ratios are what to compare.
 */
import { bootBenchmarks } from './boot.ts';
import { exitRoundTripBench } from './exit-roundtrip.ts';
import { formatResult, type BenchResult } from './stats.ts';

const results: BenchResult[] = [
  ...(await bootBenchmarks({ runs: 10, memoryMiB: 256, vcpus: 1 })),
  exitRoundTripBench({ runs: 5, iterations: 50_000, buildDir: 'build/bench' }),
];
for (const r of results) console.log(formatResult(r));
