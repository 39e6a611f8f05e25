/** DSDT tests: the exact AML of each device and which devices a configuration produces. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as aml from './aml.ts';
import { resourceTemplate, dwordMemory, ioPort, memory32Fixed, qwordMemory, wordBusNumber, wordIo } from './aml-resources.ts';
import { resolveAcpiConfig, type AcpiConfig } from './config.ts';
import {
  buildDsdt,
  dsdtTerms,
  genericEventControllerDevice,
  genericEventDevice,
  motherboardResourcesDevice,
  pciHostBridgeDevice,
  pciHostBridgeName,
  powerButtonDevice,
  serialPortDevice,
  sleepStateS5,
} from './dsdt.ts';
import { SDT_HEADER } from './tables/sdt.ts';

const MiB = 2 ** 20;
const segment0 = {
  id: 0,
  ecam: { base: 0xe800_0000, size: MiB },
  mmio32: { base: 0xc000_0000, size: 640 * MiB },
  mmio64: { base: 2 ** 36, size: 2 ** 36 },
};
const segment1 = {
  id: 1,
  ecam: { base: 0xe810_0000, size: MiB },
  mmio32: { base: 0xe000_0000, size: 64 * MiB },
  mmio64: { base: 2 ** 37, size: 2 ** 36 },
};
const baseConfig: AcpiConfig = { bootCpus: 1, maxCpus: 1, serial: true, pciSegments: [segment0] };

function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  for (let i = from; i + needle.length <= haystack.length; i++) {
    if (needle.every((b, j) => haystack[i + j] === b)) return i;
  }
  return -1;
}

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const fromHex = (hex: string): Uint8Array => Uint8Array.from(hex.replace(/\s+/g, '').match(/../g)!, (byte) => Number.parseInt(byte, 16));

describe('DSDT objects', () => {
  it('declares S5 with SLP_TYP 5 (the guest writes (5 << 2) | SLP_EN = 0x34 to power off)', () => {
    assert.deepEqual(sleepStateS5(), Uint8Array.of(0x08, ...ascii('_S5_'), 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00));
    assert.equal((5 << 2) | (1 << 5), 0x34);
  });

  it('describes COM1 as iasl compiles Device (COM1) { _HID PNP0501, _UID 0, _CRS { IO 0x3F8/8, IRQNoFlags {4} } }', () => {
    const expected = aml.concat([
      Uint8Array.of(0x5b, 0x82, 0x2b),
      ascii('COM1'),
      Uint8Array.of(0x08, ...ascii('_HID'), 0x0c, 0x41, 0xd0, 0x05, 0x01),
      Uint8Array.of(0x08, ...ascii('_UID'), 0x00),
      Uint8Array.of(0x08, ...ascii('_CRS'), 0x11, 0x10, 0x0a, 0x0d, 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00, 0x79, 0x0e),
    ]);
    assert.deepEqual(serialPortDevice(), expected);
  });

  it('gives segment 0 the config ports and the I/O space around them, plus both MMIO windows', () => {
    const [resolved] = resolveAcpiConfig(baseConfig).pciSegments;
    const device = pciHostBridgeDevice(resolved!);
    const expectedCrs = aml.name(
      '_CRS',
      resourceTemplate([
        wordBusNumber(0, 0),
        ioPort(0xcf8, 0xcf8, 1, 8),
        wordIo(0, 0xcf7),
        wordIo(0xd00, 0xffff),
        dwordMemory('NonCacheable', true, 0xc000_0000, 0xe7ff_ffff),
        qwordMemory('NonCacheable', true, 2 ** 36, 2 ** 37 - 1),
      ]),
    );
    const expected = aml.device('PCI0', [
      aml.name('_HID', aml.eisaId('PNP0A08')),
      aml.name('_CID', aml.eisaId('PNP0A03')),
      aml.name('_ADR', aml.zero()),
      aml.name('_SEG', aml.zero()),
      aml.name('_UID', aml.zero()),
      aml.name('_BBN', aml.zero()),
      expectedCrs,
    ]);
    assert.deepEqual(device, expected);
  });

  it('names other segments PCxx with their own _SEG/_UID and no I/O ranges', () => {
    const resolved = resolveAcpiConfig({ ...baseConfig, pciSegments: [segment0, segment1] }).pciSegments[1]!;
    const device = pciHostBridgeDevice(resolved);
    assert.deepEqual(device.subarray(4, 8), ascii('PC01'), 'name after 5B 82 and a 2-byte PkgLength');
    assert.notEqual(indexOf(device, aml.name('_SEG', aml.one())), -1);
    assert.notEqual(indexOf(device, aml.name('_UID', aml.one())), -1);
    assert.equal(indexOf(device, ioPort(0xcf8, 0xcf8, 1, 8)), -1);
    assert.equal(indexOf(device, wordIo(0xd00, 0xffff)), -1);
    assert.notEqual(indexOf(device, dwordMemory('NonCacheable', true, 0xe000_0000, 0xe3ff_ffff)), -1);
    assert.equal(pciHostBridgeName(0x2a), 'PC2A');
  });

  it('reserves every ECAM window in MBRD and declares the power button', () => {
    const segments = resolveAcpiConfig({ ...baseConfig, pciSegments: [segment0, segment1] }).pciSegments;
    assert.deepEqual(
      motherboardResourcesDevice(segments),
      aml.device('MBRD', [
        aml.name('_HID', aml.eisaId('PNP0C02')),
        aml.name('_UID', aml.zero()),
        aml.name('_CRS', resourceTemplate([memory32Fixed(true, 0xe800_0000, MiB), memory32Fixed(true, 0xe810_0000, MiB)])),
      ]),
    );
    assert.deepEqual(
      powerButtonDevice(),
      Uint8Array.of(0x5b, 0x82, 0x15, ...ascii('PWRB'), 0x08, ...ascii('_HID'), 0x0c, 0x41, 0xd0, 0x0c, 0x0c, 0x08, ...ascii('_UID'), 0x00),
    );
  });
});

describe('DSDT Generic Event Device', () => {
  it('compiles GEC_ as iasl compiles the register block, its read-once scan and the power button branch', () => {
    // iasl -ino of: Device (GEC) { Name (_HID, EisaId ("PNP0A06")) Name (_UID, "Generic Event Controller")
    //   Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, 0xFEA00000, 0x00000001) })
    //   OperationRegion (GDST, SystemMemory, 0xFEA00000, One) Field (GDST, ByteAcc, NoLock, WriteAsZeros) { GDAT, 8 }
    //   Method (ESCN, 0, Serialized) { Store (GDAT, Local0) And (Local0, 0x08, Local1)
    //     If (LEqual (Local1, 0x08)) { Notify (\_SB.PWRB, 0x80) } } }
    // iasl leaves the End Tag checksum 0 ("not computed"); ours is computed (0x58).
    const expected = fromHex(`
      5b824508 4745435f
      085f484944 0c41d00a06
      085f554944 0d47656e65726963204576656e7420436f6e74726f6c6c657200
      085f435253 11110a0e 860900 01 0000a0fe 01000000 7958
      5b80 47445354 00 0c0000a0fe 01
      5b810b 47445354 41 4744415408
      1424 4553434e 08
        70 47444154 60
        7b 60 0a08 61
        a012 93 61 0a08 86 5c2e5f53425f50575242 0a80`);
    assert.deepEqual(genericEventControllerDevice(), expected);
  });

  it('compiles GED_ with HID ACPI0013, an edge/active-high Interrupt on GSI 5 and an _EVT that calls ESCN', () => {
    // iasl -ino of: Device (GED) { Name (_HID, "ACPI0013") Name (_UID, Zero)
    //   Name (_CRS, ResourceTemplate () { Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, ) { 5 } })
    //   Method (_EVT, 1, Serialized) { \_SB.GEC.ESCN () } }
    const expected = fromHex(`
      5b8245 04 4745445f
      085f484944 0d4143504930303133 00
      085f554944 00
      085f435253 110e0a0b 8906 00 03 01 05000000 79ef
      1415 5f455654 09 5c2f03 5f53425f 4745435f 4553434e`);
    assert.deepEqual(genericEventDevice(), expected);
  });
});

describe('DSDT table', () => {
  it('puts _S5_ at the root and the devices in \\_SB_, COM1 only with a serial port', () => {
    const withSerial = dsdtTerms(resolveAcpiConfig(baseConfig));
    assert.equal(withSerial.length, 2);
    assert.deepEqual(withSerial[0], sleepStateS5());
    const segments = resolveAcpiConfig(baseConfig).pciSegments;
    assert.deepEqual(
      withSerial[1],
      aml.scope('\\_SB_', [
        pciHostBridgeDevice(segments[0]!),
        motherboardResourcesDevice(segments),
        serialPortDevice(),
        powerButtonDevice(),
        genericEventControllerDevice(),
        genericEventDevice(),
      ]),
    );
    const withoutSerial = dsdtTerms(resolveAcpiConfig({ ...baseConfig, serial: false }));
    assert.equal(indexOf(withoutSerial[1]!, ascii('COM1')), -1);
    assert.notEqual(indexOf(withoutSerial[1]!, ascii('PWRB')), -1);
    assert.notEqual(indexOf(withoutSerial[1]!, genericEventDevice()), -1, 'the GED exists with or without a serial port');
  });

  it('wraps the AML in a revision 6 DSDT header with a valid checksum', () => {
    const config = resolveAcpiConfig(baseConfig);
    const table = buildDsdt(config);
    assert.equal(String.fromCharCode(...table.subarray(0, 4)), 'DSDT');
    assert.equal(table[SDT_HEADER.revision], 6);
    assert.equal(new DataView(table.buffer).getUint32(SDT_HEADER.length, true), table.length);
    assert.equal(table.reduce((sum, b) => sum + b, 0) % 256, 0);
    assert.deepEqual(table.subarray(SDT_HEADER.size), aml.concat(dsdtTerms(config)));
  });
});
