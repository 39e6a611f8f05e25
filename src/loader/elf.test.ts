/** Tests for the ELF64 PVH kernel parser and loader, on small synthetic images. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GuestMemory } from '../memory/guest-memory.ts';
import { checkElfPlacement, isElf, parseElfKernel, writeElfSegments } from './elf.ts';
import { LoaderError, type LoaderErrorCode } from './loader-error.ts';
import { buildElf, SYNTHETIC_ELF } from '../../test/helpers/synthetic-kernels.ts';

const MiB = 1 << 20;
const code = new Uint8Array([0xfc, 0x0f, 0x01, 0x15, 1, 2, 3, 4]);

function rejects(code: LoaderErrorCode, pattern: RegExp): (e: unknown) => boolean {
  return (e) => e instanceof LoaderError && e.code === code && pattern.test(e.message);
}

function patch(bytes: Uint8Array, edit: (view: DataView) => void): Uint8Array {
  const copy = bytes.slice();
  edit(new DataView(copy.buffer));
  return copy;
}

const loadPhdr = (index: number): number => SYNTHETIC_ELF.PHOFF + index * SYNTHETIC_ELF.PHENTSIZE;

describe('parseElfKernel', () => {
  it('reads PT_LOAD segments and the PVH entry (8-byte descriptor, after another note)', () => {
    const elf = buildElf({ segments: [{ paddr: 0x200000, data: code, memsz: 0x1000 }], pvhEntry: 0x200000, withOtherNote: true });
    const kernel = parseElfKernel(elf, 'k.elf');
    assert.equal(kernel.pvhEntry, 0x200000);
    assert.equal(kernel.segments.length, 1);
    assert.deepEqual(kernel.segments[0], { fileOffset: 0xe0, fileSize: 8, guestAddress: 0x200000, memorySize: 0x1000 });
    assert.deepEqual(elf.subarray(0xe0, 0xe8), code);
    assert.equal(kernel.start, 0x200000);
    assert.equal(kernel.end, 0x201000);
  });

  it('accepts a 4-byte PVH descriptor', () => {
    const elf = buildElf({ segments: [{ paddr: 0x100000, data: code }], pvhEntry: 0x100004, pvhDescriptorSize: 4 });
    assert.equal(parseElfKernel(elf, 'k.elf').pvhEntry, 0x100004);
  });

  it('reports no PVH entry when the Xen note is missing', () => {
    const elf = buildElf({ segments: [{ paddr: 0x100000, data: code }], withOtherNote: true });
    assert.equal(parseElfKernel(elf, 'k.elf').pvhEntry, undefined);
  });

  it('rejects files that are not ELF64 x86-64 executables, naming the file', () => {
    const elf = buildElf({ segments: [{ paddr: 0x100000, data: code }], pvhEntry: 0x100000 });
    assert.equal(isElf(elf), true);
    assert.throws(() => parseElfKernel(new Uint8Array([1, 2, 3, 4]), '/k'), rejects('NOT_A_KERNEL', /^\/k: not an ELF/));
    assert.throws(() => parseElfKernel(patch(elf, (v) => v.setUint8(4, 1)), '/k'), rejects('KERNEL_INVALID', /^\/k: ELF class 1 is not ELF64/));
    assert.throws(() => parseElfKernel(patch(elf, (v) => v.setUint8(5, 2)), '/k'), rejects('KERNEL_INVALID', /not little-endian/));
    assert.throws(() => parseElfKernel(patch(elf, (v) => v.setUint16(0x12, 3, true)), '/k'), rejects('KERNEL_INVALID', /machine 3 is not x86-64/));
    assert.throws(() => parseElfKernel(patch(elf, (v) => v.setUint16(0x10, 3, true)), '/k'), rejects('KERNEL_INVALID', /type 3 is not an executable/));
    assert.throws(() => parseElfKernel(patch(elf, (v) => v.setUint16(0x36, 32, true)), '/k'), rejects('KERNEL_INVALID', /program header size 32/));
    assert.throws(() => parseElfKernel(patch(elf, (v) => v.setUint16(0x38, 0, true)), '/k'), rejects('KERNEL_INVALID', /program header count 0/));
  });

  it('rejects truncated files', () => {
    const elf = buildElf({ segments: [{ paddr: 0x100000, data: new Uint8Array(64) }], pvhEntry: 0x100000 });
    assert.throws(() => parseElfKernel(elf.subarray(0, 40), '/k'), rejects('KERNEL_TRUNCATED', /^\/k: the file \(40 bytes\) ends inside the ELF header/));
    assert.throws(() => parseElfKernel(elf.subarray(0, 0x50), '/k'), rejects('KERNEL_TRUNCATED', /program headers/));
    assert.throws(() => parseElfKernel(elf.subarray(0, elf.length - 1), '/k'), rejects('KERNEL_TRUNCATED', /data of program header 1/));
    // A note whose descriptor size runs past its segment.
    const badNote = patch(elf, (v) => v.setUint32(Number(v.getBigUint64(loadPhdr(0) + 8, true)) + 4, 0x1000, true));
    assert.throws(() => parseElfKernel(badNote, '/k'), rejects('KERNEL_TRUNCATED', /ELF note/));
  });

  it('rejects segments whose sizes or addresses are inconsistent or overflow', () => {
    const elf = buildElf({ segments: [{ paddr: 0x100000, data: code }], pvhEntry: 0x100000 });
    const load = loadPhdr(1);
    assert.throws(() => parseElfKernel(patch(elf, (v) => v.setBigUint64(load + 0x28, 4n, true)), '/k'), rejects('KERNEL_INVALID', /p_filesz 0x8 larger than p_memsz 0x4/));
    assert.throws(() => parseElfKernel(patch(elf, (v) => v.setBigUint64(load + 0x08, 2n ** 63n, true)), '/k'), rejects('KERNEL_INVALID', /p_offset of program header 1 = 0x8000000000000000 is too large/));
    assert.throws(
      () => parseElfKernel(patch(elf, (v) => v.setBigUint64(load + 0x18, 2n ** 53n - 4n, true)), '/k'),
      rejects('KERNEL_INVALID', /overflows the address space/),
    );
    assert.throws(
      () => parseElfKernel(patch(elf, (v) => v.setBigUint64(load + 0x20, 0xffffffffn, true)), '/k'),
      rejects('KERNEL_TRUNCATED', /data of program header 1/),
    );
  });

  it('rejects a PVH entry outside the loaded segments or above 4 GiB', () => {
    assert.throws(
      () => parseElfKernel(buildElf({ segments: [{ paddr: 0x100000, data: code }], pvhEntry: 0x300000 }), '/k'),
      rejects('KERNEL_INVALID', /PVH entry 0x300000 lies outside every loadable segment/),
    );
    assert.throws(
      () => parseElfKernel(buildElf({ segments: [{ paddr: 0x100000, data: code }], pvhEntry: 2 ** 32 + 0x100000 }), '/k'),
      rejects('KERNEL_INVALID', /above 4 GiB/),
    );
  });
});

describe('checkElfPlacement and writeElfSegments', () => {
  const memory = (): GuestMemory => GuestMemory.anonymous([{ guestBase: 0, size: 4 * MiB }]);

  it('copies file bytes and zero-fills up to p_memsz', () => {
    const mem = memory();
    mem.fill(0x200000, 0x100, 0xee);
    const elf = buildElf({ segments: [{ paddr: 0x200000, data: code, memsz: 0x20 }], pvhEntry: 0x200000 });
    const kernel = parseElfKernel(elf, 'k');
    checkElfPlacement(kernel, mem, 'k');
    writeElfSegments(kernel, elf, mem);
    assert.deepEqual(mem.read(0x200000, 8), code);
    assert.deepEqual(mem.read(0x200008, 0x18), new Uint8Array(0x18));
    assert.equal(mem.readU8(0x200020), 0xee, 'bytes after p_memsz are untouched');
  });

  it('rejects segments below 1 MiB, where the boot structures live', () => {
    const kernel = parseElfKernel(buildElf({ segments: [{ paddr: 0x7000, data: code }], pvhEntry: 0x7000 }), '/boot/k');
    assert.throws(() => checkElfPlacement(kernel, memory(), '/boot/k'), rejects('KERNEL_PLACEMENT', /^\/boot\/k: loadable segment 0 \(0x7000\.\.0x7008\) starts below 1 MiB/));
  });

  it('rejects segments outside guest RAM', () => {
    const kernel = parseElfKernel(buildElf({ segments: [{ paddr: 0x3ff000, data: code, memsz: 0x2000 }], pvhEntry: 0x3ff000 }), 'k');
    assert.throws(() => checkElfPlacement(kernel, memory(), 'k'), rejects('KERNEL_PLACEMENT', /outside guest RAM \(0x0\.\.0x400000\)/));
  });
});
