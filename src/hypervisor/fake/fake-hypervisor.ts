/**
 * An in-memory hypervisor for unit tests: vCPUs return scripted exits and record the state set on them; the VM
 * records slots, routes, irq lines and MSIs. Single-threaded (attachVcpu returns the same object).
 */
import type { GsiRoute, Hypervisor, MemorySlot, Vcpu, VcpuHandle, Vm, VmHandle } from '../hypervisor.ts';
import type { VcpuExit } from '../vcpu-exit.ts';
import { resetRegisters, type CpuidEntry, type FpuState, type MsrEntry, type SpecialRegisters, type StandardRegisters } from '../x86-types.ts';

const FAKE_SEGMENT = { base: 0n, limit: 0xffff, selector: 0, type: 3, present: 1, dpl: 0, db: 0, s: 1, l: 0, g: 0, avl: 0, unusable: 0 };

export class FakeVcpu implements Vcpu {
  readonly id: number;
  /** Exits returned by run(), in order; when empty run() returns `shutdown`. */
  readonly script: VcpuExit[] = [];
  regs: StandardRegisters = resetRegisters();
  sregs: SpecialRegisters = {
    cs: { ...FAKE_SEGMENT }, ds: { ...FAKE_SEGMENT }, es: { ...FAKE_SEGMENT }, fs: { ...FAKE_SEGMENT }, gs: { ...FAKE_SEGMENT },
    ss: { ...FAKE_SEGMENT }, tr: { ...FAKE_SEGMENT, type: 11, s: 0 }, ldt: { ...FAKE_SEGMENT, type: 2, s: 0 },
    gdt: { base: 0n, limit: 0xffff }, idt: { base: 0n, limit: 0xffff },
    cr0: 0x60000010n, cr2: 0n, cr3: 0n, cr4: 0n, cr8: 0n, efer: 0n, apicBase: 0xfee00900n, interruptBitmap: [0n, 0n, 0n, 0n],
  };
  fpu: FpuState | undefined;
  cpuid: CpuidEntry[] = [];
  msrs = new Map<number, bigint>();
  lapic = new Uint8Array(1024);
  mpState = 0;
  exitRequested = false;
  runs = 0;

  constructor(id: number) {
    this.id = id;
  }

  run(): VcpuExit {
    this.runs++;
    if (this.exitRequested) return { kind: 'interrupted' };
    return this.script.shift() ?? { kind: 'shutdown' };
  }

  requestExit(): void {
    this.exitRequested = true;
  }

  clearExitRequest(): void {
    this.exitRequested = false;
  }

  handle(): VcpuHandle {
    return { backend: 'fake', id: this.id };
  }

  getRegisters(): StandardRegisters {
    return { ...this.regs };
  }

  setRegisters(regs: StandardRegisters): void {
    this.regs = { ...regs };
  }

  getSpecialRegisters(): SpecialRegisters {
    return structuredClone(this.sregs);
  }

  setSpecialRegisters(sregs: SpecialRegisters): void {
    this.sregs = structuredClone(sregs);
  }

  getFpu(): FpuState {
    if (!this.fpu) throw new Error('fake vCPU: FPU state was never set');
    return this.fpu;
  }

  setFpu(fpu: FpuState): void {
    this.fpu = fpu;
  }

  setCpuid(entries: readonly CpuidEntry[]): void {
    this.cpuid = entries.map((e) => ({ ...e }));
  }

  getMsrs(indices: readonly number[]): MsrEntry[] {
    return indices.filter((i) => this.msrs.has(i)).map((index) => ({ index, data: this.msrs.get(index)! }));
  }

  setMsrs(entries: readonly MsrEntry[]): void {
    for (const e of entries) this.msrs.set(e.index, e.data);
  }

  getLapic(): Uint8Array {
    return this.lapic.slice();
  }

  setLapic(state: Uint8Array): void {
    this.lapic = state.slice();
  }

  getMpState(): number {
    return this.mpState;
  }

  setMpState(state: number): void {
    this.mpState = state;
  }

