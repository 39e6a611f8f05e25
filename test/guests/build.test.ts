/** Tests for the test-guest build: the forbidden-instruction scanner, the cache, and the PVH layout of the ELFs. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { buildGuest, checkGuestInstructions, codeSections, findForbiddenInstructions, GUEST_NAMES, type GuestName } from './build.ts';

const execFileAsync = promisify(execFile);

const PT_LOAD = 1;
const PT_NOTE = 4;
const XEN_ELFNOTE_PHYS32_ENTRY = 18;

interface ProgramHeader {
  type: number;
  offset: number;
  physicalAddress: number;
  fileSize: number;
  memorySize: number;
}

/** ELF64 header and program headers (offsets from the System V ABI). */
function parseElf(bytes: Buffer): { entry: number; headers: ProgramHeader[] } {
  assert.deepEqual([...bytes.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
  assert.equal(bytes[4], 2, 'ELFCLASS64');
  const entry = Number(bytes.readBigUInt64LE(0x18));
  const phoff = Number(bytes.readBigUInt64LE(0x20));
  const phentsize = bytes.readUInt16LE(0x36);
  const phnum = bytes.readUInt16LE(0x38);
  const headers: ProgramHeader[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    headers.push({
      type: bytes.readUInt32LE(at),
      offset: Number(bytes.readBigUInt64LE(at + 8)),
      physicalAddress: Number(bytes.readBigUInt64LE(at + 24)),
      fileSize: Number(bytes.readBigUInt64LE(at + 32)),
      memorySize: Number(bytes.readBigUInt64LE(at + 40)),
    });
  }
  return { entry, headers };
}

describe('findForbiddenInstructions', () => {
  const sample = [
    '0000000000101260 <user_crc32>:',
    '  101260:\tmov    %rdi,%rax',
    '  101263:\tcall   101300 <crc32_table_fill>',
    '  101268:\tcrc32b %al,%eax',
    '  10126c:\tlock cmpxchg16b (%rdi)',
    '  101271:\tmovups (%rax),%xmm0',
    '  101274:\tfldz',
    '  101276:\tfxsave (%rax)',
    '  101279:\tint3',
    '  10127a:\tint    $0x80',
    '  10127c:\tpopcnt %eax,%edx',
    '  101280:\trep stos %al,%es:(%rdi)',
    '  101282:\tlock xadd %ecx,0x1234(%rip)        # 0x102000 <fstab_like_symbol>',
    '  101289:\tud2',
    '  10128b:\tfstp   %st(1)',
  ].join('\n');

  test('flags exactly the instructions PVM cannot run at CPL0', () => {
    const found = findForbiddenInstructions('.text', sample);
    assert.deepEqual(
      found.map((f) => [f.address, f.instruction]),
      [
        [0x101268, 'crc32b %al,%eax'],
        [0x10126c, 'lock cmpxchg16b (%rdi)'],
        [0x101271, 'movups (%rax),%xmm0'],
        [0x101274, 'fldz'],
        [0x101279, 'int3'],
        [0x10127a, 'int    $0x80'],
        [0x10127c, 'popcnt %eax,%edx'],
        [0x10128b, 'fstp   %st(1)'],
      ],
    );
    assert.equal(found[0]?.section, '.text');
  });
});

describe('codeSections', () => {
  test('lists the sections objdump -h marks CODE', () => {
    const headers = [
      'Idx Name          Size      VMA               LMA               File off  Algn',
      '  0 .text32       0000007a  0000000000100000  0000000000100000  00001000  2**0',
      '                  CONTENTS, ALLOC, LOAD, READONLY, CODE',
      '  1 .text         00001f9f  0000000000100080  0000000000100080  00001080  2**4',
      '                  CONTENTS, ALLOC, LOAD, READONLY, CODE',
      '  2 .rodata       00000836  0000000000102020  0000000000102020  00003020  2**3',
      '                  CONTENTS, ALLOC, LOAD, READONLY, DATA',
    ].join('\n');
    assert.deepEqual(codeSections(headers), ['.text32', '.text']);
  });
});

describe('checkGuestInstructions', () => {
  test('rejects an image holding popcnt with GUEST_FORBIDDEN_INSTRUCTION', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nimbus-guest-check-'));
    try {
      await writeFile(join(dir, 'bad.S'), '.text\n.globl _start\n_start:\n  popcnt %eax, %edx\n  hlt\n');
      await execFileAsync('gcc', ['-nostdlib', '-static', '-o', join(dir, 'bad.elf'), join(dir, 'bad.S')]);
      await assert.rejects(checkGuestInstructions(join(dir, 'bad.elf')), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'GUEST_FORBIDDEN_INSTRUCTION');
        assert.match(error.message, /\.text 0x[0-9a-f]+: popcnt %eax,%edx/);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('buildGuest', () => {
  for (const name of GUEST_NAMES) {
    test(`${name}: a PVH ELF loaded at >= 1 MiB whose Xen note points at the 32-bit entry`, async () => {
      const path = await buildGuest(name);
      assert.match(path, new RegExp(`build/guests/${name}\\.elf$`));
      const bytes = await readFile(path);
      const { entry, headers } = parseElf(bytes);
      const loads = headers.filter((h) => h.type === PT_LOAD);
      assert.equal(loads.length, 2);
      for (const load of loads) {
        assert.ok(load.physicalAddress >= 0x100000, `PT_LOAD at 0x${load.physicalAddress.toString(16)}`);
        assert.ok(load.memorySize >= load.fileSize);
      }
      const notes = headers.filter((h) => h.type === PT_NOTE);
      assert.equal(notes.length, 1);
      const note = bytes.subarray(notes[0]!.offset, notes[0]!.offset + notes[0]!.fileSize);
      assert.equal(note.readUInt32LE(0), 4, 'namesz');
      assert.equal(note.readUInt32LE(4), 4, 'descsz');
      assert.equal(note.readUInt32LE(8), XEN_ELFNOTE_PHYS32_ENTRY);
      assert.equal(note.toString('latin1', 12, 16), 'Xen\0');
      assert.equal(note.readUInt32LE(16), entry);
      assert.equal(entry, 0x100000);
    });
  }

  test('reuses the cached ELF when nothing changed', async () => {
    const first = await buildGuest('report');
    const before = await stat(first);
    const second = await buildGuest('report');
    const after = await stat(second);
    assert.equal(second, first);
    assert.equal(after.mtimeMs, before.mtimeMs);
    assert.equal(after.ino, before.ino);
  });

  test('rejects an unknown guest with GUEST_UNKNOWN', async () => {
    await assert.rejects(buildGuest('nope' as GuestName), { code: 'GUEST_UNKNOWN' });
  });
});
