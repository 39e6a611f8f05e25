/**
 * The PCI host bridge at 00:00.0 of segment 0, identified as Cloud Hypervisor's (pci/src/bus.rs `PciRoot`): Intel
 * vendor 0x8086, device 0x0D57, class 06:00:00 (bridge, host bridge), revision 0, no BARs and no capabilities.
 * Guests only read its identity; the command register and cache line size accept writes like any function's.
 * Pure: no node:* imports.
 */
import { PciConfigSpace } from './config-space.ts';

export const HOST_BRIDGE_VENDOR_ID = 0x8086;
export const HOST_BRIDGE_DEVICE_ID = 0x0d57;
/** Base class 0x06 (bridge), subclass 0x00 (host bridge), programming interface 0. */
export const HOST_BRIDGE_CLASS_CODE = 0x06_00_00;

export function createHostBridge(): PciConfigSpace {
  return new PciConfigSpace({
    vendorId: HOST_BRIDGE_VENDOR_ID,
    deviceId: HOST_BRIDGE_DEVICE_ID,
    classCode: HOST_BRIDGE_CLASS_CODE,
  });
}
