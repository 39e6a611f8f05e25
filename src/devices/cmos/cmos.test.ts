/** Tests of the CMOS RTC against a fixed clock: time registers, status registers, memory sizes, snapshots. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cmos } from './cmos.ts';
import { CMOS_PORT, CMOS_REGISTER as R } from './cmos-registers.ts';
import { DeviceError } from '../device-error.ts';
import { RecordingLogger, RecordingPlatform, inb, outb, portRead } from '../../../test/helpers/device-fakes.ts';

const GIB = 1024 ** 3;
/** Thursday 29 February 2024, 23:59:58.750 UTC. */
const FIXED_TIME = Date.UTC(2024, 1, 29, 23, 59, 58, 750);

function setup(sizes = { memoryBelow4G: 3 * GIB, memoryAbove4G: 5 * GIB }, now = () => FIXED_TIME) {
  const buffer = new SharedArrayBuffer(Cmos.STATE_BYTES);
  Cmos.powerOn(buffer, sizes);
  const platform = new RecordingPlatform();
  const logger = new RecordingLogger();
  const cmos = new Cmos(buffer, now, platform, logger);
  const readRegister = (index: number): number => {
    outb(cmos, CMOS_PORT.INDEX, index);
    return inb(cmos, CMOS_PORT.DATA);
  };
  const writeRegister = (index: number, value: number): void => {
    outb(cmos, CMOS_PORT.INDEX, index);
    outb(cmos, CMOS_PORT.DATA, value);
  };
  return { buffer, cmos, platform, logger, readRegister, writeRegister };
}

const TIME_REGISTERS = [R.SECONDS, R.MINUTES, R.HOURS, R.DAY_OF_WEEK, R.DAY_OF_MONTH, R.MONTH, R.YEAR, R.CENTURY];

test('time and date read the host clock in BCD by default, 24-hour, Sunday = 1', () => {
  const { readRegister } = setup();
  assert.deepEqual(TIME_REGISTERS.map(readRegister), [0x58, 0x59, 0x23, 0x05, 0x29, 0x02, 0x24, 0x20]);
});

test('status register B DM bit selects binary; the 24-hour bit cannot be cleared', () => {
  const { readRegister, writeRegister } = setup();
  assert.equal(readRegister(R.STATUS_B), 0x02);
  writeRegister(R.STATUS_B, 0x04);
  assert.equal(readRegister(R.STATUS_B), 0x06);
  assert.deepEqual(TIME_REGISTERS.map(readRegister), [58, 59, 23, 5, 29, 2, 24, 20]);
});

test('the clock is read at each access and guest writes to time registers are ignored', () => {
  let now = Date.UTC(1999, 11, 31, 9, 5, 7);
  const { readRegister, writeRegister } = setup(undefined, () => now);
  assert.deepEqual(TIME_REGISTERS.map(readRegister), [0x07, 0x05, 0x09, 0x06, 0x31, 0x12, 0x99, 0x19]);
  writeRegister(R.SECONDS, 0x30);
  writeRegister(R.YEAR, 0x42);
  now = Date.UTC(2000, 0, 1, 0, 0, 1);
  assert.deepEqual(TIME_REGISTERS.map(readRegister), [0x01, 0x00, 0x00, 0x07, 0x01, 0x01, 0x00, 0x20]);
});

test('status registers: A without update-in-progress, C no flags, D valid; C and D are read-only', () => {
  const { readRegister, writeRegister } = setup();
  assert.equal(readRegister(R.STATUS_A), 0x26);
  writeRegister(R.STATUS_A, 0xa6);
  assert.equal(readRegister(R.STATUS_A), 0x26);
  writeRegister(R.STATUS_C, 0xff);
  writeRegister(R.STATUS_D, 0x00);
  assert.deepEqual([readRegister(R.STATUS_C), readRegister(R.STATUS_D)], [0x00, 0x80]);
});

test('memory-size bytes: 16 MiB-to-gap and above-4 GiB sizes in 64 KiB units, clamped', () => {
  const { readRegister } = setup({ memoryBelow4G: 3 * GIB, memoryAbove4G: 5 * GIB });
  const memoryBytes = [R.EXTENDED_MEMORY_LOW, R.EXTENDED_MEMORY_HIGH, R.HIGH_MEMORY_LOW, R.HIGH_MEMORY_MIDDLE, R.HIGH_MEMORY_HIGH];
  assert.deepEqual(memoryBytes.map(readRegister), [0x00, 0xbf, 0x00, 0x40, 0x01]); // 0xBF00 and 0x14000 units
  const small = setup({ memoryBelow4G: 8 * 1024 * 1024, memoryAbove4G: 0 });
  assert.deepEqual(memoryBytes.map(small.readRegister), [0, 0, 0, 0, 0]);
  const huge = setup({ memoryBelow4G: 8 * GIB, memoryAbove4G: 2 ** 40 });
  assert.deepEqual(memoryBytes.map(huge.readRegister), [0xff, 0xff, 0xff, 0xff, 0xff]);
});

