/** Tests of the PCI configuration space: header, write masks, RW1C status, BAR sizing and moves, capabilities. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PciConfigSpace, type BarRelocation, type PciConfigSpaceOptions } from './config-space.ts';
import { PCI_COMMAND, PCI_CONFIG, PCI_STATUS } from './config-registers.ts';
import { PciError } from './pci-error.ts';
import { RecordingLogger } from '../../test/helpers/device-fakes.ts';

const IDS = { vendorId: 0x1af4, deviceId: 0x1041, classCode: 0x02_00_00, revisionId: 1, subsystemVendorId: 0x1af4, subsystemId: 0x1100 };

/** Records every move and answers with `accept`. */
class RecordingRelocation {
  readonly moves: BarRelocation[] = [];
  accept = true;

  relocateBar(move: BarRelocation): boolean {
    this.moves.push(move);
    return this.accept;
  }
}

function space(extra: Partial<PciConfigSpaceOptions> = {}): { config: PciConfigSpace; relocation: RecordingRelocation } {
  const relocation = new RecordingRelocation();
  return { config: new PciConfigSpace({ ...IDS, barRelocation: relocation, ...extra }), relocation };
}

function read(config: PciConfigSpace, offset: number, width: number): number {
  const data = new Uint8Array(width);
  config.readConfig(offset, data);
  return data.reduceRight((value, byte) => value * 256 + byte, 0);
}

function write(config: PciConfigSpace, offset: number, width: number, value: number): void {
  const data = new Uint8Array(width);
  for (let i = 0; i < width; i++) data[i] = Math.floor(value / 256 ** i) & 0xff;
  config.writeConfig(offset, data);
}

const bar = (index: number): number => PCI_CONFIG.BAR0 + 4 * index;

test('the type 0 header holds the identity at its spec offsets', () => {
  const { config } = space();
  assert.equal(read(config, 0x00, 4), 0x1041_1af4);
  assert.equal(read(config, 0x08, 4), 0x0200_0001);
  assert.equal(read(config, 0x0c, 4), 0);
  assert.equal(read(config, 0x2c, 4), 0x1100_1af4);
  assert.equal(read(config, PCI_CONFIG.INTERRUPT_PIN, 1), 0);
  assert.equal(read(config, PCI_CONFIG.STATUS, 2), 0);
  assert.equal(read(config, PCI_CONFIG.HEADER_TYPE, 1), 0x00);
  assert.equal(read(space({ multiFunction: true }).config, PCI_CONFIG.HEADER_TYPE, 1), 0x80);
});

test('read-only registers keep their value; command, cache line and interrupt line take only their writable bits', () => {
  const { config } = space();
  for (let offset = 0; offset < 0x100; offset += 4) write(config, offset, 4, 0xffff_ffff);
  assert.equal(read(config, 0x00, 4), 0x1041_1af4);
  assert.equal(read(config, 0x08, 4), 0x0200_0001);
  assert.equal(read(config, PCI_CONFIG.COMMAND, 2), 0x0547);
  assert.equal(read(config, PCI_CONFIG.STATUS, 2), 0);
  assert.equal(read(config, 0x0c, 4), 0x0000_00ff, 'cache line size only; latency, header type and BIST stay 0');
  assert.equal(read(config, 0x2c, 4), 0x1100_1af4);
  assert.equal(read(config, PCI_CONFIG.CAPABILITIES_POINTER, 4), 0);
  assert.equal(read(config, 0x3c, 4), 0x0000_00ff, 'interrupt line writable; pin, min grant, max latency read-only');
  for (let index = 0; index < 6; index++) assert.equal(read(config, bar(index), 4), 0, `unused BAR ${index}`);
  assert.equal(read(config, PCI_CONFIG.EXPANSION_ROM, 4), 0, 'no expansion ROM');
  write(config, PCI_CONFIG.COMMAND, 2, 0);
  assert.equal(read(config, PCI_CONFIG.COMMAND, 2), 0);
});

