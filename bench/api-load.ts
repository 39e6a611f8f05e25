/**
 * API load benchmark: N concurrent clients, each on its own keep-alive connection, issue `vm.info` and `vmm.ping`
 * alternately against an API socket for D seconds; reports the requests answered, the failures (transport errors
 * and non-2xx answers) and the 50th/99th percentile latency in milliseconds.
 */
import { ApiClient } from '../test/helpers/api-client.ts';

export interface ApiLoadOptions {
  socketPath: string;
  clients: number;
  durationSeconds: number;
}

export interface ApiLoadResult {
  /** Requests answered with 2xx. */
  requests: number;
  /** Requests that failed or were answered otherwise. */
  errors: number;
  /** Latency percentiles of the answered requests, in milliseconds. */
  p50: number;
  p99: number;
}

/** After a failed request, wait this long before reconnecting (no busy loop against a dead socket). */
const FAILURE_PAUSE_MS = 10;

const ENDPOINTS = [
  ['GET', 'vm.info'],
  ['GET', 'vmm.ping'],
] as const;

export async function runApiLoad(options: ApiLoadOptions): Promise<ApiLoadResult> {
  if (options.clients < 1 || options.durationSeconds <= 0) throw new RangeError('need at least one client and a positive duration');
  const deadline = performance.now() + options.durationSeconds * 1000;
  const latencies: number[] = [];
  let errors = 0;

  const runClient = async (index: number): Promise<void> => {
    let client: ApiClient | undefined;
    for (let turn = index; performance.now() < deadline; turn++) {
      const [method, endpoint] = ENDPOINTS[turn % ENDPOINTS.length]!;
      const start = performance.now();
      try {
        client ??= ApiClient.connect(options.socketPath);
        const response = await client.request(method, endpoint);
        if (response.status >= 200 && response.status < 300) latencies.push(performance.now() - start);
        else errors++;
      } catch {
        errors++;
        client?.close();
        client = undefined;
        await new Promise((resolve) => setTimeout(resolve, FAILURE_PAUSE_MS));
      }
    }
    client?.close();
  };
  await Promise.all(Array.from({ length: options.clients }, (_, index) => runClient(index)));
  latencies.sort((a, b) => a - b);
  return { requests: latencies.length, errors, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) };
}

/** The value below which `fraction` of the sorted values lie (nearest rank); NaN for none. */
function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
}
