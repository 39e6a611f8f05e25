/** Tests for loadKernel: format detection, the protocol chosen, and validation before any write. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildE820Map } from '../arch/x86_64/e820.ts';
import { ramRegions } from '../arch/x86_64/layout.ts';
import { GuestMemory } from '../memory/guest-memory.ts';
import { type LoadKernelOptions, loadKernel, LoaderError, type LoaderErrorCode } from './index.ts';
import { buildBzImage, buildElf, syntheticKernelBody } from '../../test/helpers/synthetic-kernels.ts';

const MiB = 1 << 20;

function options(kernel: Uint8Array, extra: Partial<LoadKernelOptions> = {}): LoadKernelOptions {
  const regions = ramRegions(64 * MiB);
  return { kernel, kernelPath: '/images/kernel', cmdline: 'console=ttyS0', memory: GuestMemory.anonymous(regions), e820: buildE820Map(regions), rsdpAddress: 0xa0000, ...extra };
}

function rejects(code: LoaderErrorCode, pattern: RegExp): (e: unknown) => boolean {
  return (e) => e instanceof LoaderError && e.code === code && pattern.test(e.message);
}

/** True if nothing was written anywhere in the first 64 MiB. */
function untouched(memory: GuestMemory): boolean {
  const bytes = memory.read(0, 64 * MiB);
  const words = new Uint32Array(bytes.buffer);
  for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
  return true;
}

describe('loadKernel', () => {
  it('boots an ELF with a PVH note through PVH', () => {
    const code = new Uint8Array([0xfc, 0x0f, 0x01, 0x15]);
    const opts = options(buildElf({ segments: [{ paddr: 0x200000, data: code, memsz: 0x1000 }], pvhEntry: 0x200000 }), { initramfs: new Uint8Array([9, 8, 7]) });
    const setup = loadKernel(opts);
    assert.deepEqual(setup, { protocol: 'pvh', entry: 0x200000, startInfoAddress: 0x6000 });
    assert.deepEqual(opts.memory.read(0x200000, 4), code);
    assert.equal(opts.memory.readU32(0x6000), 0x336ec578);
    assert.equal(opts.memory.readU64(0x6040), BigInt(64 * MiB - 0x1000), 'initramfs module at the top of RAM');
    assert.deepEqual(opts.memory.read(64 * MiB - 0x1000, 3), new Uint8Array([9, 8, 7]));
    assert.equal(new TextDecoder().decode(opts.memory.read(0x20000, 14)), 'console=ttyS0\0');
  });

  it('boots a bzImage through the 64-bit protocol', () => {
    const opts = options(buildBzImage({ kernel: syntheticKernelBody(0x2000), initSize: 0x800000 }), { initramfs: new Uint8Array(0x3000).fill(1) });
    const setup = loadKernel(opts);
    assert.deepEqual(setup, { protocol: 'linux64', entry: 0x100200, bootParamsAddress: 0x7000 });
    assert.deepEqual(opts.memory.read(0x100200, 2), new Uint8Array([0xfc, 0xfa]));
    assert.equal(opts.memory.readU32(0x7000 + 0x202), 0x53726448, 'setup header copied into the zero page');
    assert.equal(opts.memory.readU32(0x7000 + 0x218), 64 * MiB - 0x3000, 'ramdisk_image');
    assert.equal(opts.memory.readU32(0x7000 + 0x21c), 0x3000, 'ramdisk_size');
    assert.equal(opts.memory.readU64(0x7000 + 0x70), 0xa0000n, 'acpi_rsdp_addr');
  });

  it('keeps the initramfs below initrd_addr_max for a bzImage', () => {
    const opts = options(buildBzImage({ kernel: syntheticKernelBody(0x2000), initSize: 0x800000, initrdAddrMax: 0x1ffffff }), { initramfs: new Uint8Array(0x1000) });
    loadKernel(opts);
    assert.equal(opts.memory.readU32(0x7000 + 0x218), 0x2000000 - 0x1000);
  });

  it('rejects anything else with the file name', () => {
    assert.throws(() => loadKernel(options(new TextEncoder().encode('#!/bin/sh\necho not a kernel\n'))), rejects('NOT_A_KERNEL', /^\/images\/kernel: not an ELF vmlinux with a PVH note nor a bzImage$/));
  });

  it('rejects an ELF without a PVH note like Cloud Hypervisor does', () => {
    const opts = options(buildElf({ segments: [{ paddr: 0x200000, data: new Uint8Array(16) }] }));
    assert.throws(() => loadKernel(opts), rejects('NO_PVH_ENTRY', /^\/images\/kernel: kernel has no PVH entry point .*build it with CONFIG_PVH=y or pass a bzImage/));
    assert.ok(untouched(opts.memory));
  });

  it('writes nothing when a later check fails', () => {
    const elf = buildElf({ segments: [{ paddr: 0x200000, data: new Uint8Array(16).fill(3) }], pvhEntry: 0x200000 });
    const bz = buildBzImage({ kernel: syntheticKernelBody(0x2000), initSize: 0x800000, cmdlineSize: 8 });
    const failures: [LoadKernelOptions, LoaderErrorCode][] = [
      [options(elf, { initramfs: new Uint8Array(64 * MiB) }), 'INITRAMFS_PLACEMENT'],
      [options(elf, { cmdline: 'bad\tcmdline' }), 'CMDLINE_INVALID'],
      [options(elf, { e820: Array.from({ length: 171 }, () => ({ addr: 0, size: 0x1000, type: 1 as const })) }), 'BOOT_SETUP_INVALID'],
      [options(bz, { cmdline: 'console=ttyS0' }), 'CMDLINE_INVALID'],
      [options(bz, { cmdline: '', e820: Array.from({ length: 129 }, () => ({ addr: 0, size: 0x1000, type: 1 as const })) }), 'BOOT_SETUP_INVALID'],
      [options(bz, { cmdline: '', initramfs: new Uint8Array(60 * MiB) }), 'INITRAMFS_PLACEMENT'],
    ];
    for (const [opts, code] of failures) {
      assert.throws(() => loadKernel(opts), (e: unknown) => e instanceof LoaderError && e.code === code, code);
      assert.ok(untouched(opts.memory), `nothing written before ${code}`);
    }
  });

  it('rejects guest memory that does not cover the boot area and an RSDP outside RAM', () => {
    const elf = buildElf({ segments: [{ paddr: 0x200000, data: new Uint8Array(16) }], pvhEntry: 0x200000 });
    const high = GuestMemory.anonymous([{ guestBase: 0x100000, size: 4 * MiB }]);
    assert.throws(() => loadKernel(options(elf, { memory: high })), rejects('BOOT_SETUP_INVALID', /must cover 0\.\.0x100000/));
    assert.throws(() => loadKernel(options(elf, { rsdpAddress: 0x10000000 })), rejects('BOOT_SETUP_INVALID', /RSDP address 268435456 is outside guest RAM/));
  });
});
