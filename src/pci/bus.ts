/**
 * One PCI segment's bus (bus 0; Nimbus has no PCI-to-PCI bridges): its functions by device and function number,
 * device slot allocation as Cloud Hypervisor does it (pci/src/bus.rs: slot 0 is the host bridge's on segment 0,
 * user-chosen slots are reserved before automatic allocation hands out the lowest free one), and configuration
 * accesses by (bus, device, function, register offset) for the CF8/CFC and ECAM access paths. Accesses to a bus,
 * device or function that does not exist read all ones and drop writes. Pure: no node:* imports.
 */
import { PciError } from './pci-error.ts';

/** A function as the bus sees it: its configuration space (PciConfigSpace implements this). */
export interface PciFunction {
  /** Fills `data` with the configuration bytes at `offset` (0-4095); must not throw. */
  readConfig(offset: number, data: Uint8Array): void;
  /** Applies a guest write at `offset`; must not throw. */
  writeConfig(offset: number, data: Uint8Array): void;
}

export const PCI_DEVICES_PER_BUS = 32;
export const PCI_FUNCTIONS_PER_DEVICE = 8;
/** The host bridge's device number on segment 0. */
export const HOST_BRIDGE_SLOT = 0;

type SlotState = 'free' | 'reserved' | 'allocated';

export class PciBus {
  private readonly slots: SlotState[] = new Array<SlotState>(PCI_DEVICES_PER_BUS).fill('free');
  private readonly functions: (PciFunction | undefined)[] = new Array<PciFunction | undefined>(
    PCI_DEVICES_PER_BUS * PCI_FUNCTIONS_PER_DEVICE,
  ).fill(undefined);

  /** With a host bridge (segment 0), slot 0 holds it as function 0. */
  constructor(hostBridge?: PciFunction) {
    if (hostBridge) {
      this.slots[HOST_BRIDGE_SLOT] = 'allocated';
      this.functions[HOST_BRIDGE_SLOT * PCI_FUNCTIONS_PER_DEVICE] = hostBridge;
    }
  }

  /** Keeps `slot` out of automatic allocation until it is allocated by number (a user-chosen `pci_device_id`). */
  reserveSlot(slot: number): void {
    checkSlot(slot);
    if (this.slots[slot] !== 'free') throw new PciError('SLOT_IN_USE', `PCI device slot ${slot} is already in use`);
    this.slots[slot] = 'reserved';
  }

  /** Allocates `requested` (free or reserved), or the lowest free slot. Returns the slot number. */
  allocateSlot(requested?: number): number {
    if (requested !== undefined) {
      checkSlot(requested);
      if (this.slots[requested] === 'allocated') {
        throw new PciError('SLOT_IN_USE', `PCI device slot ${requested} is already in use; choose another pci_device_id`);
      }
      this.slots[requested] = 'allocated';
      return requested;
    }
    const slot = this.slots.indexOf('free');
    if (slot < 0) {
      throw new PciError('BUS_FULL', `all ${PCI_DEVICES_PER_BUS} PCI device slots are in use; use another PCI segment`);
    }
    this.slots[slot] = 'allocated';
    return slot;
  }

  /** Removes the functions of an allocated slot and makes it free again (device unplug). */
  releaseSlot(slot: number): void {
    this.checkAllocated(slot);
    this.slots[slot] = 'free';
    this.functions.fill(undefined, slot * PCI_FUNCTIONS_PER_DEVICE, (slot + 1) * PCI_FUNCTIONS_PER_DEVICE);
  }

  /** Places `device` as function `fn` of an allocated slot. */
  attach(slot: number, fn: number, device: PciFunction): void {
    this.checkAllocated(slot);
    if (!Number.isInteger(fn) || fn < 0 || fn >= PCI_FUNCTIONS_PER_DEVICE) {
      throw new PciError('SLOT_INVALID', `PCI function number ${String(fn)} must be 0-${PCI_FUNCTIONS_PER_DEVICE - 1}`);
    }
    const index = slot * PCI_FUNCTIONS_PER_DEVICE + fn;
    if (this.functions[index]) throw new PciError('SLOT_IN_USE', `PCI function ${slot}.${fn} is already attached`);
    this.functions[index] = device;
  }

  /** The function at (device, function), if any. */
  functionAt(slot: number, fn: number): PciFunction | undefined {
    if (!isIndex(slot, PCI_DEVICES_PER_BUS) || !isIndex(fn, PCI_FUNCTIONS_PER_DEVICE)) return undefined;
    return this.functions[slot * PCI_FUNCTIONS_PER_DEVICE + fn];
  }

  /** Guest configuration read; absent functions (or any bus but 0) read all ones. */
  readConfig(bus: number, slot: number, fn: number, offset: number, data: Uint8Array): void {
    const target = bus === 0 ? this.functionAt(slot, fn) : undefined;
    if (target) target.readConfig(offset, data);
    else data.fill(0xff);
  }

  /** Guest configuration write; writes to absent functions are dropped. */
  writeConfig(bus: number, slot: number, fn: number, offset: number, data: Uint8Array): void {
    const target = bus === 0 ? this.functionAt(slot, fn) : undefined;
    target?.writeConfig(offset, data);
  }

  private checkAllocated(slot: number): void {
    checkSlot(slot);
    if (this.slots[slot] !== 'allocated') {
      throw new PciError('SLOT_NOT_ALLOCATED', `PCI device slot ${slot} is not allocated; allocate it first`);
    }
  }
}

function isIndex(value: number, count: number): boolean {
  return Number.isInteger(value) && value >= 0 && value < count;
}

function checkSlot(slot: number): void {
  if (!isIndex(slot, PCI_DEVICES_PER_BUS)) {
    throw new PciError('SLOT_INVALID', `PCI device slot ${String(slot)} must be 0-${PCI_DEVICES_PER_BUS - 1}`);
  }
}
