/** A KVM virtual machine: memory slots, in-kernel irqchip, GSI routing, irqfd/ioeventfd, MSIs, clock and vCPUs. */
import {
  IOCTL,
  IRQ_ROUTING_IRQCHIP,
  IRQ_ROUTING_MSI,
  IRQCHIP,
  KVM_IOEVENTFD_FLAG,
  KVM_IRQFD_FLAG_DEASSIGN,
  KVM_MEM_LOG_DIRTY_PAGES,
  OFFSET,
  SIZE,
} from '../../abi/kvm.ts';
import { MAP_ANONYMOUS, MAP_PRIVATE, native, PROT_READ, PROT_WRITE, type NativeAddon } from '../../host/native.ts';
import type { GsiRoute, MemorySlot, Vm, VmHandle } from '../hypervisor.ts';
import { KvmVcpu } from './kvm-vcpu.ts';

const KVM_MEM_READONLY = 2;

export interface KvmVmHandle extends VmHandle {
  readonly backend: 'kvm';
  readonly fd: number;
  readonly runSize: number;
}

export class KvmVm implements Vm {
  private readonly addon: NativeAddon;
  private readonly fd: number;
  private readonly runSize: number;
  /** False for an instance attached in another thread: the VM fd belongs to the creating instance. */
  private readonly ownsFd: boolean;
  private readonly vcpuFds: number[] = [];
  private closed = false;

  constructor(fd: number, runSize: number, ownsFd = true) {
    this.addon = native();
    this.fd = fd;
    this.runSize = runSize;
    this.ownsFd = ownsFd;
  }

  /** The VM in another thread of this process; closing the result leaves the VM open. */
  static attach(handle: KvmVmHandle): KvmVm {
    return new KvmVm(handle.fd, handle.runSize, false);
  }

  handle(): KvmVmHandle {
    return { backend: 'kvm', fd: this.fd, runSize: this.runSize };
  }

  setMemorySlot(slot: MemorySlot): void {
    const buf = new Uint8Array(SIZE.kvm_userspace_memory_region);
    const view = new DataView(buf.buffer);
    const flags = (slot.logDirty ? KVM_MEM_LOG_DIRTY_PAGES : 0) | (slot.readonly ? KVM_MEM_READONLY : 0);
    view.setUint32(OFFSET['kvm_userspace_memory_region.slot'], slot.slot, true);
    view.setUint32(OFFSET['kvm_userspace_memory_region.flags'], flags, true);
    view.setBigUint64(OFFSET['kvm_userspace_memory_region.guest_phys_addr'], BigInt(slot.guestBase), true);
    view.setBigUint64(OFFSET['kvm_userspace_memory_region.memory_size'], BigInt(slot.size), true);
    view.setBigUint64(OFFSET['kvm_userspace_memory_region.userspace_addr'], slot.hostAddress, true);
    this.addon.ioctl(this.fd, IOCTL.KVM_SET_USER_MEMORY_REGION, buf);
  }

  removeMemorySlot(slot: number): void {
    const buf = new Uint8Array(SIZE.kvm_userspace_memory_region);
    new DataView(buf.buffer).setUint32(OFFSET['kvm_userspace_memory_region.slot'], slot, true);
    this.addon.ioctl(this.fd, IOCTL.KVM_SET_USER_MEMORY_REGION, buf);
  }

  createIrqchip(): void {
    this.addon.ioctl(this.fd, IOCTL.KVM_CREATE_IRQCHIP, 0);
  }

  setTssAddress(address: number): void {
    this.addon.ioctl(this.fd, IOCTL.KVM_SET_TSS_ADDR, address);
  }

  setIdentityMapAddress(address: number): void {
    this.addon.ioctl(this.fd, IOCTL.KVM_SET_IDENTITY_MAP_ADDR, new BigUint64Array([BigInt(address)]));
  }

  createVcpu(id: number): KvmVcpu {
    const fd = this.addon.ioctl(this.fd, IOCTL.KVM_CREATE_VCPU, id);
    this.vcpuFds.push(fd);
    return new KvmVcpu(id, fd, this.runSize);
  }

  setIrqLine(gsi: number, level: boolean): void {
    this.addon.ioctl(this.fd, IOCTL.KVM_IRQ_LINE, new Uint32Array([gsi, level ? 1 : 0]));
  }

  setGsiRouting(routes: readonly GsiRoute[]): void {
    const buf = new Uint8Array(SIZE.kvm_irq_routing + routes.length * SIZE.kvm_irq_routing_entry);
    const view = new DataView(buf.buffer);
    view.setUint32(OFFSET['kvm_irq_routing.nr'], routes.length, true);
    routes.forEach((route, i) => {
      const at = OFFSET['kvm_irq_routing.entries'] + i * SIZE.kvm_irq_routing_entry;
      const u = at + OFFSET['kvm_irq_routing_entry.u'];
      view.setUint32(at + OFFSET['kvm_irq_routing_entry.gsi'], route.gsi, true);
      if (route.kind === 'irqchip') {
        const chip = route.chip === 'ioapic' ? IRQCHIP.IOAPIC : route.chip === 'pic-master' ? IRQCHIP.PIC_MASTER : IRQCHIP.PIC_SLAVE;
        view.setUint32(at + OFFSET['kvm_irq_routing_entry.type'], IRQ_ROUTING_IRQCHIP, true);
        view.setUint32(u + OFFSET['kvm_irq_routing_irqchip.irqchip'], chip, true);
        view.setUint32(u + OFFSET['kvm_irq_routing_irqchip.pin'], route.pin, true);
      } else {
        view.setUint32(at + OFFSET['kvm_irq_routing_entry.type'], IRQ_ROUTING_MSI, true);
        view.setUint32(u + OFFSET['kvm_irq_routing_msi.address_lo'], Number(route.address & 0xffffffffn), true);
        view.setUint32(u + OFFSET['kvm_irq_routing_msi.address_hi'], Number(route.address >> 32n), true);
        view.setUint32(u + OFFSET['kvm_irq_routing_msi.data'], route.data, true);
      }
    });
    this.addon.ioctl(this.fd, IOCTL.KVM_SET_GSI_ROUTING, buf);
  }