test('status error bits are write-1-to-clear; other status bits ignore writes', () => {
  const { config } = space();
  config.addCapability(0x09, new Uint8Array(2));
  config.raiseStatus(PCI_STATUS.RECEIVED_MASTER_ABORT | PCI_STATUS.DETECTED_PARITY_ERROR | PCI_STATUS.SIGNALED_TARGET_ABORT);
  assert.equal(read(config, PCI_CONFIG.STATUS, 2), 0xa810);
  write(config, PCI_CONFIG.STATUS, 2, 0);
  assert.equal(read(config, PCI_CONFIG.STATUS, 2), 0xa810, 'writing 0 clears nothing');
  write(config, PCI_CONFIG.STATUS, 2, PCI_STATUS.RECEIVED_MASTER_ABORT | PCI_STATUS.CAPABILITIES_LIST);
  assert.equal(read(config, PCI_CONFIG.STATUS, 2), 0x8810, 'only the written 1 bit clears; the capability bit stays');
  // A dword write of command + status: the command takes its bits, every written error bit clears.
  write(config, PCI_CONFIG.COMMAND, 4, 0xffff_0006);
  assert.equal(read(config, PCI_CONFIG.COMMAND, 4), 0x0010_0006);
  // A byte write to the status high byte clears bit 15 only.
  config.raiseStatus(PCI_STATUS.SIGNALED_SYSTEM_ERROR | PCI_STATUS.DETECTED_PARITY_ERROR);
  write(config, PCI_CONFIG.STATUS + 1, 1, 0x80);
  assert.equal(read(config, PCI_CONFIG.STATUS, 2), 0x4010);
  assert.throws(() => config.raiseStatus(PCI_STATUS.CAPABILITIES_LIST), { code: 'HEADER_INVALID' });
});

test('a 32-bit memory BAR reads its address and flags, and sizes as ~(size - 1)', () => {
  const { config, relocation } = space();
  config.addBar({ index: 0, kind: 'memory32', size: 0x1000, address: 0xe7ff_f000 });
  config.addBar({ index: 1, kind: 'memory32', size: 0x10_0000, address: 0xc000_0000, prefetchable: true });
  assert.equal(read(config, bar(0), 4), 0xe7ff_f000);
  assert.equal(read(config, bar(1), 4), 0xc000_0008);
  write(config, bar(0), 4, 0xffff_ffff);
  write(config, bar(1), 4, 0xffff_ffff);
  assert.equal(read(config, bar(0), 4), 0xffff_f000);
  assert.equal(read(config, bar(1), 4), 0xfff0_0008);
  write(config, bar(0), 4, 0xe7ff_f000);
  write(config, bar(1), 4, 0xc000_0000);
  assert.equal(read(config, bar(0), 4), 0xe7ff_f000);
  assert.equal(read(config, bar(1), 4), 0xc000_0008);
  assert.deepEqual(relocation.moves, [], 'decoding is off: nothing moves');
  assert.deepEqual(config.bar(1), { index: 1, kind: 'memory32', size: 0x10_0000, prefetchable: true, address: 0xc000_0000 });
});

test('a 64-bit memory BAR spans two registers and sizes through both halves', () => {
  const { config } = space();
  config.addBar({ index: 2, kind: 'memory64', size: 0x8_0000, address: 0x100_0000_0000, prefetchable: true });
  config.addBar({ index: 4, kind: 'memory64', size: 2 ** 33, address: 2 ** 34 });
  assert.equal(read(config, bar(2), 4), 0x0000_000c);
  assert.equal(read(config, bar(3), 4), 0x0000_0100);
  assert.equal(read(config, bar(4), 4), 0x0000_0004);
  assert.equal(read(config, bar(5), 4), 0x0000_0004);
  for (const index of [2, 3, 4, 5]) write(config, bar(index), 4, 0xffff_ffff);
  assert.equal(read(config, bar(2), 4), 0xfff8_000c);
  assert.equal(read(config, bar(3), 4), 0xffff_ffff);
  assert.equal(read(config, bar(4), 4), 0x0000_0004, 'an 8 GiB BAR has no writable low address bits');
  assert.equal(read(config, bar(5), 4), 0xffff_fffe);
  assert.deepEqual(
    config.bars().map((b) => [b.index, b.address]),
    [
      [2, 0x100_0000_0000],
      [4, 2 ** 34],
    ],
  );
});

