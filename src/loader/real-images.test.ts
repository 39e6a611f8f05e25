/**
 * Loader tests against the real Debian cloud kernel built by scripts/linux-guest/build.mjs into build/linux/
 * (bzImage, the PVH vmlinux extracted from it, and the busybox initramfs). Missing artifacts fail the tests: CI
 * runs the script first. NIMBUS_LINUX_GUEST_DIR overrides the directory.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { buildE820Map, E820_TYPE } from '../arch/x86_64/e820.ts';
import { ramRegions } from '../arch/x86_64/layout.ts';
import { GuestMemory } from '../memory/guest-memory.ts';
import { LOADFLAGS, parseBzImage, XLOADFLAGS } from './bzimage.ts';
import { parseElfKernel } from './elf.ts';
import { loadKernel } from './index.ts';

const MiB = 1 << 20;
const MEMORY_SIZE = 512 * MiB;
const ARTIFACTS = process.env.NIMBUS_LINUX_GUEST_DIR ?? join(process.cwd(), 'build', 'linux');
const CMDLINE = 'console=ttyS0 earlyprintk=serial panic=-1';
const RSDP = 0xa0000;
const EXPECTED_E820 = [
  { addr: 0, size: 0xa0000, type: E820_TYPE.RAM },
  { addr: 0x100000, size: MEMORY_SIZE - MiB, type: E820_TYPE.RAM },
  { addr: 0xe8000000, size: 256 * MiB, type: E820_TYPE.RESERVED },
];

function artifact(name: string): Buffer {
  const path = join(ARTIFACTS, name);
  if (!existsSync(path)) assert.fail(`${path} is missing: run scripts/linux-guest/build.mjs first (node scripts/linux-guest/build.mjs, as root)`);
  return readFileSync(path);
}

function freshMemory(): { memory: GuestMemory; e820: ReturnType<typeof buildE820Map> } {
  const regions = ramRegions(MEMORY_SIZE);
  return { memory: GuestMemory.anonymous(regions), e820: buildE820Map(regions) };
}

/** Where the initramfs must land: page-aligned at the top of the 512 MiB. */
function expectedInitramfsAddress(size: number): number {
  return Math.floor((MEMORY_SIZE - size) / 4096) * 4096;
}

function sameBytes(actual: Uint8Array, expected: Uint8Array): boolean {
  return Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected);
}

function readCString(memory: GuestMemory, address: number): string {
  return new TextDecoder().decode(memory.read(address, CMDLINE.length + 1));
}

