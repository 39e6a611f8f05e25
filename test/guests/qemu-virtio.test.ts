/**
 * Boots the virtio test guest under QEMU and checks it against the reference VMM. On microvm with a PCIe host
 * (pcie=on: ECAM and windows in the DSDT only, BARs left at 0): the enumeration of the root bus (the host bridge; a
 * virtio-rng-pci function 1af4:1044 with its modern virtio capabilities in a 64-bit BAR the guest placed in the host
 * bridge's 64-bit window, and MSI-X), and random bytes arriving through the split queue with one MSI-X interrupt per
 * buffer. Without the device the guest reports it absent, and without a PCIe host it reports no PCI; either way it
 * powers off. On q35 (an MCFG, and SeaBIOS placing the BARs) the same driver must keep the firmware's BARs: that is
 * the path Nimbus takes, where the VMM places them. With a virtio-blk-pci function (1af4:1042) on a raw image the
 * guest reads sector 0 (its CRC-32 must match the file), reads the serial with GET_ID, writes a pattern to sector 8,
 * flushes and reads it back; the test then finds the pattern in the file and every other byte unchanged. On a
 * read-only drive the device offers VIRTIO_BLK_F_RO, the write must fail with VIRTIO_BLK_S_IOERR and the file must
 * stay as it was. Each case runs under TCG and, where /dev/kvm is usable, under KVM (PVM here: the guest's CPL0
 * code runs in KVM's instruction emulator).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { crc32 } from 'node:zlib';
import { buildGuest } from './build.ts';
import { ACCELERATORS, bootQemu, MICROVM, qemuMissing } from './qemu-runner.ts';
import {
  findFunction,
  parseVirtioGuestReport,
  PCI_CAP_ID,
  SECTOR_BYTES,
  VIRTIO_BLK_F,
  VIRTIO_BLK_S,
  VIRTIO_BLK_TEST_SECTOR,
  VIRTIO_F_VERSION_1,
  VIRTIO_PCI_CAP,
  VIRTIO_STATUS_RUNNING,
  virtioBlkTestPattern,
  virtioCapabilities,
  type PciFunction,
  type PciReport,
  type VirtioBlkReport,
  type VirtioGuestReport,
} from './virtio-guest.ts';

const VIRTIO_VENDOR = 0x1af4;
const VIRTIO_RNG_MODERN_DEVICE = 0x1044;
const HOST_BRIDGE_CLASS = 0x060000;
const RNG_ROUNDS = 4;
const RNG_BUFFER_BYTES = 64;
/** The guest routes MSI-X entry 0 to vector 0x30 of the BSP (APIC ID 0). */
const MSI_ADDRESS = 0xfee00000;
const MSI_VECTOR = 0x30;
const MICROVM_PCIE = `${MICROVM},pcie=on`;
const RNG_DEVICE = ['-device', 'virtio-rng-pci,disable-legacy=on'];
const VIRTIO_BLK_MODERN_DEVICE = 0x1042;
const DISK_BYTES = 1024 * 1024;
/** Requests the guest sends: sector 0, GET_ID, then write, FLUSH, read back (read-only: read, write, read). */
const BLK_REQUESTS = 5;
/** QEMU takes serials up to 20 bytes; the read-only case uses all 20, so the ID carries no NUL. */
const BLK_SERIAL = 'nimbus-blk-0';
const BLK_SERIAL_FULL_LENGTH = 'NIMBUS-READONLY-0001';

/** QEMU arguments for a modern virtio-blk-pci function on the raw image `path`. */
function blkDevice(path: string, serial: string, readOnly: boolean): string[] {
  return [
    '-drive', `file=${path},if=none,id=d0,format=raw${readOnly ? ',readonly=on' : ''}`,
    '-device', `virtio-blk-pci,drive=d0,serial=${serial},disable-legacy=on`,
  ];
}

function assertFinished(report: VirtioGuestReport): void {
  assert.equal(report.panic, undefined, `guest panicked: ${report.panic}`);
  assert.equal(report.guest, 'virtio');
  assert.equal(report.done, true);
  assert.deepEqual(report.unrecognized, []);
}

function pciOf(report: VirtioGuestReport): PciReport {
  assert.ok(report.pci && report.pci !== 'absent', 'the guest found no PCI host');
  return report.pci;
}

