/**
 * Typed reads of an untrusted snapshot object for the virtio transport's restore(): every failure is a
 * VirtioTransportError BAD_SNAPSHOT that names the field. Pure: no node:* imports.
 */
import { VirtioTransportError } from './transport-error.ts';

export interface SnapshotReader {
  /** An integer field from 0 to `max`. */
  integer(key: string, max: number): number;
  boolean(key: string): boolean;
  /** An array field of exactly `length` entries (any length when omitted). */
  array(key: string, length?: number): unknown[];
  /** A field kept as is, for a component's own restore() to check. */
  raw(key: string): unknown;
}

/** Wraps `value`, which must be a plain object; `what` names it in error messages ("the virtio-pci snapshot"). */
export function snapshotReader(value: unknown, what: string): SnapshotReader {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badSnapshot(`${what} is not an object`);
  const record = value as Record<string, unknown>;
  return {
    integer(key, max) {
      const field = record[key];
      if (typeof field !== 'number' || !Number.isSafeInteger(field) || field < 0 || field > max) {
        throw badSnapshot(`${what} field "${key}" is ${String(field)}, expected an integer from 0 to ${max}`);
      }
      return field;
    },
    boolean(key) {
      const field = record[key];
      if (typeof field !== 'boolean') throw badSnapshot(`${what} field "${key}" is ${String(field)}, expected a boolean`);
      return field;
    },
    array(key, length) {
      const field = record[key];
      if (!Array.isArray(field) || (length !== undefined && field.length !== length)) {
        const expected = length === undefined ? 'an array' : `an array of ${length} entries`;
        throw badSnapshot(`${what} field "${key}" is not ${expected}`);
      }
      return field as unknown[];
    },
    raw(key) {
      return record[key];
    },
  };
}

export function badSnapshot(problem: string): VirtioTransportError {
  return new VirtioTransportError('BAD_SNAPSHOT', `${problem}; restore only state saved by this version of Nimbus`);
}
