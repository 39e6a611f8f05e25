/**
 * Tests of the device mailbox across real threads: vCPU-side clients in Workers (and a spinning main thread)
 * forward accesses to an owner Worker that answers them; concurrent clients are serialised; closing the mailbox
 * releases a client whose owner never answers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { ACCESS_KIND, MAILBOX_MAX_ACCESS_BYTES, MailboxClient, MailboxControl, MailboxServer, createMailbox, type Doorbell } from './device-mailbox.ts';

const MODULE = new URL('./device-mailbox.js', import.meta.url).href;

/**
 * An owner that waits on a doorbell word and answers: reads return offset + i in byte i (plus the kind in the top
 * bit of byte 0), writes are summed into a shared total. Stops when the mailbox asks it to.
 */
const OWNER_SOURCE = `
const { workerData } = require('node:worker_threads');
import(workerData.module).then(({ MailboxServer, ACCESS_KIND }) => {
  const server = new MailboxServer(workerData.mailbox);
  const bell = new Int32Array(workerData.bell);
  const totals = new Float64Array(workerData.totals);
  let seen = 0;
  while (!server.stopRequested) {
    Atomics.wait(bell, 0, seen, 100);
    seen = Atomics.load(bell, 0);
    server.serve((kind, offset, data) => {
      if (kind === ACCESS_KIND.BAR_READ || kind === ACCESS_KIND.CONFIG_READ) {
        for (let i = 0; i < data.length; i++) data[i] = (offset + i) & 0x7f;
        data[0] |= kind === ACCESS_KIND.BAR_READ ? 0x80 : 0;
      } else {
        totals[0] += data.reduce((sum, byte) => sum + byte, 0);
        totals[1] += 1;
      }
    });
  }
});
`;

