/** Topology validation and APIC ID composition. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apicId, defaultTopology, fieldWidth, topologyShifts, validateTopology } from './topology.ts';

test('default topology gives APIC ID = vCPU index', () => {
  const topology = defaultTopology(6);
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => apicId(i, topology)), [0, 1, 2, 3, 4, 5]);
});

test('threads and packages are packed into power-of-two fields', () => {
  // 2 threads x 3 cores x 1 die x 2 packages: thread 1 bit, core 2 bits, package at bit 3.
  const topology = { threadsPerCore: 2, coresPerDie: 3, diesPerPackage: 1, packages: 2 };
  assert.deepEqual(topologyShifts(topology), { core: 1, die: 3, package: 3 });
  const ids = Array.from({ length: 12 }, (_, i) => apicId(i, topology));
  assert.deepEqual(ids, [0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13]);
  assert.deepEqual([fieldWidth(1), fieldWidth(2), fieldWidth(3), fieldWidth(4), fieldWidth(5)], [0, 1, 2, 2, 3]);
});

test('a topology must describe exactly max vCPUs', () => {
  assert.throws(() => validateTopology({ threadsPerCore: 2, coresPerDie: 2, diesPerPackage: 1, packages: 1 }, 6), {
    code: 'MISMATCH',
    message: /describes 4 vCPUs but max is 6/,
  });
  assert.throws(() => validateTopology({ threadsPerCore: 0, coresPerDie: 2, diesPerPackage: 1, packages: 1 }, 0), { code: 'INVALID' });
  validateTopology({ threadsPerCore: 2, coresPerDie: 2, diesPerPackage: 1, packages: 1 }, 4);
});
