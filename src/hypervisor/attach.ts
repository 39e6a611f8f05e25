/** Re-creates a vCPU or a VM from its handle in another thread, choosing the backend the handle names. */
import type { Vcpu, VcpuHandle, Vm, VmHandle } from './hypervisor.ts';
import { KvmVcpu, type KvmVcpuHandle } from './kvm/kvm-vcpu.ts';
import { KvmVm, type KvmVmHandle } from './kvm/kvm-vm.ts';

export function attachVcpu(handle: VcpuHandle): Vcpu {
  if (handle.backend === 'kvm') return KvmVcpu.attach(handle as KvmVcpuHandle);
  throw new Error(`vCPU backend "${handle.backend}" cannot be attached in another thread`);
}

/** The VM in this thread (an I/O worker routing its device's interrupts); closing it leaves the VM open. */
export function attachVm(handle: VmHandle): Vm {
  if (handle.backend === 'kvm') return KvmVm.attach(handle as KvmVmHandle);
  throw new Error(`VM backend "${handle.backend}" cannot be attached in another thread`);
}
