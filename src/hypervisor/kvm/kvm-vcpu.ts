/**
 * A KVM vCPU: the vcpu fd plus its mmap'd kvm_run area. run() decodes the exit into a VcpuExit; port-I/O and MMIO
 * data are views into kvm_run, so a handler's reply reaches the guest on the next KVM_RUN without a copy.
 */
import { EXIT_REASON, IOCTL, KVM_EXIT_IO_IN, OFFSET, SIZE, SYSTEM_EVENT } from '../../abi/kvm.ts';
import { isNativeError, MAP_SHARED, native, PROT_READ, PROT_WRITE, type NativeAddon } from '../../host/native.ts';
import type { Vcpu, VcpuHandle } from '../hypervisor.ts';
import type { VcpuExit } from '../vcpu-exit.ts';
import type { CpuidEntry, FpuState, MsrEntry, SpecialRegisters, StandardRegisters } from '../x86-types.ts';
import { decodeFpu, decodeMsrs, decodeRegs, decodeSregs, encodeCpuid2, encodeFpu, encodeMsrs, encodeRegs, encodeSregs } from './structs.ts';

export interface KvmVcpuHandle extends VcpuHandle {
  readonly backend: 'kvm';
  readonly fd: number;
  readonly runSize: number;
}

const IO = OFFSET['kvm_run.io'];
const MMIO = OFFSET['kvm_run.mmio'];

export class KvmVcpu implements Vcpu {
  readonly id: number;
  private readonly fd: number;
  private readonly runSize: number;
  private readonly addon: NativeAddon;
  private readonly runAddress: bigint;
  private readonly run8: Uint8Array;
  private readonly runView: DataView;
  /** Reused exit object for interrupted (the common non-I/O exit during kicks). */
  private static readonly INTERRUPTED: VcpuExit = { kind: 'interrupted' };
  /** Views of port-I/O data by length, for `ioViewsOffset` (KVM always uses the same data offset). */
  private ioViews: Uint8Array[] = [];
  private ioViewsOffset = -1;

