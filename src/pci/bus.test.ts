/** Tests of the PCI bus: slot allocation like Cloud Hypervisor's, function lookup, absent functions, host bridge. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PciBus, type PciFunction } from './bus.ts';
import { createHostBridge } from './host-bridge.ts';

/** A function whose every configuration byte reads `fill`; records writes. */
class FakeFunction implements PciFunction {
  readonly writes: [number, number[]][] = [];
  private readonly fill: number;

  constructor(fill: number) {
    this.fill = fill;
  }

  readConfig(_offset: number, data: Uint8Array): void {
    data.fill(this.fill);
  }

  writeConfig(offset: number, data: Uint8Array): void {
    this.writes.push([offset, [...data]]);
  }
}

function readDword(bus: PciBus, busNumber: number, slot: number, fn: number, offset: number): number {
  const data = new Uint8Array(4);
  bus.readConfig(busNumber, slot, fn, offset, data);
  return new DataView(data.buffer).getUint32(0, true);
}

test('slot 0 holds the host bridge; automatic allocation hands out 1-31 in order, then fails', () => {
  const bus = new PciBus(createHostBridge());
  assert.throws(() => bus.allocateSlot(0), { code: 'SLOT_IN_USE' });
  for (let expected = 1; expected < 32; expected++) assert.equal(bus.allocateSlot(), expected);
  assert.throws(() => bus.allocateSlot(), { code: 'BUS_FULL' });
});

test('without a host bridge (segments other than 0) slot 0 is an ordinary slot', () => {
  const bus = new PciBus();
  assert.equal(bus.allocateSlot(), 0);
  assert.equal(readDword(bus, 0, 0, 0, 0), 0xffff_ffff, 'allocated but nothing attached');
});

test('reserved slots are skipped by automatic allocation but can be allocated by number', () => {
  const bus = new PciBus(createHostBridge());
  bus.reserveSlot(1);
  bus.reserveSlot(3);
  assert.throws(() => bus.reserveSlot(3), { code: 'SLOT_IN_USE' });
  assert.equal(bus.allocateSlot(), 2);
  assert.equal(bus.allocateSlot(), 4);
  assert.equal(bus.allocateSlot(3), 3);
  assert.throws(() => bus.allocateSlot(3), { code: 'SLOT_IN_USE' });
  assert.equal(bus.allocateSlot(31), 31);
  for (const slot of [32, -1, 1.5]) {
    assert.throws(() => bus.allocateSlot(slot), { code: 'SLOT_INVALID' });
    assert.throws(() => bus.reserveSlot(slot), { code: 'SLOT_INVALID' });
  }
});

test('functions attach to allocated slots; reads and writes reach them by device and function', () => {
  const bus = new PciBus(createHostBridge());
  const fn0 = new FakeFunction(0x11);
  const fn5 = new FakeFunction(0x55);
  assert.throws(() => bus.attach(2, 0, fn0), { code: 'SLOT_NOT_ALLOCATED' });
  const slot = bus.allocateSlot();
  bus.attach(slot, 0, fn0);
  bus.attach(slot, 5, fn5);
  assert.throws(() => bus.attach(slot, 0, fn5), { code: 'SLOT_IN_USE' });
  assert.throws(() => bus.attach(slot, 8, fn5), { code: 'SLOT_INVALID' });
  assert.equal(bus.functionAt(slot, 5), fn5);
  assert.equal(readDword(bus, 0, slot, 0, 0x10), 0x1111_1111);
  assert.equal(readDword(bus, 0, slot, 5, 0x10), 0x5555_5555);
  assert.equal(readDword(bus, 0, slot, 1, 0x10), 0xffff_ffff, 'absent function');
  assert.equal(readDword(bus, 1, slot, 0, 0x10), 0xffff_ffff, 'no bus 1');
  assert.equal(readDword(bus, 0, 9, 0, 0), 0xffff_ffff, 'empty slot');
  assert.equal(readDword(bus, 0, 32, 0, 0), 0xffff_ffff, 'device number out of range');
  assert.equal(readDword(bus, 0, slot, -1, 0), 0xffff_ffff, 'function number out of range');
  bus.writeConfig(0, slot, 5, 0x3c, Uint8Array.of(9));
  bus.writeConfig(0, slot, 6, 0x3c, Uint8Array.of(9));
  bus.writeConfig(2, slot, 5, 0x3c, Uint8Array.of(9));
  assert.deepEqual(fn5.writes, [[0x3c, [9]]]);
  assert.deepEqual(fn0.writes, []);
});

test('releasing a slot detaches its functions and frees it for the next allocation', () => {
  const bus = new PciBus(createHostBridge());
  const slot = bus.allocateSlot();
  bus.attach(slot, 0, new FakeFunction(0x22));
  bus.allocateSlot();
  bus.releaseSlot(slot);
  assert.equal(bus.functionAt(slot, 0), undefined);
  assert.equal(readDword(bus, 0, slot, 0, 0), 0xffff_ffff);
  assert.throws(() => bus.releaseSlot(slot), { code: 'SLOT_NOT_ALLOCATED' });
  assert.equal(bus.allocateSlot(), slot);
});

test("the host bridge reads as Cloud Hypervisor's: 8086:0d57, class 06:00:00, no BARs or capabilities", () => {
  const bus = new PciBus(createHostBridge());
  assert.equal(readDword(bus, 0, 0, 0, 0x00), 0x0d57_8086);
  assert.equal(readDword(bus, 0, 0, 0, 0x04), 0x0000_0000);
  assert.equal(readDword(bus, 0, 0, 0, 0x08), 0x0600_0000);
  assert.equal(readDword(bus, 0, 0, 0, 0x0c), 0x0000_0000);
  assert.equal(readDword(bus, 0, 0, 0, 0x10), 0);
  assert.equal(readDword(bus, 0, 0, 0, 0x34), 0);
  bus.writeConfig(0, 0, 0, 0x04, Uint8Array.of(0x06, 0x00));
  assert.equal(readDword(bus, 0, 0, 0, 0x04), 0x0000_0006);
});
