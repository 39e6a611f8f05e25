/**
 * Little-endian byte writer and reader used to build and parse binary layouts (ACPI tables, boot_params,
 * hvm_start_info, ELF headers). Pure: no node:* imports.
 */

/** Growable little-endian buffer writer with an explicit cursor. */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;
  private end = 0;

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(initialCapacity);
    this.view = new DataView(this.buf.buffer);
  }

  /** Current write offset. */
  get offset(): number {
    return this.pos;
  }

  /** Number of bytes written so far (the high-water mark). */
  get length(): number {
    return this.end;
  }

  /** Moves the cursor; the buffer grows (zero-filled) if needed. */
  seek(offset: number): this {
    this.ensure(offset);
    this.pos = offset;
    return this;
  }

  u8(value: number): this {
    this.ensure(this.pos + 1);
    this.view.setUint8(this.pos, value);
    return this.advance(1);
  }

  u16(value: number): this {
    this.ensure(this.pos + 2);
    this.view.setUint16(this.pos, value, true);
    return this.advance(2);
  }

  u32(value: number): this {
    this.ensure(this.pos + 4);
    this.view.setUint32(this.pos, value >>> 0, true);
    return this.advance(4);
  }

  /** Writes a 64-bit value; numbers must be safe integers. */
  u64(value: number | bigint): this {
    this.ensure(this.pos + 8);
    this.view.setBigUint64(this.pos, BigInt(value), true);
    return this.advance(8);
  }

  bytes(data: Uint8Array): this {
    this.ensure(this.pos + data.length);
    this.buf.set(data, this.pos);
    return this.advance(data.length);
  }

  /** Writes `count` zero bytes. */
  zeros(count: number): this {
    this.ensure(this.pos + count);
    this.buf.fill(0, this.pos, this.pos + count);
    return this.advance(count);
  }

  /** Writes an ASCII string padded with `pad` (default NUL) or truncated to exactly `width` bytes. */
  fixedAscii(text: string, width: number, pad = 0): this {
    for (let i = 0; i < width; i++) this.u8(i < text.length ? text.charCodeAt(i) & 0x7f : pad);
    return this;
  }

  /** Pads with zeros until the offset is a multiple of `alignment`. */
  align(alignment: number): this {
    const rem = this.pos % alignment;
    return rem === 0 ? this : this.zeros(alignment - rem);
  }

  /** Overwrites a u8/u16/u32 at an absolute offset without moving the cursor. */
  patchU8(offset: number, value: number): this {
    this.ensure(offset + 1);
    this.view.setUint8(offset, value);
    return this;
  }

  patchU16(offset: number, value: number): this {
    this.ensure(offset + 2);
    this.view.setUint16(offset, value, true);
    return this;
  }

  patchU32(offset: number, value: number): this {
    this.ensure(offset + 4);
    this.view.setUint32(offset, value >>> 0, true);
    return this;
  }

  /** A copy of the written bytes. */
  toBytes(): Uint8Array {
    return this.buf.slice(0, this.end);
  }

  private advance(n: number): this {
    this.pos += n;
    if (this.pos > this.end) this.end = this.pos;
    return this;
  }

  private ensure(size: number): void {
    if (size <= this.buf.length) return;
    let capacity = this.buf.length * 2;
    while (capacity < size) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.buf);
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }
}

/** Little-endian reader over a byte array with bounds checks that throw RangeError. */
export class ByteReader {
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  offset: number;

  constructor(bytes: Uint8Array, offset = 0) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.offset = offset;
  }

  get length(): number {
    return this.bytes.length;
  }

  u8(at = this.take(1)): number {
    return this.view.getUint8(at);
  }

  u16(at = this.take(2)): number {
    return this.view.getUint16(at, true);
  }

  u32(at = this.take(4)): number {
    return this.view.getUint32(at, true);
  }

  /** Reads a 64-bit value as a number; throws if it exceeds Number.MAX_SAFE_INTEGER. */
  u64(at = this.take(8)): number {
    const value = this.view.getBigUint64(at, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`64-bit value 0x${value.toString(16)} at offset ${at} is too large`);
    return Number(value);
  }

  u64big(at = this.take(8)): bigint {
    return this.view.getBigUint64(at, true);
  }

  /** A view (not a copy) of `length` bytes. */
  slice(length: number, at = this.take(length)): Uint8Array {
    return this.bytes.subarray(at, at + length);
  }

  private take(n: number): number {
    const at = this.offset;
    if (at + n > this.bytes.length) throw new RangeError(`read of ${n} bytes at offset ${at} past end ${this.bytes.length}`);
    this.offset += n;
    return at;
  }
}
