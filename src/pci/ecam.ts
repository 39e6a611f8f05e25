/**
 * PCI Express enhanced configuration access (ECAM, "MMCONFIG"): an MMIO window in which configuration byte
 * `register` of (bus, device, function) sits at offset bus << 20 | device << 15 | function << 12 | register.
 * Cloud Hypervisor gives each segment one bus, so a segment's window is 1 MiB at PCI_MMCONFIG_START + segment MiB.
 * Accesses of 1, 2 or 4 bytes inside one dword reach the function; wider or dword-crossing accesses read all ones
 * and write nothing. Pure: no node:* imports.
 */
import { ECAM_BYTES_PER_BUS } from '../arch/x86_64/layout.ts';
import type { BusDevice } from '../bus/bus.ts';
import type { PciBus } from './bus.ts';

export const ECAM_ADDRESS = {
  BUS_SHIFT: 20,
  DEVICE_SHIFT: 15,
  FUNCTION_SHIFT: 12,
  REGISTER_MASK: 0xfff,
} as const;


export class PciEcam implements BusDevice {
  private readonly bus: PciBus;

  constructor(bus: PciBus) {
    this.bus = bus;
  }

  read(offset: number, data: Uint8Array): void {
    if (isDwordAccess(offset, data.length)) this.bus.readConfig(...decode(offset), data);
    else data.fill(0xff);
  }

  write(offset: number, data: Uint8Array): void {
    if (isDwordAccess(offset, data.length)) this.bus.writeConfig(...decode(offset), data);
  }
}

function isDwordAccess(offset: number, length: number): boolean {
  return Number.isSafeInteger(offset) && offset >= 0 && length > 0 && length <= 4 && (offset % 4) + length <= 4;
}

/** (bus, device, function, register offset) of a window offset. */
function decode(offset: number): [number, number, number, number] {
  return [
    Math.floor(offset / ECAM_BYTES_PER_BUS),
    (offset >>> ECAM_ADDRESS.DEVICE_SHIFT) & 0x1f,
    (offset >>> ECAM_ADDRESS.FUNCTION_SHIFT) & 0x7,
    offset & ECAM_ADDRESS.REGISTER_MASK,
  ];
}
