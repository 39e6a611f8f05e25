/**
 * The virtio-pci common configuration structure (virtio 1.x §4.1.4.3): its registers and the rules for driver
 * accesses. Feature windows (32 bits at a time, by select), the MSI-X vector of configuration changes and of each
 * queue, the device status state machine (§2.1: FEATURES_OK only for an acceptable feature set, DRIVER_OK only
 * after FEATURES_OK, 0 resets), config_generation, and the per-queue registers the driver fills before enabling a
 * queue. Writes the spec does not allow in the current state (features after FEATURES_OK, a queue's setup after
 * it is enabled or after DRIVER_OK, clearing status bits) are ignored, never thrown.
 *
 * Accesses may have any width and offset: a read returns the bytes of every field it covers (0 between fields), a
 * write merges its bytes into each field it covers and applies the merged value. Drivers use the field's width;
 * Linux writes each 64-bit queue address as two dwords, low half first. Pure: no node:* imports.
 */
import { isInteger } from '../../pci/numbers.ts';
import { VIRTIO_F } from '../device.ts';
import { isValidQueueSize } from '../queue/virtq-layout.ts';
import { badSnapshot, snapshotReader } from './snapshot-reader.ts';
import {
  VIRTIO_MSI_NO_VECTOR,
  VIRTIO_PCI_COMMON_CFG,
  VIRTIO_STATUS,
  type CommonConfigField,
} from './virtio-pci-layout.ts';

/** What the transport does when the driver moves the device status. */
export interface DeviceStatusEvents {
  /** The driver wrote 0. The registers are already back to their reset values. */
  reset(): void;
  /** The driver set DRIVER_OK (FEATURES_OK was accepted): activate the device. */
  driverOk(): void;
}

/** One queue's registers as the driver set them. */
export interface QueueRegisters {
  size: number;
  msixVector: number;
  enabled: boolean;
  descLo: number;
  descHi: number;
  driverLo: number;
  driverHi: number;
  deviceLo: number;
  deviceHi: number;
}

/** A queue's size and guest addresses (descriptor table, driver area = available ring, device area = used ring). */
export interface QueueLayout {
  readonly size: number;
  readonly descTable: number;
  readonly availRing: number;
  readonly usedRing: number;
}

export interface CommonConfigOptions {
  readonly queueMaxSizes: readonly number[];
  /** Features the device offers (below 2^128). */
  readonly offeredFeatures: bigint;
  /** Entries in the MSI-X table: vectors 0 to msixVectors - 1 can be assigned. */
  readonly msixVectors: number;
}

/** Plain state from save(); driverFeatures is the feature bits as 32-bit words, lowest first. */
export interface CommonConfigSnapshot {
  readonly status: number;
  readonly generation: number;
  readonly deviceFeatureSelect: number;
  readonly driverFeatureSelect: number;
  readonly driverFeatures: number[];
  readonly msixConfig: number;
  readonly queueSelect: number;
  readonly queues: QueueRegisters[];
}

/** 32-bit feature words the windows expose: bits 0-127 (virtio 1.x defines none above 127). */
export const FEATURE_WORDS = 4;

const U32 = 0xffff_ffff;
const FOUR_GIB = 2 ** 32;
/** Status bits the driver sets; DEVICE_NEEDS_RESET belongs to the device and bits 4-5 are reserved. */
const DRIVER_STATUS_BITS =
  VIRTIO_STATUS.ACKNOWLEDGE |
  VIRTIO_STATUS.DRIVER |
  VIRTIO_STATUS.FEATURES_OK |
  VIRTIO_STATUS.DRIVER_OK |
  VIRTIO_STATUS.FAILED;
const FIELDS = Object.entries(VIRTIO_PCI_COMMON_CFG) as [CommonConfigField, { offset: number; width: number }][];
const QUEUE_ADDRESS_FIELDS = {
  QUEUE_DESC_LO: 'descLo',
  QUEUE_DESC_HI: 'descHi',
  QUEUE_DRIVER_LO: 'driverLo',
  QUEUE_DRIVER_HI: 'driverHi',
  QUEUE_DEVICE_LO: 'deviceLo',
  QUEUE_DEVICE_HI: 'deviceHi',
} as const satisfies Partial<Record<CommonConfigField, keyof QueueRegisters>>;

