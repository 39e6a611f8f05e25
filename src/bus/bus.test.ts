/** Bus range map: dispatch with offsets, overlap rejection, open-bus reads. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus, type BusDevice } from './bus.ts';

function recorder(): BusDevice & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    read: (offset, data) => {
      log.push(`r${offset}`);
      data.fill(offset);
    },
    write: (offset, data) => void log.push(`w${offset}=${[...data].join(',')}`),
  };
}

test('accesses reach the device that owns the address, with offsets relative to its base', () => {
  const bus = new Bus('pio');
  const a = recorder();
  const b = recorder();
  bus.insert(0x3f8, 8, 'serial', a);
  bus.insert(0x70, 2, 'cmos', b);
  const data = new Uint8Array(1);
  assert.equal(bus.read(0x3fd, data), true);
  assert.equal(data[0], 5);
  assert.equal(bus.write(0x71, new Uint8Array([7])), true);
  assert.deepEqual([a.log, b.log], [['r5'], ['w1=7']]);
  assert.equal(bus.resolve(0x3ff)?.name, 'serial');
  assert.equal(bus.resolve(0x400), undefined);
});

test('unclaimed reads return all ones and unclaimed writes are dropped', () => {
  const bus = new Bus('mmio');
  const data = new Uint8Array(4);
  assert.equal(bus.read(0xd0000000, data), false);
  assert.deepEqual([...data], [0xff, 0xff, 0xff, 0xff]);
  assert.equal(bus.write(0xd0000000, data), false);
});

test('overlapping and empty ranges are refused; remove frees a range', () => {
  const bus = new Bus('pio');
  bus.insert(0x60, 4, 'i8042', recorder());
  assert.throws(() => bus.insert(0x63, 2, 'other', recorder()), { code: 'OVERLAP', message: /overlaps i8042/ });
  assert.throws(() => bus.insert(0x80, 0, 'empty', recorder()), { code: 'EMPTY_RANGE' });
  bus.remove(0x60);
  bus.insert(0x63, 2, 'other', recorder());
  assert.throws(() => bus.remove(0x60), { code: 'NOT_FOUND' });
});
