/**
 * Validation of device snapshots read back for restore: a snapshot must be the plain `{ version: 1, ... }` object
 * a device's `save()` produced, with every field present and in range; anything else is a BAD_SNAPSHOT error that
 * names the device and the field. Pure: no node:* imports.
 */
import { DeviceError } from './device-error.ts';

/** The snapshot version every legacy device writes and accepts. */
export const SNAPSHOT_VERSION = 1;

/** Reads typed fields out of an untrusted snapshot object, failing with BAD_SNAPSHOT on the first bad one. */
export class SnapshotReader {
  private readonly fields: Record<string, unknown>;
  private readonly device: string;

  /** Checks that `data` is an object with `version: 1`. */
  constructor(data: unknown, device: string) {
    this.device = device;
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      throw this.error(`is ${data === null ? 'null' : Array.isArray(data) ? 'an array' : typeof data}, expected an object`);
    }
    this.fields = data as Record<string, unknown>;
    if (this.fields['version'] !== SNAPSHOT_VERSION) {
      throw this.error(`has version ${String(this.fields['version'])}, expected ${SNAPSHOT_VERSION}`);
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

  /** A nested plain-object field (e.g. the per-device snapshots of a platform snapshot). */
  record(key: string): Readonly<Record<string, unknown>> {
    const value = this.fields[key];
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw this.error(`field "${key}" is ${describe(value)}, expected an object`);
    }
    return value as Record<string, unknown>;
  }

  boolean(key: string): boolean {
    const value = this.fields[key];
    if (typeof value !== 'boolean') throw this.error(`field "${key}" is ${describe(value)}, expected a boolean`);
    return value;
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

  private error(problem: string): DeviceError {
    return new DeviceError(
      'BAD_SNAPSHOT',
      `the ${this.device} snapshot ${problem}; restore only state saved by this version of Nimbus`,
    );
  }
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}