test('an I/O BAR sets bit 0 and sizes with all 32 address bits', () => {
  const { config } = space();
  config.addBar({ index: 5, kind: 'io', size: 0x20, address: 0xc040 });
  assert.equal(read(config, bar(5), 4), 0x0000_c041);
  write(config, bar(5), 4, 0xffff_ffff);
  assert.equal(read(config, bar(5), 4), 0xffff_ffe1);
});

test('addBar refuses impossible BARs with clear errors', () => {
  const { config } = space();
  config.addBar({ index: 1, kind: 'memory64', size: 0x4000, address: 0x1_0000_0000 });
  const cases: [Parameters<PciConfigSpace['addBar']>[0], string][] = [
    [{ index: 5, kind: 'memory64', size: 0x1000, address: 0 }, 'BAR_INVALID'],
    [{ index: 6, kind: 'memory32', size: 0x1000, address: 0 }, 'BAR_INVALID'],
    [{ index: 2, kind: 'memory32', size: 0x1000, address: 0 }, 'BAR_IN_USE'],
    [{ index: 0, kind: 'memory64', size: 0x1000, address: 0 }, 'BAR_IN_USE'],
    [{ index: 0, kind: 'memory32', size: 0x1800, address: 0 }, 'BAR_INVALID'],
    [{ index: 0, kind: 'memory32', size: 8, address: 0 }, 'BAR_INVALID'],
    [{ index: 0, kind: 'io', size: 0x200, address: 0 }, 'BAR_INVALID'],
    [{ index: 0, kind: 'memory32', size: 0x1000, address: 0x800 }, 'BAR_INVALID'],
    [{ index: 0, kind: 'memory32', size: 0x1000, address: 0x1_0000_0000 }, 'BAR_INVALID'],
    [{ index: 0, kind: 'io', size: 0x10, address: 0x1_0000 }, 'BAR_INVALID'],
    [{ index: 0, kind: 'io', size: 0x10, address: 0x1000, prefetchable: true }, 'BAR_INVALID'],
  ];
  for (const [definition, code] of cases) {
    assert.throws(() => config.addBar(definition), (error: unknown) => error instanceof PciError && error.code === code, JSON.stringify(definition));
  }
  const bare = new PciConfigSpace(IDS);
  assert.throws(() => bare.addBar({ index: 0, kind: 'memory32', size: 0x1000, address: 0 }), { code: 'BAR_RELOCATION_MISSING' });
});

test('a 32-bit BAR written with memory decoding on is reported as a move at once', () => {
  const { config, relocation } = space();
  config.addBar({ index: 0, kind: 'memory32', size: 0x1000, address: 0xe7ff_f000 });
  write(config, PCI_CONFIG.COMMAND, 2, PCI_COMMAND.MEMORY_SPACE);
  assert.deepEqual(relocation.moves, [], 'enabling decoding at the mapped address moves nothing');
  write(config, bar(0), 4, 0xd000_0000);
  assert.deepEqual(relocation.moves, [{ index: 0, kind: 'memory32', size: 0x1000, oldAddress: 0xe7ff_f000, newAddress: 0xd000_0000 }]);
  assert.equal(config.bar(0)?.address, 0xd000_0000);
  // Sizing with decoding on is a probe, not a move; restoring the address is no move either.
  write(config, bar(0), 4, 0xffff_ffff);
  write(config, bar(0), 4, 0xd000_0000);
  assert.equal(relocation.moves.length, 1);
});

