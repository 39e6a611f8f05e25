/**
 * Typed reads of an untrusted snapshot object for restore(): the object must be plain, carry the expected version,
 * and every field must have the expected type and range. Each component passes the error it raises (its own
 * BAD_SNAPSHOT) and a name for messages. Pure: no node:* imports.
 */

export class SnapshotReader {
  private readonly fields: Record<string, unknown>;
  private readonly what: string;
  private readonly fail: (message: string) => Error;

  /**
   * @param what names the snapshot in messages, e.g. "the serial snapshot".
   * @param version the `version` field the snapshot must carry, if the component versions it.
   */
  constructor(data: unknown, what: string, fail: (message: string) => Error, version?: number) {
    this.what = what;
    this.fail = fail;
    if (typeof data !== 'object' || data === null || Array.isArray(data)) throw this.error(`is not an object (it is ${describe(data)})`);
    this.fields = data as Record<string, unknown>;
    if (version !== undefined && this.fields['version'] !== version) {
      throw this.error(`has version ${String(this.fields['version'])}, expected ${version}`);
    }
  }

  /** An integer field in [0, max]. */
  integer(key: string, max: number): number {
    const value = this.fields[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
      throw this.error(`field "${key}" is ${describe(value)}, expected an integer from 0 to ${max}`);
    }
    return value;
  }

  /** An integer field in [0, 255] with no bits outside `allowedBits`. */
  bits(key: string, allowedBits: number): number {
    const value = this.integer(key, 0xff);
    if ((value & ~allowedBits) !== 0) {
      throw this.error(`field "${key}" is 0x${value.toString(16)}, which sets bits outside 0x${allowedBits.toString(16)}`);
    }
    return value;
  }

  boolean(key: string): boolean {
    const value = this.fields[key];
    if (typeof value !== 'boolean') throw this.error(`field "${key}" is ${describe(value)}, expected a boolean`);
    return value;
  }

  /** A nested plain-object field. */
  record(key: string): Readonly<Record<string, unknown>> {
    const value = this.fields[key];
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw this.error(`field "${key}" is ${describe(value)}, expected an object`);
    }
    return value as Record<string, unknown>;
  }

  /** An array field of exactly `length` entries (any length when omitted). */
  array(key: string, length?: number): unknown[] {
    const value = this.fields[key];
    if (!Array.isArray(value) || (length !== undefined && value.length !== length)) {
      const expected = length === undefined ? 'an array' : `an array of ${length} entries`;
      throw this.error(`field "${key}" is not ${expected}`);
    }
    return value as unknown[];
  }

  /** An array of byte values whose length is at most `maxLength` (exactly `maxLength` if `exact`). */
  bytes(key: string, maxLength: number, exact = false): Uint8Array {
    const value = this.fields[key];
    const lengthOk = Array.isArray(value) && (exact ? value.length === maxLength : value.length <= maxLength);
    if (!Array.isArray(value) || !lengthOk) {
      const wanted = exact ? `exactly ${maxLength}` : `at most ${maxLength}`;
      throw this.error(`field "${key}" is ${describe(value)}, expected an array of ${wanted} bytes`);
    }
    const bytes = new Uint8Array(value.length);
    value.forEach((item: unknown, index: number) => {
      if (typeof item !== 'number' || !Number.isInteger(item) || item < 0 || item > 0xff) {
        throw this.error(`field "${key}"[${index}] is ${describe(item)}, expected a byte (0-255)`);
      }
      bytes[index] = item;
    });
    return bytes;
  }

  /** A field kept as is, for a component's own restore() to check. */
  raw(key: string): unknown {
    return this.fields[key];
  }

  private error(problem: string): Error {
    return this.fail(`${this.what} ${problem}; restore only state saved by this version of Nimbus`);
  }
}

function describe(value: unknown): string {
  return Array.isArray(value) ? `an array of length ${value.length}` : String(value);
}
