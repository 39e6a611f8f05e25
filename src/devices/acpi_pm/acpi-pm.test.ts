/** Tests of the ACPI PM device: sleep/reset register and the PM timer against a fake monotonic clock. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AcpiPowerManagement, ACPI_PM_PORT, PM_TIMER_HZ } from './acpi-pm.ts';
import { DeviceError } from '../device-error.ts';
import { RecordingLogger, RecordingPlatform, inb, outb, portRead } from '../../../test/helpers/device-fakes.ts';

const SECOND = 1_000_000_000;

function setup(startNs = 0) {
  const clock = { now: startNs };
  const buffer = new SharedArrayBuffer(AcpiPowerManagement.STATE_BYTES);
  AcpiPowerManagement.powerOn(buffer);
  const platform = new RecordingPlatform();
  const logger = new RecordingLogger();
  const pm = new AcpiPowerManagement(buffer, platform, logger, () => clock.now);
  const timer = (): number => {
    const bytes = portRead(pm, ACPI_PM_PORT.PM_TIMER, 4);
    return new DataView(Uint8Array.from(bytes).buffer).getUint32(0, true);
  };
  return { clock, pm, platform, logger, timer };
}

test('writing 1 requests a reset, SLP_EN with SLP_TYP 5 (0x34) a shutdown', () => {
  const { pm, platform, logger } = setup();
  outb(pm, ACPI_PM_PORT.SLEEP_CONTROL, 0x01);
  outb(pm, ACPI_PM_PORT.SLEEP_CONTROL, 0x34);
  pm.write(ACPI_PM_PORT.SLEEP_CONTROL, Uint8Array.of(0x34, 0xff)); // a wider write uses its low byte
  assert.deepEqual(platform.requests, ['reset', 'shutdown', 'shutdown']);
  assert.deepEqual(logger.lines.map((l) => l.message), ['ACPI reboot signalled', 'ACPI shutdown signalled', 'ACPI shutdown signalled']);
});

test('other sleep types are logged and ignored; writes without SLP_EN and elsewhere do nothing', () => {
  const { pm, platform, logger } = setup();
  outb(pm, ACPI_PM_PORT.SLEEP_CONTROL, 0x2c); // SLP_EN, SLP_TYP 3
  assert.deepEqual(logger.lines, [
    { level: 'warn', message: 'ACPI sleep request with SLP_TYP 3 ignored: only soft off (SLP_TYP 5) is supported' },
  ]);
  outb(pm, ACPI_PM_PORT.SLEEP_CONTROL, 0x14); // SLP_TYP 5 without SLP_EN
  outb(pm, ACPI_PM_PORT.SLEEP_CONTROL, 0x80); // WAK_STS write-to-clear
  outb(pm, 1, 0x01);
  outb(pm, ACPI_PM_PORT.PM_TIMER, 0x34);
  pm.write(ACPI_PM_PORT.SLEEP_CONTROL, new Uint8Array(0));
  assert.deepEqual(platform.requests, []);
  assert.equal(logger.lines.length, 1);
});

test('the sleep status and unused ports read 0', () => {
  const { clock, pm } = setup(5 * SECOND);
  clock.now = 7 * SECOND;
  assert.equal(inb(pm, ACPI_PM_PORT.SLEEP_CONTROL), 0);
  assert.deepEqual(portRead(pm, ACPI_PM_PORT.SLEEP_CONTROL, 4), [0, 0, 0, 0]);
  assert.deepEqual(portRead(pm, 4, 4), [0, 0, 0, 0]);
  assert.deepEqual(portRead(pm, 12, 2), [0, 0]);
});

test('the PM timer counts 3.579545 MHz ticks of the monotonic clock and wraps at 32 bits', () => {
  const { clock, timer } = setup();
  assert.equal(timer(), 0);
  clock.now = SECOND;
  assert.equal(timer(), PM_TIMER_HZ);
  clock.now = 1200 * SECOND;
  assert.equal(timer(), 1200 * PM_TIMER_HZ - 2 ** 32);
  clock.now = 3 * 86_400 * SECOND + SECOND / 2; // large values keep integer precision
  assert.equal(timer(), (3 * 86_400 * PM_TIMER_HZ + 1_789_772) % 2 ** 32);
});

test('narrow and offset timer reads return the matching bytes of the little-endian counter', () => {
  const { clock, pm } = setup();
  clock.now = SECOND; // counter 0x00369E99
  assert.deepEqual(portRead(pm, ACPI_PM_PORT.PM_TIMER, 4), [0x99, 0x9e, 0x36, 0x00]);
  assert.deepEqual(portRead(pm, ACPI_PM_PORT.PM_TIMER, 2), [0x99, 0x9e]);
  assert.deepEqual(portRead(pm, ACPI_PM_PORT.PM_TIMER + 2, 1), [0x36]);
  assert.deepEqual(portRead(pm, ACPI_PM_PORT.PM_TIMER + 1, 4), [0x9e, 0x36, 0x00, 0x00]);
  assert.deepEqual(portRead(pm, ACPI_PM_PORT.PM_TIMER, 8), [0x99, 0x9e, 0x36, 0, 0, 0, 0, 0]);
});

test('restore continues the timer from the saved value on a different clock', () => {
  const source = setup();
  source.clock.now = 1199 * SECOND;
  const snapshot = source.pm.save();
  assert.deepEqual(snapshot, { version: 1, timerCounter: 1199 * PM_TIMER_HZ });
  const target = setup(3 * SECOND);
  target.pm.restore(snapshot);
  assert.equal(target.timer(), snapshot.timerCounter);
  target.clock.now += 2 * SECOND;
  assert.equal(target.timer(), (snapshot.timerCounter + 2 * PM_TIMER_HZ) % 2 ** 32, 'continues and wraps');
  target.pm.restore({ version: 1, timerCounter: 0xffff_ffff });
  target.clock.now += SECOND;
  assert.equal(target.timer(), PM_TIMER_HZ - 1, 'wraps after a restore near the top');
});

test('bad snapshots are BAD_SNAPSHOT', () => {
  const { pm } = setup();
  for (const bad of [{ version: 1 }, { version: 1, timerCounter: 2 ** 32 }, { version: 1, timerCounter: -1 }, { version: 2, timerCounter: 0 }, 7]) {
    assert.throws(
      () => pm.restore(bad),
      (error: unknown) => error instanceof DeviceError && error.code === 'BAD_SNAPSHOT' && /ACPI PM snapshot/.test(error.message),
    );
  }
});