test('BAR moves made with decoding off are reported when decoding is enabled', () => {
  const { config, relocation } = space();
  config.addBar({ index: 0, kind: 'memory64', size: 0x8_0000, address: 0x1_0000_0000 });
  config.addBar({ index: 2, kind: 'io', size: 0x10, address: 0x1000 });
  write(config, bar(0), 4, 0x0080_0000);
  write(config, bar(1), 4, 0x2);
  write(config, bar(2), 4, 0x2000);
  assert.deepEqual(relocation.moves, []);
  write(config, PCI_CONFIG.COMMAND, 2, PCI_COMMAND.MEMORY_SPACE);
  assert.deepEqual(relocation.moves, [{ index: 0, kind: 'memory64', size: 0x8_0000, oldAddress: 0x1_0000_0000, newAddress: 0x2_0080_0000 }]);
  write(config, PCI_CONFIG.COMMAND, 2, PCI_COMMAND.MEMORY_SPACE | PCI_COMMAND.IO_SPACE);
  assert.deepEqual(relocation.moves[1], { index: 2, kind: 'io', size: 0x10, oldAddress: 0x1000, newAddress: 0x2000 });
  assert.equal(relocation.moves.length, 2);
});

test('a 64-bit BAR moves when its upper half is written, never on the lower half alone', () => {
  const { config, relocation } = space();
  config.addBar({ index: 0, kind: 'memory64', size: 0x8_0000, address: 0x1_0000_0000 });
  write(config, PCI_CONFIG.COMMAND, 2, PCI_COMMAND.MEMORY_SPACE);
  write(config, bar(0), 4, 0x0010_0000);
  assert.deepEqual(relocation.moves, []);
  write(config, bar(1), 4, 0x3);
  assert.deepEqual(relocation.moves, [{ index: 0, kind: 'memory64', size: 0x8_0000, oldAddress: 0x1_0000_0000, newAddress: 0x3_0010_0000 }]);
  // Sizing both halves with decoding on, then restoring them, reports nothing.
  write(config, bar(0), 4, 0xffff_ffff);
  write(config, bar(1), 4, 0xffff_ffff);
  assert.equal(read(config, bar(0), 4), 0xfff8_0004);
  write(config, bar(0), 4, 0x0010_0000);
  write(config, bar(1), 4, 0x3);
  assert.equal(relocation.moves.length, 1);
});

test('a refused, failing or unreachable move puts the old address back and warns', () => {
  const logger = new RecordingLogger();
  const { config, relocation } = space({ logger });
  config.addBar({ index: 0, kind: 'memory32', size: 0x1000, address: 0xe000_0000 });
  config.addBar({ index: 2, kind: 'memory64', size: 0x1000, address: 0x1_0000_0000 });
  config.addBar({ index: 4, kind: 'io', size: 0x10, address: 0x1000 });
  write(config, PCI_CONFIG.COMMAND, 2, PCI_COMMAND.MEMORY_SPACE | PCI_COMMAND.IO_SPACE);
  relocation.accept = false;
  write(config, bar(0), 4, 0xd000_0000);
  assert.equal(read(config, bar(0), 4), 0xe000_0000);
  assert.equal(config.bar(0)?.address, 0xe000_0000);
  // Upper half beyond 52 address bits: not offered to the VMM at all.
  relocation.accept = true;
  write(config, bar(3), 4, 0x1234_5678);
  assert.equal(read(config, bar(3), 4), 0x1);
  // An I/O BAR beyond 64 KiB of ports is refused the same way.
  write(config, bar(4), 4, 0x1_0000);
  assert.equal(read(config, bar(4), 4), 0x1001);
  assert.equal(relocation.moves.length, 1);
  const throwing = new PciConfigSpace({ ...IDS, logger, barRelocation: { relocateBar: () => { throw new Error('bus overlap'); } } });
  throwing.addBar({ index: 0, kind: 'memory32', size: 0x1000, address: 0xe000_0000 });
  write(throwing, PCI_CONFIG.COMMAND, 2, PCI_COMMAND.MEMORY_SPACE);
  write(throwing, bar(0), 4, 0xd000_0000);
  assert.equal(read(throwing, bar(0), 4), 0xe000_0000);
  assert.deepEqual(
    logger.lines.map((line) => line.message),
    [
      'PCI BAR 0 move from 0xe0000000 to 0xd0000000 refused; keeping the old address',
      'PCI BAR 2 move from 0x100000000 to 0x1234567800000000 refused; keeping the old address',
      'PCI BAR 4 move from 0x1000 to 0x10000 refused; keeping the old address',
      'PCI BAR 0 relocation failed: bus overlap',
      'PCI BAR 0 move from 0xe0000000 to 0xd0000000 refused; keeping the old address',
    ],
  );
});

