/**
 * The virtio vendor-specific capabilities of a virtio-pci function (virtio 1.x §4.1.4): COMMON_CFG, ISR_CFG,
 * DEVICE_CFG (when the device has configuration space), NOTIFY_CFG with its notify_off_multiplier, and PCI_CFG,
 * the window through which a driver reaches BAR0 from configuration space alone (§4.1.4.9): the driver writes
 * cap.bar, cap.offset and cap.length (1, 2 or 4), then a read of pci_cfg_data performs that BAR read and a write
 * performs that BAR write. A window that is not an aligned access inside BAR0 does nothing (pci_cfg_data keeps its
 * bytes). Pure: no node:* imports.
 */
import type { BusDevice } from '../../bus/bus.ts';
import { PCI_CAPABILITY_AREA, PCI_CAPABILITY_ID } from '../../pci/config-registers.ts';
import type { PciCapability, PciConfigSpace } from '../../pci/config-space.ts';
import {
  VIRTIO_PCI_BAR,
  VIRTIO_PCI_CAP,
  VIRTIO_PCI_CAP_TYPE,
  VIRTIO_PCI_NOTIFY_OFF_MULTIPLIER,
  VIRTIO_PCI_STRUCTURE_BYTES,
} from './virtio-pci-layout.ts';

export interface VirtioCapabilitiesOptions {
  /** Bytes of device-specific configuration; 0 leaves out the DEVICE_CFG capability. */
  readonly deviceConfigBytes: number;
  /** BAR0, reached by PCI_CFG window accesses. */
  readonly bar: BusDevice;
}

const WINDOW_WIDTHS: readonly number[] = [1, 2, 4];

/** Appends the virtio capabilities to `config` in Cloud Hypervisor's order (the MSI-X capability comes after). */
export function addVirtioCapabilities(config: PciConfigSpace, options: VirtioCapabilitiesOptions): void {
  const add = (body: Uint8Array): void => {
    config.addCapability(PCI_CAPABILITY_ID.VENDOR_SPECIFIC, body);
  };
  const { COMMON_CFG, ISR_CFG, DEVICE_CFG, NOTIFY_CFG } = VIRTIO_PCI_CAP_TYPE;
  add(structureCap(COMMON_CFG, VIRTIO_PCI_BAR.COMMON_CONFIG, VIRTIO_PCI_STRUCTURE_BYTES.COMMON_CONFIG));
  add(structureCap(ISR_CFG, VIRTIO_PCI_BAR.ISR, VIRTIO_PCI_STRUCTURE_BYTES.ISR));
  if (options.deviceConfigBytes > 0) {
    add(structureCap(DEVICE_CFG, VIRTIO_PCI_BAR.DEVICE_CONFIG, options.deviceConfigBytes));
  }
  const notifyBytes = VIRTIO_PCI_STRUCTURE_BYTES.NOTIFY;
  const notify = structureCap(NOTIFY_CFG, VIRTIO_PCI_BAR.NOTIFY, notifyBytes, VIRTIO_PCI_CAP.NOTIFY_BYTES);
  bodyView(notify).setUint32(inBody(VIRTIO_PCI_CAP.NOTIFY_OFF_MULTIPLIER), VIRTIO_PCI_NOTIFY_OFF_MULTIPLIER, true);
  add(notify);
  addPciCfgWindow(config, options.bar);
}

/** The PCI_CFG capability: cap.bar, cap.offset, cap.length and pci_cfg_data are writable; data accesses reach BAR0. */
function addPciCfgWindow(config: PciConfigSpace, bar: BusDevice): void {
  const body = structureCap(VIRTIO_PCI_CAP_TYPE.PCI_CFG, 0, 0, VIRTIO_PCI_CAP.PCI_CFG_BYTES);
  const writableMask = new Uint8Array(body.length);
  writableMask[inBody(VIRTIO_PCI_CAP.BAR)] = 0xff;
  // cap.offset and cap.length end the common part.
  writableMask.fill(0xff, inBody(VIRTIO_PCI_CAP.OFFSET), inBody(VIRTIO_PCI_CAP.BYTES));
  writableMask.fill(0xff, inBody(VIRTIO_PCI_CAP.PCI_CFG_DATA), inBody(VIRTIO_PCI_CAP.PCI_CFG_BYTES));
  const touchesData = (offset: number, length: number): boolean =>
    offset < VIRTIO_PCI_CAP.PCI_CFG_BYTES && offset + length > VIRTIO_PCI_CAP.PCI_CFG_DATA;
  const capability: PciCapability = config.addCapability(PCI_CAPABILITY_ID.VENDOR_SPECIFIC, body, {
    writableMask,
    hooks: {
      beforeRead(offset, length) {
        const access = touchesData(offset, length) ? windowAccess(capability) : undefined;
        if (!access) return;
        const data = new Uint8Array(access.length);
        bar.read(access.offset, data);
        data.forEach((byte, i) => capability.setU8(VIRTIO_PCI_CAP.PCI_CFG_DATA + i, byte));
      },
      afterWrite(offset, length) {
        const access = touchesData(offset, length) ? windowAccess(capability) : undefined;
        if (!access) return;
        const data = new Uint8Array(access.length);
        for (let i = 0; i < data.length; i++) data[i] = capability.u8(VIRTIO_PCI_CAP.PCI_CFG_DATA + i);
        bar.write(access.offset, data);
      },
    },
  });
}

/** The BAR0 access the window describes, or undefined when it is not an aligned 1, 2 or 4-byte access inside BAR0. */
function windowAccess(capability: PciCapability): { offset: number; length: number } | undefined {
  const length = capability.u32(VIRTIO_PCI_CAP.LENGTH);
  const offset = capability.u32(VIRTIO_PCI_CAP.OFFSET);
  const valid =
    capability.u8(VIRTIO_PCI_CAP.BAR) === VIRTIO_PCI_BAR.INDEX &&
    WINDOW_WIDTHS.includes(length) &&
    offset % length === 0 &&
    offset + length <= VIRTIO_PCI_BAR.SIZE;
  return valid ? { offset, length } : undefined;
}

/** The body (after cap_vndr and cap_next) of a struct virtio_pci_cap of `bytes` bytes locating a BAR0 structure. */
function structureCap(
  cfgType: number,
  offset: number,
  length: number,
  bytes: number = VIRTIO_PCI_CAP.BYTES,
): Uint8Array {
  const body = new Uint8Array(bytes - PCI_CAPABILITY_AREA.HEADER_BYTES);
  const view = bodyView(body);
  view.setUint8(inBody(VIRTIO_PCI_CAP.CAP_LEN), bytes);
  view.setUint8(inBody(VIRTIO_PCI_CAP.CFG_TYPE), cfgType);
  view.setUint8(inBody(VIRTIO_PCI_CAP.BAR), VIRTIO_PCI_BAR.INDEX);
  view.setUint32(inBody(VIRTIO_PCI_CAP.OFFSET), offset, true);
  view.setUint32(inBody(VIRTIO_PCI_CAP.LENGTH), length, true);
  return body;
}

function bodyView(body: Uint8Array): DataView {
  return new DataView(body.buffer, body.byteOffset, body.byteLength);
}

/** Offset in the body of a field given from the capability's ID byte. */
function inBody(field: number): number {
  return field - PCI_CAPABILITY_AREA.HEADER_BYTES;
}