/** A client Worker that does `count` reads at offsets from `base` and reports the wrong answers it got. */
const CLIENT_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.module).then(({ MailboxClient, ACCESS_KIND }) => {
  const bell = new Int32Array(workerData.bell);
  const doorbell = { ring: () => { Atomics.add(bell, 0, 1); Atomics.notify(bell, 0); } };
  const client = new MailboxClient(workerData.mailbox, doorbell, 'wait');
  let wrong = 0;
  const data = new Uint8Array(4);
  for (let n = 0; n < workerData.count; n++) {
    const offset = workerData.base + n;
    client.access(ACCESS_KIND.CONFIG_READ, offset, data);
    for (let i = 0; i < 4; i++) if (data[i] !== ((offset + i) & 0x7f)) wrong++;
    client.access(ACCESS_KIND.BAR_WRITE, offset, Uint8Array.of(1, 2));
  }
  parentPort.postMessage(wrong);
});
`;

interface Harness {
  mailbox: SharedArrayBuffer;
  bell: SharedArrayBuffer;
  totals: Float64Array;
  doorbell: Doorbell;
  startOwner(): Worker;
}

function harness(): Harness {
  const mailbox = createMailbox();
  const bell = new SharedArrayBuffer(4);
  const totalsBuffer = new SharedArrayBuffer(16);
  const bellWord = new Int32Array(bell);
  return {
    mailbox,
    bell,
    totals: new Float64Array(totalsBuffer),
    doorbell: {
      ring: () => {
        Atomics.add(bellWord, 0, 1);
        Atomics.notify(bellWord, 0);
      },
    },
    startOwner: () => new Worker(OWNER_SOURCE, { eval: true, workerData: { module: MODULE, mailbox, bell, totals: totalsBuffer } }),
  };
}

async function stopOwner(h: Harness, owner: Worker): Promise<void> {
  const exited = new Promise((resolve) => owner.once('exit', resolve));
  new MailboxControl(h.mailbox).requestStop();
  h.doorbell.ring();
  await exited;
}

test('a read and a write reach the owner and the read returns its answer (spinning main-thread client)', async () => {
  const h = harness();
  const owner = h.startOwner();
  try {
    const client = new MailboxClient(h.mailbox, h.doorbell, 'spin');
    const data = new Uint8Array(8);
    client.access(ACCESS_KIND.BAR_READ, 0x4_8000_0010, data);
    assert.deepEqual([...data], [0x90, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17], 'offsets above 2^32 arrive whole');
    const word = new Uint8Array(2);
    client.access(ACCESS_KIND.CONFIG_READ, 0x3e, word);
    assert.deepEqual([...word], [0x3e, 0x3f]);
    client.access(ACCESS_KIND.CONFIG_WRITE, 4, Uint8Array.of(7, 8, 9));
    assert.deepEqual([...h.totals], [24, 1]);
  } finally {
    await stopOwner(h, owner);
  }
});

test('concurrent clients in three Workers are serialised: every answer matches its own request', async () => {
  const h = harness();
  const owner = h.startOwner();
  const count = 300;
  try {
    const clients = [0, 1000, 2000].map(
      (base) => new Worker(CLIENT_SOURCE, { eval: true, workerData: { module: MODULE, mailbox: h.mailbox, bell: h.bell, base, count } }),
    );
    const wrong = await Promise.all(clients.map((worker) => new Promise<number>((resolve) => worker.once('message', resolve))));
    assert.deepEqual(wrong, [0, 0, 0]);
    assert.deepEqual([...h.totals], [3 * count * 3, 3 * count]);
  } finally {
    await stopOwner(h, owner);
  }
});

test('closing the mailbox releases a client whose owner never answers; later accesses fail fast', async () => {
  const h = harness();
  const waiting = new Worker(CLIENT_SOURCE, { eval: true, workerData: { module: MODULE, mailbox: h.mailbox, bell: h.bell, base: 0, count: 1 } });
  const result = new Promise<number>((resolve) => waiting.once('message', resolve));
  // No owner runs: wait until the client has published its request, then close.
  const bell = new Int32Array(h.bell);
  while (Atomics.load(bell, 0) === 0) await new Promise((resolve) => setTimeout(resolve, 2));
  new MailboxControl(h.mailbox).close();
  assert.equal(await result, 4, 'the read returned all ones instead of an answer');

  const client = new MailboxClient(h.mailbox, h.doorbell, 'spin');
  const data = new Uint8Array(4);
  client.access(ACCESS_KIND.BAR_READ, 0, data);
  assert.deepEqual([...data], [0xff, 0xff, 0xff, 0xff]);
  assert.equal(new MailboxServer(h.mailbox).serve(() => assert.fail('nothing to serve')), false);
});

test('accesses the mailbox cannot carry read all ones without reaching the owner', () => {
  const h = harness();
  let rings = 0;
  const client = new MailboxClient(h.mailbox, { ring: () => rings++ }, 'spin');
  const wide = new Uint8Array(MAILBOX_MAX_ACCESS_BYTES + 1);
  client.access(ACCESS_KIND.BAR_READ, 0, wide);
  assert.ok(wide.every((byte) => byte === 0xff));
  const negative = new Uint8Array(2);
  client.access(ACCESS_KIND.CONFIG_READ, -4, negative);
  assert.deepEqual([...negative], [0xff, 0xff]);
  client.access(ACCESS_KIND.CONFIG_WRITE, 0, new Uint8Array(0));
  assert.equal(rings, 0);
});

test('the owner answers even when its handler throws, then reports the error', async () => {
  const h = harness();
  const client = new Worker(CLIENT_SOURCE, { eval: true, workerData: { module: MODULE, mailbox: h.mailbox, bell: h.bell, base: 0, count: 1 } });
  const wrong = new Promise<number>((resolve) => client.once('message', resolve));
  const server = new MailboxServer(h.mailbox);
  const served: string[] = [];
  while (served.length < 2) {
    try {
      if (server.serve((kind) => {
        served.push(kind === ACCESS_KIND.CONFIG_READ ? 'read' : 'write');
        if (kind === ACCESS_KIND.CONFIG_READ) throw new Error('device bug');
      })) continue;
    } catch (error) {
      assert.equal((error as Error).message, 'device bug');
      continue;
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  assert.equal(await wrong, 4, 'the throwing read answered all ones');
  assert.deepEqual(served, ['read', 'write']);
});
