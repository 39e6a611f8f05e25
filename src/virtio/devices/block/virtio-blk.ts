/**
 * virtio-blk, the block device (virtio 1.2 §5.2), over a raw image: one or more request queues (MQ), a
 * configuration space with the capacity, block size, segment limit and discard / write-zeroes limits, and the
 * requests IN, OUT, FLUSH, GET_ID, DISCARD and WRITE_ZEROES; any other type is answered VIRTIO_BLK_S_UNSUPP.
 *
 * Requests are served synchronously when a queue is notified (and at activation): data moves straight between
 * the backend and the chain's guest-memory views. Per request: a backend failure, a sector range past the end of
 * the disk, or a write to a read-only disk is VIRTIO_BLK_S_IOERR and the device keeps running; a chain without a
 * status byte or with a short header is returned with used length 0 and a warning (the driver broke the spec, the
 * queue is still usable); a broken queue sets DEVICE_NEEDS_RESET. Pure: no node:* imports (the backend is an
 * interface; src/vmm/devices/disk-file.ts is the raw-file one).
 */
import { ByteReader } from '../../../abi/byte-writer.ts';
import { NimbusError } from '../../../errors/nimbus-error.ts';
import type { GuestMemory } from '../../../memory/guest-memory.ts';
import type { Logger } from '../../../util/logger.ts';
import { VIRTIO_DEVICE_TYPE, VIRTIO_F, type VirtioActivation, type VirtioDevice } from '../../device.ts';
import { ChainReader, ChainWriter } from '../../queue/chain-io.ts';
import type { DescriptorChain } from '../../queue/descriptor-chain.ts';
import { isValidQueueSize } from '../../queue/virtq-layout.ts';
import {
  BLK_CONFIG,
  BLK_DISCARD_SEGMENT,
  BLK_REQ_HEADER,
  BLK_SEGMENT_F_UNMAP,
  SECTOR_SIZE,
  VIRTIO_BLK_F,
  VIRTIO_BLK_ID_BYTES,
  VIRTIO_BLK_S,
  VIRTIO_BLK_T,
  type VirtioBlkStatus,
} from './virtio-blk-layout.ts';

export type BlockErrorCode =
  /** num_queues or queue_size that virtio-blk cannot offer. */
  | 'BAD_QUEUE_CONFIG'
  /** A serial longer than the 20 bytes GET_ID returns. */
  | 'SERIAL_TOO_LONG';

export class BlockError extends NimbusError<BlockErrorCode> {}

/** The disk image a virtio-blk device reads and writes. Every method throws on a host I/O error. */
export interface BlockBackend {
  /** Size of the image in bytes (the device exposes the whole 512-byte sectors of it). */
  readonly size: number;
  /** Fills `buffers` in order from byte `offset`; all of them, or throws (a short read is an error). */
  readv(buffers: readonly Uint8Array[], offset: number): void;
  /** Writes `buffers` in order at byte `offset`; all of them, or throws. */
  writev(buffers: readonly Uint8Array[], offset: number): void;
  /** Makes completed writes durable (fdatasync). */
  flush(): void;
  /** Zeroes `length` bytes from `offset` (DISCARD and WRITE_ZEROES). */
  writeZeroes(offset: number, length: number): void;
}

export interface VirtioBlkOptions {
  readonly backend: BlockBackend;
  /** Refuse every request that changes the image, and offer VIRTIO_BLK_F_RO. */
  readonly readonly: boolean;
  readonly numQueues: number;
  /** Size of each queue: a power of two, at least 4 (seg_max is queueSize - 2). */
  readonly queueSize: number;
  /** What GET_ID returns: at most 20 bytes, NUL-padded. */
  readonly serial: Uint8Array;
  /** Warnings about requests the driver built wrongly. */
  readonly logger: Logger;
  /** Names the device in log lines. */
  readonly id: string;
}

