/**
 * epoll and the thread kick across real threads: a Worker blocked in epoll_wait wakes for a readable eventfd, and a
 * kick (the real-time signal) makes a blocked epoll_wait return 0 so the thread can look at its mailbox.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { EventFd } from './eventfd.ts';
import { packageRoot } from './package-root.ts';
import { kickThread } from './thread-kick.ts';

// A worker that installs the kick handler, reports its thread id, then waits once on `fd` and reports what it saw.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const addon = require(workerData.addon);
addon.installKickHandler();
const epfd = addon.epollCreate();
addon.epollCtl(epfd, 1 /* ADD */, workerData.fd, 1 /* EPOLLIN */, 42);
parentPort.postMessage({ thread: addon.threadSelf() });
const out = new Uint32Array(8);
const n = addon.epollWait(epfd, out, 10000);
parentPort.postMessage({ n, events: out[0], data: out[1] });
addon.close(epfd);
`;

function startWaiter(fd: number): { exited: Promise<unknown>; thread: Promise<number>; result: Promise<{ n: number; events: number; data: number }> } {
  const addon = join(packageRoot(), 'native', 'build', 'Release', 'nimbus_native.node');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { addon, fd } });
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  const messages: unknown[] = [];
  const waiters: ((m: unknown) => void)[] = [];
  worker.on('message', (m) => (waiters.length ? waiters.shift()!(m) : messages.push(m)));
  const next = <T>(): Promise<T> => new Promise((resolve) => (messages.length ? resolve(messages.shift() as T) : waiters.push(resolve as (m: unknown) => void)));
  const thread = next<{ thread: number }>().then((m) => m.thread);
  return { exited, thread, result: thread.then(() => next<{ n: number; events: number; data: number }>()) };
}

test('a worker blocked in epoll_wait wakes when its eventfd is written, with the registered data', async () => {
  const eventfd = new EventFd();
  try {
    const { thread, result } = startWaiter(eventfd.fd);
    await thread;
    eventfd.write(1);
    assert.deepEqual(await result, { n: 1, events: 1, data: 42 });
  } finally {
    eventfd.close();
  }
});

test('a kick interrupts a blocked epoll_wait (EINTR reported as 0 events); a dead thread is reported', async () => {
  const idle = new EventFd();
  try {
    const { exited, thread, result } = startWaiter(idle.fd);
    const tid = await thread;
    // The worker may not have entered epoll_wait yet: kick until it reports back.
    let outcome: { n: number } | undefined;
    void result.then((r) => (outcome = r));
    for (let i = 0; i < 200 && !outcome; i++) {
      assert.equal(kickThread(tid), true);
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.deepEqual(await result, { n: 0, events: 0, data: 0 });
    await exited;
    assert.equal(kickThread(tid), false, 'kicking an exited thread is reported, not undefined behaviour');
  } finally {
    idle.close();
  }
});
