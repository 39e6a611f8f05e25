/** DSDT tests: the exact AML of each device and which devices a configuration produces. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as aml from './aml.ts';
import { resourceTemplate, dwordMemory, ioPort, memory32Fixed, qwordMemory, wordBusNumber, wordIo } from './aml-resources.ts';
import { resolveAcpiConfig, type AcpiConfig } from './config.ts';
import {
  buildDsdt,
  dsdtTerms,
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

describe('DSDT table', () => {
  it('puts _S5_ at the root and the devices in \\_SB_, COM1 only with a serial port', () => {
    const withSerial = dsdtTerms(resolveAcpiConfig(baseConfig));
    assert.equal(withSerial.length, 2);
    assert.deepEqual(withSerial[0], sleepStateS5());
    const segments = resolveAcpiConfig(baseConfig).pciSegments;
    assert.deepEqual(
      withSerial[1],
      aml.scope('\\_SB_', [pciHostBridgeDevice(segments[0]!), motherboardResourcesDevice(segments), serialPortDevice(), powerButtonDevice()]),
    );
    const withoutSerial = dsdtTerms(resolveAcpiConfig({ ...baseConfig, serial: false }));
    assert.equal(indexOf(withoutSerial[1]!, ascii('COM1')), -1);
    assert.notEqual(indexOf(withoutSerial[1]!, ascii('PWRB')), -1);
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
