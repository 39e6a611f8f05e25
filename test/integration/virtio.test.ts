/**
 * Boots the `virtio` test guest through the `nimbus` CLI on the real /dev/kvm: it enumerates PCI segment 0 through
 * the MCFG's ECAM (the host bridge 8086:0d57 at 00:00.0, and the virtio-rng device Nimbus always creates, like Cloud
 * Hypervisor, at 00:01.0 with its BAR0 placed by the VMM in the 64-bit window), drives virtio-rng as a modern
 * virtio-pci driver (VERSION_1, one queue, MSI-X vector 0) and reads four 64-byte buffers, each completed with one
 * MSI-X interrupt. The VMM's debug log shows that the guest's queue notifications ended in the ioeventfd (none exited
 * to user space). Also: `--rng src=` with a file whose bytes must arrive in order, `--rng pci_device_id=`, and an
 * entropy source that cannot be opened.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { crc32 } from 'node:zlib';
import { buildGuest } from '../guests/build.ts';
import {
  findFunction,
  parseVirtioGuestReport,
  PCI_CAP_ID,
  VIRTIO_F_VERSION_1,
  VIRTIO_PCI_CAP,
  VIRTIO_STATUS_RUNNING,
  virtioCapabilities,
  type PciFunction,
  type PciReport,
  type VirtioGuestReport,
  SECTOR_BYTES,
  VIRTIO_BLK_S,
  VIRTIO_BLK_TEST_SECTOR,
  virtioBlkTestPattern,
} from '../guests/virtio-guest.ts';
import { runNimbus } from '../helpers/nimbus-process.ts';

const ROUNDS = 4;
const BUFFER_BYTES = 64;
const BAR0 = { size: 0x8_0000, alignment: 0x80_0000 };
/** The guest routes MSI-X entry 0 to vector 0x30 of the BSP (APIC ID 0). */
const MSI = { entry: 0, address: 0xfee0_0000, data: 0x30 };

let work = '';
let virtioElf = '';

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'nimbus-virtio-'));
  virtioElf = await buildGuest('virtio');
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Boots the guest with `args` (and -vv for the device counters); returns its report and the VMM's log. */
async function bootVirtio(args: string[]): Promise<{ report: VirtioGuestReport; pci: PciReport; stderr: string }> {
  const run = await runNimbus(['--kernel', virtioElf, '--serial', 'tty', '--console', 'off', '-vv', ...args]);
  assert.equal(run.status, 0, `nimbus exited with ${run.status}: ${run.stderr}`);
  const report = parseVirtioGuestReport(run.stdout);
  assert.equal(report.panic, undefined, `guest panicked: ${report.panic}`);
  assert.equal(report.guest, 'virtio');
  assert.equal(report.done, true);
  assert.deepEqual(report.unrecognized, []);
  assert.ok(report.pci && report.pci !== 'absent', 'the guest found PCI');
  return { report, pci: report.pci, stderr: run.stderr };
}

