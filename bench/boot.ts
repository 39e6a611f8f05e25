/**
 * Boot benchmarks against QEMU microvm with the same PVH test guest ('report'), same memory and vCPUs, interleaved:
 * - time from process start to the guest's first serial byte (its first port write reaching stdout),
 * - time from process start to VMM exit after the guest powers off,
 * - peak resident memory of the VMM process (GNU time's %M).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGuest } from '../test/guests/build.ts';
import { NIMBUS_BIN } from '../test/helpers/nimbus-process.ts';
import { median, type BenchResult } from './stats.ts';

interface BootSample {
  firstOutputMs: number;
  exitMs: number;
  maxRssKiB: number;
}

/** Runs `command` under /usr/bin/time and measures first stdout byte, exit and peak RSS. */
function sample(command: string, args: readonly string[]): Promise<BootSample> {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-bench-'));
  const rssFile = join(dir, 'rss');
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    let firstOutput: bigint | undefined;
    const child = spawn('/usr/bin/time', ['-f', '%M', '-o', rssFile, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.on('data', () => (firstOutput ??= process.hrtime.bigint()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (status) => {
      const end = process.hrtime.bigint();
      try {
        if (status !== 0 || firstOutput === undefined) throw new Error(`${command} exited with ${status}: ${stderr.slice(-500)}`);
        resolve({
          firstOutputMs: Number(firstOutput - start) / 1e6,
          exitMs: Number(end - start) / 1e6,
          maxRssKiB: Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1)),
        });
      } catch (error) {
        reject(error as Error);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

export async function bootBenchmarks(options: { runs: number; memoryMiB: number; vcpus: number }): Promise<BenchResult[]> {
  const kernel = await buildGuest('report');
  const nimbusArgs = [NIMBUS_BIN, '--kernel', kernel, '--cpus', `boot=${options.vcpus}`, '--memory', `size=${options.memoryMiB}M`, '--serial', 'tty', '--cmdline', 'bench'];
  const qemuArgs = [
    '-M', 'microvm,acpi=on,x-option-roms=off,isa-serial=on,rtc=on',
    '-accel', 'kvm', '-cpu', 'host,-arch-capabilities',
    '-m', `${options.memoryMiB}M`, '-smp', String(options.vcpus),
    '-nodefaults', '-no-user-config', '-nographic', '-serial', 'stdio',
    '-kernel', kernel, '-append', 'bench',
  ];
  const nimbus: BootSample[] = [];
  const qemu: BootSample[] = [];
  for (let i = 0; i < options.runs; i++) {
    nimbus.push(await sample(process.execPath, nimbusArgs));
    qemu.push(await sample('qemu-system-x86_64', qemuArgs));
  }
  const setup = `${options.vcpus} vCPU, ${options.memoryMiB} MiB, median of ${options.runs}`;
  const compare = (name: string, unit: string, pick: (s: BootSample) => number, goal: string): BenchResult => ({
    name: `${name} (${setup})`,
    unit,
    nimbus: median(nimbus.map(pick)),
    peer: median(qemu.map(pick)),
    peerName: 'QEMU microvm',
    goal,
  });
  return [
    compare('process start to the guest\'s first serial output', 'ms', (s) => s.firstOutputMs, 'ratio <= 1.0'),
    compare('process start to VMM exit after guest power-off', 'ms', (s) => s.exitMs, 'ratio <= 1.0'),
    compare('VMM peak resident memory', 'MiB', (s) => s.maxRssKiB / 1024, 'ratio <= 1.0'),
  ];
}