describe('real Debian bzImage (64-bit boot protocol)', () => {
  it('has the setup header the 64-bit protocol needs', () => {
    const file = artifact('bzImage');
    const { header, headerBytes, kernelOffset } = parseBzImage(file, 'bzImage');
    assert.ok(header.protocolVersion >= 0x020c, `protocol ${header.protocolVersion.toString(16)}`);
    assert.ok(header.xloadflags & XLOADFLAGS.KERNEL_64);
    assert.ok(header.loadflags & LOADFLAGS.LOADED_HIGH);
    assert.equal(header.relocatable, true);
    assert.equal(header.kernelAlignment, 0x200000);
    assert.equal(header.prefAddress, 0x1000000, 'Debian builds with CONFIG_PHYSICAL_START=0x1000000');
    assert.equal(header.cmdlineSize, 2047);
    assert.equal(header.initrdAddrMax, 0x7fffffff);
    assert.ok(header.initSize > header.payloadLength, 'init_size covers the decompressed kernel');
    assert.match(header.kernelVersion ?? '', /^\d+\.\d+\.\d+-\d+-cloud-amd64 \(debian-kernel@lists\.debian\.org\)/);
    assert.equal(kernelOffset, (header.setupSects + 1) * 512);
    assert.ok(header.syssize * 16 <= file.length - kernelOffset);
    assert.ok(sameBytes(headerBytes, file.subarray(0x1f1, 0x202 + file[0x201]!)));
  });

  it('loads at 1 MiB with boot_params, e820, command line and initramfs in place', () => {
    const file = artifact('bzImage');
    const initramfs = artifact('initramfs.cpio.gz');
    const { memory, e820 } = freshMemory();
    const setup = loadKernel({ kernel: file, kernelPath: 'bzImage', initramfs, cmdline: CMDLINE, memory, rsdpAddress: RSDP, e820 });
    assert.deepEqual(setup, { protocol: 'linux64', entry: 0x100200, bootParamsAddress: 0x7000 });

    const { header, kernelOffset } = parseBzImage(file, 'bzImage');
    assert.ok(sameBytes(memory.read(0x100000, file.length - kernelOffset), file.subarray(kernelOffset)), 'protected-mode kernel at 1 MiB');
    assert.deepEqual(memory.read(0x100200, 2), new Uint8Array([0xfc, 0xfa]), 'startup_64 begins with cld; cli');

    const zeroPage = 0x7000;
    const headerEnd = 0x202 + file[0x201]!;
    const loaderFields = new Set([0x210, 0x211, ...range(0x218, 0x220), ...range(0x228, 0x22c)]);
    for (let offset = 0x1f1; offset < headerEnd; offset++) {
      if (!loaderFields.has(offset)) assert.equal(memory.readU8(zeroPage + offset), file[offset], `setup header byte ${offset.toString(16)}`);
    }
    assert.equal(memory.readU8(zeroPage + 0x210), 0xff, 'type_of_loader');
    assert.equal(memory.readU8(zeroPage + 0x211), header.loadflags & ~LOADFLAGS.CAN_USE_HEAP, 'loadflags');
    assert.equal(memory.readU32(zeroPage + 0x228), 0x20000, 'cmd_line_ptr');
    assert.equal(readCString(memory, 0x20000), `${CMDLINE}\0`);
    const initramfsAddress = expectedInitramfsAddress(initramfs.length);
    assert.equal(memory.readU32(zeroPage + 0x218), initramfsAddress, 'ramdisk_image');
    assert.equal(memory.readU32(zeroPage + 0x21c), initramfs.length, 'ramdisk_size');
    assert.ok(sameBytes(memory.read(initramfsAddress, initramfs.length), initramfs), 'initramfs bytes');
    assert.ok(initramfsAddress >= header.prefAddress + header.initSize, 'initramfs clear of the decompressed kernel');
    assert.equal(memory.readU64(zeroPage + 0x70), BigInt(RSDP), 'acpi_rsdp_addr');
    assert.equal(memory.readU8(zeroPage + 0x1e8), EXPECTED_E820.length, 'e820_entries');
    const table = EXPECTED_E820.map((_, i) => {
      const at = zeroPage + 0x2d0 + i * 20;
      return { addr: Number(memory.readU64(at)), size: Number(memory.readU64(at + 8)), type: memory.readU32(at + 16) };
    });
    assert.deepEqual(table, EXPECTED_E820);
  });
});

describe('real Debian vmlinux (PVH)', () => {
  it('has loadable segments at 16 MiB and a PVH entry note', () => {
    const kernel = parseElfKernel(artifact('vmlinux'), 'vmlinux');
    assert.equal(kernel.start, 0x1000000);
    assert.ok(kernel.pvhEntry !== undefined && kernel.pvhEntry >= kernel.start && kernel.pvhEntry < kernel.end);
  });

  it('loads the segments and writes start info, memmap, module and command line', () => {
    const file = artifact('vmlinux');
    const initramfs = artifact('initramfs.cpio.gz');
    const { memory, e820 } = freshMemory();
    const setup = loadKernel({ kernel: file, kernelPath: 'vmlinux', initramfs, cmdline: CMDLINE, memory, rsdpAddress: RSDP, e820 });
    const kernel = parseElfKernel(file, 'vmlinux');
    assert.deepEqual(setup, { protocol: 'pvh', entry: kernel.pvhEntry, startInfoAddress: 0x6000 });
    // pvh_start_xen (arch/x86/platform/pvh/head.S) starts with cld.
    assert.equal(memory.readU8(setup.entry), 0xfc, 'PVH entry points at pvh_start_xen');
    for (const segment of kernel.segments) {
      const loaded = memory.read(segment.guestAddress, segment.memorySize);
      assert.ok(sameBytes(loaded.subarray(0, segment.fileSize), file.subarray(segment.fileOffset, segment.fileOffset + segment.fileSize)));
      assert.ok(loaded.subarray(segment.fileSize).every((b) => b === 0));
    }

    assert.equal(memory.readU32(0x6000), 0x336ec578, 'magic');
    assert.equal(memory.readU32(0x6004), 1, 'version');
    assert.equal(memory.readU32(0x600c), 1, 'nr_modules');
    assert.equal(memory.readU64(0x6010), 0x6040n, 'modlist_paddr');
    assert.equal(memory.readU64(0x6018), 0x20000n, 'cmdline_paddr');
    assert.equal(memory.readU64(0x6020), BigInt(RSDP), 'rsdp_paddr');
    assert.equal(memory.readU64(0x6028), 0x7000n, 'memmap_paddr');
    assert.equal(memory.readU32(0x6030), EXPECTED_E820.length, 'memmap_entries');
    const memmap = EXPECTED_E820.map((_, i) => {
      const at = 0x7000 + i * 24;
      return { addr: Number(memory.readU64(at)), size: Number(memory.readU64(at + 8)), type: memory.readU32(at + 16) };
    });
    assert.deepEqual(memmap, EXPECTED_E820);
    assert.equal(readCString(memory, 0x20000), `${CMDLINE}\0`);

    const initramfsAddress = expectedInitramfsAddress(initramfs.length);
    assert.ok(initramfsAddress >= kernel.end, 'initramfs above the kernel');
    assert.equal(memory.readU64(0x6040), BigInt(initramfsAddress), 'module paddr');
    assert.equal(memory.readU64(0x6048), BigInt(initramfs.length), 'module size');
    assert.ok(sameBytes(memory.read(initramfsAddress, initramfs.length), initramfs));
  });
});

