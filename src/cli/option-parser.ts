/**
 * Cloud Hypervisor's `option_parser` semantics for sub-option strings such as `--memory size=1G,shared=on`:
 * comma-separated `key=value` items, where brackets and double quotes protect commas; unknown keys are errors;
 * later keys override earlier ones; an empty value (`size=`) counts as not given. Typed getters convert values the
 * way upstream does (Toggle, ByteSized, integers, IntegerList, StringList, TupleList) and fail with a CliError that
 * names the option and the key. The pure converters are exported for values that live inside lists.
 */
import { CliError } from './cli-error.ts';

export const INTEGER_RANGES = {
  u8: { min: 0, max: 0xff },
  u16: { min: 0, max: 0xffff },
  u32: { min: 0, max: 0xffffffff },
  u64: { min: 0, max: Number.MAX_SAFE_INTEGER },
  i32: { min: -0x80000000, max: 0x7fffffff },
} as const;
export type IntegerKind = keyof typeof INTEGER_RANGES;

/** Guard against `[0-4000000000]` expanding into billions of numbers. */
export const MAX_INTEGER_LIST_LENGTH = 65536;

const SIZE_SHIFTS: Readonly<Record<string, number>> = { '': 0, K: 10, M: 20, G: 30 };

export const EXPECTED_SIZE = 'a size like 512M or 2G';
export const EXPECTED_TOGGLE = 'on, off, true or false';
export const EXPECTED_INTEGER_LIST = 'a list like [0,2-4,6]';
export const EXPECTED_STRING_LIST = 'a list like [a,b]';

export function expectedInteger(kind: IntegerKind): string {
  return `an integer from ${INTEGER_RANGES[kind].min} to ${INTEGER_RANGES[kind].max}`;
}

/** Splits at commas outside brackets and double quotes; undefined when brackets or quotes are unbalanced. */
export function splitCommas(input: string): string[] | undefined {
  const items: string[] = [];
  let depth = 0;
  let inQuotes = false;
  let current = '';
  for (const char of input.trim()) {
    if (char === '"') {
      inQuotes = !inQuotes;
    } else if (!inQuotes) {
      if (char === '[') depth++;
      if (char === ']') {
        if (depth === 0) return undefined;
        depth--;
      }
      if (char === ',' && depth === 0) {
        items.push(current);
        current = '';
        continue;
      }
    }
    current += char;
  }
  items.push(current);
  return inQuotes || depth !== 0 ? undefined : items;
}

/** Removes double quotes; `""` outside a quoted part stands for a literal `"` (upstream `dequote`). */
export function dequote(text: string): string {
  let result = '';
  let previous = '';
  let inQuotes = false;
  for (const char of text) {
    if (char === '"') {
      if (previous === '"' && !inQuotes) result += '"';
      inQuotes = !inQuotes;
    } else {
      result += char;
    }
    previous = char;
  }
  return result;
}

/** `on|off|true|false`, case-insensitive. */
export function parseToggle(text: string): boolean | undefined {
  const lower = text.toLowerCase();
  if (lower === 'on' || lower === 'true') return true;
  if (lower === 'off' || lower === 'false') return false;
  return undefined;
}

/** A decimal integer (optional `+`, and `-` for signed kinds) within the range of `kind`. */
export function parseInteger(text: string, kind: IntegerKind): number | undefined {
  const range = INTEGER_RANGES[kind];
  const pattern = range.min < 0 ? /^[+-]?\d+$/ : /^\+?\d+$/;
  if (!pattern.test(text)) return undefined;
  const value = Number(text);
  return value >= range.min && value <= range.max ? value : undefined;
}

