/**
 * Guest physical memory: a set of non-overlapping regions, each backed by byte arrays (an ArrayBuffer in tests,
 * an external ArrayBuffer over an mmap'd memfd on KVM). Every access is bounds-checked against the regions; an
 * access outside them throws GuestMemoryError and never touches host memory. Pure: no node:* imports.
 */
import { NimbusError } from '../errors/nimbus-error.ts';

export class GuestMemoryError extends NimbusError {}

/** A guest-physical range backed by host memory. `chunks` cover it in order (one view is at most 4 GiB). */
export interface MemoryRegion {
  readonly guestBase: number;
  readonly size: number;
}

interface Chunk {
  readonly guestBase: number;
  readonly bytes: Uint8Array;
  readonly view: DataView;
}

/** Largest single typed-array view we create over host memory. */
export const MAX_CHUNK_BYTES = 2 ** 31;

export class GuestMemory {
  readonly regions: readonly MemoryRegion[];
  private readonly chunks: Chunk[];

  /**
   * @param regions guest-physical layout, each with its backing views in order; the views' total length must
   *   equal the region size.
   */
  constructor(regions: readonly { guestBase: number; size: number; backing: readonly Uint8Array[] }[]) {
    const sorted = [...regions].sort((a, b) => a.guestBase - b.guestBase);
    const chunks: Chunk[] = [];
    let previousEnd = -1;
    for (const region of sorted) {
      if (region.guestBase < previousEnd) {
        throw new GuestMemoryError('OVERLAP', `memory region at 0x${region.guestBase.toString(16)} overlaps the previous region`);
      }
      let base = region.guestBase;
      for (const bytes of region.backing) {
        chunks.push({ guestBase: base, bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
        base += bytes.length;
      }
      if (base !== region.guestBase + region.size) {
        throw new GuestMemoryError('BACKING_SIZE', `backing of region 0x${region.guestBase.toString(16)} does not match its size`);
      }
      previousEnd = region.guestBase + region.size;
    }
    this.chunks = chunks;
    this.regions = sorted.map((r) => ({ guestBase: r.guestBase, size: r.size }));
  }

  /** Test/fake memory: plain ArrayBuffers for each region. */
  static anonymous(layout: readonly MemoryRegion[]): GuestMemory {
    return new GuestMemory(
      layout.map((r) => {
        const backing: Uint8Array[] = [];
        for (let done = 0; done < r.size; done += MAX_CHUNK_BYTES) backing.push(new Uint8Array(Math.min(MAX_CHUNK_BYTES, r.size - done)));
        return { guestBase: r.guestBase, size: r.size, backing };
      }),
    );
  }

  /** Total bytes of RAM across all regions. */
  get totalSize(): number {
    return this.regions.reduce((sum, r) => sum + r.size, 0);
  }

  /** True if [addr, addr+length) lies inside guest memory (possibly across adjacent regions). */
  isValid(addr: number, length: number): boolean {
    if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(length) || addr < 0 || length < 0) return false;
    let cursor = addr;
    const end = addr + length;
    while (cursor < end) {
      const chunk = this.findChunk(cursor);
      if (!chunk) return false;
      cursor = chunk.guestBase + chunk.bytes.length;
    }
    return true;
  }

  /**
   * A live view of guest memory; the range must lie in one backing chunk (use read/write for arbitrary ranges).
   * Throws GuestMemoryError otherwise.
   */
  slice(addr: number, length: number): Uint8Array {
    const { chunk, offset } = this.locate(addr, length);
    if (offset + length > chunk.bytes.length) {
      throw new GuestMemoryError('CROSSES_CHUNK', `guest range 0x${addr.toString(16)}+${length} crosses a memory chunk boundary`);
    }
    return chunk.bytes.subarray(offset, offset + length);
  }

  /** Copies guest memory out. */
  read(addr: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.readInto(addr, out);
    return out;
  }

  /** Copies guest memory into `target`. */
  readInto(addr: number, target: Uint8Array): void {
    this.check(addr, target.length);
    let done = 0;
    while (done < target.length) {
      const { chunk, offset } = this.locate(addr + done, 1);
      const n = Math.min(target.length - done, chunk.bytes.length - offset);
      target.set(chunk.bytes.subarray(offset, offset + n), done);
      done += n;
    }
  }

  /** Copies `data` into guest memory. */
  write(addr: number, data: Uint8Array): void {
    this.check(addr, data.length);
    let done = 0;
    while (done < data.length) {
      const { chunk, offset } = this.locate(addr + done, 1);
      const n = Math.min(data.length - done, chunk.bytes.length - offset);
      chunk.bytes.set(data.subarray(done, done + n), offset);
      done += n;
    }
  }

  /** Fills a guest range with a byte value. */
  fill(addr: number, length: number, value = 0): void {
    this.check(addr, length);
    let done = 0;
    while (done < length) {
      const { chunk, offset } = this.locate(addr + done, 1);
      const n = Math.min(length - done, chunk.bytes.length - offset);
      chunk.bytes.fill(value, offset, offset + n);
      done += n;
    }
  }

  readU8(addr: number): number {
    const { chunk, offset } = this.locate(addr, 1);
    return chunk.view.getUint8(offset);
  }

  readU16(addr: number): number {
    return this.scalar(addr, 2, (v, o) => v.getUint16(o, true));
  }

  readU32(addr: number): number {
    return this.scalar(addr, 4, (v, o) => v.getUint32(o, true));
  }

  readU64(addr: number): bigint {
    return this.scalar(addr, 8, (v, o) => v.getBigUint64(o, true));
  }

  writeU8(addr: number, value: number): void {
    const { chunk, offset } = this.locate(addr, 1);
    chunk.view.setUint8(offset, value);
  }

  writeU16(addr: number, value: number): void {
    this.writeScalar(addr, 2, (v, o) => v.setUint16(o, value, true));
  }

  writeU32(addr: number, value: number): void {
    this.writeScalar(addr, 4, (v, o) => v.setUint32(o, value >>> 0, true));
  }

  writeU64(addr: number, value: bigint | number): void {
    this.writeScalar(addr, 8, (v, o) => v.setBigUint64(o, BigInt(value), true));
  }

  private scalar<T>(addr: number, size: number, get: (view: DataView, offset: number) => T): T {
    const { chunk, offset } = this.locate(addr, size);
    if (offset + size <= chunk.bytes.length) return get(chunk.view, offset);
    const tmp = this.read(addr, size);
    return get(new DataView(tmp.buffer), 0);
  }

  private writeScalar(addr: number, size: number, set: (view: DataView, offset: number) => void): void {
    const { chunk, offset } = this.locate(addr, size);
    if (offset + size <= chunk.bytes.length) {
      set(chunk.view, offset);
      return;
    }
    const tmp = new Uint8Array(size);
    set(new DataView(tmp.buffer), 0);
    this.write(addr, tmp);
  }

  private check(addr: number, length: number): void {
    if (!this.isValid(addr, length)) {
      throw new GuestMemoryError('OUT_OF_RANGE', `guest range 0x${addr.toString(16)}+0x${length.toString(16)} is outside guest memory`);
    }
  }

  private locate(addr: number, length: number): { chunk: Chunk; offset: number } {
    const chunk = this.findChunk(addr);
    if (!chunk || !this.isValid(addr, length)) {
      throw new GuestMemoryError('OUT_OF_RANGE', `guest range 0x${addr.toString(16)}+0x${length.toString(16)} is outside guest memory`);
    }
    return { chunk, offset: addr - chunk.guestBase };
  }

  private findChunk(addr: number): Chunk | undefined {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const chunk = this.chunks[mid]!;
      if (addr < chunk.guestBase) hi = mid - 1;
      else if (addr >= chunk.guestBase + chunk.bytes.length) lo = mid + 1;
      else return chunk;
    }
    return undefined;
  }
}
