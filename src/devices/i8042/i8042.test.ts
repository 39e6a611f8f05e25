/** Tests of the reset-only i8042. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { I8042, I8042_PORT } from './i8042.ts';
import { RecordingLogger, RecordingPlatform, inb, outb, portRead } from '../../../test/helpers/device-fakes.ts';

test('writing 0xFE to port 0x64 requests a reset; other writes do nothing', () => {
  const platform = new RecordingPlatform();
  const logger = new RecordingLogger();
  const i8042 = new I8042(platform, logger);
  outb(i8042, I8042_PORT.COMMAND_STATUS, 0xd1);
  outb(i8042, I8042_PORT.CONTROL_PORT_B, 0xfe);
  outb(i8042, 1, 0xfe);
  assert.deepEqual(platform.requests, []);
  outb(i8042, I8042_PORT.COMMAND_STATUS, 0xfe);
  assert.deepEqual(platform.requests, ['reset']);
  assert.deepEqual(logger.lines, [{ level: 'info', message: 'i8042 reset signalled' }]);
});

test('reads: port B 0x20, status 0, the ports between 0; wider accesses use the low byte', () => {
  const platform = new RecordingPlatform();
  const i8042 = new I8042(platform, new RecordingLogger());
  assert.equal(inb(i8042, I8042_PORT.CONTROL_PORT_B), 0x20);
  assert.equal(inb(i8042, I8042_PORT.COMMAND_STATUS), 0);
  assert.deepEqual([inb(i8042, 1), inb(i8042, 2)], [0, 0]);
  assert.deepEqual(portRead(i8042, I8042_PORT.CONTROL_PORT_B, 4), [0x20, 0, 0, 0]);
  assert.deepEqual(portRead(i8042, 9, 2), [0, 0]);
  i8042.write(I8042_PORT.COMMAND_STATUS, Uint8Array.of(0xfe, 0x00));
  i8042.write(I8042_PORT.COMMAND_STATUS, new Uint8Array(0));
  i8042.write(I8042_PORT.COMMAND_STATUS, Uint8Array.of(0x00, 0xfe));
  assert.deepEqual(platform.requests, ['reset']);
});