  tscKhz(): number {
    return 2_000_000;
  }

  nmis = 0;

  injectNmi(): void {
    this.nmis++;
  }

  close(): void {}
}

export class FakeVm implements Vm {
  readonly slots = new Map<number, MemorySlot>();
  readonly vcpus: FakeVcpu[] = [];
  readonly irqLevels: { gsi: number; level: boolean }[] = [];
  readonly msis: { address: bigint; data: number }[] = [];
  routes: readonly GsiRoute[] = [];
  irqchip = false;
  tssAddress: number | undefined;
  identityMapAddress: number | undefined;
  readonly irqfds = new Map<number, number>();
  readonly ioeventfds = new Map<number, { address: number; pio: boolean }>();
  clock = 0n;
  closed = false;

  handle(): VmHandle {
    return { backend: 'fake' };
  }

  setMemorySlot(slot: MemorySlot): void {
    this.slots.set(slot.slot, slot);
  }

  removeMemorySlot(slot: number): void {
    this.slots.delete(slot);
  }

  createIrqchip(): void {
    if (this.vcpus.length > 0) throw new Error('fake VM: irqchip must be created before vCPUs');
    this.irqchip = true;
  }

  setTssAddress(address: number): void {
    this.tssAddress = address;
  }

  setIdentityMapAddress(address: number): void {
    this.identityMapAddress = address;
  }

  createVcpu(id: number): FakeVcpu {
    const vcpu = new FakeVcpu(id);
    this.vcpus.push(vcpu);
    return vcpu;
  }

  setIrqLine(gsi: number, level: boolean): void {
    this.irqLevels.push({ gsi, level });
  }

  setGsiRouting(routes: readonly GsiRoute[]): void {
    this.routes = [...routes];
  }

  registerIrqfd(eventFd: number, gsi: number): void {
    this.irqfds.set(eventFd, gsi);
  }

  unregisterIrqfd(eventFd: number): void {
    this.irqfds.delete(eventFd);
  }

  registerIoeventfd(eventFd: number, address: number, options: { pio: boolean }): void {
    this.ioeventfds.set(eventFd, { address, pio: options.pio });
  }

  unregisterIoeventfd(eventFd: number): void {
    this.ioeventfds.delete(eventFd);
  }

  signalMsi(address: bigint, data: number): void {
    this.msis.push({ address, data });
  }

  getDirtyLog(_slot: number, size: number): BigUint64Array {
    return new BigUint64Array(Math.ceil(size / 4096 / 64));
  }

  getClock(): bigint {
    return this.clock;
  }

  setClock(nanoseconds: bigint): void {
    this.clock = nanoseconds;
  }

  close(): void {
    this.closed = true;
  }
}

export class FakeHypervisor implements Hypervisor {
  readonly backend = 'fake';
  readonly vms: FakeVm[] = [];
  cpuid: CpuidEntry[] = [
    { function: 0, index: 0, flags: 0, eax: 0xd, ebx: 0x68747541, ecx: 0x444d4163, edx: 0x69746e65 },
    { function: 1, index: 0, flags: 0, eax: 0x830f10, ebx: 0x800, ecx: 0x81202000, edx: 0x178bfbff },
    { function: 0x40000000, index: 0, flags: 0, eax: 0x40000001, ebx: 0x4b4d564b, ecx: 0x564b4d56, edx: 0x4d },
  ];

  createVm(): FakeVm {
    const vm = new FakeVm();
    this.vms.push(vm);
    return vm;
  }

  supportedCpuid(): CpuidEntry[] {
    return this.cpuid.map((e) => ({ ...e }));
  }

  msrIndexList(): number[] {
    return [0x10, 0x174, 0x175, 0x176, 0x1a0, 0x2ff];
  }

  attachVcpu(handle: VcpuHandle): Vcpu {
    const vcpu = this.vms.flatMap((vm) => vm.vcpus).find((v) => v.id === handle.id);
    if (!vcpu) throw new Error(`fake hypervisor: no vCPU ${handle.id}`);
    return vcpu;
  }
}