test('capabilities are placed from 0x40 on dword boundaries and linked from the capabilities pointer', () => {
  const { config } = space();
  const first = config.addCapability(0x09, Uint8Array.of(5, 0xaa, 0xbb));
  const second = config.addCapability(0x11, new Uint8Array(10));
  const third = config.addCapability(0x09, Uint8Array.of(4, 1));
  assert.deepEqual([first.offset, second.offset, third.offset], [0x40, 0x48, 0x54]);
  assert.equal(read(config, PCI_CONFIG.STATUS, 2) & PCI_STATUS.CAPABILITIES_LIST, PCI_STATUS.CAPABILITIES_LIST);
  const chain: number[][] = [];
  for (let at = read(config, PCI_CONFIG.CAPABILITIES_POINTER, 1); at !== 0; at = read(config, at + 1, 1)) {
    chain.push([at, read(config, at, 1)]);
  }
  assert.deepEqual(chain, [
    [0x40, 0x09],
    [0x48, 0x11],
    [0x54, 0x09],
  ]);
  assert.equal(read(config, 0x40, 4), 0x05_48_09 + 0xaa00_0000);
  assert.deepEqual([first.length, first.u8(2), first.u16(3)], [5, 5, 0xbbaa]);
});

test('capability bodies take guest writes only through their writable mask; headers are read-only', () => {
  const { config } = space();
  const cap = config.addCapability(0x09, Uint8Array.of(0x10, 0x20, 0, 0, 0, 0), { writableMask: Uint8Array.of(0, 0x0f, 0xff, 0xff, 0xff, 0xff) });
  write(config, cap.offset, 4, 0xffff_ffff);
  assert.equal(read(config, cap.offset, 4), 0x2f10_0009);
  write(config, cap.offset + 4, 4, 0x1234_5678);
  assert.equal(cap.u32(4), 0x1234_5678);
  cap.setU8(2, 0x77);
  assert.equal(read(config, cap.offset + 2, 1), 0x77, 'the device sets read-only fields directly');
  assert.throws(() => cap.u8(1), { code: 'CAPABILITY_INVALID' });
  assert.throws(() => cap.setU32(6, 0), { code: 'CAPABILITY_INVALID' });
  assert.throws(
    () => config.addCapability(0x09, new Uint8Array(2), { writableMask: new Uint8Array(3) }),
    { code: 'CAPABILITY_INVALID' },
  );
});

test('capability hooks see guest reads and writes in capability coordinates', () => {
  const { config } = space();
  const events: string[] = [];
  config.addCapability(0x09, new Uint8Array(2));
  const cap = config.addCapability(0x09, new Uint8Array(10), {
    writableMask: new Uint8Array(10).fill(0xff),
    hooks: {
      beforeRead: (offset, length) => {
        events.push(`read ${offset}+${length}`);
        cap.setU32(8, 0xcafe_f00d);
      },
      afterWrite: (offset, length) => events.push(`write ${offset}+${length} -> 0x${cap.u16(offset).toString(16)}`),
    },
  });
  assert.equal(cap.offset, 0x44);
  assert.equal(read(config, 0x4c, 4), 0xcafe_f00d);
  write(config, 0x46, 2, 0xbeef);
  read(config, 0x40, 4);
  write(config, 0x40, 4, 0);
  assert.deepEqual(events, ['read 8+4', 'write 2+2 -> 0xbeef']);
});