export class CommonConfig {
  private readonly maxSizes: readonly number[];
  private readonly offered: bigint;
  private readonly msixVectors: number;
  private readonly events: DeviceStatusEvents;
  private statusByte = 0;
  private generation = 0;
  private deviceFeatureSelect = 0;
  private driverFeatureSelect = 0;
  private driverFeatures = 0n;
  private msixConfig: number = VIRTIO_MSI_NO_VECTOR;
  private queueSelect = 0;
  private readonly queues: QueueRegisters[];

  constructor(options: CommonConfigOptions, events: DeviceStatusEvents) {
    this.maxSizes = options.queueMaxSizes;
    this.offered = options.offeredFeatures;
    this.msixVectors = options.msixVectors;
    this.events = events;
    this.queues = this.maxSizes.map(resetQueue);
  }

  get status(): number {
    return this.statusByte;
  }

  /** The driver's features; the negotiated set once FEATURES_OK is set. */
  get features(): bigint {
    return this.driverFeatures;
  }

  /** The MSI-X vector of configuration change notifications (VIRTIO_MSI_NO_VECTOR for none). */
  get configVector(): number {
    return this.msixConfig;
  }

  /** The MSI-X vector of queue `index` (VIRTIO_MSI_NO_VECTOR for none or no such queue). */
  queueVector(index: number): number {
    return this.queues[index]?.msixVector ?? VIRTIO_MSI_NO_VECTOR;
  }

  /** Whether the driver enabled queue `index`. */
  queueEnabled(index: number): boolean {
    return this.queues[index]?.enabled ?? false;
  }

  /** Size and addresses the driver gave queue `index` (a 64-bit address above 2^53 comes out inexact and invalid). */
  queueLayout(index: number): QueueLayout {
    const queue = this.queues[index] ?? resetQueue(0);
    return {
      size: queue.size,
      descTable: queue.descHi * FOUR_GIB + queue.descLo,
      availRing: queue.driverHi * FOUR_GIB + queue.driverLo,
      usedRing: queue.deviceHi * FOUR_GIB + queue.deviceLo,
    };
  }

