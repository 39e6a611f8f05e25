/**
 * The virtio-pci modern layout, declared once (virtio 1.x §4.1, §2.1): PCI identity, the vendor-specific
 * capabilities that locate the virtio structures, where those structures sit in BAR0 (Cloud Hypervisor's layout:
 * virtio-devices/src/transport/pci_device.rs), the common configuration fields, and the device status and ISR
 * bits. Every value is little-endian. Pure: no node:* imports.
 */

export const VIRTIO_PCI_VENDOR_ID = 0x1af4;
/** A modern (non-transitional) device's PCI device ID is this plus its virtio device type. */
export const VIRTIO_PCI_DEVICE_ID_BASE = 0x1040;
/** Highest device type a modern device ID can carry (device IDs 0x1040-0x107f). */
export const VIRTIO_PCI_MAX_DEVICE_TYPE = 0x3f;
/** Non-transitional devices have revision 1 or higher. */
export const VIRTIO_PCI_REVISION = 1;

/** Class codes (base class << 16 | subclass << 8), as Cloud Hypervisor assigns them by device type. */
export const VIRTIO_PCI_CLASS_CODE = {
  /** Network controller, Ethernet. */
  NET: 0x02_00_00,
  /** Mass storage controller, other. */
  BLOCK: 0x01_80_00,
  /** Unassigned class, subclass 0xff (every other device type). */
  OTHER: 0xff_ff_00,
} as const;

/** BAR0: one 64-bit memory BAR holding every virtio structure and the MSI-X table and PBA, each 8 KiB aligned. */
export const VIRTIO_PCI_BAR = {
  INDEX: 0,
  SIZE: 0x8_0000,
  /** Where the VMM should align BAR0 (Cloud Hypervisor aligns to 8 MiB to work around Windows driver issues). */
  ALIGNMENT: 0x80_0000,
  COMMON_CONFIG: 0x0000,
  ISR: 0x2000,
  DEVICE_CONFIG: 0x4000,
  NOTIFY: 0x6000,
  MSIX_TABLE: 0x8000,
  MSIX_PBA: 0x4_8000,
} as const;

/** Bytes of each structure in BAR0 (the capability `length`; the device configuration's is the device's size). */
export const VIRTIO_PCI_STRUCTURE_BYTES = {
  COMMON_CONFIG: 0x38,
  ISR: 1,
  DEVICE_CONFIG_MAX: 0x1000,
  NOTIFY: 0x1000,
  MSIX_TABLE: 0x4_0000,
  MSIX_PBA: 0x800,
} as const;

/** Bytes between two queues' notify addresses: queue N is notified at NOTIFY + N * multiplier. */
export const VIRTIO_PCI_NOTIFY_OFF_MULTIPLIER = 4;
/** Queues the notify structure has room for. */
export const VIRTIO_PCI_MAX_QUEUES = VIRTIO_PCI_STRUCTURE_BYTES.NOTIFY / VIRTIO_PCI_NOTIFY_OFF_MULTIPLIER;

/** cfg_type of a virtio vendor-specific capability. */
export const VIRTIO_PCI_CAP_TYPE = {
  COMMON_CFG: 1,
  NOTIFY_CFG: 2,
  ISR_CFG: 3,
  DEVICE_CFG: 4,
  PCI_CFG: 5,
} as const;

/** struct virtio_pci_cap and its extensions: field offsets from the capability's ID byte (cap_vndr). */
export const VIRTIO_PCI_CAP = {
  /** u8: bytes of the capability, including cap_vndr and cap_next. */
  CAP_LEN: 2,
  /** u8: VIRTIO_PCI_CAP_TYPE. */
  CFG_TYPE: 3,
  /** u8: BAR index of the structure. */
  BAR: 4,
  /** u8: tells apart several capabilities of one type. */
  ID: 5,
  /** le32: offset of the structure in the BAR. */
  OFFSET: 8,
  /** le32: bytes of the structure. */
  LENGTH: 12,
  BYTES: 16,
  /** struct virtio_pci_notify_cap: le32 notify_off_multiplier follows the common part. */
  NOTIFY_OFF_MULTIPLIER: 16,
  NOTIFY_BYTES: 20,
  /** struct virtio_pci_cfg_cap: u8 pci_cfg_data[4], the window into the BAR, follows the common part. */
  PCI_CFG_DATA: 16,
  PCI_CFG_DATA_BYTES: 4,
  PCI_CFG_BYTES: 20,
} as const;

/**
 * struct virtio_pci_common_cfg (virtio 1.x §4.1.4.3): offset and width of each field. The spec's 64-bit queue
 * address fields are declared as two dwords, the way drivers write them (Linux writes the low half first).
 */
export const VIRTIO_PCI_COMMON_CFG = {
  DEVICE_FEATURE_SELECT: { offset: 0x00, width: 4 },
  DEVICE_FEATURE: { offset: 0x04, width: 4 },
  DRIVER_FEATURE_SELECT: { offset: 0x08, width: 4 },
  DRIVER_FEATURE: { offset: 0x0c, width: 4 },
  MSIX_CONFIG: { offset: 0x10, width: 2 },
  NUM_QUEUES: { offset: 0x12, width: 2 },
  DEVICE_STATUS: { offset: 0x14, width: 1 },
  CONFIG_GENERATION: { offset: 0x15, width: 1 },
  QUEUE_SELECT: { offset: 0x16, width: 2 },
  QUEUE_SIZE: { offset: 0x18, width: 2 },
  QUEUE_MSIX_VECTOR: { offset: 0x1a, width: 2 },
  QUEUE_ENABLE: { offset: 0x1c, width: 2 },
  QUEUE_NOTIFY_OFF: { offset: 0x1e, width: 2 },
  QUEUE_DESC_LO: { offset: 0x20, width: 4 },
  QUEUE_DESC_HI: { offset: 0x24, width: 4 },
  QUEUE_DRIVER_LO: { offset: 0x28, width: 4 },
  QUEUE_DRIVER_HI: { offset: 0x2c, width: 4 },
  QUEUE_DEVICE_LO: { offset: 0x30, width: 4 },
  QUEUE_DEVICE_HI: { offset: 0x34, width: 4 },
} as const;

export type CommonConfigField = keyof typeof VIRTIO_PCI_COMMON_CFG;

/** Device status bits (virtio 1.x §2.1). */
export const VIRTIO_STATUS = {
  ACKNOWLEDGE: 0x01,
  DRIVER: 0x02,
  DRIVER_OK: 0x04,
  FEATURES_OK: 0x08,
  /** Set by the device only: it hit an error it cannot recover from without a reset. */
  DEVICE_NEEDS_RESET: 0x40,
  FAILED: 0x80,
} as const;

/** ISR status bits (virtio 1.x §4.1.4.5): which kind of notification is pending. */
export const VIRTIO_ISR = {
  QUEUE: 0x1,
  CONFIG: 0x2,
} as const;

/** msix_config / queue_msix_vector value meaning "no vector". */
export const VIRTIO_MSI_NO_VECTOR = 0xffff;