/** The virtio-rng function as Cloud Hypervisor presents it, with its BAR0 where the VMM placed it. */
function assertRngFunction(pci: PciReport, bdf: string): PciFunction {
  const rng = findFunction(pci, bdf);
  assert.ok(rng, `no function at ${bdf}: ${JSON.stringify(pci.functions.map((f) => f.bdf))}`);
  assert.deepEqual(
    [rng.vendor, rng.device, rng.revision, rng.classCode, rng.headerType, rng.subsystemVendor, rng.subsystem],
    [0x1af4, 0x1044, 1, 0xff_ff00, 0, 0x1af4, 0x1044],
  );
  assert.equal(rng.bars.length, 1);
  const bar = rng.bars[0]!;
  assert.deepEqual({ index: bar.index, type: bar.type, size: bar.size, source: bar.source }, { index: 0, type: 'mem64', size: BAR0.size, source: 'firmware' });
  assert.equal(bar.address % BAR0.alignment, 0, 'BAR0 is 8 MiB aligned');
  const window = pci.windows.find((w) => w.type === 'mem64');
  assert.ok(window && bar.address >= window.base && bar.address + bar.size <= window.base + window.size, 'BAR0 lies in the 64-bit window');

  const structures = [VIRTIO_PCI_CAP.COMMON, VIRTIO_PCI_CAP.ISR, VIRTIO_PCI_CAP.NOTIFY, VIRTIO_PCI_CAP.PCI_CFG].map((cfgType) => {
    const [cap] = virtioCapabilities(rng, cfgType);
    assert.ok(cap, `no virtio capability of cfg_type ${cfgType}`);
    return cap;
  });
  assert.deepEqual(structures, [
    { cfgType: VIRTIO_PCI_CAP.COMMON, bar: 0, offset: 0, length: 0x38 },
    { cfgType: VIRTIO_PCI_CAP.ISR, bar: 0, offset: 0x2000, length: 1 },
    { cfgType: VIRTIO_PCI_CAP.NOTIFY, bar: 0, offset: 0x6000, length: 0x1000, notifyMultiplier: 4 },
    { cfgType: VIRTIO_PCI_CAP.PCI_CFG, bar: 0, offset: 0, length: 0 },
  ]);
  assert.deepEqual(virtioCapabilities(rng, VIRTIO_PCI_CAP.DEVICE), [], 'virtio-rng has no device configuration');
  const msix = rng.capabilities.find((c) => c.id === PCI_CAP_ID.MSIX)?.msix;
  assert.deepEqual(msix, { tableSize: 2, tableBar: 0, tableOffset: 0x8000, pbaBar: 0, pbaOffset: 0x4_8000 });
  return rng;
}

/** The driver negotiated VERSION_1, ran, and got `rounds` full buffers, one MSI-X interrupt each. */
function assertRngRan(report: VirtioGuestReport, bdf: string): Buffer[] {
  assert.equal(report.rngResult, 'ok');
  const rng = report.rng;
  assert.ok(rng, 'the virtio-rng driver report is incomplete');
  assert.equal(rng.bdf, bdf);
  assert.equal(rng.deviceFeatures, VIRTIO_F_VERSION_1, 'virtio-rng offers VERSION_1 only, as upstream');
  assert.equal(rng.driverFeatures, VIRTIO_F_VERSION_1);
  assert.equal(rng.status, VIRTIO_STATUS_RUNNING);
  assert.deepEqual(rng.queue, { index: 0, maxSize: 256, size: 8, notifyOff: 0, msixVector: 0 });
  assert.deepEqual(rng.msix, MSI);
  assert.deepEqual(
    rng.rounds.map((bytes) => bytes.length),
    Array.from({ length: ROUNDS }, () => BUFFER_BYTES),
  );
  assert.equal(rng.interrupts, ROUNDS, 'one MSI-X interrupt per used buffer');
  return rng.rounds;
}

/** The device's counters from the debug log: every notification came through the ioeventfd. */
function assertNotificationsAbsorbed(stderr: string, id = '__rng'): void {
  const line = new RegExp(`${id}: (\\d+) queue notifications through ioeventfds, (\\d+) through MMIO exits, (\\d+) forwarded register accesses, (\\d+) MSI-X interrupts`).exec(stderr);
  assert.ok(line, `no counters for ${id} in the log:\n${stderr}`);
  const [ioeventfd, exits, forwarded, interrupts] = line.slice(1).map(Number);
  assert.deepEqual({ ioeventfd, exits, interrupts }, { ioeventfd: ROUNDS, exits: 0, interrupts: ROUNDS });
  assert.ok(forwarded! > 0, 'configuration and BAR0 accesses were forwarded to the device');
}

