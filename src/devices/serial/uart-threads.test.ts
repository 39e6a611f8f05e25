/**
 * The UART shared between threads as the VMM runs it: vCPU Workers read the receive FIFO through their own locked
 * instances while the main thread feeds input through its own, waiting for FIFO space when it is full.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { CountingInterruptLine } from '../../../test/helpers/fakes.ts';
import { CollectingSink } from '../../../test/helpers/device-fakes.ts';
import { LockedDevice, SharedLock } from '../shared-lock.ts';
import { Uart16550 } from './uart-16550.ts';

function sibling(name: string): string {
  return new URL(`./${name}${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href;
}

test('every input byte reaches exactly one reader when Workers drain the FIFO the main thread fills', async () => {
  const state = new SharedArrayBuffer(Uart16550.STATE_BYTES);
  const lockBuffer = new SharedArrayBuffer(SharedLock.BYTES);
  const progress = new SharedArrayBuffer(4); // bytes consumed so far by all readers
  Uart16550.powerOn(state);
  const total = 3000;
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    Promise.all([import(workerData.uart), import(workerData.lock)]).then(([{ Uart16550 }, { SharedLock, LockedDevice }]) => {
      const sink = { write() { throw new Error('no output expected'); } };
      const uart = new LockedDevice(new SharedLock(workerData.lockBuffer, 'wait'),
        new Uart16550(workerData.state, { trigger() {} }, sink));
      const consumed = new Int32Array(workerData.progress);
      const data = new Uint8Array(1);
      const received = [];
      while (Atomics.load(consumed, 0) < workerData.total) {
        const byte = uart.locked((device) => {
          device.read(5, data);
          if ((data[0] & 1) === 0) return -1;
          device.read(0, data);
          return data[0];
        });
        if (byte < 0) Atomics.wait(consumed, 0, Atomics.load(consumed, 0), 1);
        else { received.push(byte); Atomics.add(consumed, 0, 1); }
      }
      parentPort.postMessage(received);
    });`;
  const readers = Array.from({ length: 2 }, () => {
    const worker = new Worker(code, {
      eval: true,
      workerData: { uart: sibling('uart-16550'), lock: sibling('../shared-lock'), state, lockBuffer, progress, total },
    });
    return { received: once(worker, 'message'), exit: once(worker, 'exit') };
  });

  const mainUart = new Uart16550(state, new CountingInterruptLine(), new CollectingSink());
  const main = new LockedDevice(new SharedLock(lockBuffer, 'spin'), mainUart);
  const input = Uint8Array.from({ length: total }, (_, i) => i % 251);
  let sent = 0;
  while (sent < total) {
    const accepted = main.locked((uart) => uart.enqueueInput(input.subarray(sent)));
    sent += accepted;
    if (sent < total) await mainUart.waitForInputSpace();
  }

  const results = await Promise.all(readers.map((r) => r.received));
  await Promise.all(readers.map((r) => r.exit));
  const received = results.flatMap(([bytes]) => bytes as number[]);
  const histogram = (values: Iterable<number>) => {
    const counts = new Array<number>(256).fill(0);
    for (const value of values) counts[value]!++;
    return counts;
  };
  assert.equal(received.length, total);
  assert.deepEqual(histogram(received), histogram(input));
  assert.equal(mainUart.inputSpace(), 64);
});
