/** Table layout and placement tests: addresses, cross-table pointers, checksums, guest memory, config errors. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ByteReader } from '../abi/byte-writer.ts';
import { GuestMemory } from '../memory/guest-memory.ts';
import { AcpiError, buildAcpiTables, createAcpiTables, type AcpiConfig, type PciSegmentConfig } from './index.ts';
import { FADT } from './tables/fadt.ts';
import { RSDP } from './tables/rsdp.ts';
import { SDT_HEADER } from './tables/sdt.ts';
import { XSDT } from './tables/xsdt.ts';
import { MCFG, MCFG_ENTRY } from './tables/mcfg.ts';

const MiB = 2 ** 20;

function segment(id: number): PciSegmentConfig {
  return {
    id,
    ecam: { base: 0xe800_0000 + id * MiB, size: MiB },
    mmio32: { base: 0xc000_0000 + id * 64 * MiB, size: 64 * MiB },
    mmio64: { base: 2 ** 40 + id * 2 ** 36, size: 2 ** 36 },
  };
}

const config: AcpiConfig = { bootCpus: 2, maxCpus: 4, serial: true, pciSegments: [segment(0)] };
const byteSum = (data: Uint8Array): number => data.reduce((sum, b) => sum + b, 0) % 256;

function assertAcpiError(fn: () => unknown, code: string, messagePart?: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof AcpiError, `expected AcpiError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (messagePart !== undefined) assert.match(error.message, new RegExp(messagePart));
    return true;
  });
}

describe('createAcpiTables', () => {
  it('places RSDP at 0xA0000 and DSDT, FACP, APIC, MCFG, XSDT after it, 8-byte aligned and in order', () => {
    const set = createAcpiTables(config);
    assert.equal(set.rsdpAddress, 0xa_0000);
    assert.deepEqual(
      set.tables.map((t) => t.signature),
      ['RSD PTR ', 'DSDT', 'FACP', 'APIC', 'MCFG', 'XSDT'],
    );
    assert.equal(set.tables[0]!.address, 0xa_0000);
    assert.equal(set.tables[1]!.address, 0xa_0028, 'DSDT right after the 36-byte RSDP, rounded up to 8');
    for (let i = 1; i < set.tables.length; i++) {
      const previous = set.tables[i - 1]!;
      const table = set.tables[i]!;
      assert.equal(table.address % 8, 0);
      assert.equal(table.address, Math.ceil((previous.address + previous.bytes.length) / 8) * 8);
      assert.equal(String.fromCharCode(...table.bytes.subarray(0, 4)), table.signature);
    }
  });

  it('links RSDP -> XSDT -> FACP/APIC/MCFG and FACP -> DSDT, every table checksummed', () => {
    const set = createAcpiTables(config);
    const address = (signature: string): number => set.tables.find((t) => t.signature === signature)!.address;
    const [rsdp, ...sdts] = set.tables;
    const rsdpReader = new ByteReader(rsdp!.bytes);
    assert.equal(rsdpReader.u64(RSDP.xsdtAddress), address('XSDT'));
    assert.equal(byteSum(rsdp!.bytes.subarray(0, RSDP.v1Size)), 0);
    assert.equal(byteSum(rsdp!.bytes), 0);
    for (const table of sdts) {
      assert.equal(byteSum(table.bytes), 0, `${table.signature} checksum`);
      assert.equal(new ByteReader(table.bytes).u32(SDT_HEADER.length), table.bytes.length);
    }
    const xsdt = new ByteReader(set.tables.find((t) => t.signature === 'XSDT')!.bytes);
    assert.deepEqual(
      [0, 1, 2].map((i) => xsdt.u64(XSDT.entries + i * XSDT.entrySize)),
      [address('FACP'), address('APIC'), address('MCFG')],
    );
    assert.equal(xsdt.length, XSDT.entries + 3 * XSDT.entrySize);
    const fadt = new ByteReader(set.tables.find((t) => t.signature === 'FACP')!.bytes);
    assert.equal(fadt.u64(FADT.xDsdt), address('DSDT'));
  });

  it('honours a custom RSDP address and lists PCI segments in MCFG by id', () => {
    const set = createAcpiTables({ ...config, rsdpAddress: 0xe_0000, pciSegments: [segment(2), segment(0), segment(1)] });
    assert.equal(set.rsdpAddress, 0xe_0000);
    assert.equal(set.tables[1]!.address, 0xe_0028);
    const mcfg = new ByteReader(set.tables.find((t) => t.signature === 'MCFG')!.bytes);
    assert.deepEqual(
      [0, 1, 2].map((i) => [mcfg.u16(MCFG.entries + i * MCFG.entrySize + MCFG_ENTRY.segment), mcfg.u64(MCFG.entries + i * MCFG.entrySize)]),
      [
        [0, 0xe800_0000],
        [1, 0xe810_0000],
        [2, 0xe820_0000],
      ],
    );
  });

  it('fails when the tables do not fit below 0xF0000', () => {
    assertAcpiError(() => createAcpiTables({ ...config, maxCpus: 20_480 }), 'TABLES_TOO_LARGE', 'below 0xf0000');
    assertAcpiError(() => createAcpiTables({ ...config, maxCpus: 1_000_000_000 }), 'TABLES_TOO_LARGE');
    assertAcpiError(() => createAcpiTables({ ...config, rsdpAddress: 0xe_ff00 }), 'TABLES_TOO_LARGE');
    // 16,000 vCPUs (256,000 bytes of x2APIC entries) still fit.
    assert.equal(createAcpiTables({ ...config, maxCpus: 16_000 }).tables.length, 6);
  });
});

describe('AcpiConfig validation', () => {
  it('rejects bad vCPU counts and APIC ids', () => {
    for (const [bootCpus, maxCpus] of [
      [0, 1],
      [3, 2],
      [1.5, 2],
      [1, Number.NaN],
    ] as const) {
      assertAcpiError(() => createAcpiTables({ ...config, bootCpus, maxCpus }), 'INVALID_CPU_CONFIG');
    }
    assertAcpiError(() => createAcpiTables({ ...config, apicIds: [0, 1, 2] }), 'INVALID_CPU_CONFIG', 'one APIC id per possible vCPU');
    assertAcpiError(() => createAcpiTables({ ...config, apicIds: [0, 1, 1, 2] }), 'INVALID_CPU_CONFIG');
    assertAcpiError(() => createAcpiTables({ ...config, apicIds: [0, 1, 2, 0xffff_ffff] }), 'INVALID_CPU_CONFIG');
    assertAcpiError(() => createAcpiTables({ ...config, apicIds: [0, 1, 2, -1] }), 'INVALID_CPU_CONFIG');
  });

  it('rejects bad PCI segments', () => {
    const bad = (pciSegments: PciSegmentConfig[]): void =>
      assertAcpiError(() => createAcpiTables({ ...config, pciSegments }), 'INVALID_PCI_SEGMENT');
    bad([]);
    bad([segment(1)]);
    bad([segment(0), segment(0)]);
    bad([segment(0), { ...segment(1), id: 256 }]);
    bad([{ ...segment(0), ecam: { base: 0xe800_1000, size: MiB } }]);
    bad([{ ...segment(0), ecam: { base: 0xe800_0000, size: MiB + 4096 } }]);
    bad([{ ...segment(0), ecam: { base: 0xe000_0000, size: 512 * MiB } }]);
    bad([{ ...segment(0), ecam: { base: 2 ** 32, size: MiB } }]);
    bad([{ ...segment(0), mmio32: { base: 0xf000_0000, size: 512 * MiB } }]);
    bad([{ ...segment(0), mmio32: { base: 0xc000_0000, size: 0 } }]);
    bad([{ ...segment(0), mmio64: { base: 2 ** 53, size: MiB } }]);
  });

  it('rejects an unaligned or out-of-window RSDP address', () => {
    assertAcpiError(() => createAcpiTables({ ...config, rsdpAddress: 0xa_0008 }), 'INVALID_RSDP_ADDRESS');
    assertAcpiError(() => createAcpiTables({ ...config, rsdpAddress: 0xf_0000 }), 'INVALID_RSDP_ADDRESS');
    assertAcpiError(() => createAcpiTables({ ...config, rsdpAddress: -16 }), 'INVALID_RSDP_ADDRESS');
  });
});

describe('buildAcpiTables', () => {
  it('writes every table to guest memory at its address and zeroes the padding between them', () => {
    const memory = GuestMemory.anonymous([{ guestBase: 0, size: MiB }]);
    memory.fill(0, MiB, 0xaa);
    const result = buildAcpiTables(config, memory);
    const expected = createAcpiTables(config);
    assert.equal(result.rsdpAddress, 0xa_0000);
    assert.deepEqual(
      result.tables,
      expected.tables.map((t) => ({ signature: t.signature, address: t.address, length: t.bytes.length })),
    );
    for (const table of expected.tables) assert.deepEqual(memory.read(table.address, table.bytes.length), table.bytes);
    const rsdp = expected.tables[0]!;
    const dsdt = expected.tables[1]!;
    assert.deepEqual(memory.read(rsdp.address + rsdp.bytes.length, dsdt.address - rsdp.address - rsdp.bytes.length), new Uint8Array(4));
    const last = expected.tables[expected.tables.length - 1]!;
    assert.equal(memory.readU8(last.address + last.bytes.length), 0xaa, 'nothing written past the last table');
    assert.equal(memory.readU8(0xa_0000 - 1), 0xaa, 'nothing written before the RSDP');
  });

  it('fails with OUTSIDE_GUEST_MEMORY when the table window is not RAM', () => {
    const memory = GuestMemory.anonymous([{ guestBase: 0, size: 0xa_0000 }]);
    assertAcpiError(() => buildAcpiTables(config, memory), 'OUTSIDE_GUEST_MEMORY');
  });
});
