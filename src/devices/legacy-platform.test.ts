/**
 * Tests of the legacy platform table: shared state, per-thread instances on the port-I/O and MMIO buses, serial
 * input, the power button, snapshots.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../bus/bus.ts';
import { CountingInterruptLine } from '../../test/helpers/fakes.ts';
import { DeviceError } from './device-error.ts';
import {
  createLegacySharedState,
  LegacyPlatform,
  LEGACY_DEVICES,
  type LegacyDeviceDeps,
  type LegacyPlatformConfig,
} from './legacy-platform.ts';
import { CollectingSink, RecordingLogger, RecordingPlatform } from '../../test/helpers/device-fakes.ts';
import type { LockMode } from './shared-lock.ts';

const GIB = 1024 ** 3;
const CONFIG: LegacyPlatformConfig = { serial: true, memoryBelow4G: 2 * GIB, memoryAbove4G: 0 };

function threadDeps(lockMode: LockMode, nowNs = 2_500_000_000) {
  const deps = {
    serialInterrupt: new CountingInterruptLine(),
    gedInterrupt: new CountingInterruptLine(),
    serialOutput: new CollectingSink(),
    firmwareDebugOutput: new CollectingSink(),
    platform: new RecordingPlatform(),
    logger: new RecordingLogger(),
    monotonicClock: () => nowNs,
    wallClock: () => Date.UTC(2025, 6, 14, 8, 30, 0),
    lockMode,
  } satisfies LegacyDeviceDeps;
  return deps;
}

function attached(shared = createLegacySharedState(CONFIG), lockMode: LockMode = 'wait') {
  const deps = threadDeps(lockMode);
  const platform = new LegacyPlatform(shared, deps);
  const bus = new Bus('pio');
  const mmio = new Bus('mmio');
  platform.attach({ pio: bus, mmio });
  const inb = (port: number): number => {
    const data = new Uint8Array(1);
    assert.ok(bus.read(port, data), `a device answers at 0x${port.toString(16)}`);
    return data[0]!;
  };
  const outb = (port: number, value: number): void => {
    assert.ok(bus.write(port, Uint8Array.of(value)), `a device takes 0x${port.toString(16)}`);
  };
  const readb = (address: number): number => {
    const data = new Uint8Array(1);
    assert.ok(mmio.read(address, data), `a device answers at 0x${address.toString(16)}`);
    return data[0]!;
  };
  return { shared, deps, platform, bus, mmio, inb, outb, readb };
}

test('the table lists the platform devices at their Cloud Hypervisor ports and the GED at its MMIO address', () => {
  assert.deepEqual(
    LEGACY_DEVICES.map((d) => [d.name, d.bus, d.base, d.length]),
    [
      ['i8042', 'pio', 0x61, 4],
      ['cmos', 'pio', 0x70, 2],
      ['debug_port', 'pio', 0x80, 1],
      ['serial', 'pio', 0x3f8, 8],
      ['fw_debug', 'pio', 0x402, 1],
      ['acpi_pm', 'pio', 0x600, 12],
      ['ged', 'mmio', 0xfea0_0000, 1],
    ],
  );
  const { shared, platform, bus, mmio } = attached();
  assert.deepEqual(Object.keys(shared.buffers).sort(), ['acpi_pm', 'cmos', 'ged', 'serial']);
  assert.equal(platform.devices.length, 7);
  assert.equal(bus.resolve(0xfea0_0000), undefined, 'the GED is not on the port-I/O bus');
  assert.equal(mmio.resolve(0x600), undefined, 'port devices are not on the MMIO bus');
  assert.equal(mmio.resolve(0xfea0_0000)?.name, 'ged');
});

test('every device answers through the bus at its port', () => {
  const { deps, bus, inb, outb } = attached();
  assert.equal(inb(0x3fd), 0x60);
  outb(0x3f8, 0x4e);
  assert.equal(deps.serialOutput.text(), 'N');
  outb(0x70, 0x35);
  assert.equal(inb(0x71), 0x7f, '2 GiB - 16 MiB = 0x7F00 units of 64 KiB');
  outb(0x70, 0x09);
  assert.equal(inb(0x71), 0x25, 'year 2025 in BCD');
  assert.equal(inb(0x61), 0x20);
  assert.equal(inb(0x402), 0xe9);
  outb(0x402, 0x3e);
  assert.equal(deps.firmwareDebugOutput.text(), '>');
  outb(0x80, 0x42);
  assert.deepEqual(deps.logger.lines.at(-1), { level: 'debug', message: '[Debug I/O port: Kernel code 0x42] 2.500000 seconds' });
  const timer = new Uint8Array(4);
  bus.read(0x608, timer);
  assert.equal(new DataView(timer.buffer).getUint32(0, true), 8_948_862, 'PM timer at 2.5 s: floor(2.5 * 3579545)');
  outb(0x64, 0xfe);
  outb(0x600, 0x34);
  assert.deepEqual(deps.platform.requests, ['reset', 'shutdown']);
});

test('threads building their own platform over one shared state see the same devices', () => {
  const worker = attached(undefined, 'wait');
  const main = attached(structuredClone(worker.shared), 'spin');
  worker.outb(0x3ff, 0x77);
  assert.equal(main.inb(0x3ff), 0x77);
  worker.outb(0x3f9, 0x01);
  assert.equal(main.platform.enqueueSerialInput(Uint8Array.of(0x61, 0x62)), 2);
  assert.equal(main.deps.serialInterrupt.count, 1, 'the thread that queued the input raised IRQ 4');
  assert.equal(worker.inb(0x3f8), 0x61);
  main.outb(0x70, 0x40);
  main.outb(0x71, 0x99);
  worker.outb(0x70, 0x40);
  assert.equal(worker.inb(0x71), 0x99);
});

test('the power button sets the GED register bit 0x8 and raises GSI 5; the guest read on another thread clears it', () => {
  const worker = attached(undefined, 'wait');
  const main = attached(structuredClone(worker.shared), 'spin');
  assert.equal(worker.readb(0xfea0_0000), 0, 'nothing pending at power-on');
  main.platform.pressPowerButton();
  main.platform.pressPowerButton();
  assert.equal(main.deps.gedInterrupt.count, 2, 'each press raises the interrupt');
  assert.equal(worker.deps.gedInterrupt.count, 0);
  assert.equal(worker.readb(0xfea0_0000), 0x08);
  assert.equal(worker.readb(0xfea0_0000), 0, 'read-to-clear');
  assert.equal(main.deps.serialInterrupt.count, 0, 'the serial IRQ is untouched');
});

test("pressing the power button on a platform built without the GED's interrupt line is DEVICE_ABSENT", () => {
  const shared = createLegacySharedState(CONFIG);
  const { gedInterrupt: _gedInterrupt, ...workerDeps } = threadDeps('wait');
  const platform = new LegacyPlatform(shared, workerDeps);
  assert.throws(
    () => platform.pressPowerButton(),
    (error: unknown) => error instanceof DeviceError && error.code === 'DEVICE_ABSENT' && /gedInterrupt/.test(error.message),
  );
  assert.deepEqual(platform.save().devices.ged, { version: 1, pending: 0 }, 'nothing was left pending');
});

test('with serial off there is no device at 0x3F8 and serial input is DEVICE_ABSENT', async () => {
  const shared = createLegacySharedState({ ...CONFIG, serial: false });
  assert.equal(shared.buffers.serial, undefined);
  const { platform, bus } = attached(shared);
  assert.equal(bus.read(0x3fd, new Uint8Array(1)), false);
  const absent = (error: unknown) => error instanceof DeviceError && error.code === 'DEVICE_ABSENT';
  assert.throws(() => platform.enqueueSerialInput(Uint8Array.of(1)), absent);
  assert.throws(() => platform.waitForSerialInputSpace(), absent);
  assert.equal(platform.save().devices.serial, undefined);
});

test('serial input fills the FIFO and waiting for space resolves after the guest reads', async () => {
  const { platform, inb } = attached(undefined, 'spin');
  assert.equal(platform.enqueueSerialInput(new Uint8Array(70).fill(0x31)), 64);
  const waiting = platform.waitForSerialInputSpace();
  assert.equal(inb(0x3f8), 0x31);
  await waiting;
  assert.equal(platform.enqueueSerialInput(Uint8Array.of(0x32, 0x33)), 1);
});

test('save/restore moves the state of every stateful device to a new VM through JSON', () => {
  const source = attached();
  source.outb(0x3ff, 0x12);
  source.platform.enqueueSerialInput(Uint8Array.of(0x41));
  source.outb(0x70, 0x44);
  source.outb(0x71, 0x55);
  source.platform.pressPowerButton();
  const snapshot = JSON.parse(JSON.stringify(source.platform.save()));
  assert.deepEqual(Object.keys(snapshot.devices).sort(), ['acpi_pm', 'cmos', 'ged', 'serial']);

  const target = attached(createLegacySharedState({ ...CONFIG, memoryBelow4G: GIB }));
  target.platform.restore(snapshot);
  assert.deepEqual(target.platform.save(), source.platform.save());
  assert.equal(target.inb(0x3ff), 0x12);
  assert.equal(target.inb(0x3f8), 0x41);
  assert.equal(target.inb(0x71), 0x55, 'CMOS index 0x44 restored');
  assert.equal(target.readb(0xfea0_0000), 0x08, 'the pending power-button bit restored');
  assert.equal(target.deps.gedInterrupt.count, 0, 'restore does not raise the interrupt again');
});

test('restore rejects snapshots for a different device set or in a bad shape', () => {
  const { platform } = attached();
  const good = platform.save();
  const withoutSerial = attached(createLegacySharedState({ ...CONFIG, serial: false })).platform;
  const bad: [unknown, RegExp][] = [
    [{ ...good, version: 3 }, /version 3/],
    [{ version: 1 }, /"devices"/],
    [good, /"serial", which this VM does not have/],
  ];
  for (const [data, message] of bad) {
    assert.throws(
      () => withoutSerial.restore(data),
      (error: unknown) => error instanceof DeviceError && error.code === 'BAD_SNAPSHOT' && message.test(error.message),
    );
  }
  const { serial: _serial, ...devices } = good.devices;
  assert.throws(
    () => platform.restore({ version: 1, devices }),
    (error: unknown) => error instanceof DeviceError && error.code === 'BAD_SNAPSHOT' && /no state for "serial"/.test(error.message),
  );
});

test('bad configuration and foreign shared state are reported', () => {
  assert.throws(
    () => createLegacySharedState({ ...CONFIG, memoryAbove4G: -4096 }),
    (error: unknown) => error instanceof DeviceError && error.code === 'BAD_CONFIG',
  );
  const shared = createLegacySharedState(CONFIG);
  const { cmos: _cmos, ...buffers } = shared.buffers;
  assert.throws(
    () => new LegacyPlatform({ config: CONFIG, buffers }, threadDeps('spin')),
    (error: unknown) => error instanceof DeviceError && error.code === 'BAD_STATE_BUFFER' && /cmos/.test(error.message),
  );
});
