/**
 * Kernel command line: validated (printable ASCII, as Cloud Hypervisor's linux-loader requires) and written
 * NUL-terminated at CMDLINE_START. Pure: no node:* imports.
 */
import { CMDLINE_MAX_SIZE, CMDLINE_START } from '../arch/x86_64/layout.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import { LoaderError } from './loader-error.ts';

/** Longest command line the reserved area holds, without the terminating NUL. */
export const CMDLINE_MAX_LENGTH = CMDLINE_MAX_SIZE - 1;

/**
 * Encodes `cmdline` as NUL-terminated bytes. `kernelLimit` is the kernel's own maximum length without the NUL
 * (bzImage cmdline_size); the result never exceeds CMDLINE_MAX_SIZE either.
 */
export function encodeCmdline(cmdline: string, kernelLimit = CMDLINE_MAX_LENGTH): Uint8Array {
  const limit = Math.min(kernelLimit, CMDLINE_MAX_LENGTH);
  if (cmdline.length > limit) {
    const whose = limit === CMDLINE_MAX_LENGTH ? 'the command line area' : 'this kernel (cmdline_size)';
    throw new LoaderError('CMDLINE_INVALID', `kernel command line is ${cmdline.length} characters; ${whose} allows at most ${limit}`);
  }
  const bytes = new Uint8Array(cmdline.length + 1);
  for (let i = 0; i < cmdline.length; i++) {
    const c = cmdline.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) {
      throw new LoaderError(
        'CMDLINE_INVALID',
        `kernel command line has character code ${c} at position ${i}; only printable ASCII (space to '~') is allowed`,
      );
    }
    bytes[i] = c;
  }
  return bytes;
}

/** Writes encoded command line bytes at CMDLINE_START. */
export function writeCmdline(memory: GuestMemory, encoded: Uint8Array): void {
  memory.write(CMDLINE_START, encoded);
}
