/**
 * A virtio device as a modern virtio-pci function (virtio 1.x §4.1), laid out like Cloud Hypervisor's: vendor
 * 0x1AF4, device 0x1040 + type, revision 1, one 512 KiB 64-bit memory BAR0 holding the common configuration, ISR,
 * device configuration, notify structure (one dword per queue) and the MSI-X table and PBA (queues + 1 vectors).
 * It is a PciFunction (configuration space, for the PCI bus) and a BusDevice (BAR0, for the MMIO bus).
 *
 * Device lifecycle: when the driver sets DRIVER_OK, every queue it enabled is configured from the common
 * configuration (with EVENT_IDX and INDIRECT_DESC as negotiated) and the device is activated with them. A queue
 * configuration the device cannot use, or a device that refuses activation, sets DEVICE_NEEDS_RESET instead.
 * Writing 0 to the device status resets the device, the queues and the vector assignments.
 *
 * Interrupts: a queue or configuration notification sets its ISR bit and fires the vector the driver assigned to
 * it through MSI-X (none: VIRTIO_MSI_NO_VECTOR). The ISR clears when read.
 *
 * Threading: the transport is a plain object driven by read/write calls. In Nimbus it lives in its device's I/O
 * worker, and vCPU workers forward BAR0 and configuration-space accesses to it. The only things the vCPU side
 * needs without forwarding are where BAR0 is and the queue notify addresses (which the VMM turns into
 * ioeventfds); `hooks.barMoved` reports both when the guest moves BAR0. Pure: no node:* imports.
 */
import type { BusDevice } from '../../bus/bus.ts';
import type { GuestMemory } from '../../memory/guest-memory.ts';
import type { PciFunction } from '../../pci/bus.ts';
import { PciConfigSpace, type BarRelocation, type PciConfigSpaceSnapshot } from '../../pci/config-space.ts';
import { Msix, type MsiRouter, type MsixSnapshot } from '../../pci/msix.ts';
import { silentLogger, type Logger } from '../../util/logger.ts';
import { VIRTIO_DEVICE_TYPE, VIRTIO_F, type VirtioActivation, type VirtioDevice } from '../device.ts';
import { SplitQueue, type SplitQueueSnapshot } from '../queue/split-queue.ts';
import { isValidQueueSize } from '../queue/virtq-layout.ts';
import { VirtqueueError } from '../queue/virtqueue-error.ts';
import { addVirtioCapabilities } from './capabilities.ts';
import { CommonConfig, FEATURE_WORDS, type CommonConfigSnapshot } from './common-config.ts';
import { badSnapshot, snapshotReader } from './snapshot-reader.ts';
import { VirtioTransportError } from './transport-error.ts';
import {
  VIRTIO_ISR,
  VIRTIO_MSI_NO_VECTOR,
  VIRTIO_PCI_BAR,
  VIRTIO_PCI_CLASS_CODE,
  VIRTIO_PCI_DEVICE_ID_BASE,
  VIRTIO_PCI_MAX_DEVICE_TYPE,
  VIRTIO_PCI_MAX_QUEUES,
  VIRTIO_PCI_NOTIFY_OFF_MULTIPLIER,
  VIRTIO_PCI_REVISION,
  VIRTIO_PCI_STRUCTURE_BYTES,
  VIRTIO_PCI_VENDOR_ID,
  VIRTIO_STATUS,
} from './virtio-pci-layout.ts';

/** Implemented by the VMM. */
export interface VirtioPciHooks {
  /**
   * The guest moved BAR0 from `move.oldAddress` to `move.newAddress`: move the MMIO region and re-register the
   * queue notify ioeventfds at `notifyAddresses` (by queue index). Return false to refuse; BAR0 then stays put.
   */
  barMoved(move: BarRelocation, notifyAddresses: readonly number[]): boolean;
  /** A write reached queue `index`'s notify address here (no ioeventfd took it): kick the queue as one would. */
  queueNotified(index: number): void;
}

