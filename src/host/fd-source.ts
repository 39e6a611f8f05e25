/**
 * Synchronous reads from a file descriptor into caller-supplied buffers (virtio-rng's entropy source: guest-memory
 * views of a descriptor chain are filled straight from the file). A read interrupted by a thread kick (EINTR, when
 * the owning worker is being stopped) reads nothing.
 */
import { readSync } from 'node:fs';

export interface FdSource {
  /** Fills a prefix of `target` and returns its length; 0 at end of file or after a kick. Throws on I/O errors. */
  read(target: Uint8Array): number;
}

export function fdSource(fd: number): FdSource {
  return {
    read(target: Uint8Array): number {
      try {
        return readSync(fd, target, 0, target.length, null);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EINTR') return 0;
        throw error;
      }
    },
  };
}