describe('initramfs built by scripts/linux-guest', () => {
  it('is a newc cpio with /init, busybox, a console node and the virtio modules', () => {
    const entries = readNewc(gunzipSync(artifact('initramfs.cpio.gz')));
    const init = entries.get('init');
    assert.ok(init && (init.mode & 0o170111) === 0o100111, '/init is an executable regular file');
    const script = init.data.toString('latin1');
    assert.match(script, /^#!\/bin\/sh\n/);
    assert.match(script, /NIMBUS-GUEST-READY/);
    assert.equal(entries.get('bin/sh')?.data.toString(), 'busybox');
    assert.equal(entries.get('bin/busybox')?.data.readUInt32BE(0), 0x7f454c46);
    const console = entries.get('dev/console');
    assert.deepEqual(console && [console.mode & 0o170000, console.rdevMajor, console.rdevMinor], [0o020000, 5, 1]);
    const modules = [...entries.keys()].filter((name) => name.endsWith('.ko'));
    for (const name of ['virtio_pci', 'virtio_blk', 'virtio_net', 'virtio_console', 'virtio-rng', 'virtio', 'virtio_ring']) {
      const path = modules.find((m) => m.endsWith(`/${name}.ko`));
      assert.ok(path, `module ${name}`);
      assert.ok(script.includes(path.replace(/^lib\/modules\/[^/]+\//, '')), `/init loads ${name}`);
      assert.equal(entries.get(path)?.data.readUInt16LE(0x10), 1, `${name} is an ELF relocatable object`);
    }
    // Dependencies come before the modules that need them.
    const order = [...script.matchAll(/kernel\/\S+\.ko/g)].map((m) => m[0].split('/').pop());
    assert.ok(order.indexOf('virtio_ring.ko') < order.indexOf('virtio.ko'));
    assert.ok(order.indexOf('virtio.ko') < order.indexOf('virtio_pci.ko'));
    assert.ok(order.indexOf('failover.ko') < order.indexOf('net_failover.ko'));
    assert.ok(order.indexOf('net_failover.ko') < order.indexOf('virtio_net.ko'));
  });
});

function range(start: number, end: number): number[] {
  return Array.from({ length: end - start }, (_, i) => start + i);
}

interface CpioEntry {
  mode: number;
  rdevMajor: number;
  rdevMinor: number;
  data: Buffer;
}

/** Reads a newc archive into a name -> entry map (independently of the script's writer). */
function readNewc(archive: Buffer): Map<string, CpioEntry> {
  const entries = new Map<string, CpioEntry>();
  let at = 0;
  for (;;) {
    assert.equal(archive.toString('latin1', at, at + 6), '070701', `newc magic at ${at}`);
    const field = (i: number): number => Number.parseInt(archive.toString('latin1', at + 6 + i * 8, at + 14 + i * 8), 16);
    const nameSize = field(11);
    const fileSize = field(6);
    const name = archive.toString('latin1', at + 110, at + 110 + nameSize - 1);
    const dataAt = align4(at + 110 + nameSize);
    if (name === 'TRAILER!!!') return entries;
    entries.set(name, { mode: field(1), rdevMajor: field(9), rdevMinor: field(10), data: archive.subarray(dataAt, dataAt + fileSize) });
    at = align4(dataAt + fileSize);
  }
}

function align4(value: number): number {
  return (value + 3) & ~3;
}
