/** Tests for the virtio guest's output parser, on a transcript recorded from QEMU microvm and on malformed output. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { findFunction, parseVirtioGuestReport, VIRTIO_PCI_CAP, virtioBlkTestPattern, virtioCapabilities } from './virtio-guest.ts';

const RNG_DATA = [
  '1ef6b185b6accf0d33b0b76c99d2f0ae4e656785885920fb646b4ae4f0bd53a91abfada3b781ba490cec49c4a5ebd9a0d1d00ca4bf7460893414031f598e214d',
  'c2002821857fd77bbbbf7ef3114e7c608c6f709b05998a8a4eaca9e7ff0a25cd25ca853b0f7982f69ab93a6f16513b6934a96f90cc506b12ef9839e96c419137',
];

const TRANSCRIPT = [
  '',
  'report.guest=virtio',
  'pci.ecam=base=0xe0000000 segment=0 bus_start=0 bus_end=255 source=dsdt',
  'pci.window=type=mem32 base=0xc0000000 size=0x20000000',
  'pci.window=type=mem64 base=0xc00000000000 size=0x400000000000',
  'pci.function=bdf=00:00.0 vendor=0x1b36 device=0x8 revision=0x0 class=0x60000 header=0x0 subsystem_vendor=0x1af4 subsystem=0x1100',
  'pci.function=bdf=00:01.0 vendor=0x1af4 device=0x1044 revision=0x1 class=0xff00 header=0x0 subsystem_vendor=0x1af4 subsystem=0x1100',
  'pci.bar=bdf=00:01.0 index=1 type=mem32 prefetchable=0 addr=0xc0000000 size=0x1000 source=assigned',
  'pci.bar=bdf=00:01.0 index=4 type=mem64 prefetchable=1 addr=0xc00000000000 size=0x4000 source=assigned',
  'pci.cap=bdf=00:01.0 offset=0x98 id=0x11 table_size=2 table_bar=1 table_offset=0x0 pba_bar=1 pba_offset=0x800',
  'pci.cap=bdf=00:01.0 offset=0x84 id=0x9 cfg_type=5 bar=0 bar_offset=0x0 length=0x0',
  'pci.cap=bdf=00:01.0 offset=0x70 id=0x9 cfg_type=2 bar=4 bar_offset=0x3000 length=0x1000 notify_multiplier=4',
  'pci.cap=bdf=00:01.0 offset=0x40 id=0x9 cfg_type=1 bar=4 bar_offset=0x0 length=0x1000',
  'pci.functions=2',
  'virtio.rng.device=bdf=00:01.0',
  'virtio.device_features=0x10130000000',
  'virtio.driver_features=0x100000000',
  'virtio.queue=index=0 max_size=8 size=8 notify_off=0 msix_vector=0',
  'virtio.msix=entry=0 address=0xfee00000 data=0x30',
  'virtio.status=0xf',
  'virtio.rng.bytes=64',
  `virtio.rng.data=${RNG_DATA[0]}`,
  'virtio.rng.bytes=64',
  `virtio.rng.data=${RNG_DATA[1]}`,
  'virtio.rng.interrupts=2',
  'virtio.rng=ok',
  'report.done',
].join('\r\n');

/** The virtio-blk part of a QEMU microvm run on a writable drive (serial=nimbus-blk-0). */
const BLK_TRANSCRIPT = [
  'report.guest=virtio',
  'virtio.rng=absent',
  'virtio.blk.device=bdf=00:02.0',
  'virtio.blk.device_features=0x10130006e54',
  'virtio.blk.driver_features=0x100000240',
  'virtio.blk.config=capacity=2048 blk_size=512 ro=0',
  'virtio.blk.queue=index=0 max_size=256 size=8 notify_off=0 msix_vector=0',
  'virtio.blk.msix=entry=0 address=0xfee00000 data=0x30',
  'virtio.blk.status=0xf',
  'virtio.blk.read=sector=0 status=0 bytes=512 crc32=0xa1445621',
  'virtio.blk.id=status=0 serial=6e696d6275732d626c6b2d30',
  'virtio.blk.write=sector=8 status=0 bytes=512 crc32=0x38d1a0c2',
  'virtio.blk.flush=0',
  'virtio.blk.readback=sector=8 status=0 match=1',
  'virtio.blk.requests=5',
  'virtio.blk.interrupts=5',
  'virtio.blk=ok',
  'report.done',
].join('\n');