/** Bytes with an optional binary suffix: `4096`, `64K`, `512M`, `2G`. */
export function parseByteSize(text: string): number | undefined {
  const match = /^\+?(\d+)([KMG]?)$/.exec(text.trim());
  if (match === null) return undefined;
  const value = Number(match[1]) * 2 ** (SIZE_SHIFTS[match[2] ?? ''] ?? 0);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** `[0,2-4,6]` -> [0,2,3,4,6]; brackets optional, ranges inclusive and increasing. */
export function parseIntegerList(text: string, kind: IntegerKind): number[] | undefined {
  const body = text.trim().replace(/^[[\]]+|[[\]]+$/g, '');
  const values: number[] = [];
  for (const item of body.split(',')) {
    const bounds = item.split('-');
    if (bounds.length > 2) return undefined;
    const start = parseInteger(bounds[0] ?? '', kind);
    const end = bounds.length === 2 ? parseInteger(bounds[1] ?? '', kind) : start;
    if (start === undefined || end === undefined) return undefined;
    if (bounds.length === 2 && start >= end) return undefined;
    if (values.length + end - start + 1 > MAX_INTEGER_LIST_LENGTH) return undefined;
    for (let value = start; value <= end; value++) values.push(value);
  }
  return values;
}

/** `[a,b,"c,d"]` -> ['a','b','c,d']; brackets optional. */
export function parseStringList(text: string): string[] | undefined {
  return splitCommas(text.trim().replace(/^[[\]]+|[[\]]+$/g, ''))?.map(dequote);
}

export interface TuplePair {
  key: string;
  value: string;
}

/** `[a@b,c@[d,e]]` -> [{key:'a',value:'b'},{key:'c',value:'[d,e]'}]; exactly one `@` outside quotes per item. */
export function parseTupleList(text: string): TuplePair[] | undefined {
  const trimmed = text.trim();
  if (trimmed.length < 2 || !trimmed.startsWith('[') || !trimmed.endsWith(']')) return undefined;
  const items = splitCommas(trimmed.slice(1, -1));
  if (items === undefined) return undefined;
  const pairs: TuplePair[] = [];
  for (const item of items) {
    const tuple = item.trim();
    let separator = -1;
    let inQuotes = false;
    for (let index = 0; index < tuple.length; index++) {
      const char = tuple[index];
      if (char === '"') inQuotes = !inQuotes;
      if (char === '@' && !inQuotes) {
        if (separator !== -1) return undefined;
        separator = index;
      }
    }
    if (separator <= 0) return undefined;
    pairs.push({ key: tuple.slice(0, separator), value: tuple.slice(separator + 1) });
  }
  return pairs;
}

export const EXPECTED_INDEXED_LISTS = 'a list like [0@[0,2],1@[1,3]]';

/** An `index@[integer list]` pair, like `0@[0,2]` in `affinity=[0@[0,2],1@[1,3]]`. */
export function parseIndexedIntegerList(
  pair: TuplePair,
  indexKind: IntegerKind,
  valueKind: IntegerKind,
): { index: number; values: number[] } | undefined {
  const index = parseInteger(dequote(pair.key), indexKind);
  const values = parseIntegerList(pair.value, valueKind);
  return index === undefined || values === undefined ? undefined : { index, values };
}

export interface SubOptionKeys {
  /** Keys written `key=value`. */
  readonly values: readonly string[];
  /** Keys written alone, like the `off` in `--console off`. */
  readonly flags?: readonly string[];
}

/** The keys of one parsed sub-option string, with typed getters that report errors against `option`. */
export class SubOptions {
  readonly option: string;
  readonly #values: ReadonlyMap<string, string>;

  constructor(option: string, values: ReadonlyMap<string, string>) {
    this.option = option;
    this.#values = values;
  }

  /** Whether the key appeared at all (even as `key=`). */
  isSet(key: string): boolean {
    return this.#values.has(key);
  }

  /** The value as written (trimmed), or undefined when absent or empty. */
  raw(key: string): string | undefined {
    const value = this.#values.get(key);
    return value === undefined || value === '' ? undefined : value;
  }

  /** The value with quotes removed. */
  string(key: string): string | undefined {
    const value = this.raw(key);
    return value === undefined ? undefined : dequote(value);
  }

  /** The value of a key that must be present. */
  requiredString(key: string, description: string): string {
    const value = this.string(key);
    if (value === undefined) throw new CliError('MISSING_KEY', `${this.option}: ${key}=${description} is required`);
    return value;
  }

  toggle(key: string): boolean | undefined {
    return this.convert(key, (value) => parseToggle(value), EXPECTED_TOGGLE);
  }

  integer(key: string, kind: IntegerKind): number | undefined {
    return this.convert(key, (value) => parseInteger(dequote(value), kind), expectedInteger(kind));
  }

  byteSize(key: string): number | undefined {
    return this.convert(key, (value) => parseByteSize(dequote(value)), EXPECTED_SIZE);
  }

  integerList(key: string, kind: IntegerKind): number[] | undefined {
    const { min, max } = INTEGER_RANGES[kind];
    return this.convert(key, (value) => parseIntegerList(value, kind), `${EXPECTED_INTEGER_LIST} of integers from ${min} to ${max}`);
  }

  stringList(key: string): string[] | undefined {
    return this.convert(key, (value) => parseStringList(value), EXPECTED_STRING_LIST);
  }

  /** A `[key@value,...]` list whose pairs `convert` turns into items (undefined for a bad pair). */
  tupleList<T>(key: string, expected: string, convert: (pair: TuplePair) => T | undefined): T[] | undefined {
    return this.convert(
      key,
      (value) => {
        const items = parseTupleList(value)?.map(convert);
        return items?.every((item) => item !== undefined) === true ? (items as T[]) : undefined;
      },
      expected,
    );
  }

  /** One of the names in `choices` (compared lower-case when `caseInsensitive`), mapped to its value. */
  choice<T extends string>(key: string, choices: Readonly<Record<string, T>>, caseInsensitive: boolean): T | undefined {
    const names = Object.keys(choices);
    return this.convert(
      key,
      (value) => {
        const name = caseInsensitive ? dequote(value).toLowerCase() : dequote(value);
        return Object.hasOwn(choices, name) ? choices[name] : undefined;
      },
      `one of ${names.join(', ')}`,
    );
  }

  /** An INVALID_VALUE error for `key` (for checks made by the caller after conversion). */
  invalid(key: string, expected: string): CliError {
    const value = this.#values.get(key) ?? '';
    return new CliError('INVALID_VALUE', `${this.option}: invalid value "${value}" for "${key}": expected ${expected}`);
  }

  /** Converts the value with `convert` (undefined = invalid, reported as "expected <expected>"). */
  convert<T>(key: string, convert: (value: string) => T | undefined, expected: string): T | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    const converted = convert(value);
    if (converted === undefined) throw this.invalid(key, expected);
    return converted;
  }
}

