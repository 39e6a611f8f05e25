/** The KVM backend: opens /dev/kvm, checks the capabilities Nimbus relies on, creates VMs and re-attaches vCPUs. */
import { CAP, IOCTL } from '../../abi/kvm.ts';
import { NimbusError } from '../../errors/nimbus-error.ts';
import { native, O_RDWR, type NativeAddon } from '../../host/native.ts';
import type { Hypervisor, VcpuHandle } from '../hypervisor.ts';
import type { CpuidEntry } from '../x86-types.ts';
import { decodeCpuid2, encodeCpuid2 } from './structs.ts';
import { KvmVcpu, type KvmVcpuHandle } from './kvm-vcpu.ts';
import { KvmVm } from './kvm-vm.ts';

export class KvmError extends NimbusError {}

/** Capabilities without which Nimbus cannot run a guest. */
const REQUIRED_CAPS = [
  ['IRQCHIP', CAP.IRQCHIP],
  ['USER_MEMORY', CAP.USER_MEMORY],
  ['SET_TSS_ADDR', CAP.SET_TSS_ADDR],
  ['SET_IDENTITY_MAP_ADDR', CAP.SET_IDENTITY_MAP_ADDR],
  ['EXT_CPUID', CAP.EXT_CPUID],
  ['MP_STATE', CAP.MP_STATE],
  ['IRQ_ROUTING', CAP.IRQ_ROUTING],
  ['IRQFD', CAP.IRQFD],
  ['IOEVENTFD', CAP.IOEVENTFD],
  ['IMMEDIATE_EXIT', CAP.IMMEDIATE_EXIT],
  ['SIGNAL_MSI', CAP.SIGNAL_MSI],
  ['TSC_DEADLINE_TIMER', CAP.TSC_DEADLINE_TIMER],
] as const;

const MAX_CPUID_ENTRIES = 256;
const MAX_MSR_INDICES = 1024;

export class KvmHypervisor implements Hypervisor {
  readonly backend = 'kvm';
  private readonly addon: NativeAddon;
  private readonly fd: number;
  private readonly runSize: number;
  private cpuidCache: CpuidEntry[] | undefined;

  private constructor(addon: NativeAddon, fd: number) {
    this.addon = addon;
    this.fd = fd;
    this.runSize = addon.ioctl(fd, IOCTL.KVM_GET_VCPU_MMAP_SIZE, 0);
  }

  /** Opens `path` (default /dev/kvm) and validates the API version and required capabilities. */
  static open(path = '/dev/kvm'): KvmHypervisor {
    const addon = native();
    let fd: number;
    try {
      fd = addon.open(path, O_RDWR);
    } catch (cause) {
      throw new KvmError('KVM_UNAVAILABLE', `cannot open ${path}: ${(cause as Error).message}; is KVM enabled and are you allowed to use it?`, { cause });
    }
    const version = addon.ioctl(fd, IOCTL.KVM_GET_API_VERSION, 0);
    if (version !== 12) throw new KvmError('KVM_API_VERSION', `${path} speaks KVM API ${version}, Nimbus needs 12`);
    const missing = REQUIRED_CAPS.filter(([, cap]) => addon.ioctl(fd, IOCTL.KVM_CHECK_EXTENSION, cap) <= 0).map(([name]) => name);
    if (missing.length > 0) throw new KvmError('KVM_CAPABILITY', `${path} lacks required capabilities: ${missing.join(', ')}`);
    return new KvmHypervisor(addon, fd);
  }

  /** Value of KVM_CHECK_EXTENSION for a capability (0 = absent). */
  checkExtension(cap: number): number {
    return this.addon.ioctl(this.fd, IOCTL.KVM_CHECK_EXTENSION, cap);
  }

  createVm(): KvmVm {
    const vmFd = this.addon.ioctl(this.fd, IOCTL.KVM_CREATE_VM, 0);
    return new KvmVm(vmFd, this.runSize);
  }

  supportedCpuid(): CpuidEntry[] {
    if (!this.cpuidCache) {
      const buf = encodeCpuid2([], MAX_CPUID_ENTRIES);
      this.addon.ioctl(this.fd, IOCTL.KVM_GET_SUPPORTED_CPUID, buf);
      this.cpuidCache = decodeCpuid2(buf);
    }
    return this.cpuidCache.map((e) => ({ ...e }));
  }

  msrIndexList(): number[] {
    const buf = new Uint32Array(1 + MAX_MSR_INDICES);
    buf[0] = MAX_MSR_INDICES;
    this.addon.ioctl(this.fd, IOCTL.KVM_GET_MSR_INDEX_LIST, buf);
    return Array.from(buf.subarray(1, 1 + buf[0]!));
  }

  attachVcpu(handle: VcpuHandle): KvmVcpu {
    if (handle.backend !== 'kvm') throw new KvmError('WRONG_BACKEND', `cannot attach a ${handle.backend} vCPU to KVM`);
    return KvmVcpu.attach(handle as KvmVcpuHandle);
  }

  close(): void {
    this.addon.close(this.fd);
  }
}