  constructor(id: number, fd: number, runSize: number) {
    this.id = id;
    this.fd = fd;
    this.runSize = runSize;
    this.addon = native();
    this.runAddress = this.addon.mmap(runSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    const buffer = this.addon.view(this.runAddress, runSize);
    this.run8 = new Uint8Array(buffer);
    this.runView = new DataView(buffer);
  }

  static attach(handle: KvmVcpuHandle): KvmVcpu {
    return new KvmVcpu(handle.id, handle.fd, handle.runSize);
  }

  handle(): KvmVcpuHandle {
    return { backend: 'kvm', id: this.id, fd: this.fd, runSize: this.runSize };
  }

  run(): VcpuExit {
    try {
      this.addon.ioctl(this.fd, IOCTL.KVM_RUN, 0);
    } catch (error) {
      if (isNativeError(error, 'EINTR') || isNativeError(error, 'EAGAIN')) return KvmVcpu.INTERRUPTED;
      throw error;
    }
    const view = this.runView;
    const reason = view.getUint32(OFFSET['kvm_run.exit_reason'], true);
    switch (reason) {
      case EXIT_REASON.IO: {
        const size = view.getUint8(IO + 1);
        const port = view.getUint16(IO + 2, true);
        const count = view.getUint32(IO + 4, true);
        const offset = Number(view.getBigUint64(IO + 8, true));
        const length = size * count;
        if (offset + length > this.runSize) return { kind: 'unhandled', reason };
        const data = this.ioData(offset, length);
        return view.getUint8(IO) === KVM_EXIT_IO_IN ? { kind: 'io-in', port, size, count, data } : { kind: 'io-out', port, size, count, data };
      }
      case EXIT_REASON.MMIO: {
        const address = Number(view.getBigUint64(MMIO, true));
        const length = Math.min(view.getUint32(MMIO + 16, true), 8);
        const data = this.run8.subarray(MMIO + 8, MMIO + 8 + length);
        return view.getUint8(MMIO + 20) ? { kind: 'mmio-write', address, data } : { kind: 'mmio-read', address, data };
      }
      case EXIT_REASON.HLT:
        return { kind: 'hlt' };
      case EXIT_REASON.SHUTDOWN:
        return { kind: 'shutdown' };
      case EXIT_REASON.INTR:
        return KvmVcpu.INTERRUPTED;
      case EXIT_REASON.SYSTEM_EVENT: {
        const type = view.getUint32(OFFSET['kvm_run.system_event'], true);
        const event = type === SYSTEM_EVENT.SHUTDOWN ? 'shutdown' : type === SYSTEM_EVENT.RESET ? 'reset' : type === SYSTEM_EVENT.CRASH ? 'crash' : 'other';
        return { kind: 'system-event', event, code: type };
      }
      case EXIT_REASON.INTERNAL_ERROR: {
        const at = OFFSET['kvm_run.internal'];
        const ndata = Math.min(view.getUint32(at + 4, true), 16);
        const detail = Array.from({ length: ndata }, (_, i) => view.getBigUint64(at + 8 + i * 8, true));
        return { kind: 'internal-error', suberror: view.getUint32(at, true), detail };
      }
      case EXIT_REASON.FAIL_ENTRY:
        return { kind: 'fail-entry', reason: view.getBigUint64(OFFSET['kvm_run.fail_entry'], true) };
      default:
        return { kind: 'unhandled', reason };
    }
  }

  private ioData(offset: number, length: number): Uint8Array {
    if (offset !== this.ioViewsOffset) {
      this.ioViews = [];
      this.ioViewsOffset = offset;
    }
    return (this.ioViews[length] ??= this.run8.subarray(offset, offset + length));
  }

  requestExit(): void {
    Atomics.store(this.run8, OFFSET['kvm_run.immediate_exit'], 1);
  }

  clearExitRequest(): void {
    Atomics.store(this.run8, OFFSET['kvm_run.immediate_exit'], 0);
  }

  getRegisters(): StandardRegisters {
    return decodeRegs(this.read(IOCTL.KVM_GET_REGS, SIZE.kvm_regs));
  }

  setRegisters(regs: StandardRegisters): void {
    this.addon.ioctl(this.fd, IOCTL.KVM_SET_REGS, encodeRegs(regs));
  }

  getSpecialRegisters(): SpecialRegisters {
    return decodeSregs(this.read(IOCTL.KVM_GET_SREGS, SIZE.kvm_sregs));
  }

  setSpecialRegisters(sregs: SpecialRegisters): void {
    this.addon.ioctl(this.fd, IOCTL.KVM_SET_SREGS, encodeSregs(sregs));
  }

  getFpu(): FpuState {
    return decodeFpu(this.read(IOCTL.KVM_GET_FPU, SIZE.kvm_fpu));
  }

  setFpu(fpu: FpuState): void {
    this.addon.ioctl(this.fd, IOCTL.KVM_SET_FPU, encodeFpu(fpu));
  }

  setCpuid(entries: readonly CpuidEntry[]): void {
    this.addon.ioctl(this.fd, IOCTL.KVM_SET_CPUID2, encodeCpuid2(entries));
  }

  getMsrs(indices: readonly number[]): MsrEntry[] {
    const buf = encodeMsrs(indices.map((index) => ({ index, data: 0n })));
    const count = this.addon.ioctl(this.fd, IOCTL.KVM_GET_MSRS, buf);
    return decodeMsrs(buf, count);
  }

  setMsrs(entries: readonly MsrEntry[]): void {
    const written = this.addon.ioctl(this.fd, IOCTL.KVM_SET_MSRS, encodeMsrs(entries));
    if (written !== entries.length) {
      const failed = entries[written];
      throw new Error(`KVM_SET_MSRS stopped at MSR 0x${failed?.index.toString(16)} (${written} of ${entries.length} written)`);
    }
  }

  getLapic(): Uint8Array {
    return this.read(IOCTL.KVM_GET_LAPIC, SIZE.kvm_lapic_state);
  }

  setLapic(state: Uint8Array): void {
    if (state.length !== SIZE.kvm_lapic_state) throw new RangeError(`LAPIC state must be ${SIZE.kvm_lapic_state} bytes`);
    this.addon.ioctl(this.fd, IOCTL.KVM_SET_LAPIC, state);
  }

  getMpState(): number {
    return new DataView(this.read(IOCTL.KVM_GET_MP_STATE, SIZE.kvm_mp_state).buffer).getUint32(0, true);
  }

  setMpState(state: number): void {
    this.addon.ioctl(this.fd, IOCTL.KVM_SET_MP_STATE, new Uint32Array([state]));
  }

  tscKhz(): number {
    return this.addon.ioctl(this.fd, IOCTL.KVM_GET_TSC_KHZ, 0);
  }

  injectNmi(): void {
    this.addon.ioctl(this.fd, IOCTL.KVM_NMI, 0);
  }

  /** Unmaps kvm_run. The fd itself belongs to the VM (closed by KvmVm.close()). */
  close(): void {
    this.addon.munmap(this.runAddress, this.runSize);
  }

  private read(request: number, size: number): Uint8Array {
    const buf = new Uint8Array(size);
    this.addon.ioctl(this.fd, request, buf);
    return buf;
  }
}