/** microvm describes its PCIe host in the DSDT only (_CBA and _CRS, no MCFG), with both memory windows. */
function assertMicrovmHost(pci: PciReport): void {
  assert.deepEqual({ source: pci.ecam.source, segment: pci.ecam.segment, busStart: pci.ecam.busStart }, { source: 'dsdt', segment: 0, busStart: 0 });
  assert.ok(pci.ecam.base > 0);
  assert.deepEqual(pci.windows.map((w) => w.type).sort(), ['mem32', 'mem64']);
  const hostBridge = findFunction(pci, '00:00.0');
  assert.ok(hostBridge, 'no function at 00:00.0');
  assert.equal(hostBridge.classCode, HOST_BRIDGE_CLASS);
}

/** Each virtio structure lies inside a 64-bit memory BAR of the function. */
function assertVirtioStructures(f: PciFunction): void {
  for (const cfgType of [VIRTIO_PCI_CAP.COMMON, VIRTIO_PCI_CAP.NOTIFY, VIRTIO_PCI_CAP.ISR, VIRTIO_PCI_CAP.DEVICE]) {
    const [cap] = virtioCapabilities(f, cfgType);
    assert.ok(cap, `no virtio capability of cfg_type ${cfgType}`);
    const bar = f.bars.find((b) => b.index === cap.bar);
    assert.ok(bar, `cfg_type ${cfgType} names BAR ${cap.bar}, which the function does not have`);
    assert.equal(bar.type, 'mem64');
    assert.ok(cap.length > 0 && cap.offset + cap.length <= bar.size, `cfg_type ${cfgType} lies outside BAR ${cap.bar}`);
  }
  const [notify] = virtioCapabilities(f, VIRTIO_PCI_CAP.NOTIFY);
  assert.ok((notify?.notifyMultiplier ?? 0) > 0, 'notify_off_multiplier');
}

/** The guest placed the 64-bit BAR itself (QEMU leaves BARs at 0), naturally aligned inside the 64-bit window. */
function assertBarsPlaced(pci: PciReport, f: PciFunction): void {
  const wide = f.bars.filter((b) => b.type === 'mem64');
  assert.equal(wide.length, 1);
  const bar = wide[0]!;
  assert.equal(bar.source, 'assigned');
  assert.equal(bar.address % bar.size, 0, 'BAR not aligned to its size');
  const window = pci.windows.find((w) => w.type === 'mem64');
  assert.ok(window && bar.address >= window.base && bar.address + bar.size <= window.base + window.size, 'BAR outside the 64-bit window');
  for (const b of f.bars) assert.notEqual(b.source, 'unassigned', `BAR ${b.index} has no address`);
}

function assertMsix(f: PciFunction): void {
  const msix = f.capabilities.find((c) => c.id === PCI_CAP_ID.MSIX)?.msix;
  assert.ok(msix, 'no MSI-X capability');
  assert.ok(msix.tableSize >= 2, 'MSI-X table holds fewer than a config and a queue vector');
  const tableBar = f.bars.find((b) => b.index === msix.tableBar);
  assert.ok(tableBar && tableBar.type !== 'io', 'the MSI-X table is not in a memory BAR');
  assert.ok(msix.tableOffset + 16 * msix.tableSize <= tableBar.size);
}

/** The 1af4:1044 function, with its virtio structures in a 64-bit BAR and MSI-X. */
function rngFunctionOf(pci: PciReport): PciFunction {
  const rngFunction = pci.functions.find((f) => f.vendor === VIRTIO_VENDOR && f.device === VIRTIO_RNG_MODERN_DEVICE);
  assert.ok(rngFunction, `no 1af4:1044 function in ${JSON.stringify(pci.functions)}`);
  assert.equal(rngFunction.headerType, 0);
  assertVirtioStructures(rngFunction);
  assertMsix(rngFunction);
  return rngFunction;
}

/** The driver negotiated VERSION_1 only, reached DRIVER_OK, and every buffer came back full through one MSI-X
 * interrupt. */
function assertRngRan(report: VirtioGuestReport, rngFunction: PciFunction): void {
  assert.equal(report.rngResult, 'ok');
  const rng = report.rng;
  assert.ok(rng, 'the virtio-rng driver report is incomplete');
  assert.equal(rng.bdf, rngFunction.bdf);
  assert.equal(rng.deviceFeatures & VIRTIO_F_VERSION_1, VIRTIO_F_VERSION_1);
  assert.equal(rng.driverFeatures, VIRTIO_F_VERSION_1);
  assert.equal(rng.status, VIRTIO_STATUS_RUNNING);
  assert.equal(rng.queue.index, 0);
  assert.equal(rng.queue.msixVector, 0);
  assert.ok(rng.queue.size > 0 && rng.queue.size <= rng.queue.maxSize);
  assert.deepEqual(rng.msix, { entry: 0, address: MSI_ADDRESS, data: MSI_VECTOR });
  assert.deepEqual(
    rng.rounds.map((bytes) => bytes.length),
    Array.from({ length: RNG_ROUNDS }, () => RNG_BUFFER_BYTES),
  );
  assert.equal(new Set(rng.rounds.map((bytes) => bytes.toString('hex'))).size, RNG_ROUNDS, 'two buffers hold the same bytes');
  for (const bytes of rng.rounds) assert.ok(bytes.some((b) => b !== 0), 'a buffer came back all zero');
  assert.equal(rng.interrupts, RNG_ROUNDS, 'one MSI-X interrupt per used buffer');
}

