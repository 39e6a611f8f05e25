/**
 * The Linux test guest (Debian cloud kernel + busybox initramfs from scripts/linux-guest/build.mjs) and the facts
 * about this host that decide how far it can boot: under PVM (kvm_pvm) a stock kernel dies in KVM's instruction
 * emulator after its early boot log; on hardware-backed KVM it boots fully.
 */
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { NIMBUS_BIN } from './nimbus-process.ts';

export const LINUX_BZIMAGE = 'build/linux/bzImage';
export const LINUX_VMLINUX = 'build/linux/vmlinux';
export const LINUX_INITRAMFS = 'build/linux/initramfs.cpio.gz';
/** Printed by the initramfs /init once the virtio modules are loaded. */
export const GUEST_READY_MARKER = 'NIMBUS-GUEST-READY';

/** True when /dev/kvm is the PVM shadow-paging hypervisor, where a stock Linux kernel cannot finish booting. */
export function isPvmHost(): boolean {
  return existsSync('/sys/module/kvm_pvm');
}

export function requireLinuxArtifacts(): void {
  for (const path of [LINUX_BZIMAGE, LINUX_VMLINUX, LINUX_INITRAMFS]) {
    if (!existsSync(path)) throw new Error(`${path} is missing: run node scripts/linux-guest/build.mjs first (scripts/setup.sh does)`);
  }
}

export interface StreamedRun {
  /** Serial output (stdout) up to the stop. */
  output: string;
  stderr: string;
  status: number | null;
  /** True if `until` matched and the VM was stopped with SIGTERM. */
  stoppedAtMarker: boolean;
}

/**
 * Runs nimbus and stops it with SIGTERM as soon as `until` matches the serial output, or kills it after
 * `timeoutMs`. Resolves when the process has exited.
 */
export function runNimbusUntil(args: readonly string[], until: RegExp, timeoutMs: number): Promise<StreamedRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [NIMBUS_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let stderr = '';
    let stoppedAtMarker = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      if (!stoppedAtMarker && until.test(output)) {
        stoppedAtMarker = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ output, stderr, status, stoppedAtMarker });
    });
  });
}