export interface VirtioPciTransportOptions {
  readonly device: VirtioDevice;
  readonly memory: GuestMemory;
  /** Where the VMM mapped BAR0: a multiple of VIRTIO_PCI_BAR.SIZE (allocate it aligned to VIRTIO_PCI_BAR.ALIGNMENT). */
  readonly barAddress: number;
  /** Delivers the function's MSI-X vectors (KVM routes and irqfds). */
  readonly msiRouter: MsiRouter;
  readonly hooks: VirtioPciHooks;
  /** Names the device in log messages (e.g. "_disk0"); default "virtio-<type>". */
  readonly id?: string;
  readonly logger?: Logger;
}

export const VIRTIO_PCI_SNAPSHOT_VERSION = 1;

/** Plain, JSON-able state from save(). The device's own state is saved separately. */
export interface VirtioPciTransportSnapshot {
  readonly version: typeof VIRTIO_PCI_SNAPSHOT_VERSION;
  readonly config: PciConfigSpaceSnapshot;
  readonly msix: MsixSnapshot;
  readonly common: CommonConfigSnapshot;
  readonly isr: number;
  readonly activated: boolean;
  readonly queues: SplitQueueSnapshot[];
}

/**
 * The transport and queue feature bits this transport implements (split queues, no notification data). With
 * ACCESS_PLATFORM the driver's addresses are used as guest-physical ones, which holds while Nimbus has no virtual
 * IOMMU; a virtio-iommu would have to translate them here.
 */
const TRANSPORT_FEATURES =
  VIRTIO_F.RING_INDIRECT_DESC |
  VIRTIO_F.RING_EVENT_IDX |
  VIRTIO_F.VERSION_1 |
  VIRTIO_F.ACCESS_PLATFORM |
  VIRTIO_F.IN_ORDER |
  VIRTIO_F.ORDER_PLATFORM;
/** Bits 24-49: reserved for the transport, the queues and future extensions, not for devices. */
const TRANSPORT_FEATURE_RANGE = (1n << 50n) - (1n << 24n);
const FEATURE_LIMIT = 1n << BigInt(32 * FEATURE_WORDS);

/** An activation's callbacks stay live until the driver resets the device. */
interface ActivationHandle {
  live: boolean;
}

export class VirtioPciTransport implements PciFunction, BusDevice {
  private readonly device: VirtioDevice;
  private readonly memory: GuestMemory;
  private readonly hooks: VirtioPciHooks;
  private readonly logger: Logger;
  private readonly name: string;
  private readonly config: PciConfigSpace;
  private readonly msix: Msix;
  private readonly queues: SplitQueue[];
  private readonly common: CommonConfig;
  private isr = 0;
  private activation: ActivationHandle | undefined;

  /** Throws VirtioTransportError for a device it cannot present, PciError for a misplaced BAR0. */
  constructor(options: VirtioPciTransportOptions) {
    const { device, memory, hooks } = options;
    checkDevice(device);
    this.device = device;
    this.memory = memory;
    this.hooks = hooks;
    this.logger = options.logger ?? silentLogger;
    this.name = options.id ?? `virtio-${device.deviceType}`;

    const deviceId = VIRTIO_PCI_DEVICE_ID_BASE + device.deviceType;
    this.config = new PciConfigSpace({
      vendorId: VIRTIO_PCI_VENDOR_ID,
      deviceId,
      classCode: classCodeOf(device.deviceType),
      revisionId: VIRTIO_PCI_REVISION,
      subsystemVendorId: VIRTIO_PCI_VENDOR_ID,
      subsystemId: deviceId,
      barRelocation: { relocateBar: (move) => hooks.barMoved(move, this.notifyAddressesAt(move.newAddress)) },
      logger: this.logger,
    });
    const { INDEX: index, SIZE: size } = VIRTIO_PCI_BAR;
    this.config.addBar({ index, kind: 'memory64', size, address: options.barAddress });
    addVirtioCapabilities(this.config, { deviceConfigBytes: device.configSize, bar: this });
    this.msix = new Msix(
      this.config,
      {
        vectors: device.queueMaxSizes.length + 1,
        table: { bar: VIRTIO_PCI_BAR.INDEX, offset: VIRTIO_PCI_BAR.MSIX_TABLE },
        pba: { bar: VIRTIO_PCI_BAR.INDEX, offset: VIRTIO_PCI_BAR.MSIX_PBA },
      },
      options.msiRouter,
    );
    this.queues = device.queueMaxSizes.map((maxSize) => new SplitQueue(memory, maxSize));
    this.common = new CommonConfig(
      {
        queueMaxSizes: device.queueMaxSizes,
        offeredFeatures: device.availableFeatures | VIRTIO_F.VERSION_1,
        msixVectors: this.msix.vectors,
      },
      { reset: () => this.resetDevice(), driverOk: () => this.activate() },
    );
  }

