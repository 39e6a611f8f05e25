/** Re-creates a vCPU from its handle in another thread, choosing the backend the handle names. */
import type { Vcpu, VcpuHandle } from './hypervisor.ts';
import { KvmVcpu, type KvmVcpuHandle } from './kvm/kvm-vcpu.ts';

export function attachVcpu(handle: VcpuHandle): Vcpu {
  if (handle.backend === 'kvm') return KvmVcpu.attach(handle as KvmVcpuHandle);
  throw new Error(`vCPU backend "${handle.backend}" cannot be attached in another thread`);
}
