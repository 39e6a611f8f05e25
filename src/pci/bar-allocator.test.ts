/** Tests of BAR address allocation and of following a guest BAR move onto the MMIO bus. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressAllocator, PciBarAllocator } from './bar-allocator.ts';
import { PciConfigSpace, type BarRelocation } from './config-space.ts';
import { PCI_COMMAND, PCI_CONFIG } from './config-registers.ts';
import { Bus, type BusDevice } from '../bus/bus.ts';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const WINDOWS = { mmio32: { base: 0xc000_0000, size: 640 * MiB }, mmio64: { base: 64 * GiB, size: 64 * GiB } };

test('allocation is top-down and naturally aligned in the 32-bit window', () => {
  const bars = new PciBarAllocator(WINDOWS);
  assert.equal(bars.allocate('memory32', 0x1000), 0xe7ff_f000);
  assert.equal(bars.allocate('memory32', 0x2000), 0xe7ff_c000, 'skips 0xe7ffd000, which is not 8 KiB aligned');
  assert.equal(bars.allocate('memory32', 0x1000), 0xe7ff_e000, 'fills the gap left by alignment');
  assert.equal(bars.allocate('memory32', 0x1000), 0xe7ff_b000);
});

test('64-bit BARs come from the 64-bit window, honouring a larger alignment', () => {
  const bars = new PciBarAllocator(WINDOWS);
  const first = bars.allocate('memory64', 0x8_0000, 8 * MiB);
  const second = bars.allocate('memory64', 0x8_0000, 8 * MiB);
  assert.equal(first, 128 * GiB - 8 * MiB);
  assert.equal(second, 128 * GiB - 16 * MiB);
  assert.equal(bars.allocate('memory64', 4 * GiB), 120 * GiB);
});

test('a full window, bad sizes and I/O BARs are clear errors', () => {
  const small = new AddressAllocator('test', { base: 0x1000, size: 0x3000 });
  assert.equal(small.allocate(0x1000), 0x3000);
  assert.throws(() => small.allocate(0x2000), { code: 'WINDOW_FULL' }, 'two pages are free but not 8 KiB aligned together');
  assert.equal(small.allocate(0x1000), 0x2000);
  assert.equal(small.allocate(0x1000), 0x1000);
  assert.throws(() => small.allocate(0x10), { code: 'WINDOW_FULL' });
  small.free(0x2000);
  assert.equal(small.allocate(0x1000), 0x2000, 'a freed range is reused');
  const bars = new PciBarAllocator(WINDOWS);
  assert.throws(() => bars.allocate('io', 0x100), { code: 'ALLOCATION_INVALID' });
  assert.throws(() => bars.allocate('memory32', 0x3000), { code: 'ALLOCATION_INVALID' });
  assert.throws(() => bars.allocate('memory32', 0x1000, 0x1800), { code: 'ALLOCATION_INVALID' });
  assert.throws(() => bars.allocate('memory32', GiB), { code: 'WINDOW_FULL' });
  const empty = new PciBarAllocator({ mmio32: WINDOWS.mmio32, mmio64: { base: 64 * GiB, size: 0 } });
  assert.throws(() => empty.allocate('memory64', 0x1000), { code: 'WINDOW_FULL' });
  assert.throws(() => new AddressAllocator('bad', { base: -1, size: 1 }), { code: 'ALLOCATION_INVALID' });
});

test('fixed-address allocation and free check the window and overlaps', () => {
  const bars = new PciBarAllocator(WINDOWS);
  bars.allocateAt(0xd000_0000, 0x1000);
  assert.throws(() => bars.allocateAt(0xd000_0000, 0x1000), { code: 'ADDRESS_UNAVAILABLE' });
  assert.throws(() => bars.allocateAt(0xcfff_f800, 0x1000), { code: 'ADDRESS_UNAVAILABLE' });
  assert.throws(() => bars.allocateAt(0xe7ff_f000, 0x2000), { code: 'ADDRESS_UNAVAILABLE' }, 'runs past the window');
  assert.throws(() => bars.allocateAt(0x8000_0000, 0x1000), { code: 'NOT_ALLOCATED' }, 'in neither window');
  assert.throws(() => bars.free(0xd000_1000), { code: 'NOT_ALLOCATED' });
  bars.free(0xd000_0000);
  bars.allocateAt(0xd000_0000, 0x1000);
});

test('relocate follows a guest move within or across windows and refuses taken or foreign places', () => {
  const bars = new PciBarAllocator(WINDOWS);
  const a = bars.allocate('memory64', 0x10_0000);
  const b = bars.allocate('memory64', 0x10_0000);
  const move = (oldAddress: number, newAddress: number): BarRelocation => ({ index: 0, kind: 'memory64', size: 0x10_0000, oldAddress, newAddress });
  assert.equal(bars.relocate(move(a, b)), false, 'taken');
  assert.equal(bars.relocate(move(a, 0x8000_0000)), false, 'outside both windows');
  assert.throws(() => bars.allocateAt(a, 0x10_0000), { code: 'ADDRESS_UNAVAILABLE' }, 'a refused move keeps the old range');
  assert.equal(bars.relocate(move(a, 0xd000_0000)), true, 'a 64-bit BAR may move below 4 GiB');
  bars.allocateAt(a, 0x10_0000);
  assert.throws(() => bars.allocateAt(0xd000_0000, 0x1000), { code: 'ADDRESS_UNAVAILABLE' });
});

/** A BAR region that answers reads with a constant. */
class ConstantRegion implements BusDevice {
  read(_offset: number, data: Uint8Array): void {
    data.fill(0x5a);
  }
  write(): void {}
}

test('a VMM relocation handler built on relocate re-registers the BAR region on the MMIO bus', () => {
  const mmio = new Bus('mmio');
  const bars = new PciBarAllocator(WINDOWS);
  const region = new ConstantRegion();
  const handler = {
    relocateBar(move: BarRelocation): boolean {
      if (!bars.relocate(move)) return false;
      mmio.remove(move.oldAddress);
      mmio.insert(move.newAddress, move.size, 'test BAR 0', region);
      return true;
    },
  };
  const config = new PciConfigSpace({ vendorId: 0x1af4, deviceId: 0x1041, classCode: 0x02_00_00, barRelocation: handler });
  const address = bars.allocate('memory32', 0x1000);
  config.addBar({ index: 0, kind: 'memory32', size: 0x1000, address });
  mmio.insert(address, 0x1000, 'test BAR 0', region);
  config.writeConfig(PCI_CONFIG.COMMAND, Uint8Array.of(PCI_COMMAND.MEMORY_SPACE, 0));
  config.writeConfig(PCI_CONFIG.BAR0, Uint8Array.of(0x00, 0x00, 0x00, 0xd0));
  assert.equal(config.bar(0)?.address, 0xd000_0000);
  assert.equal(mmio.resolve(0xd000_0010)?.device, region);
  assert.equal(mmio.resolve(address), undefined);
  // Moving outside the window is refused and the register keeps the current address.
  config.writeConfig(PCI_CONFIG.BAR0, Uint8Array.of(0x00, 0x00, 0x00, 0x80));
  const data = new Uint8Array(4);
  config.readConfig(PCI_CONFIG.BAR0, data);
  assert.deepEqual([...data], [0, 0, 0, 0xd0]);
  assert.equal(mmio.resolve(0xd000_0000)?.device, region);
});
