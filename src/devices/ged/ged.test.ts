/** Tests of the ACPI Generic Event Device: notify/read-to-clear, odd guest accesses, bad calls, save/restore. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CountingInterruptLine } from '../../../test/helpers/fakes.ts';
import { portRead } from '../../../test/helpers/device-fakes.ts';
import { DeviceError } from '../device-error.ts';
import { GenericEventDevice } from './ged.ts';

function poweredOn(withInterrupt = true) {
  const state = new SharedArrayBuffer(GenericEventDevice.STATE_BYTES);
  GenericEventDevice.powerOn(state);
  const interrupt = new CountingInterruptLine();
  const ged = new GenericEventDevice(state, withInterrupt ? interrupt : undefined);
  return { state, interrupt, ged };
}

const deviceError = (code: string, message?: RegExp) => (error: unknown) =>
  error instanceof DeviceError && error.code === code && (message?.test(error.message) ?? true);

test('notify ORs the bits into the register and raises the interrupt; a guest read returns them and clears', () => {
  const { ged, interrupt } = poweredOn();
  assert.deepEqual(portRead(ged, 0), [0x00], 'nothing pending at power-on');
  ged.notify(0x8);
  assert.equal(interrupt.count, 1);
  ged.notify(0x8);
  assert.equal(interrupt.count, 2, 'every notification raises the interrupt, even with the bit already pending');
  assert.deepEqual(portRead(ged, 0), [0x08]);
  assert.deepEqual(portRead(ged, 0), [0x00], 'the read cleared the register');
  assert.equal(interrupt.count, 2, 'reads do not interrupt');
});

test('odd guest accesses: wide reads, other offsets and writes never throw and follow the byte-register rule', () => {
  const { ged } = poweredOn();
  ged.notify(0x8);
  assert.deepEqual(portRead(ged, 1), [0x00], 'an offset past the register reads 0');
  assert.deepEqual(portRead(ged, 7, 8), [0, 0, 0, 0, 0, 0, 0, 0]);
  ged.write(0, Uint8Array.of(0x00));
  ged.write(0, Uint8Array.of(0xff, 0xff, 0xff, 0xff));
  ged.write(3, new Uint8Array(0));
  assert.deepEqual(portRead(ged, 0, 4), [0x08, 0, 0, 0], 'writes left the pending bit; a wide read returns it in the low byte');
  ged.notify(0x8);
  assert.deepEqual(portRead(ged, 0, 8), [0x08, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(portRead(ged, 0, 2), [0, 0], 'the wide read cleared it too');
  ged.read(0, new Uint8Array(0));
});

test('notify rejects bits the DSDT does not handle and instances without an interrupt line, changing nothing', () => {
  const { ged, interrupt } = poweredOn();
  for (const bits of [0, 0x1, 0x2, 0x4, 0x10, 0x18, -8, 8.5, Number.NaN]) {
    assert.throws(() => ged.notify(bits), deviceError('BAD_CONFIG', /use GED_NOTIFICATION/), `bits ${bits}`);
  }
  assert.equal(interrupt.count, 0);
  assert.deepEqual(portRead(ged, 0), [0x00]);

  const { ged: workerGed, state } = poweredOn(false);
  assert.throws(() => workerGed.notify(0x8), deviceError('DEVICE_ABSENT', /gedInterrupt/));
  assert.deepEqual(new Uint8Array(state), Uint8Array.of(0), 'the failed notify left nothing pending');
});

test('every thread instance over one state buffer sees the same register', () => {
  const main = poweredOn();
  const vcpu = new GenericEventDevice(main.state, undefined);
  main.ged.notify(0x8);
  assert.deepEqual(portRead(vcpu, 0), [0x08]);
  assert.deepEqual(portRead(main.ged, 0), [0x00]);
});

test('save/restore carries the pending bits through JSON without raising the interrupt', () => {
  const source = poweredOn();
  assert.deepEqual(source.ged.save(), { version: 1, pending: 0 });
  source.ged.notify(0x8);
  const snapshot = JSON.parse(JSON.stringify(source.ged.save()));
  assert.deepEqual(snapshot, { version: 1, pending: 8 });
  assert.deepEqual(portRead(source.ged, 0), [0x08], 'saving does not clear');

  const target = poweredOn();
  target.ged.restore(snapshot);
  assert.equal(target.interrupt.count, 0);
  assert.deepEqual(portRead(target.ged, 0), [0x08]);
});

test('restore rejects foreign snapshots and the device rejects a bad state buffer', () => {
  const { ged } = poweredOn();
  const bad: [unknown, RegExp][] = [
    [{ version: 2, pending: 0 }, /version 2/],
    [{ version: 1 }, /"pending" is undefined/],
    [{ version: 1, pending: 0x10 }, /sets bits outside 0x8/],
    [{ version: 1, pending: 256 }, /from 0 to 255/],
    [null, /is null/],
  ];
  for (const [data, message] of bad) {
    assert.throws(() => ged.restore(data), deviceError('BAD_SNAPSHOT', message), JSON.stringify(data));
  }
  assert.throws(() => new GenericEventDevice(new SharedArrayBuffer(0), undefined), deviceError('BAD_STATE_BUFFER', /ACPI GED/));
});
