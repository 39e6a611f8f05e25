/** Descriptor chain walking: direct, indirect and mixed chains, and every rule a chain can break. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { virtqueueFixture, type RawDescriptor } from '../../../test/helpers/virtq-driver.ts';
import { MAX_INDIRECT_TABLE_ENTRIES, readDescriptorChain } from './descriptor-chain.ts';
import { VIRTQ_DESC_F as F } from './virtq-layout.ts';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

/** A queue whose descriptor table the test fills by hand; returns a walker for a head. */
function rawTable(options: { size?: number; indirectDescriptors?: boolean } = {}) {
  const { memory, driver } = virtqueueFixture({ size: options.size ?? 8 });
  const table = {
    address: driver.descTable,
    queueSize: driver.size,
    indirectDescriptors: options.indirectDescriptors ?? true,
  };
  const set = (index: number, descriptor: RawDescriptor): void => driver.writeDescriptor(driver.descTable, index, descriptor);
  const walk = (head = 0) => readDescriptorChain(memory, table, head);
  return { memory, driver, set, walk };
}

function assertChainError(walk: () => unknown, code: string, message: RegExp): void {
  assert.throws(walk, (error: unknown) => {
    assert.equal((error as Error).name, 'VirtqueueError');
    assert.equal((error as { code: string }).code, code);
    assert.match((error as Error).message, message);
    return true;
  });
}

test('a direct chain yields its readable then writable buffers with their totals', () => {
  const { memory, driver } = virtqueueFixture();
  const added = driver.addChain({ readable: [bytes(1, 2, 3), bytes(4, 5)], writable: [16, 1] });
  const chain = readDescriptorChain(memory, { address: driver.descTable, queueSize: 16, indirectDescriptors: false }, added.head);
  assert.equal(chain.headIndex, added.head);
  assert.deepEqual(chain.readable, added.readable);
  assert.deepEqual(chain.writable, added.writable);
  assert.equal(chain.readableLength, 5);
  assert.equal(chain.writableLength, 17);
});

test('an indirect chain is read from its table; the WRITE flag of the indirect descriptor is ignored', () => {
  const { memory, driver } = virtqueueFixture();
  const added = driver.addChain({ readable: [bytes(9)], writable: [4, 4], indirect: true });
  const table = { address: driver.descTable, queueSize: 16, indirectDescriptors: true };
  const chain = readDescriptorChain(memory, table, added.head);
  assert.deepEqual(chain.readable, added.readable);
  assert.deepEqual(chain.writable, added.writable);
  // The spec says the device must ignore VIRTQ_DESC_F_WRITE on the descriptor that refers to a table.
  const tableAddr = Number(memory.readU64(driver.descTable + added.head * 16));
  driver.writeDescriptor(driver.descTable, added.head, { addr: tableAddr, len: 48, flags: F.INDIRECT | F.WRITE, next: 0 });
  assert.deepEqual(readDescriptorChain(memory, table, added.head).readable, added.readable);
});

test('direct descriptors followed by one indirect descriptor form one chain', () => {
  const { driver, set, walk } = rawTable();
  set(0, { addr: 0x8000, len: 0x10, flags: F.NEXT, next: 5 });
  set(5, { addr: 0x20000, len: 32, flags: F.INDIRECT, next: 0 });
  driver.writeDescriptor(0x20000, 0, { addr: 0x8100, len: 0x20, flags: F.NEXT, next: 1 });
  driver.writeDescriptor(0x20000, 1, { addr: 0x8200, len: 0x30, flags: F.WRITE, next: 0 });
  const chain = walk();
  assert.deepEqual(chain.readable, [{ addr: 0x8000, length: 0x10 }, { addr: 0x8100, length: 0x20 }]);
  assert.deepEqual(chain.writable, [{ addr: 0x8200, length: 0x30 }]);
});

test('zero-length descriptors carry nothing and are left out, but still count for the order rule', () => {
  const { set, walk } = rawTable();
  set(0, { addr: 0xdead_0000, len: 0, flags: F.NEXT, next: 1 });
  set(1, { addr: 0x8000, len: 8, flags: F.NEXT | F.WRITE, next: 2 });
  set(2, { addr: 0x8008, len: 0, flags: F.WRITE, next: 0 });
  const chain = walk();
  assert.deepEqual(chain.readable, []);
  assert.deepEqual(chain.writable, [{ addr: 0x8000, length: 8 }]);
  set(1, { addr: 0x8000, len: 0, flags: F.NEXT | F.WRITE, next: 2 });
  set(2, { addr: 0x8008, len: 8, flags: 0, next: 0 });
  assertChainError(walk, 'READABLE_AFTER_WRITABLE', /readable descriptor follows a device-writable/);
});

test('a buffer ending exactly where its region ends, and unknown flag bits, are accepted', () => {
  const { set, walk } = rawTable();
  set(0, { addr: 0xff00, len: 0x100, flags: 0x80 | F.NEXT, next: 1 });
  set(1, { addr: 0x20000, len: 0x10, flags: F.WRITE, next: 0 });
  assert.deepEqual(walk().readable, [{ addr: 0xff00, length: 0x100 }]);
});

