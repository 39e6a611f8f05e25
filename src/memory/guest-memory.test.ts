/** Guest memory bounds checks: every access outside the regions is refused, accesses across chunks work. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from './guest-memory.ts';

const layout = [
  { guestBase: 0, size: 0x10000 },
  { guestBase: 0x100000, size: 0x2000 },
];

test('reads and writes inside regions round-trip, scalars are little-endian', () => {
  const memory = GuestMemory.anonymous(layout);
  memory.writeU64(0x100008, 0x1122334455667788n);
  assert.equal(memory.readU32(0x100008), 0x55667788);
  assert.equal(memory.readU16(0x10000c), 0x3344);
  assert.equal(memory.readU8(0x10000f), 0x11);
  memory.write(0xfff0, new Uint8Array([1, 2, 3]));
  assert.deepEqual([...memory.read(0xfff0, 3)], [1, 2, 3]);
  memory.fill(0xfff0, 3, 0xaa);
  assert.deepEqual([...memory.slice(0xfff0, 3)], [0xaa, 0xaa, 0xaa]);
  assert.equal(memory.totalSize, 0x12000);
});

test('accesses outside or straddling the regions throw OUT_OF_RANGE and write nothing', () => {
  const memory = GuestMemory.anonymous(layout);
  const outside = [
    () => memory.readU8(0x10000),
    () => memory.readU32(0xfffe),
    () => memory.write(0x101ffe, new Uint8Array(4)),
    () => memory.read(-1, 1),
    () => memory.readU64(0x102000),
    () => memory.fill(0x100000, 0x2001),
    () => memory.slice(2 ** 53, 1),
  ];
  for (const access of outside) assert.throws(access, { code: 'OUT_OF_RANGE' });
  assert.deepEqual([...memory.read(0x101ffe, 2)], [0, 0], 'the refused write left memory untouched');
  assert.equal(memory.isValid(0xffff, 1), true);
  assert.equal(memory.isValid(0xffff, 2), false);
  assert.equal(memory.isValid(0x1000, Number.NaN), false);
});

test('adjacent chunks behave as one range; overlapping regions are rejected', () => {
  const memory = new GuestMemory([{ guestBase: 0x1000, size: 8, backing: [new Uint8Array(4), new Uint8Array(4)] }]);
  memory.writeU64(0x1000, 0x0807060504030201n);
  assert.equal(memory.readU32(0x1002), 0x06050403, 'scalar across the chunk boundary');
  assert.throws(() => memory.slice(0x1002, 4), { code: 'CROSSES_CHUNK' });
  assert.throws(() => GuestMemory.anonymous([{ guestBase: 0, size: 0x2000 }, { guestBase: 0x1000, size: 0x1000 }]), { code: 'OVERLAP' });
  assert.throws(() => new GuestMemory([{ guestBase: 0, size: 8, backing: [new Uint8Array(4)] }]), { code: 'BACKING_SIZE' });
});
