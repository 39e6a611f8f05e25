/** Tests of the shared device lock: single-thread rules, timeouts, and mutual exclusion across real Workers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { DeviceError } from './device-error.ts';
import { LockedDevice, SharedLock } from './shared-lock.ts';
import type { BusDevice } from '../bus/bus.ts';

/** URL of a sibling module, compiled (.js) or not (.ts) like this file. */
function sibling(name: string): string {
  return new URL(`./${name}${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href;
}

function isDeviceError(code: string) {
  return (error: unknown) => error instanceof DeviceError && error.code === code;
}

test('a lock is taken and released; re-entering it on the same thread is LOCK_REENTERED', () => {
  const buffer = new SharedArrayBuffer(SharedLock.BYTES);
  const lock = new SharedLock(buffer, 'spin');
  lock.acquire();
  assert.equal(new Int32Array(buffer)[0], 1);
  assert.throws(() => lock.acquire(), isDeviceError('LOCK_REENTERED'));
  lock.release();
  assert.equal(new Int32Array(buffer)[0], 0);
  lock.acquire();
  lock.release();
});

test('a lock held elsewhere past the timeout is LOCK_TIMEOUT in both modes', () => {
  const buffer = new SharedArrayBuffer(SharedLock.BYTES);
  const holder = new SharedLock(buffer, 'wait');
  holder.acquire();
  for (const mode of ['spin', 'wait'] as const) {
    const contender = new SharedLock(buffer, mode, { timeoutMs: 20 });
    assert.throws(() => contender.acquire(), isDeviceError('LOCK_TIMEOUT'), mode);
  }
  holder.release();
  const contender = new SharedLock(buffer, 'wait', { timeoutMs: 20 });
  contender.acquire();
  contender.release();
});

test('a lock needs a SharedArrayBuffer of SharedLock.BYTES', () => {
  assert.throws(() => new SharedLock(new SharedArrayBuffer(2), 'spin'), isDeviceError('BAD_STATE_BUFFER'));
  assert.throws(() => new SharedLock(new ArrayBuffer(4) as unknown as SharedArrayBuffer, 'spin'), isDeviceError('BAD_STATE_BUFFER'));
});

test('LockedDevice runs accesses under the lock and releases it when the device throws', () => {
  const buffer = new SharedArrayBuffer(SharedLock.BYTES);
  const word = new Int32Array(buffer);
  const seen: number[] = [];
  const device: BusDevice = {
    read: (offset, data) => {
      seen.push(word[0]!);
      data[0] = offset;
    },
    write: () => {
      throw new Error('device failure');
    },
  };
  const locked = new LockedDevice(new SharedLock(buffer, 'spin'), device);
  const data = new Uint8Array(1);
  locked.read(7, data);
  assert.equal(data[0], 7);
  assert.throws(() => locked.write(0, data), /device failure/);
  assert.equal(word[0], 0);
  assert.equal(locked.locked(() => word[0]), 1);
  assert.equal(word[0], 0);
});

test('Workers sleeping in Atomics.wait and a spinning main thread exclude each other', async () => {
  const lockBuffer = new SharedArrayBuffer(SharedLock.BYTES);
  const counterBuffer = new SharedArrayBuffer(8); // [0] counter, [1] start flag
  const counter = new Int32Array(counterBuffer);
  const rounds = 1500;
  const workers = 3;
  // Each thread does non-atomic read-modify-write increments with a delay inside; any overlap loses updates.
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    import(workerData.module).then(({ SharedLock }) => {
      const lock = new SharedLock(workerData.lock, 'wait');
      const shared = new Int32Array(workerData.counter);
      parentPort.postMessage('ready');
      Atomics.wait(shared, 1, 0);
      for (let i = 0; i < workerData.rounds; i++) {
        lock.acquire();
        const value = shared[0];
        for (let spin = 0; spin < 200; spin++) shared[0] = value + (spin & 1);
        shared[0] = value + 1;
        lock.release();
      }
      parentPort.postMessage('done');
    });`;
  const started = Array.from({ length: workers }, () => {
    const worker = new Worker(code, {
      eval: true,
      workerData: { module: sibling('shared-lock'), lock: lockBuffer, counter: counterBuffer, rounds },
    });
    return { worker, ready: once(worker, 'message'), exit: once(worker, 'exit') };
  });
  await Promise.all(started.map((w) => w.ready));
  Atomics.store(counter, 1, 1);
  Atomics.notify(counter, 1);
  const lock = new SharedLock(lockBuffer, 'spin');
  for (let i = 0; i < rounds; i++) {
    lock.acquire();
    const value = counter[0]!;
    for (let spin = 0; spin < 200; spin++) counter[0] = value + (spin & 1);
    counter[0] = value + 1;
    lock.release();
  }
  const exits = await Promise.all(started.map((w) => w.exit));
  assert.deepEqual(exits, started.map(() => [0]));
  assert.equal(counter[0], rounds * (workers + 1));
  assert.equal(new Int32Array(lockBuffer)[0], 0);
});