/** Cloud Hypervisor's MINIMUM_BLOCK_QUEUE_SIZE: the header and status descriptors that are not data segments. */
const NON_DATA_DESCRIPTORS = 2;
/** The block size announced with VIRTIO_BLK_F_BLK_SIZE (a raw file has no larger logical block). */
const BLOCK_SIZE = SECTOR_SIZE;
/**
 * Most sectors one DISCARD or WRITE_ZEROES segment may cover (32 MiB): both are done by writing zeroes, so the
 * limit bounds how long one request keeps the queue's thread busy; the driver splits larger ranges.
 */
export const MAX_ZEROING_SECTORS = 65536;
/** Segments per DISCARD / WRITE_ZEROES request (Linux and Cloud Hypervisor use one). */
const MAX_ZEROING_SEGMENTS = 1;
const MAX_QUEUES = 0xffff;

export class VirtioBlk implements VirtioDevice {
  readonly deviceType = VIRTIO_DEVICE_TYPE.BLOCK;
  readonly queueMaxSizes: readonly number[];
  readonly availableFeatures: bigint;
  readonly configSize = BLK_CONFIG.SIZE;
  /** Sectors of the disk. */
  readonly capacity: number;
  private readonly backend: BlockBackend;
  private readonly readonly: boolean;
  private readonly serial: Uint8Array;
  private readonly logger: Logger;
  private readonly id: string;
  private readonly config: Uint8Array;
  private active: VirtioActivation | undefined;

  constructor(options: VirtioBlkOptions) {
    const { numQueues, queueSize } = options;
    if (!Number.isInteger(numQueues) || numQueues < 1 || numQueues > MAX_QUEUES) {
      throw new BlockError('BAD_QUEUE_CONFIG', `${options.id}: num_queues=${numQueues} must be an integer from 1 to ${MAX_QUEUES}`);
    }
    if (!isValidQueueSize(queueSize) || queueSize <= NON_DATA_DESCRIPTORS) {
      throw new BlockError('BAD_QUEUE_CONFIG', `${options.id}: queue_size=${queueSize} must be a power of two from 4 to 32768`);
    }
    if (options.serial.length > VIRTIO_BLK_ID_BYTES) {
      throw new BlockError('SERIAL_TOO_LONG', `${options.id}: serial is ${options.serial.length} bytes; at most ${VIRTIO_BLK_ID_BYTES} fit`);
    }
    this.backend = options.backend;
    this.readonly = options.readonly;
    this.serial = options.serial;
    this.logger = options.logger;
    this.id = options.id;
    this.capacity = Math.floor(options.backend.size / SECTOR_SIZE);
    this.queueMaxSizes = Array.from({ length: numQueues }, () => queueSize);
    this.availableFeatures =
      VIRTIO_BLK_F.SEG_MAX |
      VIRTIO_BLK_F.BLK_SIZE |
      VIRTIO_BLK_F.FLUSH |
      VIRTIO_BLK_F.DISCARD |
      VIRTIO_BLK_F.WRITE_ZEROES |
      (options.readonly ? VIRTIO_BLK_F.RO : 0n) |
      (numQueues > 1 ? VIRTIO_BLK_F.MQ : 0n) |
      VIRTIO_F.RING_INDIRECT_DESC |
      VIRTIO_F.RING_EVENT_IDX;
    this.config = buildConfig(this.capacity, queueSize - NON_DATA_DESCRIPTORS, numQueues);
  }

  readConfig(offset: number, data: Uint8Array): void {
    data.set(this.config.subarray(offset, offset + data.length));
  }

  /** Every field is read-only without VIRTIO_BLK_F_CONFIG_WCE (not offered): driver writes are dropped. */
  writeConfig(offset: number, data: Uint8Array): void {
    this.logger.debug(`${this.id}: ignored a ${data.length}-byte write to read-only configuration offset ${offset}`);
  }

  activate(context: VirtioActivation): void {
    this.active = context;
    context.queues.forEach((_, index) => this.serve(index));
  }

  reset(): void {
    this.active = undefined;
  }

  queueNotified(index: number): void {
    this.serve(index);
  }

