/** Tests of the ECAM (MMCONFIG) window. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PciBus } from './bus.ts';
import { PciConfigSpace } from './config-space.ts';
import { ECAM_BYTES_PER_BUS } from '../arch/x86_64/layout.ts';
import { PciEcam } from './ecam.ts';
import { createHostBridge } from './host-bridge.ts';

function setup(): { ecam: PciEcam; device: PciConfigSpace } {
  const bus = new PciBus(createHostBridge());
  const device = new PciConfigSpace({ vendorId: 0x1af4, deviceId: 0x1042, classCode: 0x01_80_00 });
  bus.attach(bus.allocateSlot(3), 0, device);
  return { ecam: new PciEcam(bus), device };
}

function load(ecam: PciEcam, offset: number, width: number): number {
  const data = new Uint8Array(width);
  ecam.read(offset, data);
  return data.reduceRight((value, byte) => value * 256 + byte, 0);
}

function store(ecam: PciEcam, offset: number, width: number, value: number): void {
  const data = new Uint8Array(width);
  for (let i = 0; i < width; i++) data[i] = Math.floor(value / 256 ** i) & 0xff;
  ecam.write(offset, data);
}

test('offset bus << 20 | device << 15 | function << 12 | register addresses a function register', () => {
  const { ecam } = setup();
  assert.equal(ECAM_BYTES_PER_BUS, 0x10_0000);
  assert.equal(load(ecam, 0x0_0000, 4), 0x0d57_8086, '00:00.0');
  assert.equal(load(ecam, 0x1_8000, 4), 0x1042_1af4, '00:03.0');
  assert.equal(load(ecam, 0x1_8002, 2), 0x1042);
  assert.equal(load(ecam, 0x1_800b, 1), 0x01);
  assert.equal(load(ecam, 0x1_8100, 4), 0, 'extended configuration space');
  assert.equal(load(ecam, 0x1_9000, 4), 0xffff_ffff, '00:03.1 is absent');
  assert.equal(load(ecam, 0x2_0000, 2), 0xffff, '00:04.0 is absent');
  assert.equal(load(ecam, 0xf_fffc, 4), 0xffff_ffff, '00:1f.7');
  assert.equal(load(ecam, ECAM_BYTES_PER_BUS + 0x1_8000, 4), 0xffff_ffff, 'bus 1 does not exist');
});

test('writes of each width reach the function through its write masks', () => {
  const { ecam, device } = setup();
  store(ecam, 0x1_8004, 2, 0xffff);
  store(ecam, 0x1_803c, 1, 0x0a);
  store(ecam, 0x1_8000, 4, 0);
  const data = new Uint8Array(4);
  device.readConfig(0x04, data);
  assert.deepEqual([...data], [0x47, 0x05, 0, 0]);
  assert.equal(load(ecam, 0x1_803c, 4), 0x0a);
  assert.equal(load(ecam, 0x1_8000, 4), 0x1042_1af4);
});

test('wide, dword-crossing and out-of-window accesses read ones and write nothing', () => {
  const { ecam } = setup();
  for (const [offset, width] of [[0x1_8000, 8], [0x1_8003, 2], [0x1_8002, 4], [-4, 4], [0.5, 1], [2 ** 60, 4], [0x1_8004, 0]] as const) {
    const data = new Uint8Array(width).fill(0x11);
    ecam.read(offset, data);
    assert.ok(data.every((byte) => byte === 0xff), `offset ${offset} width ${width}`);
    ecam.write(offset, new Uint8Array(width).fill(0xff));
  }
  assert.equal(load(ecam, 0x1_8004, 4), 0, 'the command register took none of those writes');
});