/**
 * Parses `input` (the value of `option`, e.g. `--memory`) against the keys the option knows. Throws CliError
 * UNKNOWN_KEY, INVALID_SYNTAX (unbalanced quotes/brackets, `key` without `=`).
 */
export function parseSubOptions(option: string, input: string, keys: SubOptionKeys): SubOptions {
  const values = new Map<string, string>();
  if (input.trim() === '') return new SubOptions(option, values);
  const items = splitCommas(input);
  if (items === undefined) {
    throw new CliError('INVALID_SYNTAX', `${option}: unbalanced quotes or brackets in "${input}"`);
  }
  const flags = keys.flags ?? [];
  for (const item of items) {
    const equals = item.indexOf('=');
    const key = equals === -1 ? item : item.slice(0, equals);
    if (flags.includes(key)) {
      values.set(key, '');
    } else if (keys.values.includes(key)) {
      if (equals === -1) throw new CliError('INVALID_SYNTAX', `${option}: "${key}" needs a value: ${key}=<value>`);
      values.set(key, item.slice(equals + 1).trim());
    } else {
      const known = [...flags, ...keys.values].join(', ');
      throw new CliError('UNKNOWN_KEY', `${option}: unknown key "${key}"; known keys are ${known}`);
    }
  }
  return new SubOptions(option, values);
}
