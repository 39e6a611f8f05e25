/** Tests of the individual table builders: header fields, checksums and every field the builders set. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ByteReader } from '../../abi/byte-writer.ts';
import { acpiChecksum, finishSdt, SDT_HEADER, startSdt } from './sdt.ts';
import { buildRsdp, RSDP } from './rsdp.ts';
import { buildXsdt, XSDT } from './xsdt.ts';
import { buildFadt, FADT, FADT_FLAGS } from './fadt.ts';
import { buildMadt, MADT, MADT_ENTRY, X2APIC_FLAGS } from './madt.ts';
import { buildMcfg, MCFG, MCFG_ENTRY } from './mcfg.ts';
import { GAS } from './generic-address.ts';

const ascii = (data: Uint8Array): string => String.fromCharCode(...data);
const byteSum = (data: Uint8Array): number => data.reduce((sum, b) => sum + b, 0) % 256;

function assertHeader(table: Uint8Array, signature: string, revision: number): void {
  const reader = new ByteReader(table);
  assert.equal(ascii(reader.slice(4, SDT_HEADER.signature)), signature);
  assert.equal(reader.u32(SDT_HEADER.length), table.length);
  assert.equal(reader.u8(SDT_HEADER.revision), revision);
  assert.equal(ascii(reader.slice(6, SDT_HEADER.oemId)), 'NIMBUS');
  assert.equal(ascii(reader.slice(8, SDT_HEADER.oemTableId)), `NB${signature}  `);
  assert.equal(reader.u32(SDT_HEADER.oemRevision), 1);
  assert.equal(ascii(reader.slice(4, SDT_HEADER.creatorId)), 'NMBS');
  assert.equal(reader.u32(SDT_HEADER.creatorRevision), 1);
  assert.equal(byteSum(table), 0, `${signature} checksum`);
}

/** The 12 bytes of a System I/O GAS: space 1, width, offset 0, access size, 64-bit port. */
function ioGas(width: number, accessSize: number, port: number): Uint8Array {
  return Uint8Array.of(1, width, 0, accessSize, port & 0xff, port >> 8, 0, 0, 0, 0, 0, 0);
}

describe('SDT header and checksum', () => {
  it('computes the byte that zeroes the sum', () => {
    assert.equal(acpiChecksum(Uint8Array.of()), 0);
    assert.equal(acpiChecksum(Uint8Array.of(1, 2, 3)), 0xfa);
    assert.equal(acpiChecksum(Uint8Array.of(0x80, 0x80)), 0);
  });

  it('fills length, OEM identity and checksum', () => {
    const table = finishSdt(startSdt('TEST', 3).u32(0xdeadbeef));
    assert.equal(table.length, SDT_HEADER.size + 4);
    assertHeader(table, 'TEST', 3);
    assert.equal(new ByteReader(table).u32(SDT_HEADER.size), 0xdeadbeef);
  });
});

describe('RSDP', () => {
  it('is a 36-byte ACPI 2.0 RSDP pointing at the XSDT with both checksums valid', () => {
    const rsdp = buildRsdp(0xa0430);
    const reader = new ByteReader(rsdp);
    assert.equal(rsdp.length, 36);
    assert.equal(ascii(reader.slice(8, RSDP.signature)), 'RSD PTR ');
    assert.equal(ascii(reader.slice(6, RSDP.oemId)), 'NIMBUS');
    assert.equal(reader.u8(RSDP.revision), 2);
    assert.equal(reader.u32(RSDP.rsdtAddress), 0);
    assert.equal(reader.u32(RSDP.length), 36);
    assert.equal(reader.u64(RSDP.xsdtAddress), 0xa0430);
    assert.equal(byteSum(rsdp.subarray(0, 20)), 0, 'ACPI 1.0 checksum');
    assert.equal(byteSum(rsdp), 0, 'extended checksum');
    assert.deepEqual(rsdp.subarray(33), Uint8Array.of(0, 0, 0));
  });
});

describe('XSDT', () => {
  it('lists 64-bit table addresses', () => {
    const xsdt = buildXsdt([0xa0238, 0x1_0000_0000]);
    assertHeader(xsdt, 'XSDT', 1);
    const reader = new ByteReader(xsdt);
    assert.equal(xsdt.length, XSDT.entries + 2 * XSDT.entrySize);
    assert.equal(reader.u64(XSDT.entries), 0xa0238);
    assert.equal(reader.u64(XSDT.entries + XSDT.entrySize), 0x1_0000_0000);
  });
});

describe('FADT', () => {
  const fadt = buildFadt(0xa0028);
  const reader = new ByteReader(fadt);

  it('is a 276-byte revision 6.3 hardware-reduced FADT', () => {
    assertHeader(fadt, 'FACP', 6);
    assert.equal(fadt.length, 276);
    assert.equal(reader.u8(FADT.minorVersion), 3);
    assert.equal(reader.u32(FADT.flags), FADT_FLAGS.HW_REDUCED_ACPI | FADT_FLAGS.RESET_REG_SUP | FADT_FLAGS.TMR_VAL_EXT);
    assert.equal(reader.u32(FADT.flags), 0x0010_0500);
  });

  it('points X_DSDT (only) at the DSDT', () => {
    assert.equal(reader.u64(FADT.xDsdt), 0xa0028);
    assert.equal(reader.u32(40), 0, '32-bit DSDT field');
  });

  it('routes reset and S5 through port 0x600 and the PM timer through port 0x608', () => {
    assert.deepEqual(reader.slice(GAS.size, FADT.resetRegister), ioGas(8, 1, 0x600));
    assert.equal(reader.u8(FADT.resetValue), 1);
    assert.deepEqual(reader.slice(GAS.size, FADT.sleepControlRegister), ioGas(8, 1, 0x600));
    assert.deepEqual(reader.slice(GAS.size, FADT.sleepStatusRegister), ioGas(8, 1, 0x600));
    assert.deepEqual(reader.slice(GAS.size, FADT.xPmTimerBlock), ioGas(32, 3, 0x608));
    assert.equal(reader.u8(FADT.pmTimerLength), 4);
  });

  it('names the hypervisor and leaves the legacy fixed-hardware blocks empty', () => {
    assert.equal(ascii(reader.slice(8, FADT.hypervisorVendorIdentity)), 'NIMBUSVM');
    // SCI_INT .. PM1/GPE block addresses (offsets 46-87) and X_PM1a_EVT_BLK .. X_PM2_CNT_BLK (148-207) are zero.
    assert.ok(reader.slice(87 - 46 + 1, 46).every((b) => b === 0));
    assert.ok(reader.slice(207 - 148 + 1, 148).every((b) => b === 0));
  });
});

