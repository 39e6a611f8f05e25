/**
 * AML writer tests. Expected byte sequences come from the ACPI specification's encoding rules and from iasl
 * 20200925 compiling the equivalent ASL with optimizations off (`iasl -oa`); the ASL is quoted beside each case.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as aml from './aml.ts';
import { AcpiError } from './acpi-error.ts';

/** Bytes from a string of hex pairs and quoted ASCII, e.g. `08 "_HID" 0C`. */
function bytes(spec: string): Uint8Array {
  const out: number[] = [];
  for (const token of spec.match(/"[^"]*"|[0-9A-Fa-f]{2}/g) ?? []) {
    if (token.startsWith('"')) out.push(...Array.from(token.slice(1, -1), (c) => c.charCodeAt(0)));
    else out.push(Number.parseInt(token, 16));
  }
  return Uint8Array.from(out);
}

function assertAcpiError(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => error instanceof AcpiError && error.code === code);
}

describe('PkgLength', () => {
  it('uses one byte up to 63 and the lead-byte form above, at every size boundary', () => {
    const cases: [number, string][] = [
      [0, '00'],
      [63, '3F'],
      [64, '40 04'],
      [0x123, '43 12'],
      [4095, '4F FF'],
      [4096, '80 00 01'],
      [2 ** 20 - 1, '8F FF FF'],
      [2 ** 20, 'C0 00 00 01'],
      [2 ** 28 - 1, 'CF FF FF FF'],
    ];
    for (const [value, expected] of cases) assert.deepEqual(aml.encodePkgLength(value), bytes(expected), `PkgLength ${value}`);
  });

  it('rejects values a PkgLength cannot hold', () => {
    assertAcpiError(() => aml.encodePkgLength(2 ** 28), 'AML_TOO_LARGE');
    assertAcpiError(() => aml.encodePkgLength(-1), 'INVALID_INTEGER');
    assertAcpiError(() => aml.encodePkgLength(1.5), 'INVALID_INTEGER');
  });

  it('counts its own bytes in package-style terms, growing when that crosses a boundary', () => {
    // Buffer payload = size integer (0A nn, 2 bytes) + data. 60 data bytes: 62 + 1 = 63 fits one byte.
    assert.deepEqual(aml.buffer(new Uint8Array(60)).subarray(0, 4), bytes('11 3F 0A 3C'));
    // 61 data bytes: 63 + 1 = 64 does not fit, so two bytes: 63 + 2 = 65 = 0x41.
    assert.deepEqual(aml.buffer(new Uint8Array(61)).subarray(0, 5), bytes('11 41 04 0A 3D'));
    // Size integer 0B nn nn (3 bytes). 4090 data bytes: 4093 + 2 = 4095 still fits two bytes.
    assert.deepEqual(aml.buffer(new Uint8Array(4090)).subarray(0, 6), bytes('11 4F FF 0B FA 0F'));
    // 4091 data bytes: 4094 + 2 = 4096 does not, so three bytes: 4094 + 3 = 4097 = 0x1001.
    assert.deepEqual(aml.buffer(new Uint8Array(4091)).subarray(0, 7), bytes('11 81 00 01 0B FB 0F'));
    assert.equal(aml.buffer(new Uint8Array(4091)).length, 1 + 3 + 3 + 4091);
  });
});

describe('names', () => {
  it('encodes single segments, padding short ones with underscores as ASL does', () => {
    assert.deepEqual(aml.nameString('_HID'), bytes('"_HID"'));
    assert.deepEqual(aml.nameString('_SB'), bytes('"_SB_"'));
    assert.deepEqual(aml.nameSeg('S08'), bytes('"S08_"'));
  });

  it('encodes root, dual and multi-segment paths and parent prefixes', () => {
    assert.deepEqual(aml.nameString('\\'), bytes('5C 00'));
    assert.deepEqual(aml.nameString('\\_SB_'), bytes('5C "_SB_"'));
    assert.deepEqual(aml.nameString('\\_SB_.PCI0'), bytes('5C 2E "_SB_PCI0"'));
    // iasl: Name (\_SB.PCI0.S08.ABCD, 0x02)
    assert.deepEqual(aml.name('\\_SB_.PCI0.S08.ABCD', aml.integer(2)), bytes('08 5C 2F 04 "_SB_PCI0S08_ABCD" 0A 02'));
    assert.deepEqual(aml.nameString('^^CPEN'), bytes('5E 5E "CPEN"'));
    assert.deepEqual(aml.nameString('^_SB_.PCI0'), bytes('5E 2E "_SB_PCI0"'));
  });

  it('rejects names AML cannot encode', () => {
    for (const bad of ['1ABC', 'ABCDE', 'pci0', 'A-B', '_SB_..PCI0', '_SB_.', '\\^ABC', 'A^B']) {
      assertAcpiError(() => aml.nameString(bad), 'INVALID_NAME');
    }
  });
});

