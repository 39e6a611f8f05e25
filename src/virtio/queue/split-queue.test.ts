/**
 * The device side of the split virtqueue against the mock driver: configuration checks, pop/addUsed, ring and
 * 16-bit index wrap-around, notification suppression both ways (flags and event indices), reset and snapshots.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../../memory/guest-memory.ts';
import { FIXTURE_REGIONS, virtqueueFixture } from '../../../test/helpers/virtq-driver.ts';
import { SplitQueue, eventCrossed, type PoppedChain } from './split-queue.ts';
import { VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_USED_F_NO_NOTIFY } from './virtq-layout.ts';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

function popChain(queue: SplitQueue) {
  const popped = queue.pop();
  assert.ok(popped && popped.kind === 'chain', `expected a valid chain, got ${JSON.stringify(popped)}`);
  return popped.chain;
}

test('the maximum size must be a power of two from 1 to 32768', () => {
  const memory = GuestMemory.anonymous(FIXTURE_REGIONS);
  for (const size of [0, 3, 65536, 1.5, -2]) {
    assert.throws(() => new SplitQueue(memory, size), { code: 'BAD_QUEUE_SIZE' });
  }
  assert.equal(new SplitQueue(memory, 32768).config.size, 32768);
  assert.equal(new SplitQueue(memory, 1).maxSize, 1);
});

test('enable() checks size, alignment and that every part lies in guest memory; the queue stays disabled', () => {
  const memory = GuestMemory.anonymous(FIXTURE_REGIONS);
  const good = { size: 16, descTable: 0x1000, availRing: 0x1100, usedRing: 0x1200 };
  const cases: [Partial<typeof good>, string, RegExp][] = [
    [{ size: 0 }, 'BAD_QUEUE_SIZE', /size 0 is not a power of two from 1 to 256/],
    [{ size: 12 }, 'BAD_QUEUE_SIZE', /size 12/],
    [{ size: 512 }, 'BAD_QUEUE_SIZE', /size 512/],
    [{ descTable: 0x1008 }, 'MISALIGNED_RING', /descriptor table address 0x1008 is not 16-byte aligned/],
    [{ availRing: 0x1101 }, 'MISALIGNED_RING', /available ring address 0x1101 is not 2-byte aligned/],
    [{ usedRing: 0x1202 }, 'MISALIGNED_RING', /used ring address 0x1202 is not 4-byte aligned/],
    [{ descTable: 0xff80 }, 'RING_OUT_OF_RANGE', /descriptor table 0xff80\+0x100 is outside guest memory/],
    [{ availRing: 0xffe0 }, 'RING_OUT_OF_RANGE', /available ring 0xffe0\+0x26 is outside/],
    [{ usedRing: 0x2ff80 }, 'RING_OUT_OF_RANGE', /used ring 0x2ff80\+0x86 is outside/],
    [{ usedRing: 2 ** 60 + 2 }, 'RING_OUT_OF_RANGE', /used ring 0x1000000000000000\+0x86 is outside/],
  ];
  for (const [change, code, message] of cases) {
    const queue = new SplitQueue(memory, 256);
    queue.configure({ ...good, ...change });
    assert.throws(() => queue.enable(), (error: Error & { code?: string }) => error.code === code && message.test(error.message));
    assert.equal(queue.ready, false);
    assert.throws(() => queue.pop(), { code: 'QUEUE_NOT_READY', message: /virtqueue pop on a queue that is not enabled/ });
  }
  const queue = new SplitQueue(memory, 256);
  queue.configure(good);
  queue.enable();
  assert.equal(queue.ready, true);
  assert.throws(() => queue.configure({ size: 8 }), { code: 'QUEUE_ENABLED' });
  assert.equal(queue.config.size, 16);
});

test('pop() returns published chains in order, then null; addUsed() fills the used ring', () => {
  const { driver, queue } = virtqueueFixture();
  assert.equal(queue.pop(), null);
  const first = driver.addChain({ readable: [bytes(1, 2)], writable: [8] });
  const second = driver.addChain({ writable: [4] });
  assert.equal(queue.pop(), null, 'nothing is visible before the driver publishes idx');
  driver.publish();
  const a = popChain(queue);
  const b = popChain(queue);
  assert.equal(queue.pop(), null);
  assert.deepEqual([a.headIndex, a.readable, a.writable], [first.head, first.readable, first.writable]);
  assert.deepEqual([b.headIndex, b.readableLength, b.writableLength], [second.head, 0, 4]);
  assert.equal(queue.nextAvail, 2);
  queue.addUsed(b.headIndex, 4);
  queue.addUsed(a.headIndex, 3);
  assert.equal(queue.nextUsed, 2);
  assert.equal(driver.usedIdx, 2);
  assert.deepEqual(driver.takeUsed(), [{ id: second.head, len: 4 }, { id: first.head, len: 3 }]);
});

test('the rings wrap at the queue size and the indices at 65536', () => {
  const { driver, queue } = virtqueueFixture({ size: 4 });
  const rounds = 65536 + 10;
  for (let i = 0; i < rounds; i++) {
    const added = driver.addChain({ readable: [bytes(i & 0xff)] });
    driver.publish();
    const chain = popChain(queue);
    assert.equal(chain.headIndex, added.head);
    queue.addUsed(chain.headIndex, i & 0xff);
    const used = driver.takeUsed();
    if (used.length !== 1 || used[0]!.id !== added.head || used[0]!.len !== (i & 0xff)) {
      assert.fail(`round ${i}: used ${JSON.stringify(used)}, expected head ${added.head}`);
    }
  }
  assert.equal(queue.nextAvail, rounds & 0xffff);
  assert.equal(queue.nextUsed, 10);
  assert.equal(driver.usedIdx, 10);
});

test('a chain that breaks the rules is consumed and reported as invalid; the queue goes on', () => {
  const { driver, queue } = virtqueueFixture();
  driver.writeDescriptor(driver.descTable, 3, { addr: 0x8000, len: 4, flags: 1, next: 3 });
  driver.makeAvailable(3);
  const good = driver.addChain({ writable: [2] });
  driver.publish();
  const popped = queue.pop() as Extract<PoppedChain, { kind: 'invalid' }>;
  assert.equal(popped.kind, 'invalid');
  assert.equal(popped.headIndex, 3);
  assert.equal(popped.error.code, 'CHAIN_LOOP');
  assert.equal(queue.nextAvail, 1);
  queue.addUsed(popped.headIndex, 0);
  assert.equal(popChain(queue).headIndex, good.head);
});

test('an available idx more than the queue size ahead, or a head outside the table, makes the queue unusable', () => {
  const { driver, queue } = virtqueueFixture({ size: 8 });
  driver.setAvailIdx(9);
  assert.throws(() => queue.pop(), {
    code: 'BAD_AVAIL_INDEX',
    message: /available idx 9 is 9 entries ahead of the device \(0\), more than the queue size 8/,
  });
  driver.setAvailIdx(0xffff);
  assert.throws(() => queue.pop(), { code: 'BAD_AVAIL_INDEX', message: /65535 entries ahead/ });
  driver.setAvailIdx(0);
  driver.makeAvailable(8);
  driver.publish();
  assert.throws(() => queue.pop(), { code: 'BAD_HEAD_INDEX', message: /entry 0 names descriptor 8, outside the table of 8/ });
  assert.equal(queue.nextAvail, 0);
});

test('addUsed() refuses heads outside the table and lengths that are not u32', () => {
  const { driver, queue } = virtqueueFixture({ size: 8 });
  for (const [head, length] of [[8, 0], [-1, 0], [0.5, 0], [0, -1], [0, 2 ** 32], [0, 1.5]] as const) {
    assert.throws(() => queue.addUsed(head, length), { code: 'BAD_USED_ENTRY' });
  }
  queue.addUsed(7, 0xffff_ffff);
  assert.deepEqual(driver.takeUsed(), [{ id: 7, len: 0xffff_ffff }]);
});

test('without EVENT_IDX, used-buffer notifications follow VIRTQ_AVAIL_F_NO_INTERRUPT', () => {
  const { driver, queue } = virtqueueFixture();
  assert.equal(queue.needsNotification(), false, 'nothing used yet');
  queue.addUsed(0, 1);
  assert.equal(queue.needsNotification(), true);
  assert.equal(queue.needsNotification(), false, 'nothing new since the last check');
  driver.setAvailFlags(VIRTQ_AVAIL_F_NO_INTERRUPT);
  queue.addUsed(1, 1);
  assert.equal(queue.needsNotification(), false);
  driver.setAvailFlags(0);
  queue.addUsed(2, 1);
  queue.addUsed(3, 1);
  assert.equal(queue.needsNotification(), true);
});

test('event index math: entry `event` must be among the entries previous..current-1, modulo 65536', () => {
  const cases: [event: number, current: number, previous: number, crossed: boolean][] = [
    [0, 1, 0, true],
    [0, 0, 0, false],
    [4, 5, 0, true],
    [5, 5, 0, false],
    [4, 5, 4, true],
    [3, 5, 4, false],
    [0xffff, 0, 0xfffe, true],
    [0xffff, 2, 0xfff0, true],
    [0xfff0, 2, 0xfff0, true],
    [0xffef, 2, 0xfff0, false],
    [1, 2, 0xfff0, true],
    [2, 2, 0xfff0, false],
    [0x8000, 0x10, 0x8, false],
  ];
  for (const [event, current, previous, crossed] of cases) {
    assert.equal(eventCrossed(event, current, previous), crossed, `event ${event}, current ${current}, previous ${previous}`);
  }
});

test('with EVENT_IDX, the device notifies only when the used idx passes used_event, across the 16-bit wrap', () => {
  const { driver, queue } = virtqueueFixture({ eventIdx: true });
  driver.setAvailFlags(VIRTQ_AVAIL_F_NO_INTERRUPT); // ignored with EVENT_IDX
  driver.setUsedEvent(0);
  queue.addUsed(0, 0);
  assert.equal(queue.needsNotification(), true, 'used_event 0: notify after the first entry');
  driver.setUsedEvent(3);
  queue.addUsed(0, 0); // idx 2
  assert.equal(queue.needsNotification(), false);
  queue.addUsed(0, 0); // idx 3
  queue.addUsed(0, 0); // idx 4: entry 3 was written in this batch
  assert.equal(queue.needsNotification(), true);
  queue.addUsed(0, 0);
  assert.equal(queue.needsNotification(), false, 'used_event already passed');
  // Run the used idx up to the wrap and ask for entry 0xffff.
  while (queue.nextUsed !== 0xfffe) queue.addUsed(0, 0);
  queue.needsNotification();
  driver.setUsedEvent(0xffff);
  queue.addUsed(0, 0); // idx 0xffff
  assert.equal(queue.needsNotification(), false);
  queue.addUsed(0, 0); // idx 0: entry 0xffff written
  assert.equal(queue.nextUsed, 0);
  assert.equal(queue.needsNotification(), true);
});

test('without EVENT_IDX, disable/enableNotification() toggle VIRTQ_USED_F_NO_NOTIFY and the driver obeys', () => {
  const { driver, queue } = virtqueueFixture();
  queue.disableNotification();
  assert.equal(driver.usedFlags, VIRTQ_USED_F_NO_NOTIFY);
  driver.addChain({ readable: [bytes(1)] });
  assert.equal(driver.publish(), false, 'no kick while the device polls');
  assert.equal(queue.enableNotification(), true, 'an entry arrived while notifications were off');
  assert.equal(driver.usedFlags, 0);
  popChain(queue);
  assert.equal(queue.enableNotification(), false);
  driver.addChain({ readable: [bytes(2)] });
  assert.equal(driver.publish(), true);
});

test('with EVENT_IDX, enableNotification() sets avail_event to the next entry and the driver kicks once', () => {
  const { driver, queue } = virtqueueFixture({ eventIdx: true });
  assert.equal(queue.enableNotification(), false);
  assert.equal(driver.availEvent, 0);
  queue.disableNotification();
  assert.equal(driver.usedFlags, 0, 'flags stay 0 with EVENT_IDX');
  driver.addChain({ readable: [bytes(1)] });
  assert.equal(driver.publish(), true, 'entry 0 is the one avail_event asked about');
  driver.addChain({ readable: [bytes(2)] });
  assert.equal(driver.publish(), false, 'no second kick until the device enables again');
  popChain(queue);
  assert.equal(queue.enableNotification(), true, 'entry 1 is still waiting');
  assert.equal(driver.availEvent, 1);
  popChain(queue);
  assert.equal(queue.enableNotification(), false);
  assert.equal(driver.availEvent, 2);
  driver.addChain({ readable: [bytes(3)] });
  driver.addChain({ readable: [bytes(4)] });
  assert.equal(driver.publish(), true, 'a batch crossing avail_event kicks');
});

test('reset() returns to the power-on state', () => {
  const { driver, queue } = virtqueueFixture({ eventIdx: true });
  driver.addChain({ readable: [bytes(1)] });
  driver.publish();
  queue.addUsed(popChain(queue).headIndex, 0);
  queue.reset();
  assert.equal(queue.ready, false);
  assert.deepEqual(queue.config, {
    size: 256,
    descTable: 0,
    availRing: 0,
    usedRing: 0,
    eventIdx: false,
    indirectDescriptors: false,
  });
  assert.deepEqual([queue.nextAvail, queue.nextUsed], [0, 0]);
  assert.throws(() => queue.addUsed(0, 0), { code: 'QUEUE_NOT_READY' });
});

test('save() and restore() carry the queue across to a new instance', () => {
  const { memory, driver, queue } = virtqueueFixture({ eventIdx: true });
  driver.addChain({ readable: [bytes(1)] });
  const pending = driver.addChain({ writable: [4] });
  driver.publish();
  queue.addUsed(popChain(queue).headIndex, 0);
  const snapshot = queue.save();
  assert.deepEqual(snapshot, {
    version: 1,
    ...driver.queueConfig(true),
    ready: true,
    nextAvail: 1,
    nextUsed: 1,
    signalledUsed: 0,
  });
  const copy = new SplitQueue(memory, 256);
  copy.restore(JSON.parse(JSON.stringify(snapshot)));
  assert.deepEqual(copy.save(), snapshot);
  driver.setUsedEvent(0);
  assert.equal(copy.needsNotification(), true, 'the entry added before the snapshot still notifies');
  assert.equal(popChain(copy).headIndex, pending.head);
});

test('restore() refuses malformed snapshots and configurations and leaves the queue reset', () => {
  const { memory, queue } = virtqueueFixture();
  const good = queue.save();
  const cases: [unknown, string, RegExp][] = [
    [null, 'BAD_SNAPSHOT', /snapshot is not an object/],
    [[], 'BAD_SNAPSHOT', /not an object/],
    [{ ...good, version: 2 }, 'BAD_SNAPSHOT', /has version 2, expected 1/],
    [{ ...good, size: 512 }, 'BAD_SNAPSHOT', /field "size" is 512, expected an integer from 0 to 256/],
    [{ ...good, nextAvail: 65536 }, 'BAD_SNAPSHOT', /field "nextAvail"/],
    [{ ...good, usedRing: '4096' }, 'BAD_SNAPSHOT', /field "usedRing" is 4096/],
    [{ ...good, eventIdx: 1 }, 'BAD_SNAPSHOT', /field "eventIdx" is 1, expected a boolean/],
    [{ ...good, ready: undefined }, 'BAD_SNAPSHOT', /field "ready"/],
    [{ ...good, size: 12 }, 'BAD_QUEUE_SIZE', /size 12/],
    [{ ...good, availRing: 0x10000 }, 'RING_OUT_OF_RANGE', /available ring/],
  ];
  for (const [snapshot, code, message] of cases) {
    const target = new SplitQueue(memory, 256);
    target.restore(good);
    assert.throws(() => target.restore(snapshot), (error: Error & { code?: string }) => error.code === code && message.test(error.message));
    assert.equal(target.ready, false);
    assert.equal(target.config.descTable, 0);
  }
});