  /** Serves every available request of queue `index`, then notifies the driver once if it wants it. */
  private serve(index: number): void {
    const context = this.active;
    const queue = context?.queues[index];
    if (!context || !queue?.ready) return;
    try {
      for (let popped = queue.pop(); popped; popped = queue.pop()) {
        if (popped.kind === 'invalid') {
          this.logger.warn(`${this.id}: queue ${index}: returned an invalid request unprocessed: ${popped.error.message}`);
          queue.addUsed(popped.headIndex, 0);
        } else {
          queue.addUsed(popped.chain.headIndex, this.process(context.memory, popped.chain, index));
        }
      }
      if (queue.needsNotification()) context.interrupts.queue(index);
    } catch (error) {
      context.needsReset(`${this.id}: ${(error as Error).message}`);
    }
  }

  /** Executes one request and writes its status byte; returns the used length (0 for a malformed request). */
  private process(memory: GuestMemory, chain: DescriptorChain, queue: number): number {
    const statusBuffer = chain.writable[chain.writable.length - 1];
    if (!statusBuffer || chain.readableLength < BLK_REQ_HEADER.SIZE) {
      this.logger.warn(
        `${this.id}: queue ${queue}: request ${chain.headIndex} has ${chain.readableLength} readable bytes (a header needs ` +
          `${BLK_REQ_HEADER.SIZE}) and ${chain.writableLength} writable (a status byte needs 1); returned unprocessed`,
      );
      return 0;
    }
    const reader = new ChainReader(memory, chain);
    const header = new ByteReader(reader.readExact(BLK_REQ_HEADER.SIZE));
    const type = header.u32(BLK_REQ_HEADER.TYPE);
    const sector = header.u64big(BLK_REQ_HEADER.SECTOR);
    const writer = new ChainWriter(memory, chain);
    const dataLength = chain.writableLength - 1;
    let written = 0;
    let status: VirtioBlkStatus;
    try {
      switch (type) {
        case VIRTIO_BLK_T.IN:
          status = this.read(writer, sector, dataLength);
          if (status === VIRTIO_BLK_S.OK) written = dataLength;
          break;
        case VIRTIO_BLK_T.OUT:
          status = this.write(reader, sector);
          break;
        case VIRTIO_BLK_T.FLUSH:
          this.backend.flush();
          status = VIRTIO_BLK_S.OK;
          break;
        case VIRTIO_BLK_T.GET_ID:
          written = writer.write(this.paddedSerial().subarray(0, dataLength));
          status = VIRTIO_BLK_S.OK;
          break;
        case VIRTIO_BLK_T.DISCARD:
        case VIRTIO_BLK_T.WRITE_ZEROES:
          status = this.zero(reader, type === VIRTIO_BLK_T.DISCARD);
          break;
        default:
          status = VIRTIO_BLK_S.UNSUPP;
      }
    } catch (error) {
      this.logger.warn(`${this.id}: queue ${queue}: request type ${type} at sector ${sector}: ${(error as Error).message}`);
      status = VIRTIO_BLK_S.IOERR;
      written = 0;
    }
    memory.writeU8(statusBuffer.addr + statusBuffer.length - 1, status);
    return written + 1;
  }

  /** IN: the writable bytes before the status byte are filled from the image. */
  private read(writer: ChainWriter, sector: bigint, length: number): VirtioBlkStatus {
    const offset = this.byteRange(sector, length);
    if (offset === undefined) return VIRTIO_BLK_S.IOERR;
    this.backend.readv(writer.views(length), offset);
    writer.commit(length);
    return VIRTIO_BLK_S.OK;
  }

  /** OUT: the readable bytes after the header go to the image. */
  private write(reader: ChainReader, sector: bigint): VirtioBlkStatus {
    if (this.readonly) return VIRTIO_BLK_S.IOERR;
    const offset = this.byteRange(sector, reader.remaining);
    if (offset === undefined) return VIRTIO_BLK_S.IOERR;
    this.backend.writev(reader.views(), offset);
    return VIRTIO_BLK_S.OK;
  }

