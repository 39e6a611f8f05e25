/**
 * The virtio-blk wire formats (virtio 1.2 §5.2): feature bits, the configuration space layout, the request header,
 * the discard / write-zeroes segment, request types and status values. Declared once, offsets named.
 * Pure: no node:* imports.
 */

/** The unit of every sector number and capacity, whatever the block size. */
export const SECTOR_SIZE = 512;

/** Device feature bits (§5.2.3) as masks of the 64-bit feature word. */
export const VIRTIO_BLK_F = {
  SIZE_MAX: 1n << 1n,
  SEG_MAX: 1n << 2n,
  RO: 1n << 5n,
  BLK_SIZE: 1n << 6n,
  FLUSH: 1n << 9n,
  MQ: 1n << 12n,
  DISCARD: 1n << 13n,
  WRITE_ZEROES: 1n << 14n,
} as const;

/**
 * struct virtio_blk_config (§5.2.4) up to write_zeroes_may_unmap and its padding, the part Nimbus describes
 * (secure erase and zoned fields follow it; they belong to features Nimbus does not offer).
 */
export const BLK_CONFIG = {
  CAPACITY: 0, // le64, in 512-byte sectors
  SIZE_MAX: 8, // le32
  SEG_MAX: 12, // le32
  GEOMETRY: 16, // le16 cylinders, u8 heads, u8 sectors
  BLK_SIZE: 20, // le32
  PHYSICAL_BLOCK_EXP: 24, // u8 (topology)
  ALIGNMENT_OFFSET: 25, // u8
  MIN_IO_SIZE: 26, // le16
  OPT_IO_SIZE: 28, // le32
  WRITEBACK: 32, // u8
  NUM_QUEUES: 34, // le16
  MAX_DISCARD_SECTORS: 36, // le32
  MAX_DISCARD_SEG: 40, // le32
  DISCARD_SECTOR_ALIGNMENT: 44, // le32
  MAX_WRITE_ZEROES_SECTORS: 48, // le32
  MAX_WRITE_ZEROES_SEG: 52, // le32
  WRITE_ZEROES_MAY_UNMAP: 56, // u8, then 3 bytes of padding
  SIZE: 60,
} as const;

/** struct virtio_blk_req's header (§5.2.6): what the first device-readable bytes of every request hold. */
export const BLK_REQ_HEADER = {
  TYPE: 0, // le32
  RESERVED: 4, // le32
  SECTOR: 8, // le64
  SIZE: 16,
} as const;

/** struct virtio_blk_discard_write_zeroes (§5.2.6): one segment of a DISCARD or WRITE_ZEROES request. */
export const BLK_DISCARD_SEGMENT = {
  SECTOR: 0, // le64
  NUM_SECTORS: 8, // le32
  FLAGS: 12, // le32
  SIZE: 16,
} as const;

/** Segment flag: the device may deallocate the range while zeroing it (WRITE_ZEROES only). */
export const BLK_SEGMENT_F_UNMAP = 1;

/** Request types (§5.2.6). */
export const VIRTIO_BLK_T = {
  IN: 0,
  OUT: 1,
  FLUSH: 4,
  GET_ID: 8,
  GET_LIFETIME: 10,
  DISCARD: 11,
  WRITE_ZEROES: 13,
  SECURE_ERASE: 14,
} as const;

/** The status byte, the last device-writable byte of every request. */
export const VIRTIO_BLK_S = {
  OK: 0,
  IOERR: 1,
  UNSUPP: 2,
} as const;

export type VirtioBlkStatus = (typeof VIRTIO_BLK_S)[keyof typeof VIRTIO_BLK_S];

/** Length of the GET_ID answer: the serial, NUL-padded, without a terminator at full length. */
export const VIRTIO_BLK_ID_BYTES = 20;