  registerIrqfd(eventFd: number, gsi: number): void {
    this.irqfd(eventFd, gsi, 0);
  }

  unregisterIrqfd(eventFd: number, gsi: number): void {
    this.irqfd(eventFd, gsi, KVM_IRQFD_FLAG_DEASSIGN);
  }

  registerIoeventfd(eventFd: number, address: number, options: { pio: boolean; length: number; datamatch?: bigint }): void {
    this.ioeventfd(eventFd, address, options, 0);
  }

  unregisterIoeventfd(eventFd: number, address: number, options: { pio: boolean; length: number; datamatch?: bigint }): void {
    this.ioeventfd(eventFd, address, options, KVM_IOEVENTFD_FLAG.DEASSIGN);
  }

  signalMsi(address: bigint, data: number): void {
    const buf = new Uint8Array(SIZE.kvm_msi);
    const view = new DataView(buf.buffer);
    view.setUint32(OFFSET['kvm_msi.address_lo'], Number(address & 0xffffffffn), true);
    view.setUint32(OFFSET['kvm_msi.address_hi'], Number(address >> 32n), true);
    view.setUint32(OFFSET['kvm_msi.data'], data, true);
    this.addon.ioctl(this.fd, IOCTL.KVM_SIGNAL_MSI, buf);
  }

  getDirtyLog(slot: number, size: number): BigUint64Array {
    const words = Math.ceil(Math.ceil(size / 4096) / 64);
    // The kernel writes the bitmap through a pointer inside kvm_dirty_log, so it must live in memory whose address
    // we know: a small anonymous mapping made by the addon.
    const length = Math.max(words * 8, 8);
    const address = this.addon.mmap(length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    try {
      const buf = new Uint8Array(SIZE.kvm_dirty_log);
      const view = new DataView(buf.buffer);
      view.setUint32(OFFSET['kvm_dirty_log.slot'], slot, true);
      view.setBigUint64(OFFSET['kvm_dirty_log.dirty_bitmap'], address, true);
      this.addon.ioctl(this.fd, IOCTL.KVM_GET_DIRTY_LOG, buf);
      return new BigUint64Array(this.addon.view(address, length).slice(0, words * 8));
    } finally {
      this.addon.munmap(address, length);
    }
  }

  getClock(): bigint {
    const buf = new Uint8Array(SIZE.kvm_clock_data);
    this.addon.ioctl(this.fd, IOCTL.KVM_GET_CLOCK, buf);
    return new DataView(buf.buffer).getBigUint64(OFFSET['kvm_clock_data.clock'], true);
  }

  setClock(nanoseconds: bigint): void {
    const buf = new Uint8Array(SIZE.kvm_clock_data);
    new DataView(buf.buffer).setBigUint64(OFFSET['kvm_clock_data.clock'], nanoseconds, true);
    this.addon.ioctl(this.fd, IOCTL.KVM_SET_CLOCK, buf);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fd of this.vcpuFds) this.addon.close(fd);
    if (this.ownsFd) this.addon.close(this.fd);
  }

  private irqfd(eventFd: number, gsi: number, flags: number): void {
    const buf = new Uint8Array(SIZE.kvm_irqfd);
    const view = new DataView(buf.buffer);
    view.setUint32(OFFSET['kvm_irqfd.fd'], eventFd, true);
    view.setUint32(OFFSET['kvm_irqfd.gsi'], gsi, true);
    view.setUint32(OFFSET['kvm_irqfd.flags'], flags, true);
    this.addon.ioctl(this.fd, IOCTL.KVM_IRQFD, buf);
  }

  private ioeventfd(eventFd: number, address: number, options: { pio: boolean; length: number; datamatch?: bigint }, extra: number): void {
    const buf = new Uint8Array(SIZE.kvm_ioeventfd);
    const view = new DataView(buf.buffer);
    let flags = extra | (options.pio ? KVM_IOEVENTFD_FLAG.PIO : 0);
    if (options.datamatch !== undefined) {
      flags |= KVM_IOEVENTFD_FLAG.DATAMATCH;
      view.setBigUint64(OFFSET['kvm_ioeventfd.datamatch'], options.datamatch, true);
    }
    view.setBigUint64(OFFSET['kvm_ioeventfd.addr'], BigInt(address), true);
    view.setUint32(OFFSET['kvm_ioeventfd.len'], options.length, true);
    view.setInt32(OFFSET['kvm_ioeventfd.fd'], eventFd, true);
    view.setUint32(OFFSET['kvm_ioeventfd.flags'], flags, true);
    this.addon.ioctl(this.fd, IOCTL.KVM_IOEVENTFD, buf);
  }
}
