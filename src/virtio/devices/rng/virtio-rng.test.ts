/** Tests of virtio-rng over fake guest memory, driven by the mock virtqueue driver. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { virtqueueFixture } from '../../../../test/helpers/virtq-driver.ts';
import { VIRTIO_DEVICE_TYPE, type VirtioActivation } from '../../device.ts';
import { VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_DESC_F } from '../../queue/virtq-layout.ts';
import { VIRTIO_RNG_QUEUE_SIZE, VirtioRng, type EntropySource } from './virtio-rng.ts';

/** A source that hands out a counting byte pattern, at most `limit` bytes per read, and can be made to fail. */
class PatternSource implements EntropySource {
  next = 0;
  limit = Infinity;
  failure: Error | undefined;
  reads = 0;

  read(target: Uint8Array): number {
    this.reads++;
    if (this.failure) throw this.failure;
    const length = Math.min(target.length, this.limit);
    for (let i = 0; i < length; i++) target[i] = this.next++ & 0xff;
    return length;
  }
}

function setup(): {
  rng: VirtioRng;
  source: PatternSource;
  driver: ReturnType<typeof virtqueueFixture>['driver'];
  memory: ReturnType<typeof virtqueueFixture>['memory'];
  interrupts: number[];
  resets: string[];
  context: VirtioActivation;
} {
  const { memory, driver, queue } = virtqueueFixture({ size: 16 });
  const source = new PatternSource();
  const rng = new VirtioRng(source);
  const interrupts: number[] = [];
  const resets: string[] = [];
  const context: VirtioActivation = {
    memory,
    queues: [queue],
    features: 1n << 32n,
    interrupts: { queue: (index) => interrupts.push(index), config: () => assert.fail('virtio-rng has no configuration') },
    needsReset: (reason) => resets.push(reason),
  };
  return { rng, source, driver, memory, interrupts, resets, context };
}

const pattern = (from: number, length: number): number[] => Array.from({ length }, (_, i) => (from + i) & 0xff);

test('declares device type 4, one queue of 256, no features and no configuration space', () => {
  const rng = new VirtioRng(new PatternSource());
  assert.equal(rng.deviceType, VIRTIO_DEVICE_TYPE.RNG);
  assert.equal(rng.deviceType, 4);
  assert.deepEqual(rng.queueMaxSizes, [VIRTIO_RNG_QUEUE_SIZE]);
  assert.equal(VIRTIO_RNG_QUEUE_SIZE, 256);
  assert.equal(rng.availableFeatures, 0n);
  assert.equal(rng.configSize, 0);
});

test('fills every posted buffer from the source, returns the lengths and notifies once per batch', () => {
  const { rng, source, driver, memory, interrupts, resets, context } = setup();
  rng.activate(context);
  const first = driver.addChain({ writable: [64] });
  const second = driver.addChain({ writable: [10, 6] });
  driver.publish();
  rng.queueNotified(0);

  assert.deepEqual(driver.takeUsed(), [
    { id: first.head, len: 64 },
    { id: second.head, len: 16 },
  ]);
  assert.deepEqual([...memory.read(first.writable[0]!.addr, 64)], pattern(0, 64));
  assert.deepEqual([...memory.read(second.writable[0]!.addr, 10)], pattern(64, 10));
  assert.deepEqual([...memory.read(second.writable[1]!.addr, 6)], pattern(74, 6));
  assert.deepEqual(interrupts, [0]);
  assert.deepEqual(resets, []);
  assert.equal(source.reads, 3);
});

test('a short read from the source ends the chain: the used length says how much arrived', () => {
  const { rng, source, driver, memory, context } = setup();
  rng.activate(context);
  source.limit = 5;
  const chain = driver.addChain({ writable: [8, 8] });
  driver.publish();
  rng.queueNotified(0);
  assert.deepEqual(driver.takeUsed(), [{ id: chain.head, len: 5 }]);
  assert.deepEqual([...memory.read(chain.writable[0]!.addr, 8)], [...pattern(0, 5), 0xee, 0xee, 0xee]);
  assert.equal(source.reads, 1);
});

test('buffers posted before activation are served when the device is activated', () => {
  const { rng, driver, interrupts, context } = setup();
  const chain = driver.addChain({ writable: [4] });
  driver.publish();
  rng.queueNotified(0);
  assert.deepEqual(driver.takeUsed(), [], 'nothing happens before DRIVER_OK');
  rng.activate(context);
  assert.deepEqual(driver.takeUsed(), [{ id: chain.head, len: 4 }]);
  assert.deepEqual(interrupts, [0]);
});

test('a chain without writable buffers, or an invalid one, comes back with length 0', () => {
  const { rng, driver, resets, context } = setup();
  rng.activate(context);
  const readOnly = driver.addChain({ readable: [new Uint8Array(4)] });
  const broken = driver.addChain({ writable: [4] });
  driver.writeDescriptor(driver.descTable, broken.head, { addr: 0x4000_0000, len: 4, flags: VIRTQ_DESC_F.WRITE, next: 0 });
  driver.publish();
  rng.queueNotified(0);
  assert.deepEqual(driver.takeUsed(), [
    { id: readOnly.head, len: 0 },
    { id: broken.head, len: 0 },
  ]);
  assert.deepEqual(resets, []);
});

test('no interrupt when the driver suppressed them; notifications of other queues are ignored', () => {
  const { rng, driver, interrupts, context } = setup();
  rng.activate(context);
  driver.setAvailFlags(VIRTQ_AVAIL_F_NO_INTERRUPT);
  driver.addChain({ writable: [4] });
  driver.publish();
  rng.queueNotified(1);
  assert.deepEqual(driver.takeUsed(), []);
  rng.queueNotified(0);
  assert.equal(driver.takeUsed().length, 1);
  assert.deepEqual(interrupts, []);
});

test('a failing source or a broken available ring asks for a device reset', () => {
  const { rng, source, driver, resets, context } = setup();
  rng.activate(context);
  source.failure = new Error('EIO: i/o error, read');
  driver.addChain({ writable: [4] });
  driver.publish();
  rng.queueNotified(0);
  assert.deepEqual(resets, ['virtio-rng: EIO: i/o error, read']);

  const other = setup();
  other.rng.activate(other.context);
  other.driver.setAvailIdx(100);
  other.rng.queueNotified(0);
  assert.equal(other.resets.length, 1);
  assert.match(other.resets[0]!, /^virtio-rng: virtqueue available idx 100 is 100 entries ahead/);
});

test('after a reset the device ignores notifications until it is activated again', () => {
  const { rng, source, driver, context } = setup();
  rng.activate(context);
  rng.reset();
  driver.addChain({ writable: [4] });
  driver.publish();
  rng.queueNotified(0);
  assert.deepEqual(driver.takeUsed(), []);
  assert.equal(source.reads, 0);
});
