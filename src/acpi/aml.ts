/**
 * AML (ACPI Machine Language) writer: each function returns the byte encoding of one AML term, and terms nest by
 * passing encoded children to their parent (ACPI 6.5 chapter 20). It covers what the DSDT needs now (names,
 * integers, strings, buffers, packages, scopes, devices) and what the hotplug controllers will need (methods,
 * control flow, arithmetic/logic, mutexes, operation regions and fields). Resource descriptors live in
 * aml-resources.ts. Pure: no node:* imports.
 */
import { AcpiError } from './acpi-error.ts';

/** The encoded bytes of one AML term (or of a sequence of terms). */
export type Aml = Uint8Array;

/** One-byte opcodes (ACPI 6.5 §20.3). */
const OP = {
  zero: 0x00,
  one: 0x01,
  name: 0x08,
  bytePrefix: 0x0a,
  wordPrefix: 0x0b,
  dwordPrefix: 0x0c,
  stringPrefix: 0x0d,
  qwordPrefix: 0x0e,
  scope: 0x10,
  buffer: 0x11,
  package: 0x12,
  varPackage: 0x13,
  method: 0x14,
  dualNamePrefix: 0x2e,
  multiNamePrefix: 0x2f,
  extPrefix: 0x5b,
  rootChar: 0x5c,
  parentPrefixChar: 0x5e,
  local0: 0x60,
  arg0: 0x68,
  store: 0x70,
  add: 0x72,
  subtract: 0x74,
  increment: 0x75,
  decrement: 0x76,
  shiftLeft: 0x79,
  shiftRight: 0x7a,
  and: 0x7b,
  or: 0x7d,
  notify: 0x86,
  createDWordField: 0x8a,
  createQWordField: 0x8f,
  lAnd: 0x90,
  lOr: 0x91,
  lNot: 0x92,
  lEqual: 0x93,
  lGreater: 0x94,
  lLess: 0x95,
  if: 0xa0,
  else: 0xa1,
  while: 0xa2,
  return: 0xa4,
  ones: 0xff,
} as const;

/** Second bytes of the two-byte opcodes that follow ExtOpPrefix (0x5B). */
const EXT_OP = {
  mutex: 0x01,
  acquire: 0x23,
  release: 0x27,
  operationRegion: 0x80,
  field: 0x81,
  device: 0x82,
} as const;

const NULL_NAME = 0x00;
const MAX_LOCAL = 7;
const MAX_ARG = 6;
const MAX_METHOD_ARGS = 7;
const MAX_SYNC_LEVEL = 15;
const MAX_U64 = 0xffff_ffff_ffff_ffffn;

/** Concatenates encoded terms into one byte sequence. */
export function concat(parts: readonly Uint8Array[]): Aml {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// PkgLength (§20.2.4)

/** Largest value of a PkgLength encoded in 1, 2, 3 or 4 bytes, plus one. */
const PKG_LENGTH_LIMITS = [1 << 6, 1 << 12, 1 << 20, 1 << 28] as const;

/**
 * Encodes `value` as a PkgLength: one byte up to 63, otherwise a lead byte holding the count of following bytes
 * (bits 7-6) and the low nibble (bits 3-0), then the remaining bits eight at a time. Used as is for the bit
 * widths of field elements; package-style terms use `withPkgLength`, whose value also counts the PkgLength itself.
 */
export function encodePkgLength(value: number): Aml {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new AcpiError('INVALID_INTEGER', `PkgLength ${value} is not a non-negative integer`);
  }
  const size = PKG_LENGTH_LIMITS.findIndex((limit) => value < limit) + 1;
  if (size === 0) {
    throw new AcpiError('AML_TOO_LARGE', `AML length ${value} exceeds the PkgLength maximum of ${PKG_LENGTH_LIMITS[3] - 1} bytes`);
  }
  if (size === 1) return Uint8Array.of(value);
  const out = new Uint8Array(size);
  out[0] = ((size - 1) << 6) | (value & 0x0f);
  for (let i = 1; i < size; i++) out[i] = Math.floor(value / 2 ** (4 + 8 * (i - 1))) & 0xff;
  return out;
}

