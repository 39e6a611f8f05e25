/**
 * Boots the virtio test guest under QEMU and checks it against the reference VMM. On microvm with a PCIe host
 * (pcie=on: ECAM and windows in the DSDT only, BARs left at 0): the enumeration of the root bus (the host bridge; a
 * virtio-rng-pci function 1af4:1044 with its modern virtio capabilities in a 64-bit BAR the guest placed in the host
 * bridge's 64-bit window, and MSI-X), and random bytes arriving through the split queue with one MSI-X interrupt per
 * buffer. Without the device the guest reports it absent, and without a PCIe host it reports no PCI; either way it
 * powers off. On q35 (an MCFG, and SeaBIOS placing the BARs) the same driver must keep the firmware's BARs: that is
 * the path Nimbus takes, where the VMM places them. Each case runs under TCG and, where /dev/kvm is usable, under
 * KVM (PVM here: the guest's CPL0 code runs in KVM's instruction emulator).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { buildGuest } from './build.ts';
import { ACCELERATORS, bootQemu, MICROVM, qemuMissing } from './qemu-runner.ts';
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

describe('virtio test guest under QEMU', { skip: qemuMissing }, () => {
  let elf = '';

  before(async () => {
    elf = await buildGuest('virtio');
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
    });

    test(`${accelerator.name}: microvm: reports no PCI without a PCIe host and powers off`, async () => {
      const report = parseVirtioGuestReport(await bootQemu(elf, { accelerator: accelerator.args, smp: '1' }));
      assertFinished(report);
      assert.equal(report.pci, 'absent');
      assert.equal(report.rngResult, 'absent');
    });
  }
});
