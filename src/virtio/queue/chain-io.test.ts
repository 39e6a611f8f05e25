/** Chain readers and writers: copies across buffers, live views into guest memory, bounce views across chunks. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../../memory/guest-memory.ts';
import { virtqueueFixture } from '../../../test/helpers/virtq-driver.ts';
import { ChainReader, ChainWriter } from './chain-io.ts';
import type { DescriptorChain, GuestBuffer } from './descriptor-chain.ts';

/** One region 0-0x10000 backed by two chunks that meet at 0x9000. */
const CHUNK_BOUNDARY = 0x9000;
function twoChunkMemory(): GuestMemory {
  return new GuestMemory([
    { guestBase: 0, size: 0x10000, backing: [new Uint8Array(CHUNK_BOUNDARY), new Uint8Array(0x10000 - CHUNK_BOUNDARY)] },
  ]);
}

function chainOf(readable: GuestBuffer[], writable: GuestBuffer[] = []): DescriptorChain {
  const total = (buffers: GuestBuffer[]) => buffers.reduce((sum, b) => sum + b.length, 0);
  return { headIndex: 0, readable, writable, readableLength: total(readable), writableLength: total(writable) };
}

const sequence = (length: number, start = 1): Uint8Array => Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);

test('the reader copies across buffer boundaries and keeps count', () => {
  const memory = twoChunkMemory();
  memory.write(0x100, sequence(4, 1));
  memory.write(0x200, sequence(6, 5));
  const reader = new ChainReader(memory, chainOf([{ addr: 0x100, length: 4 }, { addr: 0x200, length: 6 }]));
  assert.equal(reader.length, 10);
  assert.deepEqual([...reader.readExact(3)], [1, 2, 3]);
  assert.deepEqual([...reader.readExact(3)], [4, 5, 6]);
  const rest = new Uint8Array(8);
  assert.equal(reader.readInto(rest), 4);
  assert.deepEqual([...rest], [7, 8, 9, 10, 0, 0, 0, 0]);
  assert.deepEqual([reader.position, reader.remaining], [10, 0]);
  assert.equal(reader.readInto(rest), 0);
  assert.deepEqual([...reader.readExact(0)], []);
});

test('the reader refuses reads and skips past the readable part', () => {
  const memory = twoChunkMemory();
  const reader = new ChainReader(memory, chainOf([{ addr: 0x100, length: 4 }]));
  assert.throws(() => reader.readExact(5), {
    code: 'SHORT_CHAIN',
    message: /a 5-byte read needs more than the 4 device-readable bytes left in the chain/,
  });
  assert.throws(() => reader.skip(5), { code: 'BAD_CHAIN_CURSOR', message: /a skip of 5 bytes is more than the 4 available/ });
  assert.throws(() => reader.readExact(-1), { code: 'SHORT_CHAIN' });
  assert.equal(reader.position, 0, 'a refused read consumes nothing');
});

test('reader views are live guest memory for the next bytes and do not move the cursor', () => {
  const memory = twoChunkMemory();
  memory.write(0x100, sequence(4, 1));
  memory.write(0x200, sequence(6, 5));
  const reader = new ChainReader(memory, chainOf([{ addr: 0x100, length: 4 }, { addr: 0x200, length: 6 }]));
  reader.skip(2);
  const views = reader.views(5);
  assert.deepEqual(views.map((v) => [...v]), [[3, 4], [5, 6, 7]]);
  memory.writeU8(0x201, 0x66);
  assert.equal(views[1]![1], 0x66, 'the view aliases guest memory');
  assert.equal(reader.position, 2);
  assert.deepEqual(reader.views().map((v) => v.length), [2, 6]);
  reader.skip(5);
  assert.deepEqual([...reader.readExact(3)], [8, 9, 10]);
  assert.deepEqual(reader.views(), []);
});

