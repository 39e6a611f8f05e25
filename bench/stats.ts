/** Shared helpers for benchmarks: medians and the result record every benchmark prints. */

export interface BenchResult {
  name: string;
  unit: string;
  nimbus: number;
  peer: number;
  peerName: string;
  goal: string;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function formatResult(r: BenchResult): string {
  const ratio = r.nimbus / r.peer;
  return `${r.name}\n  nimbus ${r.nimbus.toFixed(2)} ${r.unit}, ${r.peerName} ${r.peer.toFixed(2)} ${r.unit}, ratio ${ratio.toFixed(3)} (goal: ${r.goal})`;
}