  /** Guest read of `data.length` bytes at `offset` of the structure. Never throws. */
  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    if (!Number.isInteger(offset)) return;
    forEachField(offset, data.length, (field, start, end) => {
      const value = this.fieldValue(field);
      const base = VIRTIO_PCI_COMMON_CFG[field].offset;
      for (let at = start; at < end; at++) data[at - offset] = (value >>> (8 * (at - base))) & 0xff;
    });
  }

  /** Guest write of `data` at `offset` of the structure. Never throws. */
  write(offset: number, data: Uint8Array): void {
    if (!Number.isInteger(offset)) return;
    forEachField(offset, data.length, (field, start, end) => {
      const base = VIRTIO_PCI_COMMON_CFG[field].offset;
      let value = this.fieldValue(field);
      for (let at = start; at < end; at++) {
        const shift = 8 * (at - base);
        value = (value & ~(0xff << shift)) | (data[at - offset]! << shift);
      }
      this.writeField(field, value >>> 0);
    });
  }

  /** The device changed its configuration: config_generation moves on (modulo 256). */
  bumpGeneration(): void {
    this.generation = (this.generation + 1) & 0xff;
  }

  /** Sets DEVICE_NEEDS_RESET; returns false when it was set already. */
  setNeedsReset(): boolean {
    if (this.statusByte & VIRTIO_STATUS.DEVICE_NEEDS_RESET) return false;
    this.statusByte |= VIRTIO_STATUS.DEVICE_NEEDS_RESET;
    return true;
  }

  save(): CommonConfigSnapshot {
    return {
      status: this.statusByte,
      generation: this.generation,
      deviceFeatureSelect: this.deviceFeatureSelect,
      driverFeatureSelect: this.driverFeatureSelect,
      driverFeatures: Array.from({ length: FEATURE_WORDS }, (_, word) => featureWord(this.driverFeatures, word)),
      msixConfig: this.msixConfig,
      queueSelect: this.queueSelect,
      queues: this.queues.map((queue) => ({ ...queue })),
    };
  }

  /** Restores what save() produced for a device with the same queues. Throws BAD_SNAPSHOT and changes nothing then. */
  restore(snapshot: unknown): void {
    const fields = snapshotReader(snapshot, 'the virtio common configuration snapshot');
    const words = fields.array('driverFeatures', FEATURE_WORDS);
    if (!words.every((word) => isInteger(word, U32))) {
      throw badSnapshot(`the virtio common configuration snapshot field "driverFeatures" is not ${FEATURE_WORDS} u32 words`);
    }
    const queues = fields.array('queues', this.queues.length).map((entry, index) => {
      const queue = snapshotReader(entry, `the virtio common configuration snapshot of queue ${index}`);
      const size = queue.integer('size', this.maxSizes[index]!);
      if (!isValidQueueSize(size)) throw badSnapshot(`the virtio queue ${index} snapshot size ${size} is not a power of 2`);
      const registers: QueueRegisters = {
        size,
        msixVector: this.vectorOrNone(queue.integer('msixVector', VIRTIO_MSI_NO_VECTOR)),
        enabled: queue.boolean('enabled'),
        descLo: 0,
        descHi: 0,
        driverLo: 0,
        driverHi: 0,
        deviceLo: 0,
        deviceHi: 0,
      };
      for (const key of Object.values(QUEUE_ADDRESS_FIELDS)) registers[key] = queue.integer(key, U32);
      return registers;
    });
    const state = {
      status: fields.integer('status', 0xff),
      generation: fields.integer('generation', 0xff),
      deviceFeatureSelect: fields.integer('deviceFeatureSelect', U32),
      driverFeatureSelect: fields.integer('driverFeatureSelect', U32),
      msixConfig: this.vectorOrNone(fields.integer('msixConfig', VIRTIO_MSI_NO_VECTOR)),
      queueSelect: fields.integer('queueSelect', 0xffff),
    };
    this.statusByte = state.status;
    this.generation = state.generation;
    this.deviceFeatureSelect = state.deviceFeatureSelect;
    this.driverFeatureSelect = state.driverFeatureSelect;
    this.driverFeatures = (words as number[]).reduceRight((bits, word) => (bits << 32n) | BigInt(word), 0n);
    this.msixConfig = state.msixConfig;
    this.queueSelect = state.queueSelect;
    queues.forEach((registers, index) => Object.assign(this.queues[index]!, registers));
  }

  // ---- Internals ----

  private fieldValue(field: CommonConfigField): number {
    const queue = this.queues[this.queueSelect];
    switch (field) {
      case 'DEVICE_FEATURE_SELECT':
        return this.deviceFeatureSelect;
      case 'DEVICE_FEATURE':
        return featureWord(this.offered, this.deviceFeatureSelect);
      case 'DRIVER_FEATURE_SELECT':
        return this.driverFeatureSelect;
      case 'DRIVER_FEATURE':
        return featureWord(this.driverFeatures, this.driverFeatureSelect);
      case 'MSIX_CONFIG':
        return this.msixConfig;
      case 'NUM_QUEUES':
        return this.queues.length;
      case 'DEVICE_STATUS':
        return this.statusByte;
      case 'CONFIG_GENERATION':
        return this.generation;
      case 'QUEUE_SELECT':
        return this.queueSelect;
      case 'QUEUE_SIZE':
        return queue?.size ?? 0;
      case 'QUEUE_MSIX_VECTOR':
        return queue?.msixVector ?? VIRTIO_MSI_NO_VECTOR;
      case 'QUEUE_ENABLE':
        return queue?.enabled ? 1 : 0;
      case 'QUEUE_NOTIFY_OFF':
        // Queue N is notified at N * multiplier from the notify structure.
        return queue ? this.queueSelect : 0;
      default:
        return queue?.[QUEUE_ADDRESS_FIELDS[field]] ?? 0;
    }
  }

  private writeField(field: CommonConfigField, value: number): void {
    const queue = this.queues[this.queueSelect];
    const configurable = queue !== undefined && !queue.enabled && !(this.statusByte & VIRTIO_STATUS.DRIVER_OK);
    switch (field) {
      case 'DEVICE_FEATURE_SELECT':
        this.deviceFeatureSelect = value;
        return;
      case 'DRIVER_FEATURE_SELECT':
        this.driverFeatureSelect = value;
        return;
      case 'DRIVER_FEATURE':
        if (!(this.statusByte & VIRTIO_STATUS.FEATURES_OK) && this.driverFeatureSelect < FEATURE_WORDS) {
          const shift = 32n * BigInt(this.driverFeatureSelect);
          this.driverFeatures = (this.driverFeatures & ~(BigInt(U32) << shift)) | (BigInt(value) << shift);
        }
        return;
      case 'MSIX_CONFIG':
        this.msixConfig = this.vectorOrNone(value);
        return;
      case 'DEVICE_STATUS':
        this.writeStatus(value);
        return;
      case 'QUEUE_SELECT':
        this.queueSelect = value;
        return;
      case 'QUEUE_MSIX_VECTOR':
        if (queue) queue.msixVector = this.vectorOrNone(value);
        return;
      case 'QUEUE_SIZE':
        if (configurable && isValidQueueSize(value) && value <= this.maxSizes[this.queueSelect]!) queue.size = value;
        return;
      case 'QUEUE_ENABLE':
        // Only 1 enables; writing 0 is not allowed without VIRTIO_F_RING_RESET.
        if (configurable && value === 1) queue.enabled = true;
        return;
      case 'DEVICE_FEATURE':
      case 'NUM_QUEUES':
      case 'CONFIG_GENERATION':
      case 'QUEUE_NOTIFY_OFF':
        return;
      default:
        if (configurable) queue[QUEUE_ADDRESS_FIELDS[field]] = value;
    }
  }

  /**
   * The device status state machine. 0 resets. Otherwise the driver only adds bits; a write that would clear one
   * is ignored. FEATURES_OK stays clear unless the driver's features are offered ones and include VERSION_1 (the
   * driver reads the status back to see the refusal); DRIVER_OK stays clear without FEATURES_OK or once FAILED or
   * DEVICE_NEEDS_RESET is set.
   */
  private writeStatus(value: number): void {
    if (value === 0) {
      this.resetRegisters();
      this.events.reset();
      return;
    }
    const old = this.statusByte;
    const wanted = value & DRIVER_STATUS_BITS;
    if (old & DRIVER_STATUS_BITS & ~wanted) return;
    let added = wanted & ~old;
    if (added & VIRTIO_STATUS.FEATURES_OK && !this.featuresAcceptable()) added &= ~VIRTIO_STATUS.FEATURES_OK;
    const status = old | added;
    const blocked = VIRTIO_STATUS.FAILED | VIRTIO_STATUS.DEVICE_NEEDS_RESET;
    if (added & VIRTIO_STATUS.DRIVER_OK && (!(status & VIRTIO_STATUS.FEATURES_OK) || status & blocked)) {
      added &= ~VIRTIO_STATUS.DRIVER_OK;
    }
    this.statusByte = old | added;
    if (added & VIRTIO_STATUS.DRIVER_OK) this.events.driverOk();
  }

  private featuresAcceptable(): boolean {
    return (this.driverFeatures & ~this.offered) === 0n && (this.driverFeatures & VIRTIO_F.VERSION_1) !== 0n;
  }

  /** A vector the MSI-X table has, or NO_VECTOR: the driver reads NO_VECTOR back when a mapping fails. */
  private vectorOrNone(value: number): number {
    return value < this.msixVectors ? value : VIRTIO_MSI_NO_VECTOR;
  }

  /** Everything but config_generation back to its reset value (§4.1.5.1.2: no vector is mapped after reset). */
  private resetRegisters(): void {
    this.statusByte = 0;
    this.deviceFeatureSelect = 0;
    this.driverFeatureSelect = 0;
    this.driverFeatures = 0n;
    this.msixConfig = VIRTIO_MSI_NO_VECTOR;
    this.queueSelect = 0;
    this.maxSizes.forEach((maxSize, index) => Object.assign(this.queues[index]!, resetQueue(maxSize)));
  }
}

function resetQueue(maxSize: number): QueueRegisters {
  return {
    size: maxSize,
    msixVector: VIRTIO_MSI_NO_VECTOR,
    enabled: false,
    descLo: 0,
    descHi: 0,
    driverLo: 0,
    driverHi: 0,
    deviceLo: 0,
    deviceHi: 0,
  };
}

/** Bits 32*word to 32*word+31 of `features`; 0 beyond FEATURE_WORDS. */
function featureWord(features: bigint, word: number): number {
  if (word >= FEATURE_WORDS) return 0;
  return Number((features >> (32n * BigInt(word))) & BigInt(U32));
}

/** Calls `visit` for each field overlapping [offset, offset + length), with the overlap in structure offsets. */
function forEachField(
  offset: number,
  length: number,
  visit: (field: CommonConfigField, start: number, end: number) => void,
): void {
  for (const [field, { offset: base, width }] of FIELDS) {
    const start = Math.max(offset, base);
    const end = Math.min(offset + length, base + width);
    if (start < end) visit(field, start, end);
  }
}
