/** Tests of configuration mechanism #1 (ports 0xCF8-0xCFF). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PciBus } from './bus.ts';
import { PciConfigIo } from './config-io.ts';
import { PciConfigSpace } from './config-space.ts';
import { createHostBridge } from './host-bridge.ts';

const ADDRESS = 0;
const DATA = 4;

function setup(): { io: PciConfigIo; device: PciConfigSpace; slot: number } {
  const bus = new PciBus(createHostBridge());
  const device = new PciConfigSpace({
    vendorId: 0x1af4,
    deviceId: 0x1041,
    classCode: 0x02_00_00,
    multiFunction: true,
    barRelocation: { relocateBar: () => true },
  });
  device.addBar({ index: 0, kind: 'memory64', size: 0x8_0000, address: 0x1_0000_0000 });
  // A fully writable dword at 0x44 to test writes at every offset.
  device.addCapability(0x09, new Uint8Array(6), { writableMask: Uint8Array.of(0, 0, 0xff, 0xff, 0xff, 0xff) });
  const slot = bus.allocateSlot();
  bus.attach(slot, 0, device);
  bus.attach(slot, 3, new PciConfigSpace({ vendorId: 0x1b36, deviceId: 0x0011, classCode: 0x08_80_00 }));
  return { io: new PciConfigIo(bus), device, slot };
}

function portIn(io: PciConfigIo, port: number, width: number): number {
  const data = new Uint8Array(width);
  io.read(port, data);
  return data.reduceRight((value, byte) => value * 256 + byte, 0);
}

function portOut(io: PciConfigIo, port: number, width: number, value: number): void {
  const data = new Uint8Array(width);
  for (let i = 0; i < width; i++) data[i] = Math.floor(value / 256 ** i) & 0xff;
  io.write(port, data);
}

const address = (slot: number, fn: number, register: number, bus = 0): number =>
  (0x8000_0000 | (bus << 16) | (slot << 11) | (fn << 8) | register) >>> 0;

test('CONFIG_ADDRESS latches aligned dword writes, keeps only its implemented bits and reads back at any width', () => {
  const { io } = setup();
  portOut(io, ADDRESS, 4, 0xffff_ffff);
  assert.equal(portIn(io, ADDRESS, 4), 0x80ff_fffc);
  assert.equal(portIn(io, ADDRESS + 1, 2), 0xffff);
  assert.equal(portIn(io, ADDRESS + 3, 1), 0x80);
  portOut(io, ADDRESS, 4, 0x8000_0810);
  portOut(io, ADDRESS + 3, 1, 0x01);
  portOut(io, ADDRESS, 2, 0);
  portOut(io, ADDRESS + 1, 2, 0);
  assert.equal(portIn(io, ADDRESS, 4), 0x8000_0810, 'byte and word writes do not latch');
  assert.equal(portIn(io, ADDRESS + 2, 4), 0xffff_ffff, 'an access crossing into CONFIG_DATA');
});

test('CONFIG_DATA reads the addressed dword with byte, word and dword accesses at every offset', () => {
  const { io, slot } = setup();
  portOut(io, ADDRESS, 4, address(slot, 0, 0x00));
  const dword = 0x1041_1af4;
  for (const width of [1, 2, 4]) {
    for (let offset = 0; offset < 4; offset++) {
      const expected = offset + width <= 4 ? Math.floor(dword / 256 ** offset) % 256 ** width : 256 ** width - 1;
      assert.equal(portIn(io, DATA + offset, width), expected, `width ${width} at 0xCFC+${offset}`);
    }
  }
  portOut(io, ADDRESS, 4, address(slot, 0, 0x08));
  assert.equal(portIn(io, DATA, 4), 0x0200_0000);
  assert.equal(portIn(io, DATA + 3, 1), 0x02, 'base class byte');
});

test('CONFIG_DATA writes of every width reach the addressed bytes', () => {
  const { io, device, slot } = setup();
  portOut(io, ADDRESS, 4, address(slot, 0, 0x44));
  portOut(io, DATA, 4, 0x0403_0201);
  for (let offset = 0; offset < 4; offset++) portOut(io, DATA + offset, 1, 0x10 + offset);
  const afterBytes = portIn(io, DATA, 4);
  portOut(io, DATA + 1, 2, 0xbeef);
  const afterWord = portIn(io, DATA, 4);
  portOut(io, DATA + 2, 2, 0xcafe);
  portOut(io, DATA + 3, 2, 0xdead);
  portOut(io, DATA + 1, 4, 0xdead_beef);
  assert.deepEqual([afterBytes, afterWord, portIn(io, DATA, 4)], [0x1312_1110, 0x13be_ef10, 0xcafe_ef10]);
  const dword = new Uint8Array(4);
  device.readConfig(0x44, dword);
  assert.deepEqual([...dword], [0x10, 0xef, 0xfe, 0xca]);
});

test('the enable bit, the bus number and absent functions gate CONFIG_DATA', () => {
  const { io, slot } = setup();
  portOut(io, ADDRESS, 4, address(slot, 0, 0) & 0x7fff_ffff);
  assert.equal(portIn(io, DATA, 4), 0xffff_ffff, 'enable bit clear');
  portOut(io, ADDRESS, 4, address(slot, 0, 0, 1));
  assert.equal(portIn(io, DATA, 4), 0xffff_ffff, 'bus 1');
  portOut(io, ADDRESS, 4, address(slot + 1, 0, 0));
  assert.equal(portIn(io, DATA, 2), 0xffff, 'empty slot');
  portOut(io, ADDRESS, 4, address(slot, 1, 0));
  assert.equal(portIn(io, DATA, 4), 0xffff_ffff, 'absent function 1');
  portOut(io, ADDRESS, 4, address(slot, 3, 0));
  assert.equal(portIn(io, DATA, 4), 0x0011_1b36, 'function 3 of the multi-function slot');
  portOut(io, ADDRESS, 4, address(slot, 0, 0x0c));
  assert.equal(portIn(io, DATA + 2, 1), 0x80, 'header type shows multi-function');
  portOut(io, ADDRESS, 4, address(0, 0, 0));
  assert.equal(portIn(io, DATA, 4), 0x0d57_8086, 'the host bridge at 00:00.0');
  portOut(io, ADDRESS, 4, address(slot, 0, 0x3c) & 0x7fff_ffff);
  portOut(io, DATA, 1, 0x0b);
  portOut(io, ADDRESS, 4, address(slot, 0, 0x3c));
  assert.equal(portIn(io, DATA, 1), 0, 'a write with the enable bit clear went nowhere');
});

test('a 64-bit BAR sizes through CF8/CFC as Linux does it', () => {
  const { io, slot } = setup();
  const readBar = (register: number): number => {
    portOut(io, ADDRESS, 4, address(slot, 0, register));
    return portIn(io, DATA, 4);
  };
  const writeBar = (register: number, value: number): void => {
    portOut(io, ADDRESS, 4, address(slot, 0, register));
    portOut(io, DATA, 4, value);
  };
  const low = readBar(0x10);
  const high = readBar(0x14);
  writeBar(0x10, 0xffff_ffff);
  writeBar(0x14, 0xffff_ffff);
  const sizeLow = readBar(0x10);
  const sizeHigh = readBar(0x14);
  writeBar(0x10, low);
  writeBar(0x14, high);
  assert.deepEqual([low, high, sizeLow, sizeHigh], [0x4, 0x1, 0xfff8_0004, 0xffff_ffff]);
  const size = 2 ** 64 - (sizeHigh * 2 ** 32 + ((sizeLow & 0xffff_fff0) >>> 0));
  assert.equal(size, 0x8_0000);
  assert.deepEqual([readBar(0x10), readBar(0x14)], [0x4, 0x1]);
});

test('accesses beyond the eight ports or of odd widths never throw', () => {
  const { io } = setup();
  for (const [port, width] of [[8, 1], [7, 2], [5, 4], [0, 8], [-1, 1], [0.5, 1], [4, 0]] as const) {
    const data = new Uint8Array(width).fill(0x5a);
    io.read(port, data);
    io.write(port, data);
    assert.ok(data.every((byte) => byte === 0xff), `port +${port} width ${width}`);
  }
});
