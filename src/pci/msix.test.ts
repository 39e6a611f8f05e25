/** Tests of MSI-X: capability, table and PBA accesses, masking, pending bits and delivery order, snapshots. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PciConfigSpace } from './config-space.ts';
import { PCI_CONFIG } from './config-registers.ts';
import { Msix, type MsiMessage, type MsiRouter, type MsixOptions } from './msix.ts';

/** Records route and inject calls in order. */
class RecordingRouter implements MsiRouter {
  readonly events: string[] = [];

  route(vector: number, message: MsiMessage, masked: boolean): void {
    const { addressLo, addressHi, data } = message;
    this.events.push(`route ${vector} ${hex(addressHi)}:${hex(addressLo)} ${hex(data)} ${masked ? 'masked' : 'unmasked'}`);
  }

  inject(vector: number): void {
    this.events.push(`inject ${vector}`);
  }

  take(): string[] {
    return this.events.splice(0);
  }
}

const hex = (value: number): string => value.toString(16);

const LAYOUT: MsixOptions = { vectors: 3, table: { bar: 0, offset: 0 }, pba: { bar: 0, offset: 0x800 } };

function setup(options: MsixOptions = LAYOUT): { config: PciConfigSpace; msix: Msix; router: RecordingRouter } {
  const config = new PciConfigSpace({ vendorId: 0x1af4, deviceId: 0x1042, classCode: 0x01_80_00, barRelocation: { relocateBar: () => true } });
  config.addBar({ index: 0, kind: 'memory64', size: 0x1000, address: 0x1_0000_0000 });
  const router = new RecordingRouter();
  return { config, msix: new Msix(config, options, router), router };
}

function read(device: { read(offset: number, data: Uint8Array): void }, offset: number, width: number): number {
  const data = new Uint8Array(width);
  device.read(offset, data);
  return data.reduceRight((value, byte) => value * 256 + byte, 0);
}

function bytes(width: number, value: number): Uint8Array {
  const data = new Uint8Array(width);
  for (let i = 0; i < width; i++) data[i] = Math.floor(value / 256 ** i) & 0xff;
  return data;
}

const table = (msix: Msix) => ({
  read: (offset: number, data: Uint8Array) => msix.readTable(offset, data),
  write: (offset: number, value: number, width = 4) => msix.writeTable(offset, bytes(width, value)),
});
const pba = (msix: Msix) => ({ read: (offset: number, data: Uint8Array) => msix.readPba(offset, data) });

/** Writes the message control word through configuration space, as a driver does. */
function messageControl(config: PciConfigSpace, msix: Msix, value: number): void {
  config.writeConfig(msix.capability.offset + 2, bytes(2, value));
}

function program(msix: Msix, vector: number, addressLo: number, data: number): void {
  table(msix).write(vector * 16, addressLo);
  table(msix).write(vector * 16 + 4, 0);
  table(msix).write(vector * 16 + 8, data);
}

const unmask = (msix: Msix, vector: number): void => table(msix).write(vector * 16 + 12, 0);
const mask = (msix: Msix, vector: number): void => table(msix).write(vector * 16 + 12, 1);

test('the capability holds the table size, table and PBA locations; only enable and function mask are writable', () => {
  const { config, msix } = setup({ vectors: 3, table: { bar: 0, offset: 0x200 }, pba: { bar: 0, offset: 0x800 } });
  const cap = msix.capability.offset;
  assert.equal(config.bars().length, 1);
  assert.equal(cap, 0x40);
  const dwords = [0, 4, 8].map((at) => {
    const data = new Uint8Array(4);
    config.readConfig(cap + at, data);
    return data.reduceRight((value, byte) => value * 256 + byte, 0);
  });
  assert.deepEqual(dwords, [0x0002_0011, 0x200, 0x800]);
  assert.equal([msix.tableBytes, msix.pbaBytes].join(), '48,8');
  messageControl(config, msix, 0xffff);
  assert.equal(msix.capability.u16(2), 0xc002);
  config.writeConfig(cap + 4, bytes(4, 0xffff_ffff));
  assert.equal(msix.capability.u32(4), 0x200, 'the table offset is read-only');
  const status = new Uint8Array(2);
  config.readConfig(PCI_CONFIG.STATUS, status);
  assert.equal(status[0]! & 0x10, 0x10);
});