/** The 1af4:1042 function, with its virtio structures in a 64-bit BAR the guest placed, and MSI-X. */
function blkFunctionOf(pci: PciReport): PciFunction {
  const blkFunction = pci.functions.find((f) => f.vendor === VIRTIO_VENDOR && f.device === VIRTIO_BLK_MODERN_DEVICE);
  assert.ok(blkFunction, `no 1af4:1042 function in ${JSON.stringify(pci.functions)}`);
  assertVirtioStructures(blkFunction);
  assertMsix(blkFunction);
  assertBarsPlaced(pci, blkFunction);
  return blkFunction;
}

/** What every virtio-blk run shares: bring-up, configuration, sector 0, the serial and one interrupt per request. */
function assertBlkRan(report: VirtioGuestReport, image: Buffer, serial: string, readOnly: boolean): VirtioBlkReport {
  assert.equal(report.blkResult, 'ok');
  const blk = report.blk;
  assert.ok(blk, 'the virtio-blk driver report is incomplete');
  assert.equal(blk.bdf, blkFunctionOf(pciOf(report)).bdf);
  assert.equal(blk.deviceFeatures & VIRTIO_F_VERSION_1, VIRTIO_F_VERSION_1);
  const optional = VIRTIO_BLK_F.RO | VIRTIO_BLK_F.BLK_SIZE | VIRTIO_BLK_F.FLUSH;
  assert.equal(blk.driverFeatures, VIRTIO_F_VERSION_1 | (blk.deviceFeatures & optional));
  assert.equal((blk.driverFeatures & VIRTIO_BLK_F.RO) !== 0n, readOnly);
  assert.equal(blk.status, VIRTIO_STATUS_RUNNING);
  assert.deepEqual({ index: blk.queue.index, msixVector: blk.queue.msixVector }, { index: 0, msixVector: 0 });
  assert.deepEqual(blk.msix, { entry: 0, address: MSI_ADDRESS, data: MSI_VECTOR });
  assert.deepEqual(blk.config, { capacity: DISK_BYTES / SECTOR_BYTES, blkSize: SECTOR_BYTES, readOnly });
  assert.deepEqual(blk.firstBlock, { sector: 0, status: VIRTIO_BLK_S.OK, bytes: SECTOR_BYTES, crc32: crc32(image.subarray(0, SECTOR_BYTES)) });
  assert.deepEqual(blk.id, { status: VIRTIO_BLK_S.OK, serial: Buffer.from(serial) });
  assert.equal(blk.requests, BLK_REQUESTS);
  assert.equal(blk.interrupts, BLK_REQUESTS, 'one MSI-X interrupt per request');
  return blk;
}

