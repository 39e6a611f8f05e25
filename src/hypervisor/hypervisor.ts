/**
 * The hypervisor interface: what the VMM needs from a hypervisor backend (KVM today; a second backend implements the
 * same interfaces). A VM owns guest memory slots, interrupt routing and vCPUs; a vCPU runs until a VcpuExit.
 * vCPUs run in Worker threads: `Vcpu.handle()` is plain data that `Hypervisor.attachVcpu()` turns back into a Vcpu in
 * another thread of the same process.
 */
import type { VcpuExit } from './vcpu-exit.ts';
import type { CpuidEntry, FpuState, MsrEntry, SpecialRegisters, StandardRegisters } from './x86-types.ts';

/** A GSI routing entry: to an in-kernel irqchip pin, or to an MSI message. */
export type GsiRoute =
  | { gsi: number; kind: 'irqchip'; chip: 'pic-master' | 'pic-slave' | 'ioapic'; pin: number }
  | { gsi: number; kind: 'msi'; address: bigint; data: number };

/** Serializable description of a vCPU, valid in any thread of the process that created it. */
export interface VcpuHandle {
  readonly backend: string;
  readonly id: number;
  readonly [key: string]: unknown;
}

/** Serializable description of a VM, valid in any thread of the process that created it. */
export interface VmHandle {
  readonly backend: string;
  readonly [key: string]: unknown;
}

export interface Hypervisor {
  readonly backend: string;
  createVm(): Vm;
  /** CPUID leaves the backend can expose to a guest. */
  supportedCpuid(): CpuidEntry[];
  /** MSR indices whose state a snapshot must carry. */
  msrIndexList(): number[];
  /** Rebuilds a vCPU from its handle (in a Worker). */
  attachVcpu(handle: VcpuHandle): Vcpu;
}

export interface MemorySlot {
  slot: number;
  guestBase: number;
  size: number;
  /** Host virtual address of the backing mapping. */
  hostAddress: bigint;
  logDirty?: boolean;
  readonly?: boolean;
}

export interface Vm {
  /**
   * Plain data that `attachVm()` turns back into a Vm in another thread (device threads change GSI routes and
   * ioeventfds themselves). An attached Vm does not own the VM: closing it leaves the VM open.
   */
  handle(): VmHandle;
  setMemorySlot(slot: MemorySlot): void;
  removeMemorySlot(slot: number): void;
  /** Creates the in-kernel interrupt controllers (LAPICs, IOAPIC, PICs). Must precede createVcpu. */
  createIrqchip(): void;
  /** x86 KVM needs these two pages reserved in the 32-bit hole. */
  setTssAddress(address: number): void;
  setIdentityMapAddress(address: number): void;
  createVcpu(id: number): Vcpu;
  setIrqLine(gsi: number, level: boolean): void;
  /** Replaces the whole GSI routing table. */
  setGsiRouting(routes: readonly GsiRoute[]): void;
  /** Makes writes to `eventFd` inject `gsi` (irqfd). */
  registerIrqfd(eventFd: number, gsi: number): void;
  unregisterIrqfd(eventFd: number, gsi: number): void;
  /** Makes guest writes to `address` signal `eventFd` without an exit (ioeventfd). */
  registerIoeventfd(eventFd: number, address: number, options: { pio: boolean; length: number; datamatch?: bigint }): void;
  unregisterIoeventfd(eventFd: number, address: number, options: { pio: boolean; length: number; datamatch?: bigint }): void;
  signalMsi(address: bigint, data: number): void;
  /** Returns the dirty bitmap of a slot with dirty logging (one bit per 4 KiB page) and re-arms it. */
  getDirtyLog(slot: number, size: number): BigUint64Array;
  /** Guest clock in nanoseconds. */
  getClock(): bigint;
  setClock(nanoseconds: bigint): void;
  close(): void;
}

export interface Vcpu {
  readonly id: number;
  /** Runs the vCPU until it exits. Never throws for a kick (returns `interrupted`). */
  run(): VcpuExit;
  /** Asks a `run()` in progress or about to start to return `interrupted` (callable from any thread holding a Vcpu). */
  requestExit(): void;
  /** Clears a pending exit request (the vCPU loop does this after seeing `interrupted`). */
  clearExitRequest(): void;
  handle(): VcpuHandle;
  getRegisters(): StandardRegisters;
  setRegisters(regs: StandardRegisters): void;
  getSpecialRegisters(): SpecialRegisters;
  setSpecialRegisters(sregs: SpecialRegisters): void;
  getFpu(): FpuState;
  setFpu(fpu: FpuState): void;
  setCpuid(entries: readonly CpuidEntry[]): void;
  getMsrs(indices: readonly number[]): MsrEntry[];
  setMsrs(entries: readonly MsrEntry[]): void;
  /** LAPIC register page (1 KiB), for LINT setup and snapshots. */
  getLapic(): Uint8Array;
  setLapic(state: Uint8Array): void;
  getMpState(): number;
  setMpState(state: number): void;
  tscKhz(): number;
  /** Injects an NMI. Call it from the vCPU's own thread (between runs). */
  injectNmi(): void;
  close(): void;
}