/** The same on a read-only drive. */
const BLK_READ_ONLY_TRANSCRIPT = [
  'virtio.blk.device=bdf=00:01.0',
  'virtio.blk.device_features=0x10130006e74',
  'virtio.blk.driver_features=0x100000260',
  'virtio.blk.config=capacity=2048 blk_size=512 ro=1',
  'virtio.blk.queue=index=0 max_size=256 size=8 notify_off=0 msix_vector=0',
  'virtio.blk.msix=entry=0 address=0xfee00000 data=0x30',
  'virtio.blk.status=0xf',
  'virtio.blk.read=sector=0 status=0 bytes=512 crc32=0xa1445621',
  'virtio.blk.id=status=2 serial=',
  'virtio.blk.ro_write=sector=8 status=1 unchanged=1',
  'virtio.blk.requests=5',
  'virtio.blk.interrupts=5',
  'virtio.blk=ok',
].join('\n');

describe('parseVirtioGuestReport', () => {
  test('decodes the PCI enumeration and the virtio-rng run', () => {
    const report = parseVirtioGuestReport(TRANSCRIPT);
    assert.deepEqual(report.unrecognized, []);
    assert.equal(report.guest, 'virtio');
    assert.equal(report.done, true);
    assert.equal(report.panic, undefined);
    const pci = report.pci;
    assert.ok(pci && pci !== 'absent');
    assert.deepEqual(pci.ecam, { base: 0xe0000000, segment: 0, busStart: 0, busEnd: 255, source: 'dsdt' });
    assert.deepEqual(pci.windows, [
      { type: 'mem32', base: 0xc0000000, size: 0x20000000 },
      { type: 'mem64', base: 0xc00000000000, size: 0x400000000000 },
    ]);
    const rng = findFunction(pci, '00:01.0');
    assert.ok(rng);
    assert.deepEqual(
      { vendor: rng.vendor, device: rng.device, classCode: rng.classCode, subsystem: rng.subsystem },
      { vendor: 0x1af4, device: 0x1044, classCode: 0xff00, subsystem: 0x1100 },
    );
    assert.deepEqual(rng.bars[1], { index: 4, type: 'mem64', prefetchable: true, address: 0xc00000000000, size: 0x4000, source: 'assigned' });
    assert.deepEqual(rng.capabilities[0], {
      offset: 0x98,
      id: 0x11,
      msix: { tableSize: 2, tableBar: 1, tableOffset: 0, pbaBar: 1, pbaOffset: 0x800 },
    });
    assert.deepEqual(virtioCapabilities(rng, VIRTIO_PCI_CAP.NOTIFY), [{ cfgType: 2, bar: 4, offset: 0x3000, length: 0x1000, notifyMultiplier: 4 }]);
    assert.equal(findFunction(pci, '00:00.0')?.bars.length, 0);

    assert.equal(report.rngResult, 'ok');
    assert.deepEqual(report.rng, {
      bdf: '00:01.0',
      deviceFeatures: 0x10130000000n,
      driverFeatures: 1n << 32n,
      queue: { index: 0, maxSize: 8, size: 8, notifyOff: 0, msixVector: 0 },
      msix: { entry: 0, address: 0xfee00000, data: 0x30 },
      status: 0xf,
      rounds: RNG_DATA.map((hex) => Buffer.from(hex, 'hex')),
      interrupts: 2,
    });
  });

  test('decodes a virtio-blk run on a writable drive', () => {
    const report = parseVirtioGuestReport(BLK_TRANSCRIPT);
    assert.deepEqual(report.unrecognized, []);
    assert.equal(report.rngResult, 'absent');
    assert.equal(report.rng, undefined);
    assert.equal(report.blkResult, 'ok');
    assert.deepEqual(report.blk, {
      bdf: '00:02.0',
      deviceFeatures: 0x10130006e54n,
      driverFeatures: 0x100000240n,
      queue: { index: 0, maxSize: 256, size: 8, notifyOff: 0, msixVector: 0 },
      msix: { entry: 0, address: 0xfee00000, data: 0x30 },
      status: 0xf,
      config: { capacity: 2048, blkSize: 512, readOnly: false },
      firstBlock: { sector: 0, status: 0, bytes: 512, crc32: 0xa1445621 },
      id: { status: 0, serial: Buffer.from('nimbus-blk-0') },
      write: { sector: 8, status: 0, bytes: 512, crc32: 0x38d1a0c2 },
      flush: 0,
      readback: { sector: 8, status: 0, match: true },
      requests: 5,
      interrupts: 5,
    });
  });

  test('decodes a virtio-blk run on a read-only drive', () => {
    const report = parseVirtioGuestReport(BLK_READ_ONLY_TRANSCRIPT);
    assert.deepEqual(report.unrecognized, []);
    const blk = report.blk;
    assert.ok(blk);
    assert.deepEqual(blk.config, { capacity: 2048, blkSize: 512, readOnly: true });
    assert.deepEqual(blk.id, { status: 2, serial: Buffer.alloc(0) });
    assert.deepEqual(blk.readOnlyWrite, { sector: 8, status: 1, unchanged: true });
    assert.deepEqual([blk.write, blk.flush, blk.readback], [undefined, undefined, undefined]);
  });

  test('reads a flush the device does not offer and a failed run', () => {
    const report = parseVirtioGuestReport('virtio.blk.flush=not_offered\nvirtio.blk.readback=sector=8 status=0 match=0\nvirtio.blk=failed\n');
    assert.equal(report.blkResult, 'failed');
    assert.equal(report.blk, undefined, 'an incomplete run gives no report');
    assert.deepEqual(report.unrecognized, []);
  });

  test('the test pattern is the one blk.c writes', () => {
    assert.deepEqual([...virtioBlkTestPattern(4)], [0x5a, 0x67, 0x74, 0x81]);
    assert.equal(virtioBlkTestPattern(512)[20], (20 * 13 + 0x5a) & 0xff);
  });

  test('reads the absent cases and a PANIC', () => {
    const report = parseVirtioGuestReport('report.guest=virtio\npci=absent\nvirtio.rng=absent\nPANIC virtio-rng: no used buffer\n');
    assert.equal(report.pci, 'absent');
    assert.equal(report.rngResult, 'absent');
    assert.equal(report.panic, 'virtio-rng: no used buffer');
    assert.equal(report.done, false);
    assert.equal(report.rng, undefined);
  });

  test('keeps lines outside the grammar in unrecognized', () => {
    const report = parseVirtioGuestReport('SeaBIOS banner\nvirtio.unknown=1\n');
    assert.deepEqual(report.unrecognized, ['SeaBIOS banner', 'virtio.unknown=1']);
  });

  for (const { what, output } of [
    { what: 'a record field it does not know', output: 'pci.ecam=base=0x0 segment=0 bus_start=0 bus_end=0 source=mcfg extra=1' },
    { what: 'a BAR of a function other than the last one printed', output: `${TRANSCRIPT.split('\r\n').slice(0, 6).join('\n')}\npci.bar=bdf=00:07.0 index=0 type=mem32 prefetchable=0 addr=0x0 size=0x1000 source=assigned` },
    { what: 'data that disagrees with its byte count', output: 'virtio.rng.bytes=64\nvirtio.rng.data=00ff' },
    { what: 'a function count that disagrees with the lines', output: 'pci.ecam=base=0x0 segment=0 bus_start=0 bus_end=0 source=mcfg\npci.functions=3' },
    { what: 'a window before the ECAM line', output: 'pci.window=type=mem32 base=0x0 size=0x1000' },
    { what: 'a virtio-blk flag other than 0 or 1', output: 'virtio.blk.readback=sector=8 status=0 match=2' },
    { what: 'a serial that is not hex bytes', output: 'virtio.blk.id=status=0 serial=nimbus' },
    { what: 'an unknown virtio-blk result', output: 'virtio.blk=maybe' },
    { what: 'a virtio-blk write without its CRC-32', output: 'virtio.blk.write=sector=8 status=0 bytes=512' },
    { what: 'an unknown BAR source', output: `${TRANSCRIPT.split('\r\n').slice(0, 7).join('\n')}\npci.bar=bdf=00:01.0 index=1 type=mem32 prefetchable=0 addr=0x0 size=0x1000 source=bios` },
  ]) {
    test(`rejects ${what} with VIRTIO_GUEST_REPORT_MALFORMED`, () => {
      assert.throws(() => parseVirtioGuestReport(output), { code: 'VIRTIO_GUEST_REPORT_MALFORMED' });
    });
  }
});