test('the writer fills writable buffers in order, stops at their end and reports what it wrote', () => {
  const memory = twoChunkMemory();
  memory.fill(0x300, 0x20, 0xee);
  const writer = new ChainWriter(memory, chainOf([], [{ addr: 0x300, length: 3 }, { addr: 0x310, length: 4 }]));
  assert.equal(writer.length, 7);
  assert.equal(writer.write(sequence(2)), 2);
  assert.equal(writer.write(sequence(9, 3)), 5);
  assert.equal(writer.write(sequence(1)), 0);
  assert.equal(writer.written, 7);
  assert.deepEqual([...memory.read(0x300, 4)], [1, 2, 3, 0xee]);
  assert.deepEqual([...memory.read(0x310, 5)], [4, 5, 6, 7, 0xee]);
});

test('writer views are live guest memory; commit() records how much of them was filled', () => {
  const memory = twoChunkMemory();
  const writer = new ChainWriter(memory, chainOf([], [{ addr: 0x300, length: 3 }, { addr: 0x310, length: 4 }]));
  writer.write(Uint8Array.of(0xaa));
  const views = writer.views(5);
  assert.deepEqual(views.map((v) => v.length), [2, 3]);
  views[0]!.set([1, 2]);
  views[1]!.set([3]);
  assert.deepEqual([...memory.read(0x301, 2)], [1, 2], 'written straight into guest memory');
  assert.throws(() => writer.commit(6), { code: 'BAD_CHAIN_CURSOR', message: /a commit of 6 bytes is more than the 5 available/ });
  writer.commit(3);
  assert.equal(writer.written, 4);
  assert.deepEqual(writer.views().map((v) => v.length), [3]);
  assert.throws(() => writer.commit(-1), { code: 'BAD_CHAIN_CURSOR' });
  writer.write(Uint8Array.of(9));
  assert.throws(() => writer.commit(1), { code: 'BAD_CHAIN_CURSOR', message: /more than the 0 available/ }, 'write() drops views');
  writer.commit(0);
  assert.equal(writer.written, 5);
});

test('a buffer across a memory chunk boundary is read by copy and written through a bounce buffer', () => {
  const memory = twoChunkMemory();
  const across = { addr: CHUNK_BOUNDARY - 4, length: 8 };
  memory.write(across.addr, sequence(8, 0x10));
  const reader = new ChainReader(memory, chainOf([across]));
  const [copy] = reader.views();
  assert.deepEqual([...copy!], [...sequence(8, 0x10)]);
  memory.writeU8(across.addr, 0);
  assert.equal(copy![0], 0x10, 'a copy, not a view');

  const writer = new ChainWriter(memory, chainOf([], [{ addr: 0x100, length: 4 }, across]));
  const views = writer.views();
  views[0]!.set(sequence(4, 0x40));
  views[1]!.set(sequence(8, 0x50));
  assert.deepEqual([...memory.read(across.addr, 2)], [0, 0x11], 'the bounce buffer is not guest memory');
  writer.commit(10);
  assert.deepEqual([...memory.read(0x100, 4)], [0x40, 0x41, 0x42, 0x43]);
  assert.deepEqual([...memory.read(across.addr, 8)], [0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x16, 0x17], 'only committed bytes');
  assert.equal(writer.written, 10);
});

test('a device serves a request end to end: header and payload in, response and status out', () => {
  const { memory, driver, queue } = virtqueueFixture();
  const request = driver.addChain({ readable: [Uint8Array.of(7, 0, 0, 0), sequence(5, 0x30)], writable: [5, 1], indirect: true });
  driver.publish();
  const popped = queue.pop();
  assert.ok(popped?.kind === 'chain');
  const reader = new ChainReader(memory, popped.chain);
  const writer = new ChainWriter(memory, popped.chain);
  const header = reader.readExact(4);
  assert.equal(new DataView(header.buffer).getUint32(0, true), 7);
  const payload = reader.readExact(reader.remaining);
  writer.write(payload.map((b) => b + 1));
  writer.write(Uint8Array.of(0));
  queue.addUsed(popped.chain.headIndex, writer.written);
  assert.deepEqual(driver.takeUsed(), [{ id: request.head, len: 6 }]);
  const [data, status] = request.writable;
  assert.deepEqual([...memory.read(data!.addr, 5)], [0x31, 0x32, 0x33, 0x34, 0x35]);
  assert.equal(memory.readU8(status!.addr), 0);
});
