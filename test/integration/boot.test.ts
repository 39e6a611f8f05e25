/**
 * Boots the PVH test guests through the `nimbus` CLI on the real /dev/kvm and checks what the guest saw: start info,
 * command line, e820 memmap (including memory above the 32-bit hole), the initramfs (CRC-32), every ACPI table and
 * its checksum, the MADT CPUs, and all boot CPUs coming online through INIT/SIPI. Also the error paths of bad
 * payloads and options.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { crc32 } from 'node:zlib';
import { buildE820Map } from '../../src/arch/x86_64/e820.ts';
import { ramRegions } from '../../src/arch/x86_64/layout.ts';
import { buildGuest } from '../guests/build.ts';
import { parseGuestReport, type GuestReport } from '../helpers/guest-report.ts';
import { runNimbus } from '../helpers/nimbus-process.ts';

const MiB = 1 << 20;
let work = '';
let reportElf = '';
let smpElf = '';
let initrd = new Uint8Array();
let initrdPath = '';

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'nimbus-boot-'));
  reportElf = await buildGuest('report');
  smpElf = await buildGuest('smp');
  initrd = new Uint8Array(200_003).map((_, i) => (i * 131 + 7) & 0xff);
  initrdPath = join(work, 'initrd.bin');
  await writeFile(initrdPath, initrd);
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function bootReport(args: string[]): Promise<{ report: GuestReport; stderr: string }> {
  const run = await runNimbus(['--kernel', reportElf, '--serial', 'tty', ...args]);
  assert.equal(run.status, 0, `nimbus exited with ${run.status}: ${run.stderr}`);
  const report = parseGuestReport(run.stdout);
  assert.equal(report.panic, undefined, `guest panicked: ${report.panic}`);
  assert.ok(report.done, 'the guest finished its report');
  assert.deepEqual(report.unrecognized, [], 'every report line is understood');
  return { report, stderr: run.stderr };
}

describe('report guest', () => {
  for (const { cpus, memory } of [
    { cpus: 1, memory: 256 * MiB },
    { cpus: 2, memory: 1024 * MiB },
    { cpus: 4, memory: 3584 * MiB },
  ]) {
    test(`${cpus} vCPU(s), ${memory / MiB} MiB: start info, command line, memmap, initramfs and ACPI`, async () => {
      const cmdline = 'console=ttyS0 nimbus.test="a b" x=1';
      const { report, stderr } = await bootReport([
        '--cpus', `boot=${cpus}`, '--memory', `size=${memory / MiB}M`, '--cmdline', cmdline, '--initramfs', initrdPath, '-vv',
      ]);
      assert.equal(report.startInfo?.magic, 0x336ec578);
      assert.equal(report.startInfo?.version, 1);
      assert.equal(report.entry?.cr0 && report.entry.cr0 & 0x80000001, 1, 'PVH entry: protected mode, paging off');
      assert.equal(report.cmdline?.text, cmdline);

      const expected = buildE820Map(ramRegions(memory)).map((e) => ({ address: e.addr, size: e.size, type: e.type }));
      assert.deepEqual(report.memmap?.entries, expected);
      const ramAbove4G = report.memmap!.entries.filter((e) => e.type === 1 && e.address >= 2 ** 32);
      assert.equal(ramAbove4G.length, memory > 3072 * MiB ? 1 : 0, 'RAM beyond 3 GiB continues at 4 GiB');

      assert.equal(report.modules?.count, 1);
      const module = report.modules!.entries[0]!;
      assert.equal(module.size, initrd.length);
      assert.equal(module.crc32, crc32(initrd), 'the initramfs arrived intact');

      assert.equal(report.rsdp?.checksumOk, true);
      assert.equal(report.rsdp?.extendedChecksumOk, true);
      assert.deepEqual(report.acpiTables.map((t) => t.signature).sort(), ['APIC', 'DSDT', 'FACP', 'MCFG', 'XSDT']);
      for (const table of report.acpiTables) assert.ok(table.checksumOk, `${table.signature} checksum`);
      assert.equal(report.fadt?.hardwareReduced, true);
      assert.deepEqual([report.fadt?.sleepControl?.space, report.fadt?.sleepControl?.address], [1, 0x600]);
      assert.equal(report.madt?.enabledCpus, cpus);
      assert.equal(report.madt?.possibleCpus, cpus);
      assert.deepEqual(report.madt?.ioapics, [{ id: 0, address: 0xfec00000, gsiBase: 0 }]);
      assert.deepEqual(report.mcfg, [{ base: 0xe8000000, segment: 0, busStart: 0, busEnd: 0 }]);
      assert.match(stderr, /\[Debug I\/O port: Kernel code 0x42\] \d+\.\d{6} seconds/, 'debug port milestones are logged');
    });
  }

  test('boot < max vCPUs: the MADT lists the others as online-capable, not enabled', async () => {
    const { report } = await bootReport(['--cpus', 'boot=2,max=4']);
    assert.equal(report.madt?.enabledCpus, 2);
    assert.equal(report.madt?.possibleCpus, 4);
    assert.deepEqual(report.madt?.cpus.map((c) => [c.apicId, c.enabled, c.onlineCapable]), [[0, true, false], [1, true, false], [2, false, true], [3, false, true]]);
  });

  test('--serial file= sends the console to a file and nothing to stdout', async () => {
    const path = join(work, 'serial.log');
    const run = await runNimbus(['--kernel', reportElf, '--serial', `file=${path}`]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, '');
    assert.ok(parseGuestReport(await readFile(path, 'utf8')).done);
  });
});

describe('smp guest', () => {
  for (const cpus of [1, 2, 4]) {
    test(`all ${cpus} boot vCPU(s) come online through INIT/SIPI`, async () => {
      const run = await runNimbus(['--kernel', smpElf, '--serial', 'tty', '--cpus', `boot=${cpus}`]);
      assert.equal(run.status, 0, run.stderr);
      const report = parseGuestReport(run.stdout);
      assert.equal(report.panic, undefined, `guest panicked: ${report.panic}`);
      assert.equal(report.smp?.expected, cpus);
      assert.equal(report.smp?.online, cpus);
      assert.deepEqual([...(report.smp?.apsOnline ?? [])].sort(), Array.from({ length: cpus - 1 }, (_, i) => i + 1));
    });
  }
});

describe('bad payloads and options', () => {
  test('a missing kernel file is named in the error', async () => {
    const run = await runNimbus(['--kernel', join(work, 'nope.elf')]);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /--kernel: cannot read .*nope\.elf/);
  });

  test('a file that is neither a PVH ELF nor a bzImage is refused', async () => {
    const path = join(work, 'garbage.bin');
    await writeFile(path, new Uint8Array(8192).fill(0x90));
    const run = await runNimbus(['--kernel', path]);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /garbage\.bin/);
  });

  test('a memory size too small to boot is refused with the option named', async () => {
    const run = await runNimbus(['--kernel', reportElf, '--memory', 'size=1M']);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /memory/i);
  });

  test('an unknown sub-option names the option and key', async () => {
    const run = await runNimbus(['--kernel', reportElf, '--cpus', 'boot=1,bogus=2']);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /--cpus.*bogus/);
  });
});