describe('virtio guest', () => {
  test('finds the host bridge and virtio-rng on segment 0 and reads random bytes through MSI-X', async () => {
    const { report, pci, stderr } = await bootVirtio([]);
    assert.deepEqual(pci.ecam, { base: 0xe800_0000, segment: 0, busStart: 0, busEnd: 0, source: 'mcfg' });
    const hostBridge = findFunction(pci, '00:00.0');
    assert.deepEqual(hostBridge && [hostBridge.vendor, hostBridge.device, hostBridge.classCode, hostBridge.bars.length], [0x8086, 0x0d57, 0x06_0000, 0]);
    assert.deepEqual(
      pci.functions.map((f) => f.bdf),
      ['00:00.0', '00:01.0'],
    );
    assertRngFunction(pci, '00:01.0');
    const rounds = assertRngRan(report, '00:01.0');
    assert.equal(new Set(rounds.map((bytes) => bytes.toString('hex'))).size, ROUNDS, 'two buffers hold the same bytes');
    assertNotificationsAbsorbed(stderr);
    const exits = /vCPU 0: \d+ port-I\/O exits, \d+ MMIO exits, (\d+) accesses forwarded to PCI devices/.exec(stderr);
    assert.ok(exits && Number(exits[1]) > 0, 'the vCPU counted the accesses it forwarded');
  });

  test('--rng src= a file and pci_device_id: the file\'s bytes arrive in order at the chosen slot', async () => {
    const entropy = Buffer.from(Array.from({ length: ROUNDS * BUFFER_BYTES }, (_, i) => (i * 7 + 3) & 0xff));
    const path = join(work, 'entropy.bin');
    await writeFile(path, entropy);
    const { report, pci, stderr } = await bootVirtio(['--rng', `src=${path},pci_device_id=5,id=entropy0`, '--cpus', 'boot=2']);
    assert.deepEqual(
      pci.functions.map((f) => f.bdf),
      ['00:00.0', '00:05.0'],
    );
    assertRngFunction(pci, '00:05.0');
    const rounds = assertRngRan(report, '00:05.0');
    assert.deepEqual(Buffer.concat(rounds), entropy);
    assertNotificationsAbsorbed(stderr, 'entropy0');
  });

  test('an entropy source that cannot be opened stops the boot with the reason', async () => {
    const run = await runNimbus(['--kernel', virtioElf, '--serial', 'tty', '--console', 'off', '--rng', `src=${join(work, 'missing')}`]);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /--rng: cannot open the entropy source .*missing: ENOENT/);
  });
});

describe('virtio-blk', () => {
  const DISK_BYTES = 1 << 20;
  const image = (): Buffer => Buffer.from(new Uint8Array(DISK_BYTES).map((_, i) => (i * 7 + (i >> 9)) & 0xff));

  test('reads sector 0 and the serial; a flushed write reaches the image file and nothing else changes', async () => {
    const path = join(work, 'rw.img');
    const original = image();
    await writeFile(path, original);
    const { report } = await bootVirtio(['--disk', `path=${path},serial=nimbus-disk0`]);
    assert.equal(report.blkResult, 'ok');
    const blk = report.blk!;
    assert.deepEqual(blk.config, { capacity: DISK_BYTES / SECTOR_BYTES, blkSize: SECTOR_BYTES, readOnly: false });
    assert.deepEqual(blk.firstBlock, { sector: 0, status: VIRTIO_BLK_S.OK, bytes: SECTOR_BYTES, crc32: crc32(original.subarray(0, SECTOR_BYTES)) });
    assert.deepEqual(blk.id, { status: VIRTIO_BLK_S.OK, serial: Buffer.from('nimbus-disk0') });
    assert.equal(blk.flush, VIRTIO_BLK_S.OK);
    assert.deepEqual(blk.readback, { sector: VIRTIO_BLK_TEST_SECTOR, status: VIRTIO_BLK_S.OK, match: true });
    assert.equal(blk.interrupts, blk.requests, 'one MSI-X interrupt per request');
    const expected = Buffer.from(original);
    virtioBlkTestPattern(SECTOR_BYTES).copy(expected, VIRTIO_BLK_TEST_SECTOR * SECTOR_BYTES);
    assert.ok((await readFile(path)).equals(expected), 'the image holds the pattern at sector 8 and nothing else changed');
  });

  test('readonly=on: the write is refused with IOERR and the image is unchanged', async () => {
    const path = join(work, 'ro.img');
    const original = image();
    await writeFile(path, original);
    const { report } = await bootVirtio(['--disk', `path=${path},readonly=on`]);
    assert.equal(report.blkResult, 'ok');
    assert.equal(report.blk!.config.readOnly, true);
    assert.deepEqual(report.blk!.readOnlyWrite, { sector: VIRTIO_BLK_TEST_SECTOR, status: VIRTIO_BLK_S.IOERR, unchanged: true });
    assert.ok((await readFile(path)).equals(original), 'the read-only image is unchanged');
  });
});
