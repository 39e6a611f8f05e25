/** The API load benchmark against a server with a fake VMM: it counts answers and failures and orders percentiles. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiServer } from '../src/api/api-server.ts';
import { silentLogger } from '../src/util/logger.ts';
import type { VmmAction } from '../src/vmm/actions.ts';
import { defaultVmConfig } from '../src/vmm/config/defaults.ts';
import { runApiLoad } from './api-load.ts';

test('concurrent clients issue vm.info and vmm.ping for the given time', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-api-load-'));
  const socketPath = join(dir, 'api.sock');
  const seen = new Set<string>();
  const control = {
    handle: async (action: VmmAction) => {
      seen.add(action.kind);
      return action.kind === 'vm.info'
        ? { body: { config: defaultVmConfig({ kernel: '/k' }), state: 'Running' } }
        : { body: { version: '0.1.0' } };
    },
  };
  const server = await ApiServer.start({ socket: { path: socketPath }, control, logger: silentLogger });
  try {
    const result = await runApiLoad({ socketPath, clients: 4, durationSeconds: 0.3 });
    assert.equal(result.errors, 0);
    assert.ok(result.requests >= 8, `${result.requests} requests`);
    assert.ok(result.p50 > 0 && result.p50 <= result.p99);
    assert.deepEqual([...seen].sort(), ['vm.info', 'vmm.ping']);
  } finally {
    await server.stop();
  }
  const dead = await runApiLoad({ socketPath, clients: 2, durationSeconds: 0.05 });
  assert.equal(dead.requests, 0);
  assert.ok(dead.errors > 0);
  assert.ok(Number.isNaN(dead.p50));
  rmSync(dir, { recursive: true, force: true });
});