test('capabilities that do not fit below 0x100 are refused', () => {
  const { config } = space();
  config.addCapability(0x09, new Uint8Array(180));
  assert.throws(() => config.addCapability(0x09, new Uint8Array(20)), { code: 'CAPABILITY_INVALID' });
  const last = config.addCapability(0x09, new Uint8Array(6));
  assert.equal(last.offset + last.length, 0x100);
  assert.throws(() => config.addCapability(0x100, new Uint8Array(0)), { code: 'HEADER_INVALID' });
});

test('the extended space reads 0 and ignores writes; odd guest accesses never throw', () => {
  const { config } = space();
  assert.equal(read(config, 0x100, 4), 0);
  write(config, 0x100, 4, 0xffff_ffff);
  assert.equal(read(config, 0xffc, 4), 0);
  const data = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
  config.readConfig(0xffe, data);
  assert.deepEqual([...data], [0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  for (const offset of [-1, -4, 4096, 1e12, 1.5, Number.NaN]) {
    const probe = new Uint8Array(4);
    config.readConfig(offset, probe);
    config.writeConfig(offset, Uint8Array.of(0xff, 0xff, 0xff, 0xff));
    if (offset !== -1) assert.deepEqual([...probe], [0xff, 0xff, 0xff, 0xff], String(offset));
  }
  config.writeConfig(2, new Uint8Array(0));
  config.writeConfig(0, new Uint8Array(300).fill(0xff));
  assert.equal(read(config, 0x00, 4), 0x1041_1af4);
  assert.equal(read(config, PCI_CONFIG.COMMAND, 2), 0x0547);
});

test('save and restore carry the registers and the mapped BAR addresses', () => {
  const build = (): { config: PciConfigSpace; relocation: RecordingRelocation } => {
    const built = space();
    built.config.addBar({ index: 0, kind: 'memory64', size: 0x8_0000, address: 0x1_0000_0000 });
    built.config.addCapability(0x09, new Uint8Array(6), { writableMask: new Uint8Array(6).fill(0xff) });
    return built;
  };
  const { config } = build();
  write(config, PCI_CONFIG.COMMAND, 2, PCI_COMMAND.MEMORY_SPACE | PCI_COMMAND.BUS_MASTER);
  write(config, bar(1), 4, 0x2);
  write(config, 0x44, 4, 0x1234_5678);
  const snapshot = JSON.parse(JSON.stringify(config.save())) as unknown;
  const { config: restored, relocation } = build();
  restored.restore(snapshot);
  for (let offset = 0; offset < 0x100; offset += 4) assert.equal(read(restored, offset, 4), read(config, offset, 4), `0x${offset.toString(16)}`);
  assert.equal(restored.bar(0)?.address, 0x2_0000_0000);
  assert.deepEqual(relocation.moves, []);

  const good = config.save();
  const bad: unknown[] = [
    null,
    { ...good, version: 2 },
    { ...good, bytes: good.bytes.slice(1) },
    { ...good, bytes: [...good.bytes.slice(1), 256] },
    { ...good, barAddresses: [] },
    { ...good, barAddresses: [{ index: 1, address: 0 }] },
    { ...good, barAddresses: [{ index: 0, address: 0x1000 }] },
    { ...good, barAddresses: [{ index: 0, address: 2 ** 52 }] },
  ];
  for (const snapshotValue of bad) assert.throws(() => restored.restore(snapshotValue), { code: 'BAD_SNAPSHOT' });
});

test('identification fields are range-checked', () => {
  assert.throws(() => new PciConfigSpace({ ...IDS, vendorId: 0x1_0000 }), { code: 'HEADER_INVALID' });
  assert.throws(() => new PciConfigSpace({ ...IDS, classCode: 0x100_0000 }), { code: 'HEADER_INVALID' });
  assert.throws(() => new PciConfigSpace({ ...IDS, revisionId: -1 }), { code: 'HEADER_INVALID' });
  assert.throws(() => new PciConfigSpace({ ...IDS, subsystemId: 1.5 }), { code: 'HEADER_INVALID' });
});