  /** DISCARD and WRITE_ZEROES: every segment's range is zeroed (a discarded range reads as zeroes). */
  private zero(reader: ChainReader, discard: boolean): VirtioBlkStatus {
    const count = reader.remaining / BLK_DISCARD_SEGMENT.SIZE;
    if (!Number.isInteger(count) || count === 0 || count > MAX_ZEROING_SEGMENTS) return VIRTIO_BLK_S.IOERR;
    const segments = Array.from({ length: count }, () => {
      const segment = new ByteReader(reader.readExact(BLK_DISCARD_SEGMENT.SIZE));
      return {
        sector: segment.u64big(BLK_DISCARD_SEGMENT.SECTOR),
        sectors: segment.u32(BLK_DISCARD_SEGMENT.NUM_SECTORS),
        flags: segment.u32(BLK_DISCARD_SEGMENT.FLAGS),
      };
    });
    // Unknown flags, or UNMAP on a discard (§5.2.6.2), are not supported requests.
    const allowedFlags = discard ? 0 : BLK_SEGMENT_F_UNMAP;
    if (segments.some((segment) => (segment.flags & ~allowedFlags) !== 0)) return VIRTIO_BLK_S.UNSUPP;
    if (this.readonly) return VIRTIO_BLK_S.IOERR;
    const ranges: { offset: number; length: number }[] = [];
    for (const segment of segments) {
      const length = segment.sectors * SECTOR_SIZE;
      const offset = segment.sectors <= MAX_ZEROING_SECTORS ? this.byteRange(segment.sector, length) : undefined;
      if (offset === undefined) return VIRTIO_BLK_S.IOERR;
      ranges.push({ offset, length });
    }
    for (const range of ranges) this.backend.writeZeroes(range.offset, range.length);
    return VIRTIO_BLK_S.OK;
  }

  /** Byte offset of `length` bytes from `sector`, or undefined if they are not whole sectors inside the disk. */
  private byteRange(sector: bigint, length: number): number | undefined {
    if (length % SECTOR_SIZE !== 0 || sector > BigInt(this.capacity)) return undefined;
    const first = Number(sector);
    return first + length / SECTOR_SIZE <= this.capacity ? first * SECTOR_SIZE : undefined;
  }

  private paddedSerial(): Uint8Array {
    const id = new Uint8Array(VIRTIO_BLK_ID_BYTES);
    id.set(this.serial);
    return id;
  }
}

/** The configuration space (little-endian, BLK_CONFIG offsets); constant for the device's life. */
function buildConfig(capacity: number, segMax: number, numQueues: number): Uint8Array {
  const bytes = new Uint8Array(BLK_CONFIG.SIZE);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(BLK_CONFIG.CAPACITY, BigInt(capacity), true);
  view.setUint32(BLK_CONFIG.SEG_MAX, segMax, true);
  view.setUint32(BLK_CONFIG.BLK_SIZE, BLOCK_SIZE, true);
  view.setUint16(BLK_CONFIG.NUM_QUEUES, numQueues, true);
  view.setUint32(BLK_CONFIG.MAX_DISCARD_SECTORS, MAX_ZEROING_SECTORS, true);
  view.setUint32(BLK_CONFIG.MAX_DISCARD_SEG, MAX_ZEROING_SEGMENTS, true);
  view.setUint32(BLK_CONFIG.DISCARD_SECTOR_ALIGNMENT, BLOCK_SIZE / SECTOR_SIZE, true);
  view.setUint32(BLK_CONFIG.MAX_WRITE_ZEROES_SECTORS, MAX_ZEROING_SECTORS, true);
  view.setUint32(BLK_CONFIG.MAX_WRITE_ZEROES_SEG, MAX_ZEROING_SEGMENTS, true);
  view.setUint8(BLK_CONFIG.WRITE_ZEROES_MAY_UNMAP, 1);
  return bytes;
}
