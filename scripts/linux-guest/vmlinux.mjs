// Extracts the uncompressed ELF kernel (vmlinux) from a bzImage: finds the compressed payload through the setup
// header's payload_offset/payload_length, decompresses it with the matching Debian tool, checks the size the kernel
// build appended and that the ELF carries the Xen PVH entry note.
import { spawnSync } from 'node:child_process';
import { GuestBuildError } from './guest-build-error.mjs';

/** Kernel payload compressions, by magic (arch/x86/boot/compressed/Makefile). All but gzip append the size. */
const COMPRESSIONS = [
  { name: 'gzip', magic: [0x1f, 0x8b], command: 'gzip', aptPackage: 'gzip', sizeAppended: false },
  { name: 'xz', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], command: 'xz', aptPackage: 'xz-utils', sizeAppended: true },
  { name: 'zstd', magic: [0x28, 0xb5, 0x2f, 0xfd], command: 'zstd', aptPackage: 'zstd', sizeAppended: true },
  { name: 'lz4 (legacy frame)', magic: [0x02, 0x21, 0x4c, 0x18], command: 'lz4', aptPackage: 'lz4', sizeAppended: true },
];

/**
 * Decompresses the bzImage payload (payload_offset is relative to the protected-mode kernel at
 * (setup_sects + 1) * 512) and checks that the result is an x86-64 ELF with the Xen PVH entry note.
 * `ensureCommand(command, aptPackage)` makes the decompressor available.
 */
export function extractVmlinux(bzImage, ensureCommand) {
  if (bzImage.readUInt16LE(0x1fe) !== 0xaa55 || bzImage.toString('latin1', 0x202, 0x206) !== 'HdrS') fail('bzImage has no Linux boot header');
  const setupSects = bzImage[0x1f1] || 4;
  const payloadStart = (setupSects + 1) * 512 + bzImage.readUInt32LE(0x248);
  const payloadLength = bzImage.readUInt32LE(0x24c);
  if (payloadLength < 8 || payloadStart + payloadLength > bzImage.length) fail('bzImage payload_offset/payload_length point outside the file');
  const payload = bzImage.subarray(payloadStart, payloadStart + payloadLength);
  const compression = COMPRESSIONS.find((c) => c.magic.every((b, i) => payload[i] === b));
  if (!compression) fail(`unsupported kernel compression (payload starts with ${payload.subarray(0, 6).toString('hex')})`);
  ensureCommand(compression.command, compression.aptPackage);

  const expectedSize = payload.readUInt32LE(payload.length - 4); // size_append, or gzip's own ISIZE trailer
  const stream = compression.sizeAppended ? payload.subarray(0, payload.length - 4) : payload;
  const result = spawnSync(compression.command, ['-dc'], { input: stream, maxBuffer: 1 << 30 });
  if (result.status !== 0) fail(`${compression.command} -dc failed on the kernel payload: ${result.stderr.toString().trim()}`);
  const vmlinux = result.stdout;
  if (vmlinux.length !== expectedSize) fail(`decompressed kernel is ${vmlinux.length} bytes, the payload says ${expectedSize}`);
  const pvhEntry = findPvhEntry(vmlinux);
  if (pvhEntry === undefined) fail('the decompressed vmlinux has no Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); the kernel lacks CONFIG_PVH');
  return { vmlinux, compression: compression.name, pvhEntry };
}

/** The XEN_ELFNOTE_PHYS32_ENTRY (type 18, owner "Xen") value from the PT_NOTE segments of an ELF64 file. */
function findPvhEntry(elf) {
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf.readUInt16LE(0x12) !== 62) fail('the decompressed kernel is not an x86-64 ELF64 file');
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * 56;
    if (elf.readUInt32LE(ph) !== 4 /* PT_NOTE */) continue;
    const start = Number(elf.readBigUInt64LE(ph + 0x08));
    const end = start + Number(elf.readBigUInt64LE(ph + 0x20));
    for (let at = start; at + 12 <= end; ) {
      const nameSize = elf.readUInt32LE(at);
      const descSize = elf.readUInt32LE(at + 4);
      const type = elf.readUInt32LE(at + 8);
      const nameAt = at + 12;
      const descAt = nameAt + align4(nameSize);
      if (type === 18 && elf.toString('latin1', nameAt, nameAt + nameSize).replace(/\0+$/, '') === 'Xen') return elf.readUInt32LE(descAt);
      at = descAt + align4(descSize);
    }
  }
  return undefined;
}

function align4(n) {
  return (n + 3) & ~3;
}

function fail(message) {
  throw new GuestBuildError(message);
}