test('table entries start masked; fields keep their writable bits and read back at any width', () => {
  const { msix } = setup();
  const t = table(msix);
  assert.deepEqual([0, 4, 8, 12].map((at) => read(t, 16 + at, 4)), [0, 0, 0, 1]);
  t.write(16, 0xfee0_1003);
  t.write(20, 0x1234_5678);
  t.write(24, 0x0000_4041);
  t.write(28, 0xffff_ffff);
  assert.deepEqual([0, 4, 8, 12].map((at) => read(t, 16 + at, 4)), [0xfee0_1000, 0x1234_5678, 0x4041, 1]);
  assert.equal(read(t, 16, 8), 0x1234_5678 * 2 ** 32 + 0xfee0_1000);
  assert.equal(read(t, 17, 2), 0xe010);
  assert.equal(read(t, 27, 1), 0);
  // Past the table (3 vectors = 48 bytes) everything reads as ones.
  assert.equal(read(t, 48, 4), 0xffff_ffff);
  assert.equal(read(t, 46, 4), 0xffff_0000);
});

test('a masked vector that fires becomes pending and is delivered, after its route, when unmasked', () => {
  const { config, msix, router } = setup();
  messageControl(config, msix, 0x8000);
  program(msix, 1, 0xfee0_0000, 0x31);
  assert.deepEqual(router.take(), [], 'masked vectors are not routed while their message is written');
  unmask(msix, 1);
  assert.deepEqual(router.take(), ['route 1 0:fee00000 31 unmasked']);
  msix.trigger(1);
  assert.deepEqual(router.take(), ['inject 1']);
  mask(msix, 1);
  assert.deepEqual(router.take(), ['route 1 0:fee00000 31 masked']);
  msix.trigger(1);
  msix.trigger(1);
  assert.deepEqual(router.take(), []);
  assert.equal(read(pba(msix), 0, 8), 0b010);
  unmask(msix, 1);
  assert.deepEqual(router.take(), ['route 1 0:fee00000 31 unmasked', 'inject 1']);
  assert.equal(read(pba(msix), 0, 8), 0);
});

test('the function mask holds every vector pending and releases them in vector order', () => {
  const { config, msix, router } = setup();
  messageControl(config, msix, 0xc000);
  program(msix, 0, 0xfee0_0000, 0x40);
  program(msix, 2, 0xfee0_1000, 0x42);
  unmask(msix, 0);
  unmask(msix, 2);
  assert.deepEqual(router.take(), []);
  msix.trigger(2);
  msix.trigger(0);
  msix.trigger(1);
  assert.deepEqual(router.take(), []);
  assert.equal(read(pba(msix), 0, 4), 0b111);
  messageControl(config, msix, 0x8000);
  assert.deepEqual(router.take(), [
    'route 0 0:fee00000 40 unmasked',
    'route 2 0:fee01000 42 unmasked',
    'inject 0',
    'inject 2',
  ]);
  assert.equal(read(pba(msix), 0, 4), 0b010, 'vector 1 is still masked by its own bit');
  messageControl(config, msix, 0xc000);
  assert.deepEqual(router.take(), ['route 0 0:fee00000 40 masked', 'route 2 0:fee01000 42 masked']);
});

test('disabling MSI-X masks the routes and drops triggers; enabling restores them', () => {
  const { config, msix, router } = setup();
  messageControl(config, msix, 0x8000);
  program(msix, 0, 0xfee0_0000, 0x50);
  unmask(msix, 0);
  router.take();
  // A dword write at the capability start carries the message control in its upper half.
  config.writeConfig(msix.capability.offset, bytes(4, 0x0000_0000));
  assert.deepEqual(router.take(), ['route 0 0:fee00000 50 masked']);
  msix.trigger(0);
  assert.deepEqual(router.take(), []);
  assert.equal(read(pba(msix), 0, 8), 0, 'no pending bit while disabled');
  config.writeConfig(msix.capability.offset, bytes(4, 0x8000_0000));
  assert.deepEqual(router.take(), ['route 0 0:fee00000 50 unmasked']);
  msix.trigger(0);
  assert.deepEqual(router.take(), ['inject 0']);
});

test('message changes of an unmasked vector are re-routed; identical rewrites are not', () => {
  const { config, msix, router } = setup();
  messageControl(config, msix, 0x8000);
  program(msix, 2, 0xfee0_0000, 0x60);
  unmask(msix, 2);
  router.take();
  table(msix).write(2 * 16 + 8, 0x61);
  table(msix).write(2 * 16 + 8, 0x61);
  table(msix).write(2 * 16, 0xfee0_2000);
  assert.deepEqual(router.take(), ['route 2 0:fee00000 61 unmasked', 'route 2 0:fee02000 61 unmasked']);
});

test('qword table writes update two fields at once', () => {
  const { config, msix, router } = setup();
  messageControl(config, msix, 0x8000);
  table(msix).write(0, 0x0000_0001 * 2 ** 32 + 0xfee0_0000, 8);
  table(msix).write(8, 0x77, 8);
  assert.deepEqual(router.take(), ['route 0 1:fee00000 77 unmasked']);
  assert.equal(read(table(msix), 8, 8), 0x77);
});