describe('data objects', () => {
  it('encodes integers in their smallest form (iasl: Package () { 0xFF, 0x0100, ... Ones })', () => {
    const elements = [0xff, 0x100, 0xffff, 0x10000, 0xffff_ffff, 2 ** 32].map((v) => aml.integer(v));
    assert.deepEqual(
      aml.packageOf([...elements, aml.ones()]),
      bytes('12 1E 07 0A FF 0B 00 01 0B FF FF 0C 00 00 01 00 0C FF FF FF FF 0E 00 00 00 00 01 00 00 00 FF'),
    );
    assert.deepEqual(aml.integer(0), bytes('00'));
    assert.deepEqual(aml.integer(1), bytes('01'));
    assert.deepEqual(aml.integer(2), bytes('0A 02'));
    assert.deepEqual(aml.integer(0xffff_ffff_ffff_ffffn), bytes('0E FF FF FF FF FF FF FF FF'));
    assert.deepEqual(aml.integer(0x1234_5678_9abc_def0n), bytes('0E F0 DE BC 9A 78 56 34 12'));
  });

  it('rejects integers outside 0..2^64-1 or beyond exact number precision', () => {
    assertAcpiError(() => aml.integer(-1), 'INVALID_INTEGER');
    assertAcpiError(() => aml.integer(2 ** 64), 'INVALID_INTEGER');
    assertAcpiError(() => aml.integer(1n << 64n), 'INVALID_INTEGER');
    assertAcpiError(() => aml.integer(0.5), 'INVALID_INTEGER');
  });

  it('encodes strings and buffers (iasl: Name (STR0, "Nimbus"); Name (BUF0, Buffer () { 1, 2, 3 }))', () => {
    assert.deepEqual(aml.name('STR0', aml.string('Nimbus')), bytes('08 "STR0" 0D "Nimbus" 00'));
    assert.deepEqual(aml.name('BUF0', aml.buffer(Uint8Array.of(1, 2, 3))), bytes('08 "BUF0" 11 06 0A 03 01 02 03'));
    assert.deepEqual(aml.string(''), bytes('0D 00'));
    assertAcpiError(() => aml.string('caf\u00e9'), 'INVALID_STRING');
    assertAcpiError(() => aml.string('a\0b'), 'INVALID_STRING');
  });

  it('switches to VarPackage above 255 elements (iasl: Package () { 256 x Zero })', () => {
    const encoded = aml.packageOf(Array.from({ length: 256 }, () => aml.zero()));
    assert.deepEqual(encoded.subarray(0, 6), bytes('13 45 10 0B 00 01'));
    assert.equal(encoded.length, 6 + 256);
  });

  it('compresses EISA ids (PNP0A03 = 0x030AD041)', () => {
    assert.deepEqual(aml.eisaId('PNP0A03'), bytes('0C 41 D0 0A 03'));
    assert.deepEqual(aml.eisaId('PNP0A08'), bytes('0C 41 D0 0A 08'));
    assert.deepEqual(aml.eisaId('PNP0501'), bytes('0C 41 D0 05 01'));
    assert.deepEqual(aml.eisaId('ACP0013'), bytes('0C 04 70 00 13'));
    for (const bad of ['PNP0A0', 'pnp0a03', 'PNP0A0G', '1NP0A03']) assertAcpiError(() => aml.eisaId(bad), 'INVALID_EISA_ID');
  });
});