test('bad memory sizes are BAD_CONFIG', () => {
  for (const sizes of [
    { memoryBelow4G: -1, memoryAbove4G: 0 },
    { memoryBelow4G: 0, memoryAbove4G: 1.5 },
    { memoryBelow4G: Number.NaN, memoryAbove4G: 0 },
  ]) {
    assert.throws(
      () => Cmos.powerOn(new SharedArrayBuffer(Cmos.STATE_BYTES), sizes),
      (error: unknown) => error instanceof DeviceError && error.code === 'BAD_CONFIG',
    );
  }
});

test('other bytes are plain RAM; the index NMI bit is ignored for addressing and reads back', () => {
  const { cmos, readRegister, writeRegister } = setup();
  writeRegister(0x40, 0xab);
  writeRegister(0x80 | 0x7f, 0xcd);
  writeRegister(R.SECONDS_ALARM, 0x12);
  assert.deepEqual([readRegister(0xc0), readRegister(0x7f), readRegister(R.SECONDS_ALARM)], [0xab, 0xcd, 0x12]);
  outb(cmos, CMOS_PORT.INDEX, 0x84);
  assert.equal(inb(cmos, CMOS_PORT.INDEX), 0x84);
  assert.equal(inb(cmos, CMOS_PORT.DATA), 0x23, 'index 0x84 reads hours');
});

test('writing 0 to the shutdown byte with NMI disabled (0x8F) requests a reset; with 0x0F it is RAM', () => {
  const { platform, logger, readRegister, writeRegister } = setup();
  writeRegister(R.SHUTDOWN_STATUS, 0x00);
  writeRegister(0x8f, 0x0a);
  assert.equal(readRegister(R.SHUTDOWN_STATUS), 0x0a);
  assert.deepEqual(platform.requests, []);
  writeRegister(0x8f, 0x00);
  assert.deepEqual(platform.requests, ['reset']);
  assert.deepEqual(logger.lines, [{ level: 'info', message: 'CMOS reset' }]);
});

test('odd widths and offsets: low byte only, extra bytes read 0, unknown offsets ignored', () => {
  const { cmos, readRegister } = setup();
  cmos.write(CMOS_PORT.INDEX, Uint8Array.of(R.STATUS_D, 0x55, 0x66, 0x77));
  assert.deepEqual(portRead(cmos, CMOS_PORT.DATA, 4), [0x80, 0, 0, 0]);
  cmos.write(CMOS_PORT.DATA, new Uint8Array(0));
  cmos.write(5, Uint8Array.of(0x12));
  assert.deepEqual(portRead(cmos, 5, 2), [0, 0]);
  assert.equal(readRegister(R.STATUS_D), 0x80);
});

test('save/restore carries the index and RAM; bad snapshots are BAD_SNAPSHOT', () => {
  const source = setup();
  source.writeRegister(0x50, 0x77);
  outb(source.cmos, CMOS_PORT.INDEX, 0x8b);
  const snapshot = source.cmos.save();
  assert.equal(snapshot.index, 0x8b);
  assert.equal(snapshot.ram.length, 128);
  assert.deepEqual(JSON.parse(JSON.stringify(snapshot)), snapshot);

  const target = setup({ memoryBelow4G: 0, memoryAbove4G: 0 });
  target.cmos.restore(snapshot);
  assert.deepEqual(target.cmos.save(), snapshot);
  assert.equal(inb(target.cmos, CMOS_PORT.DATA), 0x02, 'index 0x8B restored: reads status B');
  assert.deepEqual([target.readRegister(0x50), target.readRegister(R.EXTENDED_MEMORY_HIGH)], [0x77, 0xbf]);

  for (const bad of [{ ...snapshot, version: 0 }, { ...snapshot, ram: snapshot.ram.slice(1) }, { ...snapshot, index: 256 }]) {
    assert.throws(
      () => target.cmos.restore(bad),
      (error: unknown) => error instanceof DeviceError && error.code === 'BAD_SNAPSHOT',
    );
  }
  const forged = [...snapshot.ram];
  forged[R.STATUS_A] = 0xa6;
  forged[R.STATUS_B] = 0x00;
  target.cmos.restore({ ...snapshot, ram: forged });
  assert.deepEqual([target.readRegister(R.STATUS_A), target.readRegister(R.STATUS_B)], [0x26, 0x02]);
});
