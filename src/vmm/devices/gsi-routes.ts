/**
 * The VM's KVM GSI routing table, shared by every thread (docs/design/virtio-devices.md). KVM_SET_GSI_ROUTING
 * replaces the whole table, so one list must exist: it lives in a SharedArrayBuffer with a lock, and whichever
 * thread changes a route (a device's I/O worker, when the guest programs an MSI-X vector) rebuilds the full list
 * and issues the ioctl with the lock held, so the kernel always ends up with the latest table.
 *
 * The list always starts with the routes KVM_CREATE_IRQCHIP installs (Linux's default_routing in
 * arch/x86/kvm/irq_comm.c): GSIs 0-15 reach both the IOAPIC pin of the same number and the PIC (master for 0-7,
 * slave for 8-15, pin = GSI mod 8), GSIs 16-23 the IOAPIC only. The legacy devices' irqfds (serial on 4, GED on 5)
 * depend on them. MSI routes use GSIs from 24 up, handed out by `allocate`.
 *
 * Layout (Int32 words): the lock (a SharedLock, word 0), the next free MSI GSI slot, then per MSI GSI slot: in use
 * as a route (0/1), message address low and high, message data. Pure: no node:* imports.
 */
import { SharedLock, type LockMode } from '../../devices/shared-lock.ts';
import type { GsiRoute, Vm } from '../../hypervisor/hypervisor.ts';
import type { MsiMessage } from '../../pci/msix.ts';
import { PciDeviceError } from './pci-device-error.ts';
import { withLock } from './with-lock.ts';

/** The in-kernel IOAPIC has 24 pins: GSIs 0-23 are the irqchip's, MSI routes start here. */
export const FIRST_MSI_GSI = 24;
/** KVM_MAX_IRQ_ROUTES: the most entries one KVM_SET_GSI_ROUTING may carry. */
export const KVM_MAX_IRQ_ROUTES = 4096;
const PIC_PINS = 8;
const PIC_GSIS = 16;

/** The table KVM_CREATE_IRQCHIP installs. */
export const DEFAULT_IRQCHIP_ROUTES: readonly GsiRoute[] = Array.from({ length: FIRST_MSI_GSI }, (_, gsi) => {
  const ioapic: GsiRoute = { gsi, kind: 'irqchip', chip: 'ioapic', pin: gsi };
  if (gsi >= PIC_GSIS) return [ioapic];
  const chip = gsi < PIC_PINS ? 'pic-master' : 'pic-slave';
  return [ioapic, { gsi, kind: 'irqchip', chip, pin: gsi % PIC_PINS } satisfies GsiRoute];
}).flat();

/** MSI GSIs the table can hand out: what KVM's route limit leaves after the default routes. */
export const MSI_GSI_CAPACITY = KVM_MAX_IRQ_ROUTES - DEFAULT_IRQCHIP_ROUTES.length;

const NEXT_FREE_WORD = 1;
const FIRST_ENTRY_WORD = 2;
const ENTRY = { ROUTED: 0, ADDRESS_LO: 1, ADDRESS_HI: 2, DATA: 3, WORDS: 4 } as const;

/** The part of the hypervisor VM the table drives. */
export type GsiRoutingVm = Pick<Vm, 'setGsiRouting'>;

export class GsiRouteTable {
  private readonly words: Int32Array;
  private readonly lock: SharedLock;
  private readonly vm: GsiRoutingVm;
  private readonly capacity: number;

  /** A new table with no MSI routes, for up to `capacity` MSI GSIs. */
  static create(capacity = MSI_GSI_CAPACITY): SharedArrayBuffer {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MSI_GSI_CAPACITY) {
      throw new PciDeviceError('GSI_INVALID', `an MSI GSI table holds 1-${MSI_GSI_CAPACITY} GSIs (got ${String(capacity)})`);
    }
    return new SharedArrayBuffer(4 * (FIRST_ENTRY_WORD + capacity * ENTRY.WORDS));
  }

  /** Opens the table in this thread; `mode` is "wait" in Workers and "spin" on the main thread. */
  constructor(buffer: SharedArrayBuffer, vm: GsiRoutingVm, mode: LockMode) {
    this.words = new Int32Array(buffer);
    this.lock = new SharedLock(buffer, mode);
    this.vm = vm;
    this.capacity = (this.words.length - FIRST_ENTRY_WORD) / ENTRY.WORDS;
  }

  /** Hands out `count` consecutive unrouted GSIs and returns the first. Throws GSI_EXHAUSTED when none are left. */
  allocate(count = 1): number {
    return withLock(this.lock, () => {
      const first = Atomics.load(this.words, NEXT_FREE_WORD);
      if (!Number.isInteger(count) || count < 1 || first + count > this.capacity) {
        throw new PciDeviceError(
          'GSI_EXHAUSTED',
          `no ${String(count)} free GSIs for MSI-X vectors (${this.capacity - first} of ${this.capacity} left); use fewer devices or queues`,
        );
      }
      Atomics.store(this.words, NEXT_FREE_WORD, first + count);
      return FIRST_MSI_GSI + first;
    });
  }

  /**
   * Routes `gsi` to an MSI `message`, or removes its route (undefined), then installs the whole table in the
   * kernel. Throws GSI_INVALID for a GSI that was not allocated, or the hypervisor's error (the table then still
   * holds the change, which the next successful update installs).
   */
  setMsiRoute(gsi: number, message: MsiMessage | undefined): void {
    withLock(this.lock, () => {
      const slot = gsi - FIRST_MSI_GSI;
      if (!Number.isInteger(slot) || slot < 0 || slot >= Atomics.load(this.words, NEXT_FREE_WORD)) {
        throw new PciDeviceError('GSI_INVALID', `GSI ${String(gsi)} was not allocated for MSI routes`);
      }
      const at = FIRST_ENTRY_WORD + slot * ENTRY.WORDS;
      Atomics.store(this.words, at + ENTRY.ROUTED, message ? 1 : 0);
      if (message) {
        Atomics.store(this.words, at + ENTRY.ADDRESS_LO, message.addressLo);
        Atomics.store(this.words, at + ENTRY.ADDRESS_HI, message.addressHi);
        Atomics.store(this.words, at + ENTRY.DATA, message.data);
      }
      this.vm.setGsiRouting(this.list());
    });
  }

  /** The full routing list the kernel has (or gets with the next update). */
  routes(): GsiRoute[] {
    return withLock(this.lock, () => this.list());
  }

  /** The default irqchip routes followed by every routed MSI GSI (with the lock held). */
  private list(): GsiRoute[] {
    const routes = [...DEFAULT_IRQCHIP_ROUTES];
    const used = Atomics.load(this.words, NEXT_FREE_WORD);
    for (let slot = 0; slot < used; slot++) {
      const at = FIRST_ENTRY_WORD + slot * ENTRY.WORDS;
      if (Atomics.load(this.words, at + ENTRY.ROUTED) === 0) continue;
      const addressLo = BigInt(Atomics.load(this.words, at + ENTRY.ADDRESS_LO) >>> 0);
      const addressHi = BigInt(Atomics.load(this.words, at + ENTRY.ADDRESS_HI) >>> 0);
      const data = Atomics.load(this.words, at + ENTRY.DATA) >>> 0;
      routes.push({ gsi: FIRST_MSI_GSI + slot, kind: 'msi', address: (addressHi << 32n) | addressLo, data });
    }
    return routes;
  }
}
