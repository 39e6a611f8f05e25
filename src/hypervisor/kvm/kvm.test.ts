/**
 * The KVM backend on the real /dev/kvm: a few bytes of 64-bit guest code, entered through the Linux 64-bit boot
 * state, exercise port-I/O and MMIO exits, ioeventfd, register access and a triple fault.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KvmHypervisor } from './kvm-hypervisor.ts';
import { createTinyVm, TINY_VM_RSI } from '../../../test/helpers/tiny-vm.ts';
import { EventFd } from '../../host/eventfd.ts';

// mov dx,0x3f8; mov al,'N'; out dx,al; in al,dx; mov rax,0xd0000000; mov dword [rax],0x12345678; mov ebx,[rax]; ud2
const CODE = [
  0x66, 0xba, 0xf8, 0x03, 0xb0, 0x4e, 0xee, 0xec, 0x48, 0xb8, 0x00, 0x00, 0x00, 0xd0, 0x00, 0x00, 0x00, 0x00, 0xc7, 0x00, 0x78, 0x56,
  0x34, 0x12, 0x8b, 0x18, 0x0f, 0x0b,
];

test('a 64-bit guest exits on port I/O and MMIO, sees our replies, and triple-faults', () => {
  const { vcpu, dispose } = createTinyVm(new Uint8Array(CODE));
  try {
    assert.equal(vcpu.getRegisters().rsi, BigInt(TINY_VM_RSI));
    assert.equal(vcpu.getSpecialRegisters().cr3, 0xa000n);

    const out = vcpu.run();
    assert.equal(out.kind, 'io-out');
    assert.deepEqual(out.kind === 'io-out' && [out.port, out.size, out.count, [...out.data]], [0x3f8, 1, 1, [0x4e]]);

    const input = vcpu.run();
    assert.equal(input.kind, 'io-in');
    if (input.kind === 'io-in') input.data[0] = 0x99;

    const write = vcpu.run();
    assert.equal(write.kind, 'mmio-write');
    assert.deepEqual(write.kind === 'mmio-write' && [write.address, [...write.data]], [0xd0000000, [0x78, 0x56, 0x34, 0x12]]);

    const read = vcpu.run();
    assert.equal(read.kind, 'mmio-read');
    if (read.kind === 'mmio-read') new DataView(read.data.buffer, read.data.byteOffset).setUint32(0, 0xcafef00d, true);

    assert.equal(vcpu.run().kind, 'shutdown', 'ud2 with an empty IDT triple-faults');
    const after = vcpu.getRegisters();
    assert.equal(after.rax & 0xffn, 0x00n, 'rax was overwritten by the mov');
    assert.equal(after.rbx, 0xcafef00dn, 'the MMIO read reply reached the guest');
  } finally {
    dispose();
  }
});

test('required capabilities are present and CPUID/MSR lists are readable', () => {
  const hypervisor = KvmHypervisor.open();
  try {
    const cpuid = hypervisor.supportedCpuid();
    assert.ok(cpuid.some((e) => e.function === 0 && e.eax >= 1), 'leaf 0 present');
    assert.ok(cpuid.some((e) => e.function === 0x40000000), 'KVM signature leaf present');
    assert.ok(hypervisor.msrIndexList().includes(0x10), 'IA32_TSC is in the MSR index list');
  } finally {
    hypervisor.close();
  }
});

test('opening a missing device gives a clear error', () => {
  assert.throws(() => KvmHypervisor.open('/dev/does-not-exist'), { code: 'KVM_UNAVAILABLE', message: /cannot open \/dev\/does-not-exist/ });
});

test('ioeventfd: guest port and MMIO writes signal the eventfd without exiting to user space', () => {
  // out 0x90,al; mov rax,0xd0000000; mov dword [rax],1; out 0x91,al; ud2
  const code = [0xe6, 0x90, 0x48, 0xb8, 0x00, 0x00, 0x00, 0xd0, 0x00, 0x00, 0x00, 0x00, 0xc7, 0x00, 0x01, 0x00, 0x00, 0x00, 0xe6, 0x91, 0x0f, 0x0b];
  const { vm, vcpu, dispose } = createTinyVm(new Uint8Array(code));
  const pio = new EventFd({ nonBlocking: true });
  const mmio = new EventFd({ nonBlocking: true });
  try {
    vm.registerIoeventfd(pio.fd, 0x90, { pio: true, length: 1 });
    vm.registerIoeventfd(mmio.fd, 0xd0000000, { pio: false, length: 4 });
    const exit = vcpu.run();
    assert.deepEqual(exit.kind === 'io-out' && exit.port, 0x91, 'the first exit is the unregistered port');
    assert.equal(pio.read(), 1);
    assert.equal(mmio.read(), 1);
    vm.unregisterIoeventfd(pio.fd, 0x90, { pio: true, length: 1 });
    assert.equal(vcpu.run().kind, 'shutdown');
  } finally {
    pio.close();
    mmio.close();
    dispose();
  }
});