test('next outside the descriptor table or the indirect table is NEXT_OUT_OF_RANGE', () => {
  const { set, walk, driver } = rawTable();
  set(0, { addr: 0x8000, len: 1, flags: F.NEXT, next: 8 });
  assertChainError(walk, 'NEXT_OUT_OF_RANGE', /descriptor index 8 is outside the descriptor table of 8 entries/);
  set(0, { addr: 0x20000, len: 32, flags: F.INDIRECT, next: 0 });
  driver.writeDescriptor(0x20000, 0, { addr: 0x8000, len: 1, flags: F.NEXT, next: 2 });
  assertChainError(walk, 'NEXT_OUT_OF_RANGE', /descriptor index 2 is outside the indirect table of 2 entries/);
  assertChainError(() => walk(8), 'NEXT_OUT_OF_RANGE', /index 8/);
});

test('loops are caught: a chain longer than the table, in the queue or in an indirect table', () => {
  const { set, walk, driver } = rawTable();
  set(0, { addr: 0x8000, len: 1, flags: F.NEXT, next: 1 });
  set(1, { addr: 0x8000, len: 1, flags: F.NEXT, next: 0 });
  assertChainError(walk, 'CHAIN_LOOP', /more descriptors than its descriptor table's 8 entries/);
  set(0, { addr: 0x8000, len: 1, flags: F.NEXT, next: 0 });
  assertChainError(walk, 'CHAIN_LOOP', /a loop/);
  // The longest legal chain uses every descriptor once.
  for (let i = 0; i < 8; i++) set(i, { addr: 0x8000 + i, len: 1, flags: i < 7 ? F.NEXT : 0, next: i + 1 });
  assert.equal(walk().readable.length, 8);
  set(0, { addr: 0x20000, len: 48, flags: F.INDIRECT, next: 0 });
  driver.writeDescriptor(0x20000, 0, { addr: 0x8000, len: 1, flags: F.NEXT, next: 2 });
  driver.writeDescriptor(0x20000, 2, { addr: 0x8000, len: 1, flags: F.NEXT, next: 0 });
  assertChainError(walk, 'CHAIN_LOOP', /indirect table's 3 entries/);
});

test('indirect descriptors: not negotiated, nested, with NEXT, bad table length, table outside memory', () => {
  const { set, walk, driver } = rawTable();
  const withoutFeature = rawTable({ indirectDescriptors: false });
  withoutFeature.set(0, { addr: 0x20000, len: 16, flags: F.INDIRECT, next: 0 });
  assertChainError(withoutFeature.walk, 'INDIRECT_NOT_NEGOTIATED', /without VIRTIO_F_INDIRECT_DESC/);

  set(0, { addr: 0x20000, len: 32, flags: F.INDIRECT, next: 0 });
  driver.writeDescriptor(0x20000, 0, { addr: 0x8000, len: 1, flags: F.NEXT, next: 1 });
  driver.writeDescriptor(0x20000, 1, { addr: 0x20100, len: 16, flags: F.INDIRECT, next: 0 });
  assertChainError(walk, 'NESTED_INDIRECT', /indirect table contains another indirect descriptor/);

  set(0, { addr: 0x20000, len: 32, flags: F.INDIRECT | F.NEXT, next: 1 });
  assertChainError(walk, 'INDIRECT_WITH_NEXT', /also sets VIRTQ_DESC_F_NEXT/);

  for (const len of [0, 8, 24, 0xffff_fff0]) {
    set(0, { addr: 0x20000, len, flags: F.INDIRECT, next: 0 });
    assertChainError(walk, 'BAD_INDIRECT_TABLE', new RegExp(`indirect table length ${len} is not`));
  }
  assert.equal(MAX_INDIRECT_TABLE_ENTRIES, 65536);

  for (const [addr, len] of [[0x10000, 16], [0xfff0, 32], [0x2fff0, 32], [2n ** 64n - 16n, 16]] as const) {
    set(0, { addr, len, flags: F.INDIRECT, next: 0 });
    assertChainError(walk, 'INDIRECT_TABLE_OUT_OF_RANGE', /indirect table 0x[0-9a-f]+\+0x[0-9a-f]+ is outside guest memory/);
  }
});

test('buffers outside guest memory, straddling its end, or wrapping the address space are refused', () => {
  const { set, walk } = rawTable();
  const cases: [number | bigint, number][] = [
    [0x10000, 1],
    [0xffff, 2],
    [0x2ffff, 2],
    [0x1_0000_0000, 1],
    [2n ** 64n - 1n, 2],
    [2n ** 63n, 1],
  ];
  for (const [addr, len] of cases) {
    set(0, { addr, len, flags: F.WRITE, next: 0 });
    assertChainError(walk, 'BUFFER_OUT_OF_RANGE', /buffer 0x[0-9a-f.e+]+\+0x[0-9a-f]+ is outside guest memory/);
  }
});

test('a chain totalling 2^32 bytes or more is CHAIN_TOO_LARGE', () => {
  const { memory, set, walk } = rawTable();
  // Large buffers need large memory: check the total with a memory that says yes to any range.
  memory.isValid = () => true;
  set(0, { addr: 0, len: 0xffff_ffff, flags: F.NEXT, next: 1 });
  set(1, { addr: 0, len: 0, flags: F.NEXT | F.WRITE, next: 2 });
  set(2, { addr: 0, len: 1, flags: F.WRITE, next: 0 });
  assertChainError(walk, 'CHAIN_TOO_LARGE', /total more than 4294967295 bytes/);
  set(2, { addr: 0, len: 0, flags: F.WRITE, next: 0 });
  assert.equal(walk().readableLength, 0xffff_ffff);
});