describe('virtio test guest under QEMU', { skip: qemuMissing }, () => {
  let elf = '';
  let workDir = '';
  let image = Buffer.alloc(0);

  before(async () => {
    elf = await buildGuest('virtio');
    workDir = await mkdtemp(join(tmpdir(), 'nimbus-virtio-blk-'));
    image = randomBytes(DISK_BYTES);
  });

  after(async () => {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  for (const accelerator of ACCELERATORS) {
    test(`${accelerator.name}: microvm: enumerates virtio-rng-pci, places its BARs and reads random bytes through MSI-X`, async () => {
      const output = await bootQemu(elf, { accelerator: accelerator.args, smp: '1', machine: MICROVM_PCIE, devices: RNG_DEVICE });
      const report = parseVirtioGuestReport(output);
      assertFinished(report);
      const pci = pciOf(report);
      assertMicrovmHost(pci);
      const rngFunction = rngFunctionOf(pci);
      assertBarsPlaced(pci, rngFunction);
      assertRngRan(report, rngFunction);
    });

    test(`${accelerator.name}: q35: finds ECAM in the MCFG, keeps the BARs SeaBIOS placed and reads random bytes`, async () => {
      const output = await bootQemu(elf, { accelerator: accelerator.args, smp: '1', machine: 'q35', devices: RNG_DEVICE });
      const report = parseVirtioGuestReport(output);
      assertFinished(report);
      const pci = pciOf(report);
      assert.deepEqual({ source: pci.ecam.source, segment: pci.ecam.segment, busStart: pci.ecam.busStart }, { source: 'mcfg', segment: 0, busStart: 0 });
      assert.equal(findFunction(pci, '00:00.0')?.classCode, HOST_BRIDGE_CLASS);
      const rngFunction = rngFunctionOf(pci);
      assert.ok(rngFunction.bars.length > 0);
      for (const bar of rngFunction.bars) assert.equal(bar.source, 'firmware', `BAR ${bar.index}`);
      assertRngRan(report, rngFunction);
    });

    test(`${accelerator.name}: microvm: virtio-blk reads sector 0 and the serial, and a flushed write reaches the image`, async () => {
      const path = join(workDir, `${accelerator.name}-rw.img`);
      await writeFile(path, image);
      const devices = blkDevice(path, BLK_SERIAL, false);
      const report = parseVirtioGuestReport(await bootQemu(elf, { accelerator: accelerator.args, smp: '1', machine: MICROVM_PCIE, devices }));
      assertFinished(report);
      assert.equal(report.rngResult, 'absent');
      const blk = assertBlkRan(report, image, BLK_SERIAL, false);
      assert.equal(blk.driverFeatures & VIRTIO_BLK_F.FLUSH, VIRTIO_BLK_F.FLUSH, 'QEMU offers VIRTIO_BLK_F_FLUSH');
      const pattern = virtioBlkTestPattern(SECTOR_BYTES);
      assert.deepEqual(blk.write, { sector: VIRTIO_BLK_TEST_SECTOR, status: VIRTIO_BLK_S.OK, bytes: SECTOR_BYTES, crc32: crc32(pattern) });
      assert.equal(blk.flush, VIRTIO_BLK_S.OK);
      assert.deepEqual(blk.readback, { sector: VIRTIO_BLK_TEST_SECTOR, status: VIRTIO_BLK_S.OK, match: true });
      assert.equal(blk.readOnlyWrite, undefined);

      const expected = Buffer.from(image);
      pattern.copy(expected, VIRTIO_BLK_TEST_SECTOR * SECTOR_BYTES);
      assert.ok((await readFile(path)).equals(expected), 'the image holds the pattern at sector 8 and nothing else changed');
    });

    test(`${accelerator.name}: microvm: on a read-only virtio-blk the write fails with IOERR and the image is unchanged`, async () => {
      const path = join(workDir, `${accelerator.name}-ro.img`);
      await writeFile(path, image);
      const devices = [...RNG_DEVICE, ...blkDevice(path, BLK_SERIAL_FULL_LENGTH, true)];
      const report = parseVirtioGuestReport(await bootQemu(elf, { accelerator: accelerator.args, smp: '1', machine: MICROVM_PCIE, devices }));
      assertFinished(report);
      assert.equal(report.rngResult, 'ok', 'virtio-rng and virtio-blk share the MSI vector');
      const blk = assertBlkRan(report, image, BLK_SERIAL_FULL_LENGTH, true);
      assert.deepEqual(blk.readOnlyWrite, { sector: VIRTIO_BLK_TEST_SECTOR, status: VIRTIO_BLK_S.IOERR, unchanged: true });
      assert.equal(blk.write, undefined);
      assert.ok((await readFile(path)).equals(image), 'the read-only image changed');
    });

    test(`${accelerator.name}: microvm: reports virtio-rng absent on a PCIe host without devices and powers off`, async () => {
      const output = await bootQemu(elf, { accelerator: accelerator.args, smp: '1', machine: MICROVM_PCIE });
      const report = parseVirtioGuestReport(output);
      assertFinished(report);
      const pci = pciOf(report);
      assertMicrovmHost(pci);
      assert.deepEqual(
        pci.functions.map((f) => f.bdf),
        ['00:00.0'],
      );
      assert.equal(report.rngResult, 'absent');
      assert.equal(report.rng, undefined);
      assert.equal(report.blkResult, 'absent');
      assert.equal(report.blk, undefined);
    });

    test(`${accelerator.name}: microvm: reports no PCI without a PCIe host and powers off`, async () => {
      const report = parseVirtioGuestReport(await bootQemu(elf, { accelerator: accelerator.args, smp: '1' }));
      assertFinished(report);
      assert.equal(report.pci, 'absent');
      assert.equal(report.rngResult, 'absent');
      assert.equal(report.blkResult, 'absent');
    });
  }
});