describe('namespace terms', () => {
  it('encodes Name, Scope and Device (iasl: Name (_S5, Package () { 5, 5, 0, 0 }); Scope (\\_SB) {})', () => {
    const five = aml.integer(5);
    assert.deepEqual(aml.name('_S5_', aml.packageOf([five, five, aml.zero(), aml.zero()])), bytes('08 "_S5_" 12 08 04 0A 05 0A 05 00 00'));
    assert.deepEqual(aml.scope('\\_SB_', []), bytes('10 06 5C "_SB_"'));
    assert.deepEqual(
      aml.device('PWRB', [aml.name('_HID', aml.eisaId('PNP0C0C'))]),
      bytes('5B 82 0F "PWRB" 08 "_HID" 0C 41 D0 0C 0C'),
    );
  });

  it('encodes a hotplug-style register block (iasl: OperationRegion, Field with Offset, Mutex)', () => {
    // OperationRegion (PRST, SystemIO, 0x0CD8, 0x0C)
    assert.deepEqual(
      aml.operationRegion('PRST', 'SystemIO', aml.integer(0xcd8), aml.integer(0x0c)),
      bytes('5B 80 "PRST" 01 0B D8 0C 0A 0C'),
    );
    // Field (PRST, ByteAcc, NoLock, WriteAsZeros) { Offset (0x04), CPEN, 1, CINS, 1, , 2, CCMD, 8 }
    const fields: aml.FieldElement[] = [
      { kind: 'offset', byte: 4 },
      { kind: 'named', name: 'CPEN', bits: 1 },
      { kind: 'named', name: 'CINS', bits: 1 },
      { kind: 'reserved', bits: 2 },
      { kind: 'named', name: 'CCMD', bits: 8 },
    ];
    assert.deepEqual(
      aml.field('PRST', { access: 'ByteAcc', lock: false, update: 'WriteAsZeros' }, fields),
      bytes('5B 81 19 "PRST" 41 00 20 "CPEN" 01 "CINS" 01 00 02 "CCMD" 08'),
    );
    // Field (MREG, DWordAcc, Lock, Preserve) { MHBL, 32, Offset (4), MHBH, 32 }: an Offset at the current position adds nothing.
    assert.deepEqual(
      aml.field('MREG', { access: 'DWordAcc', lock: true, update: 'Preserve' }, [
        { kind: 'named', name: 'MHBL', bits: 32 },
        { kind: 'offset', byte: 4 },
        { kind: 'named', name: 'MHBH', bits: 32 },
      ]),
      bytes('5B 81 10 "MREG" 13 "MHBL" 20 "MHBH" 20'),
    );
    assert.deepEqual(aml.mutex('CPLK'), bytes('5B 01 "CPLK" 00'));
  });

  it('rejects malformed field lists', () => {
    const flags: aml.FieldFlags = { access: 'ByteAcc', lock: false, update: 'Preserve' };
    const backwards: aml.FieldElement[] = [
      { kind: 'named', name: 'AAAA', bits: 16 },
      { kind: 'offset', byte: 1 },
    ];
    assertAcpiError(() => aml.field('PRST', flags, backwards), 'INVALID_AML_ARGUMENT');
    assertAcpiError(() => aml.field('PRST', flags, [{ kind: 'named', name: 'AAAA', bits: 0 }]), 'INVALID_AML_ARGUMENT');
    assertAcpiError(() => aml.field('PRST', flags, [{ kind: 'offset', byte: 1.5 }]), 'INVALID_AML_ARGUMENT');
    assertAcpiError(() => aml.field('PRST', flags, [{ kind: 'named', name: 'TOOLONG', bits: 1 }]), 'INVALID_NAME');
  });
});

