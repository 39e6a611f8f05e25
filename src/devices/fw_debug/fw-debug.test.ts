/** Tests of the 0x402 firmware debug port. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FirmwareDebugPort } from './fw-debug.ts';
import { CollectingSink, outb, portRead } from '../../../test/helpers/device-fakes.ts';

test('written bytes go to the sink in order; wider writes emit their low byte', () => {
  const sink = new CollectingSink();
  const port = new FirmwareDebugPort(sink);
  for (const char of 'OVMF\n') outb(port, 0, char.charCodeAt(0));
  port.write(0, Uint8Array.of(0x21, 0x22, 0x23, 0x24));
  port.write(0, new Uint8Array(0));
  assert.equal(sink.text(), 'OVMF\n!');
});

test('reads return the 0xE9 signature in the low byte', () => {
  const port = new FirmwareDebugPort(new CollectingSink());
  assert.deepEqual(portRead(port, 0, 1), [0xe9]);
  assert.deepEqual(portRead(port, 0, 2), [0xe9, 0]);
  assert.deepEqual(portRead(port, 0, 4), [0xe9, 0, 0, 0]);
});
