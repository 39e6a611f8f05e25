/** Unit tests for the test-guest report parser, on output captured from the guests under QEMU and hand-made lines. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { findAcpiTable, parseGuestReport, GuestReportError } from './guest-report.ts';

/** The report guest under QEMU microvm (acpi=on, -smp 2, -append "hello world", a 100,014-byte initrd). */
const QEMU_REPORT = `
report.guest=report
entry.cr0=0x11
entry.cr4=0x0
entry.efer=0x0
entry.eflags=0x6
entry.cs=0x8
entry.ds=0x10
entry.es=0x10
entry.ss=0x10
start_info.addr=0xf31e0
start_info.magic=0x336ec578
start_info.version=1
start_info.flags=0x0
lapic.id=0
lapic.mode=xapic
cmdline.addr=0xefc70
cmdline=hello world
memmap.addr=0xefbe0
memmap.count=6
memmap.entry=addr=0x0 size=0x9fc00 type=1
memmap.entry=addr=0x9fc00 size=0x400 type=2
memmap.entry=addr=0xd0000 size=0x20000 type=4
memmap.entry=addr=0xf0000 size=0x10000 type=2
memmap.entry=addr=0x100000 size=0xff00000 type=1
memmap.entry=addr=0x0 size=0x0 type=0
modules.addr=0x7b7c
modules.count=1
module=addr=0xffe7000 size=0x186b8 cmdline=0x0 ram=yes crc32=0x36879992
rsdp.addr=0xf3490
rsdp.revision=2
rsdp.oem=BOCHS\\x20
rsdp.checksum=ok
rsdp.rsdt=0x0
rsdp.extended_checksum=ok
rsdp.xsdt=0xeffb6
acpi.table=sig=XSDT addr=0xeffb6 len=52 rev=1 oem=BOCHS\\x20 checksum=ok
acpi.table=sig=FACP addr=0xefe50 len=268 rev=5 oem=BOCHS\\x20 checksum=ok
acpi.table=sig=APIC addr=0xeff5c len=90 rev=1 oem=BOCHS\\x20 checksum=ok
acpi.table=sig=DSDT addr=0xefd00 len=336 rev=2 oem=BOCHS\\x20 checksum=ok
fadt.flags=0x100400
fadt.hw_reduced=1
fadt.dsdt=0xefd00
fadt.minor=0
fadt.reset=space=0 width=8 offset=0 access=0 addr=0xfea00202 value=0x42
fadt.sleep_control=space=0 width=8 offset=0 access=0 addr=0xfea00200
fadt.sleep_status=space=0 width=8 offset=0 access=0 addr=0xfea00201
madt.lapic_addr=0xfee00000
madt.flags=0x1
madt.cpu=apic=0 uid=0 flags=0x1 x2apic=0
madt.cpu=apic=1 uid=1 flags=0x1 x2apic=0
madt.ioapic=id=0 addr=0xfec00000 gsi_base=0
madt.ioapic=id=1 addr=0xfec10000 gsi_base=24
madt.lapic_nmi=uid=0xff flags=0x0 lint=1
madt.cpus.enabled=2
madt.cpus.possible=2
report.done
`;

