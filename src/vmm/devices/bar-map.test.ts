/** Tests of the shared BAR map: placement, guest moves, lookups, and a lookup racing a writer in another thread. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { BarMap, type BarWindows } from './bar-map.ts';

const MiB = 1 << 20;
const WINDOWS: BarWindows = {
  mmio32: { base: 0xc000_0000, size: 640 * MiB },
  mmio64: { base: 0x1_0000_0000, size: 0x10_0000_0000 },
};
const BAR_SIZE = 0x8_0000;
const ALIGNMENT = 0x80_0000;

function move(oldAddress: number, newAddress: number): { index: number; kind: 'memory64'; size: number; oldAddress: number; newAddress: number } {
  return { index: 0, kind: 'memory64', size: BAR_SIZE, oldAddress, newAddress };
}

test('BARs are placed top-down in their window, aligned, and found by address', () => {
  const map = new BarMap(BarMap.create(4, WINDOWS), 'spin');
  const top = WINDOWS.mmio64.base + WINDOWS.mmio64.size;
  const first = map.allocate(0, 'memory64', BAR_SIZE, ALIGNMENT);
  const second = map.allocate(1, 'memory64', BAR_SIZE, ALIGNMENT);
  const low = map.allocate(2, 'memory32', 0x1000);
  assert.equal(first, top - ALIGNMENT);
  assert.equal(second, top - 2 * ALIGNMENT);
  assert.equal(low, WINDOWS.mmio32.base + WINDOWS.mmio32.size - 0x1000);
  assert.deepEqual(map.lookup(first + 0x6000), { device: 0, offset: 0x6000 });
  assert.deepEqual(map.lookup(second + BAR_SIZE - 1), { device: 1, offset: BAR_SIZE - 1 });
  assert.deepEqual(map.lookup(low), { device: 2, offset: 0 });
  assert.equal(map.lookup(first + BAR_SIZE), undefined, 'past the end of the BAR');
  assert.equal(map.lookup(0x1000), undefined);
  assert.deepEqual(map.barOf(1), { address: second, size: BAR_SIZE });
  assert.equal(map.barOf(3), undefined);
  assert.throws(() => map.allocate(0, 'memory64', BAR_SIZE), { code: 'BAR_IN_USE' });
  assert.throws(() => map.allocate(4, 'memory64', BAR_SIZE), { code: 'SLOT_INVALID' });
});

test('a guest move is accepted into free space of either window and refused onto another BAR or outside', () => {
  const map = new BarMap(BarMap.create(2, WINDOWS), 'spin');
  const a = map.allocate(0, 'memory64', BAR_SIZE, ALIGNMENT);
  const b = map.allocate(1, 'memory64', BAR_SIZE, ALIGNMENT);
  assert.equal(map.relocate(0, move(a, b)), false, 'onto device 1');
  assert.equal(map.relocate(0, move(a, 0x2000_0000)), false, 'outside both windows');
  assert.equal(map.relocate(0, move(b, 0x1_0000_0000)), false, 'the old address is not device 0s');
  assert.deepEqual(map.lookup(a), { device: 0, offset: 0 });

  assert.equal(map.relocate(0, move(a, 0xc008_0000)), true, 'into the 32-bit window');
  assert.equal(map.lookup(a), undefined);
  assert.deepEqual(map.lookup(0xc008_0004), { device: 0, offset: 4 });
  assert.equal(map.relocate(1, move(b, a)), true, 'into the place device 0 left');
  assert.deepEqual(map.lookup(a + 8), { device: 1, offset: 8 });
});

test('other threads see a consistent map: a lookup never sees half of a move', async () => {
  const data = BarMap.create(1, WINDOWS);
  const map = new BarMap(data, 'spin');
  const a = map.allocate(0, 'memory64', BAR_SIZE, ALIGNMENT);
  // Two places whose halves differ: a torn read would see an address from one and the other's upper half.
  const b = 0x8_0008_0000;
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.module).then(({ BarMap }) => {
      const map = new BarMap(workerData.data, 'wait');
      let torn = 0;
      let seen = 0;
      while (seen < 2000) {
        const bar = map.barOf(0);
        if (bar.address !== workerData.a && bar.address !== workerData.b) torn++;
        seen++;
      }
      parentPort.postMessage(torn);
    });
  `;
  const worker = new Worker(source, { eval: true, workerData: { module: new URL('./bar-map.js', import.meta.url).href, data, a, b } });
  const torn = new Promise<number>((resolve) => worker.once('message', resolve));
  let done = false;
  void torn.then(() => (done = true));
  for (let flips = 0; !done; flips++) {
    const [from, to] = flips % 2 === 0 ? [a, b] : [b, a];
    assert.equal(map.relocate(0, move(from, to)), true);
    if (flips % 64 === 63) await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(await torn, 0);
});
