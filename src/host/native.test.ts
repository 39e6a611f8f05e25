/** The addon's memory views are confined to its own mappings; syscall failures carry errno, code and syscall. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAP_ANONYMOUS, MAP_PRIVATE, native, PROT_READ, PROT_WRITE } from './native.ts';
import { GuestRam } from './guest-ram.ts';
import { EventFd } from './eventfd.ts';

test('views are refused outside mappings and across their end', () => {
  const addon = native();
  const address = addon.mmap(8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  try {
    assert.equal(addon.view(address, 8192).byteLength, 8192);
    assert.equal(addon.view(address + 4096n, 4096).byteLength, 4096);
    assert.throws(() => addon.view(address + 4096n, 4097), /outside the addon's mappings/);
    assert.throws(() => addon.view(address - 4096n, 4096), /outside the addon's mappings/);
    assert.throws(() => addon.view(0x1000n, 16), /outside the addon's mappings/);
    assert.throws(() => addon.view(address, 0), /1 byte to 4 GiB/);
    assert.throws(() => addon.munmap(address, 4096), /not a whole mapping/);
  } finally {
    addon.munmap(address, 8192);
  }
  assert.throws(() => addon.view(address, 16), /outside the addon's mappings/, 'an unmapped range is forgotten');
});

test('failed syscalls throw errors with errno, code and syscall', () => {
  assert.throws(() => native().open('/nonexistent/x', 0), (error: NodeJS.ErrnoException) => {
    assert.equal(error.code, 'ENOENT');
    assert.equal(error.errno, 2);
    assert.equal(error.syscall, 'open');
    return true;
  });
  assert.throws(() => native().ioctl(-1, 0), { code: 'EBADF' });
});

test('guest RAM regions share one memfd and writes are visible through the memory views', () => {
  const ram = GuestRam.allocate([{ guestBase: 0, size: 1 << 20 }, { guestBase: 1 << 30, size: 2 << 20 }]);
  try {
    assert.deepEqual(ram.regions.map((r) => r.fileOffset), [0, 1 << 20]);
    assert.equal(ram.regions[1]!.hostAddress - ram.regions[0]!.hostAddress, BigInt(1 << 20));
    ram.memory.writeU32((1 << 30) + 8, 0xdeadbeef);
    assert.equal(new DataView(native().view(ram.regions[1]!.hostAddress, 16)).getUint32(8, true), 0xdeadbeef);
  } finally {
    ram.release();
  }
});

test('eventfd counts writes', () => {
  const fd = new EventFd({ nonBlocking: true });
  try {
    assert.equal(fd.read(), -1);
    fd.write(2);
    fd.write();
    assert.equal(fd.read(), 3);
  } finally {
    fd.close();
  }
});