describe('parseGuestReport', () => {
  test('parses a full report from QEMU', () => {
    const report = parseGuestReport(QEMU_REPORT);
    assert.equal(report.guest, 'report');
    assert.equal(report.done, true);
    assert.equal(report.panic, undefined);
    assert.deepEqual(report.unrecognized, []);
    assert.deepEqual(report.entry, { cr0: 0x11, cr4: 0, efer: 0, eflags: 6, cs: 8, ds: 0x10, es: 0x10, ss: 0x10 });
    assert.deepEqual(report.startInfo, { address: 0xf31e0, magic: 0x336ec578, version: 1, flags: 0 });
    assert.deepEqual(report.lapic, { id: 0, mode: 'xapic' });
    assert.deepEqual(report.cmdline, { address: 0xefc70, text: 'hello world', truncated: false });
    assert.equal(report.memmap?.count, 6);
    assert.deepEqual(report.memmap?.entries[4], { address: 0x100000, size: 0xff00000, type: 1 });
    assert.deepEqual(report.modules, {
      address: 0x7b7c,
      count: 1,
      entries: [{ address: 0xffe7000, size: 0x186b8, cmdline: 0, inRam: true, crc32: 0x36879992 }],
    });
    assert.deepEqual(report.rsdp, {
      address: 0xf3490,
      revision: 2,
      oem: 'BOCHS ',
      checksumOk: true,
      extendedChecksumOk: true,
      rsdt: 0,
      xsdt: 0xeffb6,
    });
    assert.deepEqual(
      report.acpiTables.map((t) => t.signature),
      ['XSDT', 'FACP', 'APIC', 'DSDT'],
    );
    assert.deepEqual(findAcpiTable(report, 'FACP'), {
      signature: 'FACP',
      address: 0xefe50,
      length: 268,
      revision: 5,
      oem: 'BOCHS ',
      checksumOk: true,
    });
    assert.equal(findAcpiTable(report, 'MCFG'), undefined);
    assert.deepEqual(report.fadt, {
      flags: 0x100400,
      hardwareReduced: true,
      dsdt: 0xefd00,
      minorVersion: 0,
      reset: { space: 0, bitWidth: 8, bitOffset: 0, accessSize: 0, address: 0xfea00202, value: 0x42 },
      sleepControl: { space: 0, bitWidth: 8, bitOffset: 0, accessSize: 0, address: 0xfea00200 },
      sleepStatus: { space: 0, bitWidth: 8, bitOffset: 0, accessSize: 0, address: 0xfea00201 },
    });
    assert.deepEqual(report.madt?.cpus[1], { apicId: 1, uid: 1, flags: 1, x2apic: false, enabled: true, onlineCapable: false });
    assert.equal(report.madt?.enabledCpus, 2);
    assert.equal(report.madt?.possibleCpus, 2);
    assert.deepEqual(report.madt?.ioapics, [
      { id: 0, address: 0xfec00000, gsiBase: 0 },
      { id: 1, address: 0xfec10000, gsiBase: 24 },
    ]);
    assert.deepEqual(report.madt?.lapicNmis, [{ uid: 0xff, flags: 0, lint: 1 }]);
    assert.deepEqual(report.madt?.overrides, []);
    assert.deepEqual(report.mcfg, []);
    assert.equal(report.smp, undefined);
  });

  test('parses the smp guest, \\r\\n line ends and text before the report', () => {
    const output = 'firmware says hi\r\nreport.guest=smp\r\nsmp.bsp=0\r\nsmp.expected=3\r\nsmp.cpu 2 online\r\nsmp.cpu 1 online\r\nsmp.online=3\r\nreport.done\r\n';
    const report = parseGuestReport(output);
    assert.equal(report.guest, 'smp');
    assert.equal(report.done, true);
    assert.deepEqual(report.smp, { bsp: 0, expected: 3, online: 3, apsOnline: [2, 1] });
    assert.deepEqual(report.unrecognized, ['firmware says hi']);
  });

  test('records a panic and the AP that timed out', () => {
    const report = parseGuestReport(
      'report.guest=smp\nsmp.bsp=0\nsmp.expected=2\nsmp.timeout_apic=1\n\nPANIC smp: an AP did not check in within 2 s\n',
    );
    assert.equal(report.done, false);
    assert.equal(report.panic, 'smp: an AP did not check in within 2 s');
    assert.deepEqual(report.smp, { bsp: 0, expected: 2, apsOnline: [], timeoutApic: 1 });
  });

  test('unescapes \\xNN in the command line and in record fields, and accepts "key: value"', () => {
    const report = parseGuestReport(
      [
        'cmdline.addr: 0x20000',
        'cmdline=console=ttyS0 path=C:\\x5cdir tab\\x09end',
        'acpi.table=sig=FACP addr=0xa0100 len=276 rev=6 oem=CLOUDH checksum=bad',
        'fadt.flags=0x0',
        'fadt.hw_reduced=0',
        'fadt.dsdt=0x0',
        'fadt.hypervisor=CLOUDHYP',
        'fadt.sleep_control=space=1 width=8 offset=0 access=1 addr=0x600',
      ].join('\n'),
    );
    assert.deepEqual(report.cmdline, { address: 0x20000, text: 'console=ttyS0 path=C:\\dir tab\tend', truncated: false });
    assert.equal(report.acpiTables[0]?.checksumOk, false);
    assert.equal(report.fadt?.hardwareReduced, false);
    assert.equal(report.fadt?.hypervisor, 'CLOUDHYP');
    assert.deepEqual(report.fadt?.sleepControl, { space: 1, bitWidth: 8, bitOffset: 0, accessSize: 1, address: 0x600 });
    assert.equal(report.done, false);
  });

  test('modules outside RAM have no CRC; unreadable tables are listed', () => {
    const report = parseGuestReport(
      'modules.addr=0x6040\nmodules.count=1\nmodule=addr=0xd0000000 size=0x1000 cmdline=0x0 ram=no\nacpi.unreadable=0xdead0000\n',
    );
    assert.deepEqual(report.modules?.entries, [{ address: 0xd0000000, size: 0x1000, cmdline: 0, inRam: false }]);
    assert.deepEqual(report.acpiUnreadable, [0xdead0000]);
  });

  test('unknown keys and lines outside the grammar are unrecognized', () => {
    const report = parseGuestReport('report.guest=report\nfuture.key=1\nno key value here\nreport.done\n');
    assert.deepEqual(report.unrecognized, ['no key value here', 'future.key=1']);
  });

  test('rejects a bad number with GUEST_REPORT_MALFORMED', () => {
    assert.throws(
      () => parseGuestReport('memmap.addr=0x7000\nmemmap.count=1\nmemmap.entry=addr=0xzz size=0x1000 type=1\n'),
      (error: unknown) => error instanceof GuestReportError && error.code === 'GUEST_REPORT_MALFORMED' && /memmap\.entry\.addr/.test(error.message),
    );
  });

  test('rejects a missing field, a bad ok/bad value and a repeated scalar', () => {
    assert.throws(() => parseGuestReport('memmap.addr=0x7000\nmemmap.count=1\nmemmap.entry=addr=0x0 type=1\n'), {
      code: 'GUEST_REPORT_MALFORMED',
      message: 'memmap.entry: field size is missing',
    });
    assert.throws(() => parseGuestReport('acpi.table=sig=APIC addr=0x1 len=36 rev=1 oem=X checksum=maybe\n'), {
      code: 'GUEST_REPORT_MALFORMED',
    });
    assert.throws(() => parseGuestReport('report.guest=a\nreport.guest=b\n'), { code: 'GUEST_REPORT_DUPLICATE' });
    assert.throws(() => parseGuestReport('start_info.addr=0x6000\n'), { code: 'GUEST_REPORT_MALFORMED', message: 'start_info.magic is missing' });
  });

  test('rejects fadt.hw_reduced that disagrees with the flags', () => {
    assert.throws(() => parseGuestReport('fadt.flags=0x100000\nfadt.hw_reduced=0\nfadt.dsdt=0x0\n'), { code: 'GUEST_REPORT_MALFORMED' });
  });
});