  /** Where BAR0 is mapped now. */
  get barAddress(): number {
    return this.config.bar(VIRTIO_PCI_BAR.INDEX)!.address;
  }

  /** The guest address of each queue's notify register, by queue index (where the VMM registers ioeventfds). */
  notifyAddresses(): number[] {
    return this.notifyAddressesAt(this.barAddress);
  }

  // ---- Configuration space (PciFunction) ----

  readConfig(offset: number, data: Uint8Array): void {
    this.config.readConfig(offset, data);
  }

  writeConfig(offset: number, data: Uint8Array): void {
    this.config.writeConfig(offset, data);
  }

  // ---- BAR0 (BusDevice); offsets are from the start of BAR0 ----

  /** Guest read; the structure whose part of BAR0 the access starts in handles it. Never throws. */
  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    if (!Number.isInteger(offset) || offset < 0 || offset >= VIRTIO_PCI_BAR.SIZE) return;
    if (offset < VIRTIO_PCI_BAR.ISR) this.common.read(offset - VIRTIO_PCI_BAR.COMMON_CONFIG, data);
    else if (offset < VIRTIO_PCI_BAR.DEVICE_CONFIG) this.readIsr(offset - VIRTIO_PCI_BAR.ISR, data);
    else if (offset < VIRTIO_PCI_BAR.NOTIFY) this.deviceConfig(offset - VIRTIO_PCI_BAR.DEVICE_CONFIG, data, 'read');
    else if (offset < VIRTIO_PCI_BAR.MSIX_TABLE) return; // the notify registers read 0
    else if (offset < VIRTIO_PCI_BAR.MSIX_PBA) this.msix.readTable(offset - VIRTIO_PCI_BAR.MSIX_TABLE, data);
    else this.msix.readPba(offset - VIRTIO_PCI_BAR.MSIX_PBA, data);
  }

  /** Guest write; the structure whose part of BAR0 the access starts in handles it. Never throws. */
  write(offset: number, data: Uint8Array): void {
    if (!Number.isInteger(offset) || offset < 0 || offset >= VIRTIO_PCI_BAR.SIZE) return;
    if (offset < VIRTIO_PCI_BAR.ISR) this.common.write(offset - VIRTIO_PCI_BAR.COMMON_CONFIG, data);
    else if (offset < VIRTIO_PCI_BAR.DEVICE_CONFIG) return; // the ISR is read-only
    else if (offset < VIRTIO_PCI_BAR.NOTIFY) this.deviceConfig(offset - VIRTIO_PCI_BAR.DEVICE_CONFIG, data, 'write');
    else if (offset < VIRTIO_PCI_BAR.MSIX_TABLE) this.notify(offset - VIRTIO_PCI_BAR.NOTIFY);
    else if (offset < VIRTIO_PCI_BAR.MSIX_PBA) this.msix.writeTable(offset - VIRTIO_PCI_BAR.MSIX_TABLE, data);
    else this.msix.writePba(offset - VIRTIO_PCI_BAR.MSIX_PBA, data);
  }

  // ---- Device and VMM side ----

  /** The device changed its configuration space: config_generation moves on and the driver is notified. */
  configChanged(): void {
    this.common.bumpGeneration();
    this.signalConfig();
  }

  /**
   * A fatal device error: sets DEVICE_NEEDS_RESET and, once the driver has set DRIVER_OK, sends a configuration
   * notification so it sees it. The device stays as it is until the driver resets it.
   */
  needsReset(reason: string): void {
    if (!this.common.setNeedsReset()) return;
    this.logger.warn(`${this.name}: ${reason}; the device needs a reset`);
    if (this.common.status & VIRTIO_STATUS.DRIVER_OK) this.signalConfig();
  }

  save(): VirtioPciTransportSnapshot {
    return {
      version: VIRTIO_PCI_SNAPSHOT_VERSION,
      config: this.config.save(),
      msix: this.msix.save(),
      common: this.common.save(),
      isr: this.isr,
      activated: this.activation !== undefined,
      queues: this.queues.map((queue) => queue.save()),
    };
  }

  /**
   * Restores a snapshot into a transport built for the same device, after guest memory and the device's own state
   * were restored. An active device is activated again with the restored queues (as Cloud Hypervisor does); the VMM
   * then maps BAR0 at `barAddress` and registers `notifyAddresses()`. Throws BAD_SNAPSHOT (or a component's
   * snapshot error); the transport is unusable after a failed restore.
   */
  restore(snapshot: unknown): void {
    if (this.activation) {
      const problem = `${this.name}: restore into a newly built transport, not an active one`;
      throw new VirtioTransportError('RESTORE_ACTIVE', problem);
    }
    const fields = snapshotReader(snapshot, 'the virtio-pci snapshot');
    if (fields.integer('version', Number.MAX_SAFE_INTEGER) !== VIRTIO_PCI_SNAPSHOT_VERSION) {
      throw badSnapshot(`the virtio-pci snapshot is not version ${VIRTIO_PCI_SNAPSHOT_VERSION}`);
    }
    const isr = fields.integer('isr', VIRTIO_ISR.QUEUE | VIRTIO_ISR.CONFIG);
    const activated = fields.boolean('activated');
    const queues = fields.array('queues', this.queues.length);
    this.config.restore(fields.raw('config'));
    this.msix.restore(fields.raw('msix'));
    this.common.restore(fields.raw('common'));
    if (activated && !(this.common.status & VIRTIO_STATUS.DRIVER_OK)) {
      throw badSnapshot('the virtio-pci snapshot has an active device without DRIVER_OK');
    }
    queues.forEach((queue, index) => this.queues[index]!.restore(queue));
    this.isr = isr;
    if (activated) this.startDevice(this.common.features);
  }

  // ---- Internals ----

  private notifyAddressesAt(barAddress: number): number[] {
    return this.queues.map((_, index) => barAddress + VIRTIO_PCI_BAR.NOTIFY + index * VIRTIO_PCI_NOTIFY_OFF_MULTIPLIER);
  }

  /** The ISR byte: reading it returns the pending bits and clears them. */
  private readIsr(offset: number, data: Uint8Array): void {
    if (offset !== 0 || data.length === 0) return;
    data[0] = this.isr;
    this.isr = 0;
  }

  /** Forwards the part of an access that lies inside the device's configuration space; other bytes read 0. */
  private deviceConfig(offset: number, data: Uint8Array, direction: 'read' | 'write'): void {
    const end = Math.min(offset + data.length, this.device.configSize);
    if (offset >= end) return;
    const part = data.subarray(0, end - offset);
    if (direction === 'read') this.device.readConfig(offset, part);
    else this.device.writeConfig(offset, part);
  }

  /** A write at queue N's notify address (N * multiplier) kicks queue N; other offsets are ignored. */
  private notify(offset: number): void {
    const index = offset / VIRTIO_PCI_NOTIFY_OFF_MULTIPLIER;
    if (Number.isInteger(index) && index < this.queues.length) this.hooks.queueNotified(index);
  }

  private signalQueue(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.queues.length) {
      const problem = `${this.name}: queue ${index} does not exist (the device has ${this.queues.length})`;
      throw new VirtioTransportError('QUEUE_INVALID', problem);
    }
    this.isr |= VIRTIO_ISR.QUEUE;
    this.fire(this.common.queueVector(index));
  }

  private signalConfig(): void {
    this.isr |= VIRTIO_ISR.CONFIG;
    this.fire(this.common.configVector);
  }

  private fire(vector: number): void {
    if (vector !== VIRTIO_MSI_NO_VECTOR) this.msix.trigger(vector);
  }

  /** DRIVER_OK: configure and enable the queues the driver enabled, then activate the device with them. */
  private activate(): void {
    const features = this.common.features;
    const eventIdx = (features & VIRTIO_F.RING_EVENT_IDX) !== 0n;
    const indirectDescriptors = (features & VIRTIO_F.RING_INDIRECT_DESC) !== 0n;
    for (const [index, queue] of this.queues.entries()) {
      if (!this.common.queueEnabled(index)) continue;
      try {
        queue.configure({ ...this.common.queueLayout(index), eventIdx, indirectDescriptors });
        queue.enable();
      } catch (error) {
        if (!(error instanceof VirtqueueError)) throw error;
        this.resetQueues();
        this.needsReset(`queue ${index} cannot be used: ${error.message}`);
        return;
      }
    }
    this.startDevice(features);
  }

  private startDevice(features: bigint): void {
    const handle: ActivationHandle = { live: true };
    const context: VirtioActivation = {
      memory: this.memory,
      queues: this.queues,
      features,
      interrupts: {
        queue: (index) => {
          if (handle.live) this.signalQueue(index);
        },
        config: () => {
          if (handle.live) this.configChanged();
        },
      },
      needsReset: (reason) => {
        if (handle.live) this.needsReset(reason);
      },
    };
    this.activation = handle;
    try {
      this.device.activate(context);
    } catch (error) {
      handle.live = false;
      this.activation = undefined;
      this.resetQueues();
      this.needsReset(`activation failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** The driver wrote 0 to the device status (the common configuration is already reset). */
  private resetDevice(): void {
    const handle = this.activation;
    this.activation = undefined;
    if (handle) {
      handle.live = false;
      this.device.reset();
    }
    this.resetQueues();
    this.isr = 0;
  }

  private resetQueues(): void {
    for (const queue of this.queues) queue.reset();
  }
}

function classCodeOf(deviceType: number): number {
  if (deviceType === VIRTIO_DEVICE_TYPE.NET) return VIRTIO_PCI_CLASS_CODE.NET;
  if (deviceType === VIRTIO_DEVICE_TYPE.BLOCK) return VIRTIO_PCI_CLASS_CODE.BLOCK;
  return VIRTIO_PCI_CLASS_CODE.OTHER;
}

/** Throws unless virtio-pci can present `device`. */
function checkDevice(device: VirtioDevice): void {
  const { deviceType, queueMaxSizes, configSize, availableFeatures } = device;
  const invalid = (problem: string): VirtioTransportError =>
    new VirtioTransportError('DEVICE_INVALID', `virtio device type ${String(deviceType)}: ${problem}`);
  if (!Number.isInteger(deviceType) || deviceType < 1 || deviceType > VIRTIO_PCI_MAX_DEVICE_TYPE) {
    throw invalid(`the device type must be 1-${VIRTIO_PCI_MAX_DEVICE_TYPE} on virtio-pci`);
  }
  if (queueMaxSizes.length < 1 || queueMaxSizes.length > VIRTIO_PCI_MAX_QUEUES) {
    throw invalid(`it has ${queueMaxSizes.length} queues; virtio-pci supports 1-${VIRTIO_PCI_MAX_QUEUES}`);
  }
  const badSize = queueMaxSizes.findIndex((size) => !isValidQueueSize(size));
  if (badSize >= 0) {
    throw invalid(`queue ${badSize} maximum size ${String(queueMaxSizes[badSize])} is not a power of two from 1 to 32768`);
  }
  if (!Number.isInteger(configSize) || configSize < 0 || configSize > VIRTIO_PCI_STRUCTURE_BYTES.DEVICE_CONFIG_MAX) {
    throw invalid(`configuration size ${String(configSize)} must be 0-${VIRTIO_PCI_STRUCTURE_BYTES.DEVICE_CONFIG_MAX} bytes`);
  }
  if (availableFeatures < 0n || availableFeatures >= FEATURE_LIMIT) {
    throw invalid(`feature bits must lie in bits 0-${32 * FEATURE_WORDS - 1}`);
  }
  const unsupported = availableFeatures & TRANSPORT_FEATURE_RANGE & ~TRANSPORT_FEATURES;
  if (unsupported !== 0n) {
    throw new VirtioTransportError(
      'FEATURE_UNSUPPORTED',
      `virtio device type ${deviceType} offers transport feature bits 0x${unsupported.toString(16)}, which virtio-pci in ` +
        `Nimbus does not implement (it implements 0x${TRANSPORT_FEATURES.toString(16)} of bits 24-49)`,
    );
  }
}
