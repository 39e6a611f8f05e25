/** Tests for command line validation and placement. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GuestMemory } from '../memory/guest-memory.ts';
import { CMDLINE_MAX_LENGTH, encodeCmdline, writeCmdline } from './cmdline.ts';
import { LoaderError } from './loader-error.ts';

describe('encodeCmdline / writeCmdline', () => {
  it('writes the command line NUL-terminated at 0x20000', () => {
    const memory = GuestMemory.anonymous([{ guestBase: 0, size: 1 << 20 }]);
    memory.fill(0x20000, 32, 0xff);
    writeCmdline(memory, encodeCmdline('console=ttyS0 quiet'));
    assert.equal(new TextDecoder().decode(memory.read(0x20000, 19)), 'console=ttyS0 quiet');
    assert.equal(memory.readU8(0x20000 + 19), 0);
  });

  it('encodes an empty command line as a single NUL', () => {
    assert.deepEqual(encodeCmdline(''), new Uint8Array([0]));
  });

  it('enforces the kernel limit and the 64 KiB area', () => {
    assert.equal(encodeCmdline('x'.repeat(2047), 2047).length, 2048);
    assert.throws(() => encodeCmdline('x'.repeat(2048), 2047), (e: unknown) => e instanceof LoaderError && e.code === 'CMDLINE_INVALID' && /2048 characters; this kernel \(cmdline_size\) allows at most 2047/.test(e.message));
    assert.equal(encodeCmdline('x'.repeat(CMDLINE_MAX_LENGTH)).length, 0x10000);
    assert.throws(() => encodeCmdline('x'.repeat(CMDLINE_MAX_LENGTH + 1), 1 << 20), (e: unknown) => e instanceof LoaderError && /command line area allows at most 65535/.test(e.message));
  });

  it('rejects characters outside printable ASCII, naming the position', () => {
    for (const [text, position] of [['a\nb', 1], ['ab\0', 2], ['é', 0]] as const) {
      assert.throws(() => encodeCmdline(text), (e: unknown) => e instanceof LoaderError && e.code === 'CMDLINE_INVALID' && e.message.includes(`position ${position}`));
    }
  });
});
