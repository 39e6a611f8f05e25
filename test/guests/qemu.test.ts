/**
 * Boots the test guests under QEMU (microvm with ACPI, PVH entry through -kernel) and checks their reports: good
 * ACPI checksums, the command line and initrd (CRC-32) arriving intact, a sane memory map, and every CPU checking in
 * with -smp 1, 2 and 4 (only the enabled ones with -smp 2,maxcpus=4), and the lifecycle guest's serial echo
 * (IOAPIC-routed UART interrupt), ACPI reset and triple fault. Each case runs under TCG and, where /dev/kvm
 * is usable, under KVM too (on this project's machines that is PVM, so the guests' CPL0 code runs in KVM's
 * instruction emulator as it will under Nimbus). This validates the guests against a reference VMM; Nimbus's own
 * boot tests reuse them.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { crc32 } from 'node:zlib';
import { parseGuestReport, findAcpiTable, type GuestReport } from '../helpers/guest-report.ts';
import { buildGuest } from './build.ts';
import { ConsoleSession } from '../helpers/console-session.ts';
import { bootCounts, PANIC_LINE, resetLine, ROUTE_LINE, serialEchoExchange } from './lifecycle-guest.ts';
import { ACCELERATORS, bootQemu, QEMU, QEMU_MEMORY_MIB as MEMORY_MIB, QEMU_TIMEOUT_MS, qemuArgs, qemuMissing } from './qemu-runner.ts';

const HVM_START_MAGIC = 0x336ec578;
const MEMMAP_TYPE_RAM = 1;
const CR0_PE = 0x1;
const CR0_PG = 0x80000000;
const EFLAGS_IF = 0x200;

/** Deterministic pseudo-random bytes (xorshift32), so a reordered or truncated copy changes the CRC. */
function testInitrd(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  let state = 0x9e3779b9;
  for (let i = 0; i < size; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

function assertFinished(report: GuestReport, guest: string): void {
  assert.equal(report.panic, undefined, `guest panicked: ${report.panic}`);
  assert.equal(report.guest, guest);
  assert.equal(report.done, true);
  assert.deepEqual(report.unrecognized, []);
}

/** Non-empty entries must not overlap; RAM must add up to the configured size (minus what firmware reserves). */
function assertSaneMemmap(report: GuestReport): void {
  const memmap = report.memmap;
  assert.ok(memmap, 'memmap missing');
  assert.equal(memmap.entries.length, memmap.count);
  const used = memmap.entries.filter((e) => e.size > 0).sort((a, b) => a.address - b.address);
  for (let i = 1; i < used.length; i++) {
    const previous = used[i - 1]!;
    assert.ok(previous.address + previous.size <= used[i]!.address, `memmap entries overlap at 0x${used[i]!.address.toString(16)}`);
  }
  const ram = used.filter((e) => e.type === MEMMAP_TYPE_RAM);
  const total = ram.reduce((sum, e) => sum + e.size, 0);
  assert.ok(total <= MEMORY_MIB * 2 ** 20 && total >= (MEMORY_MIB - 1) * 2 ** 20, `RAM adds up to 0x${total.toString(16)}`);
  assert.ok(
    ram.some((e) => e.address <= 0x100000 && e.address + e.size >= 0x200000),
    'no RAM entry covers the image at 1 MiB',
  );
}

describe('test guests under QEMU', { skip: qemuMissing }, () => {
  let workDir = '';
  let initrdPath = '';
  let initrd: Buffer = Buffer.alloc(0);
  let reportElf = '';
  let smpElf = '';
  let lifecycleElf = '';

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'nimbus-guests-qemu-'));
    initrd = testInitrd(300_001);
    initrdPath = join(workDir, 'initrd.bin');
    await writeFile(initrdPath, initrd);
    reportElf = await buildGuest('report');
    smpElf = await buildGuest('smp');
    lifecycleElf = await buildGuest('lifecycle');
  });

  after(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  for (const accelerator of ACCELERATORS) {
    test(`${accelerator.name}: report guest sees start info, command line, initrd, memmap and ACPI`, async () => {
      const cmdline = 'console=ttyS0 nimbus.test="a b" path=C:\\dir';
      const report = parseGuestReport(await bootQemu(reportElf, { accelerator: accelerator.args, smp: '2', append: cmdline, initrd: initrdPath }));
      assertFinished(report, 'report');

      const entry = report.entry;
      assert.ok(entry);
      assert.equal(entry.cr0 & (CR0_PE | CR0_PG), CR0_PE, 'PVH entry: protected mode, paging off');
      assert.equal(entry.cr4, 0);
      assert.equal(entry.eflags & EFLAGS_IF, 0);
      assert.deepEqual(
        { magic: report.startInfo?.magic, version: report.startInfo?.version },
        { magic: HVM_START_MAGIC, version: 1 },
      );
      assert.equal(report.cmdline?.text, cmdline);
      assert.equal(report.cmdline?.truncated, false);
      assertSaneMemmap(report);

      assert.equal(report.modules?.count, 1);
      const module = report.modules?.entries[0];
      assert.ok(module);
      assert.equal(module.size, initrd.length);
      assert.equal(module.inRam, true);
      assert.equal(module.crc32, crc32(initrd));

      assert.equal(report.rsdp?.checksumOk, true);
      assert.equal(report.rsdp?.revision, 2);
      assert.equal(report.rsdp?.extendedChecksumOk, true);
      assert.deepEqual(report.acpiUnreadable, []);
      for (const signature of ['XSDT', 'FACP', 'APIC', 'DSDT']) assert.ok(findAcpiTable(report, signature), `${signature} missing`);
      for (const table of report.acpiTables) assert.equal(table.checksumOk, true, `${table.signature} checksum`);
      assert.equal(report.fadt?.hardwareReduced, true);
      assert.ok(report.fadt?.sleepControl, 'FADT has no SLEEP_CONTROL_REG');
      assert.equal(report.fadt?.dsdt, findAcpiTable(report, 'DSDT')?.address);

      assert.equal(report.lapic?.id, 0);
      assert.equal(report.madt?.enabledCpus, 2);
      assert.equal(report.madt?.possibleCpus, 2);
      assert.deepEqual(
        report.madt?.cpus.map((c) => c.apicId),
        [0, 1],
      );
      assert.ok((report.madt?.ioapics.length ?? 0) >= 1);
    });

    test(`${accelerator.name}: report guest without command line or initrd`, async () => {
      const report = parseGuestReport(await bootQemu(reportElf, { accelerator: accelerator.args, smp: '1' }));
      assertFinished(report, 'report');
      assert.equal(report.modules?.count, 0);
      assert.deepEqual(report.modules?.entries, []);
      assert.equal(report.cmdline?.text ?? '', '');
      assert.equal(report.madt?.enabledCpus, 1);
    });

    for (const { smp, cpus } of [
      { smp: '1', cpus: 1 },
      { smp: '2', cpus: 2 },
      { smp: '4', cpus: 4 },
      { smp: '2,maxcpus=4', cpus: 2 },
    ]) {
      test(`${accelerator.name}: smp guest brings up the ${cpus} enabled CPU(s) of -smp ${smp}`, async () => {
        const report = parseGuestReport(await bootQemu(smpElf, { accelerator: accelerator.args, smp }));
        assertFinished(report, 'smp');
        const result = report.smp;
        assert.ok(result);
        assert.equal(result.bsp, 0);
        assert.equal(result.expected, cpus);
        assert.equal(result.online, cpus);
        assert.deepEqual(
          [...result.apsOnline].sort((a, b) => a - b),
          Array.from({ length: cpus - 1 }, (_, i) => i + 1),
        );
      });
    }

    test(`${accelerator.name}: lifecycle guest echoes serial input received through IRQ 4 on the IOAPIC`, async () => {
      const args = qemuArgs(lifecycleElf, { accelerator: accelerator.args, smp: '1', append: 'nimbus.test=serial-echo' });
      const session = new ConsoleSession(QEMU, args, QEMU_TIMEOUT_MS);
      try {
        const { typed, echoed } = await serialEchoExchange(session, QEMU_TIMEOUT_MS);
        assert.deepEqual(echoed, typed);
        const route = ROUTE_LINE.exec(session.output('stdout'));
        assert.ok(route, session.describe());
        assert.equal(route[1], route[3], 'GSI 4 is pin 4 of the IOAPIC at GSI base 0');
        assert.deepEqual(await session.exited, { status: 0, signal: null }, session.describe());
        assert.doesNotMatch(session.output('stdout'), PANIC_LINE);
      } finally {
        await session.close();
      }
    });

    test(`${accelerator.name}: lifecycle guest resets through the FADT RESET_REG; QEMU keeps RAM, so the next boot counts 2`, async () => {
      const args = qemuArgs(lifecycleElf, { accelerator: accelerator.args, smp: '1', append: 'nimbus.test=acpi-reset', reboot: true });
      const session = new ConsoleSession(QEMU, args, QEMU_TIMEOUT_MS);
      try {
        await session.waitFor('stdout', resetLine('acpi-reset'), { times: 2, timeoutMs: QEMU_TIMEOUT_MS });
        assert.deepEqual(bootCounts(session.output('stdout')), [1, 2]);
        assert.doesNotMatch(session.output('stdout'), PANIC_LINE);
      } finally {
        await session.close();
      }
    });

    test(`${accelerator.name}: lifecycle guest triple-faults without a PANIC`, async () => {
      const output = await bootQemu(lifecycleElf, { accelerator: accelerator.args, smp: '1', append: 'nimbus.test=triple-fault' });
      assert.match(output, /^lifecycle\.triple_fault$/m);
      assert.doesNotMatch(output, PANIC_LINE);
    });
  }
});