/** `opcode PkgLength payload`, where the PkgLength covers itself and the payload (not the opcode). */
function withPkgLength(opcode: readonly number[], payload: Uint8Array): Aml {
  for (let size = 1; ; size++) {
    const pkgLength = encodePkgLength(payload.length + size);
    if (pkgLength.length === size) return concat([Uint8Array.from(opcode), pkgLength, payload]);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Names (§20.2.2)

const NAME_SEG_PATTERN = /^[A-Z_][A-Z0-9_]{0,3}$/;

/** A NameSeg: 1-4 characters (A-Z, 0-9, _; not starting with a digit), padded with '_' to 4 bytes as ASL does. */
export function nameSeg(segment: string): Aml {
  if (!NAME_SEG_PATTERN.test(segment)) {
    throw new AcpiError(
      'INVALID_NAME',
      `AML name segment "${segment}" is invalid: use 1-4 characters from A-Z, 0-9 and '_', not starting with a digit`,
    );
  }
  const out = new Uint8Array(4).fill(0x5f);
  for (let i = 0; i < segment.length; i++) out[i] = segment.charCodeAt(i);
  return out;
}

/**
 * A NameString: optional root prefix `\` or parent prefixes `^`, then dot-separated segments, e.g. `\_SB_.PCI0`,
 * `^CPEN`, `_HID`, or `\` alone. Used both to name new objects and to refer to existing ones (a reference, or a
 * call to a method without arguments).
 */
export function nameString(path: string): Aml {
  const prefix = /^(?:\\|\^*)/.exec(path)?.[0] ?? '';
  const rest = path.slice(prefix.length);
  const segments = rest === '' ? [] : rest.split('.').map(nameSeg);
  if (segments.length > 255) throw new AcpiError('INVALID_NAME', `AML name path "${path}" has more than 255 segments`);
  let namePath: readonly number[];
  if (segments.length === 0) namePath = [NULL_NAME];
  else if (segments.length === 1) namePath = [];
  else if (segments.length === 2) namePath = [OP.dualNamePrefix];
  else namePath = [OP.multiNamePrefix, segments.length];
  return concat([Uint8Array.from(prefix, (c) => c.charCodeAt(0)), Uint8Array.from(namePath), ...segments]);
}

// ---------------------------------------------------------------------------------------------------------------
// Data objects (§20.2.3)

/** The constant 0 (ZeroOp). */
export function zero(): Aml {
  return Uint8Array.of(OP.zero);
}

/** The constant 1 (OneOp). */
export function one(): Aml {
  return Uint8Array.of(OP.one);
}

/** All bits set (OnesOp): 0xFFFFFFFFFFFFFFFF in a revision 2+ DSDT. */
export function ones(): Aml {
  return Uint8Array.of(OP.ones);
}

function littleEndianBytes(value: bigint, size: number): number[] {
  return Array.from({ length: size }, (_, i) => Number((value >> BigInt(8 * i)) & 0xffn));
}

function toU64(value: number | bigint, what: string): bigint {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new AcpiError('INVALID_INTEGER', `${what} ${value} is not an integer (use a bigint above 2^53)`);
  }
  const big = BigInt(value);
  if (big < 0n || big > MAX_U64) throw new AcpiError('INVALID_INTEGER', `${what} ${value} is outside 0..2^64-1`);
  return big;
}

/** An integer constant in its smallest encoding: Zero, One, or a Byte/Word/DWord/QWord prefix. */
export function integer(value: number | bigint): Aml {
  const big = toU64(value, 'AML integer');
  if (big === 0n) return zero();
  if (big === 1n) return one();
  const [prefix, size] =
    big <= 0xffn
      ? [OP.bytePrefix, 1]
      : big <= 0xffffn
        ? [OP.wordPrefix, 2]
        : big <= 0xffff_ffffn
          ? [OP.dwordPrefix, 4]
          : [OP.qwordPrefix, 8];
  return Uint8Array.of(prefix, ...littleEndianBytes(big, size));
}

/** A String constant (ASCII 0x01-0x7F, NUL-terminated). */
export function string(text: string): Aml {
  const codes = Array.from(text, (c) => c.charCodeAt(0));
  if (codes.some((code) => code < 0x01 || code > 0x7f)) {
    throw new AcpiError('INVALID_STRING', `AML string ${JSON.stringify(text)} must contain only ASCII characters 0x01-0x7F`);
  }
  return Uint8Array.of(OP.stringPrefix, ...codes, 0x00);
}

/** A Buffer whose size is the length of `bytes`. */
export function buffer(bytes: Uint8Array): Aml {
  return withPkgLength([OP.buffer], concat([integer(bytes.length), bytes]));
}

/** A Package of already encoded elements (a VarPackage when there are more than 255). */
export function packageOf(elements: readonly Aml[]): Aml {
  if (elements.length <= 0xff) return withPkgLength([OP.package], concat([Uint8Array.of(elements.length), ...elements]));
  return withPkgLength([OP.varPackage], concat([integer(elements.length), ...elements]));
}

const EISA_ID_PATTERN = /^[A-Z]{3}[0-9A-F]{4}$/;

/**
 * A compressed EISA id such as `PNP0A08`, as the 32-bit integer ASL's EisaId() produces: three 5-bit letters
 * then four hex digits, stored big-endian. Always DWord-encoded, as iasl emits it.
 */
export function eisaId(id: string): Aml {
  if (!EISA_ID_PATTERN.test(id)) {
    throw new AcpiError('INVALID_EISA_ID', `EISA id "${id}" must be three letters A-Z followed by four hex digits, e.g. PNP0A08`);
  }
  const letter = (i: number): number => id.charCodeAt(i) - 0x40;
  const hex = (i: number): number => Number.parseInt(id.charAt(i), 16);
  return Uint8Array.of(
    OP.dwordPrefix,
    (letter(0) << 2) | (letter(1) >> 3),
    ((letter(1) & 0x07) << 5) | letter(2),
    (hex(3) << 4) | hex(4),
    (hex(5) << 4) | hex(6),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Namespace modifiers and named objects (§20.2.5)

/** Name(path, value): a named data object. */
export function name(path: string, value: Aml): Aml {
  return concat([Uint8Array.of(OP.name), nameString(path), value]);
}

/** Scope(path) { terms }. */
export function scope(path: string, terms: readonly Aml[]): Aml {
  return withPkgLength([OP.scope], concat([nameString(path), ...terms]));
}

/** Device(path) { terms }. */
export function device(path: string, terms: readonly Aml[]): Aml {
  return withPkgLength([OP.extPrefix, EXT_OP.device], concat([nameString(path), ...terms]));
}

/** Method(path, argCount, Serialized|NotSerialized) { terms } with sync level 0. */
export function method(path: string, argCount: number, serialized: boolean, terms: readonly Aml[]): Aml {
  if (!Number.isInteger(argCount) || argCount < 0 || argCount > MAX_METHOD_ARGS) {
    throw new AcpiError('INVALID_AML_ARGUMENT', `method ${path} declares ${argCount} arguments; AML allows 0-${MAX_METHOD_ARGS}`);
  }
  const flags = argCount | (serialized ? 1 << 3 : 0);
  return withPkgLength([OP.method], concat([nameString(path), Uint8Array.of(flags), ...terms]));
}

/** A call of the method at `path` with already encoded arguments. */
export function methodCall(path: string, args: readonly Aml[]): Aml {
  return concat([nameString(path), ...args]);
}

/** Mutex(path, syncLevel). */
export function mutex(path: string, syncLevel = 0): Aml {
  checkSyncLevel(syncLevel);
  return concat([Uint8Array.of(OP.extPrefix, EXT_OP.mutex), nameString(path), Uint8Array.of(syncLevel)]);
}

function checkSyncLevel(level: number): void {
  if (!Number.isInteger(level) || level < 0 || level > MAX_SYNC_LEVEL) {
    throw new AcpiError('INVALID_AML_ARGUMENT', `sync level ${level} is outside 0-${MAX_SYNC_LEVEL}`);
  }
}

/** Address spaces of an OperationRegion (§19.6.100). */
export const REGION_SPACE = {
  SystemMemory: 0x00,
  SystemIO: 0x01,
  PCI_Config: 0x02,
  EmbeddedControl: 0x03,
  SMBus: 0x04,
  SystemCMOS: 0x05,
  PciBarTarget: 0x06,
} as const;
export type RegionSpace = keyof typeof REGION_SPACE;

/** OperationRegion(path, space, offset, length). */
export function operationRegion(path: string, space: RegionSpace, offset: Aml, length: Aml): Aml {
  const opcode = Uint8Array.of(OP.extPrefix, EXT_OP.operationRegion);
  return concat([opcode, nameString(path), Uint8Array.of(REGION_SPACE[space]), offset, length]);
}

/** Access widths of a Field (FieldFlags bits 3-0). */
export const FIELD_ACCESS = { AnyAcc: 0, ByteAcc: 1, WordAcc: 2, DWordAcc: 3, QWordAcc: 4, BufferAcc: 5 } as const;
/** What happens to the bits of an access that are outside the field (FieldFlags bits 6-5). */
export const FIELD_UPDATE = { Preserve: 0, WriteAsOnes: 1, WriteAsZeros: 2 } as const;

export interface FieldFlags {
  readonly access: keyof typeof FIELD_ACCESS;
  /** Lock: take the global lock around accesses. */
  readonly lock: boolean;
  readonly update: keyof typeof FIELD_UPDATE;
}

/** One entry of a Field list: a named field, unnamed padding, or ASL's Offset(byte) (padding up to that byte). */
export type FieldElement =
  | { readonly kind: 'named'; readonly name: string; readonly bits: number }
  | { readonly kind: 'reserved'; readonly bits: number }
  | { readonly kind: 'offset'; readonly byte: number };

/** Field(region, access, lock, update) { elements }. */
export function field(regionPath: string, flags: FieldFlags, elements: readonly FieldElement[]): Aml {
  const flagsByte = FIELD_ACCESS[flags.access] | (flags.lock ? 1 << 4 : 0) | (FIELD_UPDATE[flags.update] << 5);
  const encoded: Aml[] = [];
  let bitPosition = 0;
  for (const element of elements) {
    const isOffset = element.kind === 'offset';
    const bits = isOffset ? element.byte * 8 - bitPosition : element.bits;
    if (!Number.isSafeInteger(bits) || bits < 0 || (isOffset ? !Number.isSafeInteger(element.byte) : bits === 0)) {
      const what = isOffset ? `Offset(${element.byte}) lies before bit ${bitPosition}` : `has width ${bits}`;
      throw new AcpiError('INVALID_AML_ARGUMENT', `field element in ${regionPath} ${what}; widths must be positive and offsets increasing`);
    }
    bitPosition += bits;
    if (element.kind === 'named') encoded.push(nameSeg(element.name), encodePkgLength(bits));
    else if (bits > 0) encoded.push(Uint8Array.of(0x00), encodePkgLength(bits));
  }
  return withPkgLength([OP.extPrefix, EXT_OP.field], concat([nameString(regionPath), Uint8Array.of(flagsByte), ...encoded]));
}

/** CreateDWordField(sourceBuffer, byteIndex, name). */
export function createDWordField(sourceBuffer: Aml, byteIndex: Aml, fieldName: string): Aml {
  return concat([Uint8Array.of(OP.createDWordField), sourceBuffer, byteIndex, nameString(fieldName)]);
}

/** CreateQWordField(sourceBuffer, byteIndex, name). */
export function createQWordField(sourceBuffer: Aml, byteIndex: Aml, fieldName: string): Aml {
  return concat([Uint8Array.of(OP.createQWordField), sourceBuffer, byteIndex, nameString(fieldName)]);
}

// ---------------------------------------------------------------------------------------------------------------
// Method locals and arguments, statements and expressions (§20.2.5.3-5, §20.2.6)

/** LocalN (0-7). */
export function local(index: number): Aml {
  if (!Number.isInteger(index) || index < 0 || index > MAX_LOCAL) {
    throw new AcpiError('INVALID_AML_ARGUMENT', `Local${index} does not exist; use Local0-Local${MAX_LOCAL}`);
  }
  return Uint8Array.of(OP.local0 + index);
}

/** ArgN (0-6). */
export function arg(index: number): Aml {
  if (!Number.isInteger(index) || index < 0 || index > MAX_ARG) {
    throw new AcpiError('INVALID_AML_ARGUMENT', `Arg${index} does not exist; use Arg0-Arg${MAX_ARG}`);
  }
  return Uint8Array.of(OP.arg0 + index);
}

/** If(predicate) { thenTerms } followed, when `elseTerms` is given, by Else { elseTerms }. */
export function ifThen(predicate: Aml, thenTerms: readonly Aml[], elseTerms?: readonly Aml[]): Aml {
  const ifTerm = withPkgLength([OP.if], concat([predicate, ...thenTerms]));
  return elseTerms === undefined ? ifTerm : concat([ifTerm, withPkgLength([OP.else], concat(elseTerms))]);
}

/** While(predicate) { terms }. */
export function whileLoop(predicate: Aml, terms: readonly Aml[]): Aml {
  return withPkgLength([OP.while], concat([predicate, ...terms]));
}

/** Return(value). */
export function returnValue(value: Aml): Aml {
  return concat([Uint8Array.of(OP.return), value]);
}

/** Store(source, target). */
export function store(source: Aml, target: Aml): Aml {
  return concat([Uint8Array.of(OP.store), source, target]);
}

/** Notify(object, value). */
export function notify(object: Aml, value: Aml): Aml {
  return concat([Uint8Array.of(OP.notify), object, value]);
}

/** Acquire(mutex, timeout in ms; 0xFFFF waits forever). */
export function acquire(mutexPath: string, timeoutMs: number): Aml {
  if (!Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > 0xffff) {
    throw new AcpiError('INVALID_AML_ARGUMENT', `Acquire timeout ${timeoutMs} is outside 0-0xFFFF ms`);
  }
  return concat([Uint8Array.of(OP.extPrefix, EXT_OP.acquire), nameString(mutexPath), Uint8Array.of(timeoutMs & 0xff, timeoutMs >> 8)]);
}

/** Release(mutex). */
export function release(mutexPath: string): Aml {
  return concat([Uint8Array.of(OP.extPrefix, EXT_OP.release), nameString(mutexPath)]);
}

function binary(opcode: number, left: Aml, right: Aml): Aml {
  return concat([Uint8Array.of(opcode), left, right]);
}

/** Arithmetic/bitwise `opcode left right target`; without a target the result is only returned (NullName). */
function arithmetic(opcode: number, left: Aml, right: Aml, target: Aml | undefined): Aml {
  return concat([Uint8Array.of(opcode), left, right, target ?? Uint8Array.of(NULL_NAME)]);
}

export const lEqual = (left: Aml, right: Aml): Aml => binary(OP.lEqual, left, right);
export const lLess = (left: Aml, right: Aml): Aml => binary(OP.lLess, left, right);
export const lGreater = (left: Aml, right: Aml): Aml => binary(OP.lGreater, left, right);
export const lAnd = (left: Aml, right: Aml): Aml => binary(OP.lAnd, left, right);
export const lOr = (left: Aml, right: Aml): Aml => binary(OP.lOr, left, right);
export const lNot = (operand: Aml): Aml => concat([Uint8Array.of(OP.lNot), operand]);

export const add = (left: Aml, right: Aml, target?: Aml): Aml => arithmetic(OP.add, left, right, target);
export const subtract = (left: Aml, right: Aml, target?: Aml): Aml => arithmetic(OP.subtract, left, right, target);
export const and = (left: Aml, right: Aml, target?: Aml): Aml => arithmetic(OP.and, left, right, target);
export const or = (left: Aml, right: Aml, target?: Aml): Aml => arithmetic(OP.or, left, right, target);
export const shiftLeft = (value: Aml, count: Aml, target?: Aml): Aml => arithmetic(OP.shiftLeft, value, count, target);
export const shiftRight = (value: Aml, count: Aml, target?: Aml): Aml => arithmetic(OP.shiftRight, value, count, target);

export const increment = (target: Aml): Aml => concat([Uint8Array.of(OP.increment), target]);
export const decrement = (target: Aml): Aml => concat([Uint8Array.of(OP.decrement), target]);
