/**
 * A minimal VM on the real /dev/kvm for tests and benchmarks: a few MiB of RAM, the in-kernel irqchip and one vCPU
 * entering `code` (placed at 1 MiB) in 64-bit long mode through the Linux 64-bit boot state.
 */
import { linux64BootState, writeDescriptorTables, writeIdentityPageTables } from '../../src/arch/x86_64/boot-cpu.ts';
import { GuestRam } from '../../src/host/guest-ram.ts';
import type { KvmVcpu } from '../../src/hypervisor/kvm/kvm-vcpu.ts';
import { KvmHypervisor } from '../../src/hypervisor/kvm/kvm-hypervisor.ts';
import type { KvmVm } from '../../src/hypervisor/kvm/kvm-vm.ts';

export const TINY_VM_CODE_ADDRESS = 0x100000;
/** Value placed in RSI at entry (the boot_params pointer of the Linux protocol). */
export const TINY_VM_RSI = 0x7000;

export interface TinyVm {
  hypervisor: KvmHypervisor;
  vm: KvmVm;
  ram: GuestRam;
  vcpu: KvmVcpu;
  dispose(): void;
}

export function createTinyVm(code: Uint8Array, memoryBytes = 4 << 20): TinyVm {
  const hypervisor = KvmHypervisor.open();
  const vm = hypervisor.createVm();
  const ram = GuestRam.allocate([{ guestBase: 0, size: memoryBytes }]);
  const region = ram.regions[0]!;
  vm.setMemorySlot({ slot: 0, guestBase: 0, size: region.size, hostAddress: region.hostAddress });
  vm.setTssAddress(0xf8000000);
  vm.createIrqchip();
  writeDescriptorTables(ram.memory);
  writeIdentityPageTables(ram.memory);
  ram.memory.write(TINY_VM_CODE_ADDRESS, code);
  const vcpu = vm.createVcpu(0);
  vcpu.setCpuid(hypervisor.supportedCpuid());
  const { regs, sregs } = linux64BootState(vcpu.getSpecialRegisters(), TINY_VM_CODE_ADDRESS, TINY_VM_RSI);
  vcpu.setSpecialRegisters(sregs);
  vcpu.setRegisters(regs);
  return {
    hypervisor,
    vm,
    ram,
    vcpu,
    dispose() {
      vcpu.close();
      vm.close();
      ram.release();
      hypervisor.close();
    },
  };
}
