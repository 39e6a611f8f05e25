/**
 * Linux as an oracle: the unmodified Debian cloud kernel, booted by Nimbus through both protocols (bzImage with the
 * 64-bit boot protocol, vmlinux through PVH), prints what it made of our boot parameters, e820 map, ACPI tables and
 * MADT before anything else. The test stops the VM once the MADT CPU count is printed. On PVM the kernel would die
 * in KVM's emulator shortly after (see ARCHITECTURE.md §1); the full boot to the initramfs shell runs only where KVM
 * is hardware-backed.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { buildE820Map } from '../../src/arch/x86_64/e820.ts';
import { ramRegions } from '../../src/arch/x86_64/layout.ts';
import {
  GUEST_READY_MARKER,
  isPvmHost,
  LINUX_BZIMAGE,
  LINUX_INITRAMFS,
  LINUX_VMLINUX,
  requireLinuxArtifacts,
  runNimbusUntil,
} from '../helpers/linux-guest.ts';

const MEMORY = 512 << 20;
const CPUS = 2;
const CMDLINE = 'console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1';
/**
 * Under PVM the early boot log up to the MADT takes ~20 s of wall time through PVH and ~95 s through the bzImage,
 * whose decompressor runs in KVM's instruction emulator.
 */
const EARLY_LOG_TIMEOUT_MS = 240_000;

function hex16(n: number): string {
  return `0x${n.toString(16).padStart(16, '0')}`;
}

before(requireLinuxArtifacts);

describe('Linux early boot log', () => {
  for (const kernel of [LINUX_BZIMAGE, LINUX_VMLINUX]) {
    test(`${kernel}: version, e820 map, ACPI tables and MADT CPUs as Linux sees them`, { timeout: EARLY_LOG_TIMEOUT_MS + 10_000 }, async () => {
      const run = await runNimbusUntil(
        ['--kernel', kernel, '--memory', `size=${MEMORY >> 20}M`, '--cpus', `boot=${CPUS}`, '--serial', 'tty', '--cmdline', CMDLINE],
        /smpboot: Allowing \d+ CPUs, \d+ hotplug CPUs\r?\n/,
        EARLY_LOG_TIMEOUT_MS,
      );
      const log = run.output;
      assert.ok(run.stoppedAtMarker, `Linux did not reach the MADT CPU count (exit ${run.status}):\n${log.slice(-2000)}\n${run.stderr}`);
      assert.equal(run.status, 0, 'SIGTERM stops the VM cleanly');
      assert.match(log, /Linux version 6\.\d+\.\d+-\d+-cloud-amd64/);
      assert.match(log, new RegExp(`Command line: ${CMDLINE}`));

      const e820 = [...log.matchAll(/BIOS-e820: \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\] (\w+)/g)].map((m) => [m[1], m[2], m[3]]);
      const expected = buildE820Map(ramRegions(MEMORY)).map((e) => [hex16(e.addr), hex16(e.addr + e.size - 1), e.type === 1 ? 'usable' : 'reserved']);
      // On the PVH path Linux itself adds the ISA range 640 KiB..1 MiB as reserved (init_pvh_bootparams).
      if (kernel === LINUX_VMLINUX) expected.splice(1, 0, [hex16(0xa0000), hex16(0xfffff), 'reserved']);
      assert.deepEqual(e820, expected, 'Linux parsed our e820 map');

      for (const signature of ['RSDP', 'XSDT', 'FACP', 'DSDT', 'APIC', 'MCFG']) {
        assert.match(log, new RegExp(`ACPI: ${signature} 0x[0-9A-F]+ [0-9A-F]+ \\(v0\\d NIMBUS`), `Linux lists the ${signature}`);
      }
      assert.doesNotMatch(log, /ACPI (BIOS )?(Error|Warning)|[Ii]ncorrect checksum|[Ii]nvalid checksum/, 'no ACPI complaint');
      assert.match(log, /IOAPIC\[0\]: apic_id 0, version \d+, address 0xfec00000, GSI 0-23/);
      assert.match(log, /ACPI: INT_SRC_OVR \(bus 0 bus_irq 0 global_irq 2 high edge\)/);
      assert.match(log, new RegExp(`smpboot: Allowing ${CPUS} CPUs, 0 hotplug CPUs`), 'CPU count from our MADT');
    });
  }
});

describe('Linux full boot', () => {
  const skip = isPvmHost() ? 'this /dev/kvm is PVM (kvm_pvm): a stock kernel dies in KVM\'s instruction emulator after its early boot log; runs on VT-x/AMD-V hosts' : false;
  test('bzImage + busybox initramfs reaches its shell with the virtio modules loaded', { skip, timeout: 120_000 }, async () => {
    const run = await runNimbusUntil(
      ['--kernel', LINUX_BZIMAGE, '--initramfs', LINUX_INITRAMFS, '--memory', '512M', '--cpus', 'boot=2', '--serial', 'tty', '--cmdline', 'console=ttyS0 panic=-1'],
      new RegExp(GUEST_READY_MARKER),
      110_000,
    );
    assert.ok(run.stoppedAtMarker, `the guest did not reach ${GUEST_READY_MARKER}:\n${run.output.slice(-3000)}\n${run.stderr}`);
    assert.match(run.output, /smp: Brought up 1 node, 2 CPUs/);
  });
});