describe('methods and expressions', () => {
  it('encodes a serialized method with Acquire, If/Else, While, Notify and Return exactly as iasl does', () => {
    // Method (CSTA, 1, Serialized) {
    //   Acquire (CPLK, 0xFFFF); Store (Arg0, Local0)
    //   If (LEqual (CPEN, One)) { Store (0x0F, Local0) } Else { Store (Zero, Local0) }
    //   While (LLess (Local0, 0x1234)) { Increment (Local0) }
    //   Release (CPLK); Notify (PCI0, 0x80); Return (Local0) }
    const method = aml.method('CSTA', 1, true, [
      aml.acquire('CPLK', 0xffff),
      aml.store(aml.arg(0), aml.local(0)),
      aml.ifThen(
        aml.lEqual(aml.nameString('CPEN'), aml.one()),
        [aml.store(aml.integer(0x0f), aml.local(0))],
        [aml.store(aml.zero(), aml.local(0))],
      ),
      aml.whileLoop(aml.lLess(aml.local(0), aml.integer(0x1234)), [aml.increment(aml.local(0))]),
      aml.release('CPLK'),
      aml.notify(aml.nameString('PCI0'), aml.integer(0x80)),
      aml.returnValue(aml.local(0)),
    ]);
    assert.deepEqual(
      method,
      bytes(
        '14 3A "CSTA" 09 5B 23 "CPLK" FF FF 70 68 60 A0 0B 93 "CPEN" 01 70 0A 0F 60 A1 04 70 00 60 ' +
          'A2 08 95 60 0B 34 12 75 60 5B 27 "CPLK" 86 "PCI0" 0A 80 A4 60',
      ),
    );
  });

  it('encodes arithmetic, logic, method calls and buffer fields exactly as iasl does', () => {
    // Method (MTH0, 0, NotSerialized) {
    //   Add (Local0, One, Local1); Subtract (Local0, One, Local1); And (Arg1, 0x0F, Local2); Or (Arg6, Local7, Local2)
    //   ShiftLeft (One, Arg0, Local3); ShiftRight (Local3, 0x02, Local3); Decrement (Local3)
    //   If (LAnd (LGreater (Local0, One), LOr (LNot (Local1), Local2))) { Return (^CPEN) }
    //   Store (MTH1 (One, Arg0), Local0)
    //   CreateDWordField (BUF0, 0x04, DW00); CreateQWordField (BUF0, Zero, QW00); Add (Local0, One) }
    const method = aml.method('MTH0', 0, false, [
      aml.add(aml.local(0), aml.one(), aml.local(1)),
      aml.subtract(aml.local(0), aml.one(), aml.local(1)),
      aml.and(aml.arg(1), aml.integer(0x0f), aml.local(2)),
      aml.or(aml.arg(6), aml.local(7), aml.local(2)),
      aml.shiftLeft(aml.one(), aml.arg(0), aml.local(3)),
      aml.shiftRight(aml.local(3), aml.integer(2), aml.local(3)),
      aml.decrement(aml.local(3)),
      aml.ifThen(aml.lAnd(aml.lGreater(aml.local(0), aml.one()), aml.lOr(aml.lNot(aml.local(1)), aml.local(2))), [
        aml.returnValue(aml.nameString('^CPEN')),
      ]),
      aml.store(aml.methodCall('MTH1', [aml.one(), aml.arg(0)]), aml.local(0)),
      aml.createDWordField(aml.nameString('BUF0'), aml.integer(4), 'DW00'),
      aml.createQWordField(aml.nameString('BUF0'), aml.zero(), 'QW00'),
      aml.add(aml.local(0), aml.one()),
    ]);
    assert.deepEqual(
      method,
      bytes(
        '14 44 05 "MTH0" 00 72 60 01 61 74 60 01 61 7B 69 0A 0F 62 7D 6E 67 62 79 01 68 63 7A 63 0A 02 63 76 63 ' +
          'A0 0F 90 94 60 01 91 92 61 62 A4 5E "CPEN" 70 "MTH1" 01 68 60 8A "BUF0" 0A 04 "DW00" ' +
          '8F "BUF0" 00 "QW00" 72 60 01 00',
      ),
    );
  });

  it('rejects out-of-range method arguments, locals, args, timeouts and sync levels', () => {
    assertAcpiError(() => aml.method('MTHX', 8, false, []), 'INVALID_AML_ARGUMENT');
    assertAcpiError(() => aml.local(8), 'INVALID_AML_ARGUMENT');
    assertAcpiError(() => aml.arg(7), 'INVALID_AML_ARGUMENT');
    assertAcpiError(() => aml.acquire('CPLK', 0x10000), 'INVALID_AML_ARGUMENT');
    assertAcpiError(() => aml.mutex('CPLK', 16), 'INVALID_AML_ARGUMENT');
  });
});