test('odd vectors and odd accesses never throw; the PBA is read-only', () => {
  const { config, msix, router } = setup();
  messageControl(config, msix, 0x8000);
  for (const vector of [3, -1, 0xffff, 1.5, Number.NaN]) msix.trigger(vector);
  for (const offset of [-1, 47, 48, 1e9, 0.5]) {
    msix.writeTable(offset, Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0));
    msix.readTable(offset, new Uint8Array(8));
    msix.writePba(offset, Uint8Array.of(0xff));
    msix.readPba(offset, new Uint8Array(3));
  }
  // Offset 47 wrote the top byte of vector 2's control dword: reserved bits, nothing changes.
  assert.deepEqual(router.take(), []);
  msix.writeTable(0, new Uint8Array(0));
  mask(msix, 0);
  msix.trigger(0);
  msix.writePba(0, bytes(8, 0));
  assert.equal(read(pba(msix), 0, 1), 1);
  assert.equal(read(pba(msix), 7, 2), 0xff00, 'the byte past the PBA reads as ones');
});

test('the table and PBA must fit inside a memory BAR of the function', () => {
  const cases: MsixOptions[] = [
    { vectors: 0, table: { bar: 0, offset: 0 }, pba: { bar: 0, offset: 0x800 } },
    { vectors: 2049, table: { bar: 0, offset: 0 }, pba: { bar: 0, offset: 0x800 } },
    { vectors: 3, table: { bar: 1, offset: 0 }, pba: { bar: 0, offset: 0x800 } },
    { vectors: 3, table: { bar: 6, offset: 0 }, pba: { bar: 0, offset: 0x800 } },
    { vectors: 3, table: { bar: 0, offset: 4 }, pba: { bar: 0, offset: 0x800 } },
    { vectors: 3, table: { bar: 0, offset: 0xff8 }, pba: { bar: 0, offset: 0x800 } },
    { vectors: 3, table: { bar: 0, offset: 0 }, pba: { bar: 0, offset: 0x28 } },
  ];
  for (const options of cases) assert.throws(() => setup(options), { code: 'MSIX_INVALID' }, JSON.stringify(options));
  const config = new PciConfigSpace({ vendorId: 1, deviceId: 2, classCode: 0, barRelocation: { relocateBar: () => true } });
  config.addBar({ index: 0, kind: 'io', size: 0x100, address: 0x1000 });
  assert.throws(() => new Msix(config, LAYOUT, new RecordingRouter()), { code: 'MSIX_INVALID' });
});

test('save and restore carry the table, pending bits and control; restore routes the unmasked vectors', () => {
  const { config, msix } = setup();
  messageControl(config, msix, 0xc000);
  program(msix, 0, 0xfee0_0000, 0x70);
  program(msix, 2, 0xfee0_3000, 0x72);
  unmask(msix, 0);
  unmask(msix, 2);
  msix.trigger(2);
  messageControl(config, msix, 0x8000);
  mask(msix, 0);
  msix.trigger(0);
  const snapshot = JSON.parse(JSON.stringify(msix.save())) as unknown;
  assert.deepEqual(snapshot, {
    version: 1,
    enabled: true,
    functionMasked: false,
    entries: [
      { addressLo: 0xfee0_0000, addressHi: 0, data: 0x70, masked: true },
      { addressLo: 0, addressHi: 0, data: 0, masked: true },
      { addressLo: 0xfee0_3000, addressHi: 0, data: 0x72, masked: false },
    ],
    pending: [0],
  });
  const fresh = setup();
  fresh.msix.restore(snapshot);
  assert.deepEqual(fresh.router.take(), ['route 2 0:fee03000 72 unmasked']);
  assert.equal(read(pba(fresh.msix), 0, 1), 0b001);
  fresh.msix.trigger(2);
  unmask(fresh.msix, 0);
  assert.deepEqual(fresh.router.take(), ['inject 2', 'route 0 0:fee00000 70 unmasked', 'inject 0']);

  const good = msix.save();
  const bad: unknown[] = [
    undefined,
    { ...good, version: 0 },
    { ...good, enabled: 1 },
    { ...good, entries: good.entries.slice(1) },
    { ...good, entries: [{ ...good.entries[0], data: -1 }, ...good.entries.slice(1)] },
    { ...good, pending: [3] },
  ];
  for (const value of bad) assert.throws(() => setup().msix.restore(value), { code: 'BAD_SNAPSHOT' });
});
