/**
 * PCI configuration mechanism #1 on ports 0xCF8-0xCFF (segment 0 only, as in Cloud Hypervisor): CONFIG_ADDRESS at
 * 0xCF8 latches an aligned 32-bit write (enable bit 31, bus 23:16, device 15:11, function 10:8, register 7:2;
 * reserved bits 30:24 and 1:0 read 0), and CONFIG_DATA at 0xCFC-0xCFF reaches the addressed dword of the function's
 * configuration space with byte, word or dword accesses. Narrower writes to CONFIG_ADDRESS are not latched (on real
 * chipsets they reach other registers); an access that crosses the end of either register, or a data access while
 * the enable bit is clear, reads all ones and writes nothing. Pure: no node:* imports.
 */
import type { BusDevice } from '../bus/bus.ts';
import type { PciBus } from './bus.ts';


/** CONFIG_ADDRESS fields. */
export const PCI_CONFIG_ADDRESS = {
  ENABLE: 0x8000_0000,
  BUS_SHIFT: 16,
  DEVICE_SHIFT: 11,
  FUNCTION_SHIFT: 8,
  /** Dword-aligned register offset (the first 256 bytes of configuration space). */
  REGISTER_MASK: 0xfc,
  /** The bits CONFIG_ADDRESS keeps. */
  IMPLEMENTED: 0x80ff_fffc,
} as const;

/** Port offsets from 0xCF8. */
const ADDRESS_PORT = 0;
const DATA_PORT = 4;
const REGISTER_BYTES = 4;

export class PciConfigIo implements BusDevice {
  private readonly bus: PciBus;
  private configAddress = 0;

  constructor(bus: PciBus) {
    this.bus = bus;
  }

  read(offset: number, data: Uint8Array): void {
    const within = this.registerAt(offset, data.length);
    if (within === ADDRESS_PORT) {
      for (let i = 0; i < data.length; i++) data[i] = (this.configAddress >>> (8 * (offset + i))) & 0xff;
    } else if (within === DATA_PORT && this.enabled()) {
      const [bus, device, fn, register] = this.target();
      this.bus.readConfig(bus, device, fn, register + offset - DATA_PORT, data);
    } else {
      data.fill(0xff);
    }
  }

  write(offset: number, data: Uint8Array): void {
    const within = this.registerAt(offset, data.length);
    if (within === ADDRESS_PORT && offset === ADDRESS_PORT && data.length === REGISTER_BYTES) {
      const value = data[0]! | (data[1]! << 8) | (data[2]! << 16) | (data[3]! << 24);
      this.configAddress = (value & PCI_CONFIG_ADDRESS.IMPLEMENTED) >>> 0;
    } else if (within === DATA_PORT && this.enabled()) {
      const [bus, device, fn, register] = this.target();
      this.bus.writeConfig(bus, device, fn, register + offset - DATA_PORT, data);
    }
  }

  /** ADDRESS_PORT or DATA_PORT if the access lies inside that register, undefined otherwise. */
  private registerAt(offset: number, length: number): number | undefined {
    if (!Number.isInteger(offset) || offset < 0 || length === 0) return undefined;
    const register = offset < DATA_PORT ? ADDRESS_PORT : DATA_PORT;
    return offset + length <= register + REGISTER_BYTES ? register : undefined;
  }

  private enabled(): boolean {
    return (this.configAddress & PCI_CONFIG_ADDRESS.ENABLE) !== 0;
  }

  /** (bus, device, function, register offset) from CONFIG_ADDRESS. */
  private target(): [number, number, number, number] {
    const address = this.configAddress;
    return [
      (address >>> PCI_CONFIG_ADDRESS.BUS_SHIFT) & 0xff,
      (address >>> PCI_CONFIG_ADDRESS.DEVICE_SHIFT) & 0x1f,
      (address >>> PCI_CONFIG_ADDRESS.FUNCTION_SHIFT) & 0x7,
      address & PCI_CONFIG_ADDRESS.REGISTER_MASK,
    ];
  }
}
