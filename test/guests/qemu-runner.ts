/**
 * Boots the test guests under QEMU microvm, the reference VMM: whether QEMU is installed, the accelerators to run
 * under (TCG, and KVM when /dev/kvm is usable: on this project's machines that is PVM, so the guests' CPL0 code runs
 * in KVM's instruction emulator as it will under Nimbus), the command line, and a boot that returns the serial
 * output. Shared by qemu.test.ts and qemu-virtio.test.ts.
 */
import { execFile, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

export const QEMU = 'qemu-system-x86_64';
export const QEMU_TIMEOUT_MS = 60_000;
export const QEMU_MEMORY_MIB = 256;
/** The machine the guests run on by default: microvm with ACPI, the 16550 and the RTC, no option ROMs. */
export const MICROVM = 'microvm,acpi=on,x-option-roms=off,isa-serial=on,rtc=on';

/** The reason to skip QEMU tests, or false when QEMU runs. */
export const qemuMissing: string | false =
  spawnSync(QEMU, ['--version']).status === 0 ? false : `${QEMU} is not installed (apt-get install -y qemu-system-x86)`;

function kvmUsable(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export interface Accelerator {
  name: string;
  args: readonly string[];
}

export const ACCELERATORS: readonly Accelerator[] = [
  { name: 'tcg', args: ['-accel', 'tcg'] },
  ...(kvmUsable() ? [{ name: 'kvm', args: ['-accel', 'kvm', '-cpu', 'host,-arch-capabilities'] }] : []),
];

export interface BootOptions {
  accelerator: readonly string[];
  /** QEMU's -smp value. */
  smp: string;
  append?: string;
  initrd?: string;
  /** Let a reset reboot the VM instead of ending QEMU (-no-reboot). */
  reboot?: boolean;
  /** QEMU's -M value; MICROVM when absent. */
  machine?: string;
  /** More QEMU arguments, such as `-device virtio-rng-pci`. */
  devices?: readonly string[];
}

/** QEMU's arguments to boot `kernel` with the serial console on stdio. */
export function qemuArgs(kernel: string, options: BootOptions): string[] {
  return [
    '-M', options.machine ?? MICROVM,
    ...options.accelerator,
    '-m', `${QEMU_MEMORY_MIB}M`,
    '-smp', options.smp,
    '-nodefaults', '-no-user-config', ...(options.reboot ? [] : ['-no-reboot']),
    '-display', 'none', '-monitor', 'none', '-serial', 'stdio',
    '-kernel', kernel,
    ...(options.append === undefined ? [] : ['-append', options.append]),
    ...(options.initrd === undefined ? [] : ['-initrd', options.initrd]),
    ...(options.devices ?? []),
  ];
}

/** Boots `kernel` and returns the serial output. The guest powers off by itself; a PANIC triple-faults, which
 * -no-reboot turns into an exit, so the test sees the reason instead of a timeout. */
export function bootQemu(kernel: string, options: BootOptions): Promise<string> {
  const args = qemuArgs(kernel, options);
  return new Promise((resolve, reject) => {
    execFile(QEMU, args, { timeout: QEMU_TIMEOUT_MS, maxBuffer: 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${QEMU} ${args.join(' ')} failed: ${error.message}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
      else resolve(stdout);
    });
  });
}