interface X2ApicEntry {
  apicId: number;
  flags: number;
  uid: number;
}

/** Splits the MADT's interrupt controller structures by type. */
function parseMadt(madt: Uint8Array): { x2apics: X2ApicEntry[]; others: Uint8Array[] } {
  const reader = new ByteReader(madt);
  const x2apics: X2ApicEntry[] = [];
  const others: Uint8Array[] = [];
  for (let at = MADT.entries; at < madt.length; ) {
    const type = reader.u8(at);
    const length = reader.u8(at + 1);
    assert.ok(length >= 2, `entry at ${at} has length ${length}`);
    if (type === MADT_ENTRY.localX2Apic.type) {
      assert.equal(length, 16);
      assert.equal(reader.u16(at + 2), 0, 'reserved');
      x2apics.push({ apicId: reader.u32(at + 4), flags: reader.u32(at + 8), uid: reader.u32(at + 12) });
    } else {
      others.push(reader.slice(length, at));
    }
    at += length;
  }
  return { x2apics, others };
}

describe('MADT', () => {
  it('has one x2APIC per possible vCPU: enabled for boot vCPUs, online-capable for the rest', () => {
    const madt = buildMadt({ bootCpus: 2, apicIds: [0, 1, 2, 3] });
    assertHeader(madt, 'APIC', 5);
    const reader = new ByteReader(madt);
    assert.equal(reader.u32(MADT.localApicAddress), 0xfee0_0000);
    assert.equal(reader.u32(MADT.flags), 0);
    const { x2apics } = parseMadt(madt);
    assert.deepEqual(x2apics, [
      { apicId: 0, flags: X2APIC_FLAGS.enabled, uid: 0 },
      { apicId: 1, flags: X2APIC_FLAGS.enabled, uid: 1 },
      { apicId: 2, flags: X2APIC_FLAGS.onlineCapable, uid: 2 },
      { apicId: 3, flags: X2APIC_FLAGS.onlineCapable, uid: 3 },
    ]);
  });

  it('uses the given APIC ids with the vCPU index as processor UID', () => {
    const { x2apics } = parseMadt(buildMadt({ bootCpus: 3, apicIds: [0, 2, 4, 6] }));
    assert.deepEqual(
      x2apics.map((e) => [e.apicId, e.uid, e.flags]),
      [
        [0, 0, 1],
        [2, 1, 1],
        [4, 2, 1],
        [6, 3, 2],
      ],
    );
  });

  it('describes the I/O APIC, the timer override to GSI 2 and LINT1 NMI', () => {
    const { others } = parseMadt(buildMadt({ bootCpus: 1, apicIds: [0] }));
    assert.deepEqual(others, [
      // I/O APIC: id 0, reserved, address 0xFEC00000, GSI base 0.
      Uint8Array.of(1, 12, 0, 0, 0x00, 0x00, 0xc0, 0xfe, 0, 0, 0, 0),
      // Interrupt Source Override: bus 0, source 0, GSI 2, flags edge (1 << 2) | active high (1).
      Uint8Array.of(2, 10, 0, 0, 2, 0, 0, 0, 0x05, 0x00),
      // Local x2APIC NMI: flags 0, all processors, LINT1.
      Uint8Array.of(10, 12, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0),
    ]);
  });
});

describe('MCFG', () => {
  it('has one allocation per segment with its ECAM base and bus range', () => {
    const mcfg = buildMcfg([
      { segment: 0, ecamBase: 0xe800_0000, busCount: 1 },
      { segment: 1, ecamBase: 0xe810_0000, busCount: 1 },
      { segment: 2, ecamBase: 0xe820_0000, busCount: 4 },
    ]);
    assertHeader(mcfg, 'MCFG', 1);
    assert.equal(mcfg.length, MCFG.entries + 3 * MCFG.entrySize);
    const reader = new ByteReader(mcfg);
    assert.equal(reader.u64(36), 0, 'reserved');
    const entries = [0, 1, 2].map((i) => {
      const at = MCFG.entries + i * MCFG.entrySize;
      return [
        reader.u64(at + MCFG_ENTRY.baseAddress),
        reader.u16(at + MCFG_ENTRY.segment),
        reader.u8(at + MCFG_ENTRY.startBus),
        reader.u8(at + MCFG_ENTRY.endBus),
      ];
    });
    assert.deepEqual(entries, [
      [0xe800_0000, 0, 0, 0],
      [0xe810_0000, 1, 0, 0],
      [0xe820_0000, 2, 0, 3],
    ]);
  });
});
