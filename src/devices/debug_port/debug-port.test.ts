/** Tests of the 0x80 debug port's exact log lines. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DebugPort, debugPortComponent, formatDebugPortEvent } from './debug-port.ts';
import { RecordingLogger, outb, portRead } from '../../../test/helpers/device-fakes.ts';

test('each write logs the component, the code in hex and the time since VMM start, at debug level', () => {
  const logger = new RecordingLogger('debug');
  let now = 19_004_321; // ns
  const port = new DebugPort(logger, () => now);
  outb(port, 0, 0x00);
  now = 402_744_999;
  outb(port, 0, 0x01);
  now = 12_000_000_000;
  outb(port, 0, 0x41);
  now = 3_723_000_001_000;
  outb(port, 0, 0xff);
  port.write(0, Uint8Array.of(0x6a, 0x01)); // wider write: low byte
  assert.deepEqual(logger.lines, [
    { level: 'debug', message: '[Debug I/O port: Firmware code 0x0] 0.019004 seconds' },
    { level: 'debug', message: '[Debug I/O port: Firmware code 0x1] 0.402744 seconds' },
    { level: 'debug', message: '[Debug I/O port: Kernel code 0x41] 12.000000 seconds' },
    { level: 'debug', message: '[Debug I/O port: Custom code 0xff] 3723.000001 seconds' },
    { level: 'debug', message: '[Debug I/O port: Userspace code 0x6a] 3723.000001 seconds' },
  ]);
});

test('code ranges map to the documented components', () => {
  const boundaries = [0x00, 0x1f, 0x20, 0x3f, 0x40, 0x5f, 0x60, 0x7f, 0x80, 0xff];
  assert.deepEqual(boundaries.map(debugPortComponent), [
    'Firmware', 'Firmware', 'Bootloader', 'Bootloader', 'Kernel', 'Kernel', 'Userspace', 'Userspace', 'Custom', 'Custom',
  ]);
  assert.equal(formatDebugPortEvent(0x2a, 999), '[Debug I/O port: Bootloader code 0x2a] 0.000000 seconds');
});

test('nothing is formatted or logged below debug level; reads return 0', () => {
  const logger = new RecordingLogger('info');
  let clockReads = 0;
  const port = new DebugPort(logger, () => clockReads++);
  outb(port, 0, 0x10);
  assert.deepEqual(logger.lines, []);
  assert.equal(clockReads, 0);
  assert.deepEqual(portRead(port, 0, 1), [0]);
  assert.deepEqual(portRead(port, 0, 4), [0, 0, 0, 0]);
});
