/** Compares the TypeScript KVM ABI tables with the kernel headers as compiled into the native addon. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IOCTL, OFFSET, SIZE } from './kvm.ts';
import { native } from '../host/native.ts';

const layout = native().layout();

test('struct sizes match <linux/kvm.h>', () => {
  for (const [name, size] of Object.entries(SIZE)) {
    if (name === 'kvm_enable_cap') continue; // not exported by the addon; its ioctl number below pins its size
    assert.equal(size, layout[name], `sizeof(struct ${name})`);
  }
});

test('field offsets match <linux/kvm.h>', () => {
  for (const [name, offset] of Object.entries(OFFSET)) assert.equal(offset, layout[name], `offsetof(${name})`);
});

test('ioctl numbers match the kernel macros', () => {
  for (const [name, value] of Object.entries(IOCTL)) assert.equal(value, layout[`ioctl.${name}`], name);
});
