/**
 * A file mapped read-only into memory, exposed as a Uint8Array: kernels and initramfs images are copied into guest
 * RAM from the page cache instead of through a heap buffer the size of the file (53 MB for Debian's vmlinux).
 * Unmap it once the contents are loaded; the view must not be used afterwards. (As with any mapped file, truncating
 * it while it is mapped would fault the reader: the mapping lives only for the few milliseconds of loading.)
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { MAP_PRIVATE, native, PROT_READ } from './native.ts';

export class MappedFile {
  readonly bytes: Uint8Array;
  private readonly address: bigint | undefined;
  private unmapped = false;

  private constructor(bytes: Uint8Array, address: bigint | undefined) {
    this.bytes = bytes;
    this.address = address;
  }

  /** Maps `path`; throws the fs/addon error (with its code) if it cannot be opened or mapped. */
  static open(path: string): MappedFile {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size === 0) return new MappedFile(new Uint8Array(0), undefined);
      const address = native().mmap(size, PROT_READ, MAP_PRIVATE, fd, 0);
      return new MappedFile(new Uint8Array(native().view(address, size)), address);
    } finally {
      closeSync(fd);
    }
  }

  unmap(): void {
    if (this.unmapped || this.address === undefined) return;
    this.unmapped = true;
    native().munmap(this.address, this.bytes.length);
  }
}
