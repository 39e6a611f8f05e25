/** Tests of virtio-blk over fake guest memory and a real temporary image file, driven by the mock virtqueue driver. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtqDriver, virtqueueFixture } from '../../../../test/helpers/virtq-driver.ts';
import { createLogger, silentLogger } from '../../../util/logger.ts';
import { DiskFile } from '../../../vmm/devices/disk-file.ts';
import { VIRTIO_DEVICE_TYPE, VIRTIO_F, type VirtioActivation } from '../../device.ts';
import { SplitQueue } from '../../queue/split-queue.ts';
import { BLK_CONFIG, SECTOR_SIZE, VIRTIO_BLK_F, VIRTIO_BLK_S, VIRTIO_BLK_T } from './virtio-blk-layout.ts';
import { BlockError, MAX_ZEROING_SECTORS, VirtioBlk, type BlockBackend, type VirtioBlkOptions } from './virtio-blk.ts';

const DISK_SECTORS = 64;

/** The byte the image holds at `offset` before any write. */
const imageByte = (offset: number): number => (offset * 7 + (offset >> 9)) & 0xff;
const imageBytes = (offset: number, length: number): number[] => Array.from({ length }, (_, i) => imageByte(offset + i));

function header(type: number, sector: number | bigint): Uint8Array {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, type, true);
  view.setBigUint64(8, BigInt(sector), true);
  return bytes;
}

function segment(sector: number, sectors: number, flags = 0): Uint8Array {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(sector), true);
  view.setUint32(8, sectors, true);
  view.setUint32(12, flags, true);
  return bytes;
}

interface Setup {
  blk: VirtioBlk;
  driver: VirtqDriver;
  memory: ReturnType<typeof virtqueueFixture>['memory'];
  context: VirtioActivation;
  interrupts: number[];
  resets: string[];
  warnings: string[];
  path: string;
  fd: number;
}

/** A device over a fresh image file of DISK_SECTORS sectors (plus `extraBytes`), activated with one queue. */
function setup(t: { after(fn: () => void): void }, options: Partial<VirtioBlkOptions> & { extraBytes?: number } = {}): Setup {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-blk-'));
  const path = join(dir, 'disk.raw');
  writeFileSync(path, Uint8Array.from(imageBytes(0, DISK_SECTORS * SECTOR_SIZE + (options.extraBytes ?? 0))));
  const fd = openSync(path, options.readonly ? 'r' : 'r+');
  t.after(() => {
    try {
      closeSync(fd);
    } catch {
      // a test closed it on purpose
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const warnings: string[] = [];
  const logger = createLogger({ level: 'warn', thread: 'test', now: () => 0, writeLine: (line) => warnings.push(line) });
  const { memory, driver, queue } = virtqueueFixture({ size: 16 });
  const blk = new VirtioBlk({
    backend: new DiskFile(fd),
    readonly: false,
    numQueues: 1,
    queueSize: 128,
    serial: new TextEncoder().encode('nimbus-serial'),
    logger,
    id: '_disk0',
    ...options,
  });
  const interrupts: number[] = [];
  const resets: string[] = [];
  const context: VirtioActivation = {
    memory,
    queues: [queue],
    features: VIRTIO_F.VERSION_1,
    interrupts: { queue: (index) => interrupts.push(index), config: () => assert.fail('virtio-blk never changes its configuration') },
    needsReset: (reason) => resets.push(reason),
  };
  blk.activate(context);
  return { blk, driver, memory, context, interrupts, resets, warnings, path, fd };
}

/** Sends one request on queue 0 and returns its used entry and status byte. */
function request(
  s: Setup,
  readable: Uint8Array[],
  writable: number[],
): { len: number; status: number; data: Uint8Array } {
  const chain = s.driver.addChain({ readable, writable });
  s.driver.publish();
  s.blk.queueNotified(0);
  const used = s.driver.takeUsed();
  assert.equal(used.length, 1);
  assert.equal(used[0]!.id, chain.head);
  const statusBuffer = chain.writable[chain.writable.length - 1]!;
  const dataBuffers = chain.writable.slice(0, -1);
  const data = Uint8Array.from(dataBuffers.flatMap((b) => [...s.memory.read(b.addr, b.length)]));
  return { len: used[0]!.len, status: s.memory.readU8(statusBuffer.addr + statusBuffer.length - 1), data };
}

test('declares device type 2, its queues, features and configuration space', (t) => {
  const s = setup(t, { numQueues: 1, queueSize: 128, extraBytes: 100 });
  assert.equal(s.blk.deviceType, VIRTIO_DEVICE_TYPE.BLOCK);
  assert.deepEqual(s.blk.queueMaxSizes, [128]);
  assert.equal(s.blk.configSize, 60);
  const expected =
    VIRTIO_BLK_F.SEG_MAX | VIRTIO_BLK_F.BLK_SIZE | VIRTIO_BLK_F.FLUSH | VIRTIO_BLK_F.DISCARD | VIRTIO_BLK_F.WRITE_ZEROES |
    VIRTIO_F.RING_INDIRECT_DESC | VIRTIO_F.RING_EVENT_IDX;
  assert.equal(s.blk.availableFeatures, expected);
  const config = new Uint8Array(60);
  s.blk.readConfig(0, config);
  const view = new DataView(config.buffer);
  assert.equal(view.getBigUint64(BLK_CONFIG.CAPACITY, true), 64n, 'the partial sector at the end is not exposed');
  assert.equal(view.getUint32(BLK_CONFIG.SIZE_MAX, true), 0);
  assert.equal(view.getUint32(BLK_CONFIG.SEG_MAX, true), 126);
  assert.equal(view.getUint32(BLK_CONFIG.BLK_SIZE, true), 512);
  assert.equal(view.getUint16(BLK_CONFIG.NUM_QUEUES, true), 1);
  assert.equal(view.getUint32(BLK_CONFIG.MAX_DISCARD_SECTORS, true), MAX_ZEROING_SECTORS);
  assert.equal(view.getUint32(BLK_CONFIG.MAX_DISCARD_SEG, true), 1);
  assert.equal(view.getUint32(BLK_CONFIG.DISCARD_SECTOR_ALIGNMENT, true), 1);
  assert.equal(view.getUint32(BLK_CONFIG.MAX_WRITE_ZEROES_SECTORS, true), MAX_ZEROING_SECTORS);
  assert.equal(view.getUint32(BLK_CONFIG.MAX_WRITE_ZEROES_SEG, true), 1);
  assert.equal(config[BLK_CONFIG.WRITE_ZEROES_MAY_UNMAP], 1);

  const part = new Uint8Array(4);
  s.blk.readConfig(BLK_CONFIG.BLK_SIZE, part);
  assert.deepEqual([...part], [0, 2, 0, 0]);
  s.blk.writeConfig(BLK_CONFIG.CAPACITY, new Uint8Array(8).fill(0xff));
  s.blk.readConfig(BLK_CONFIG.CAPACITY, part);
  assert.deepEqual([...part], [64, 0, 0, 0], 'configuration writes are dropped');
});

test('read-only disks offer VIRTIO_BLK_F_RO; several queues offer MQ and report num_queues', (t) => {
  const ro = setup(t, { readonly: true });
  assert.notEqual(ro.blk.availableFeatures & VIRTIO_BLK_F.RO, 0n);
  assert.equal(ro.blk.availableFeatures & VIRTIO_BLK_F.MQ, 0n);
  const mq = setup(t, { numQueues: 4, queueSize: 256 });
  assert.deepEqual(mq.blk.queueMaxSizes, [256, 256, 256, 256]);
  assert.notEqual(mq.blk.availableFeatures & VIRTIO_BLK_F.MQ, 0n);
  assert.equal(mq.blk.availableFeatures & VIRTIO_BLK_F.RO, 0n);
  const numQueues = new Uint8Array(2);
  mq.blk.readConfig(BLK_CONFIG.NUM_QUEUES, numQueues);
  assert.deepEqual([...numQueues], [4, 0]);
});

test('refuses queue settings and serials it cannot offer', () => {
  const backend: BlockBackend = { size: 512, readv: assert.fail, writev: assert.fail, flush: assert.fail, writeZeroes: assert.fail };
  const base = { backend, readonly: false, numQueues: 1, queueSize: 128, serial: new Uint8Array(0), logger: silentLogger, id: '_disk1' };
  const code = (options: Partial<VirtioBlkOptions>): string | undefined => {
    try {
      new VirtioBlk({ ...base, ...options });
      return undefined;
    } catch (error) {
      assert.ok(error instanceof BlockError);
      return error.code;
    }
  };
  assert.equal(code({ numQueues: 0 }), 'BAD_QUEUE_CONFIG');
  assert.equal(code({ queueSize: 2 }), 'BAD_QUEUE_CONFIG');
  assert.equal(code({ queueSize: 100 }), 'BAD_QUEUE_CONFIG');
  assert.equal(code({ serial: new Uint8Array(21) }), 'SERIAL_TOO_LONG');
  assert.equal(code({ serial: new Uint8Array(20) }), undefined);
});

test('IN reads whole sectors into the writable buffers, across several buffers', (t) => {
  const s = setup(t);
  const result = request(s, [header(VIRTIO_BLK_T.IN, 3)], [512, 1024, 1]);
  assert.equal(result.status, VIRTIO_BLK_S.OK);
  assert.equal(result.len, 1537);
  assert.deepEqual([...result.data], imageBytes(3 * 512, 1536));
  assert.deepEqual(s.interrupts, [0]);
  assert.deepEqual(s.warnings, []);
});

test('OUT writes the readable bytes after the header to the image', (t) => {
  const s = setup(t);
  const first = new Uint8Array(512).fill(0xa1);
  const second = new Uint8Array(512).fill(0xb2);
  const result = request(s, [header(VIRTIO_BLK_T.OUT, 10), first, second], [1]);
  assert.equal(result.status, VIRTIO_BLK_S.OK);
  assert.equal(result.len, 1);
  const image = readFileSync(s.path);
  assert.deepEqual([...image.subarray(10 * 512, 11 * 512)], [...first]);
  assert.deepEqual([...image.subarray(11 * 512, 12 * 512)], [...second]);
  assert.deepEqual([...image.subarray(9 * 512, 10 * 512)], imageBytes(9 * 512, 512));
  assert.deepEqual([...image.subarray(12 * 512, 13 * 512)], imageBytes(12 * 512, 512));
  const back = request(s, [header(VIRTIO_BLK_T.IN, 11)], [512, 1]);
  assert.deepEqual([...back.data], [...second]);
});

test('a header and its data may share one buffer', (t) => {
  const s = setup(t);
  const combined = new Uint8Array(16 + 512);
  combined.set(header(VIRTIO_BLK_T.OUT, 0));
  combined.fill(0x5a, 16);
  assert.equal(request(s, [combined], [1]).status, VIRTIO_BLK_S.OK);
  assert.deepEqual([...readFileSync(s.path).subarray(0, 512)], new Array(512).fill(0x5a));
});

test('FLUSH succeeds; GET_ID returns the serial NUL-padded to 20 bytes', (t) => {
  const s = setup(t);
  const flush = request(s, [header(VIRTIO_BLK_T.FLUSH, 0)], [1]);
  assert.deepEqual([flush.status, flush.len], [VIRTIO_BLK_S.OK, 1]);
  const id = request(s, [header(VIRTIO_BLK_T.GET_ID, 0)], [20, 1]);
  assert.deepEqual([id.status, id.len], [VIRTIO_BLK_S.OK, 21]);
  assert.deepEqual([...id.data], [...new TextEncoder().encode('nimbus-serial'), 0, 0, 0, 0, 0, 0, 0]);
  const short = request(s, [header(VIRTIO_BLK_T.GET_ID, 0)], [6, 1]);
  assert.deepEqual([short.status, short.len], [VIRTIO_BLK_S.OK, 7]);
  assert.equal(new TextDecoder().decode(short.data), 'nimbus');
});

test('WRITE_ZEROES (with or without UNMAP) and DISCARD zero their range', (t) => {
  const s = setup(t);
  assert.equal(request(s, [header(VIRTIO_BLK_T.WRITE_ZEROES, 0), segment(2, 3)], [1]).status, VIRTIO_BLK_S.OK);
  assert.equal(request(s, [header(VIRTIO_BLK_T.WRITE_ZEROES, 0), segment(20, 1, 1)], [1]).status, VIRTIO_BLK_S.OK);
  assert.equal(request(s, [header(VIRTIO_BLK_T.DISCARD, 0), segment(30, 2)], [1]).status, VIRTIO_BLK_S.OK);
  const image = readFileSync(s.path);
  const zeroed = (from: number, sectors: number): void =>
    assert.deepEqual([...image.subarray(from * 512, (from + sectors) * 512)], new Array(sectors * 512).fill(0));
  zeroed(2, 3);
  zeroed(20, 1);
  zeroed(30, 2);
  assert.deepEqual([...image.subarray(5 * 512, 6 * 512)], imageBytes(5 * 512, 512));
  assert.deepEqual([...image.subarray(32 * 512, 33 * 512)], imageBytes(32 * 512, 512));
});

test('DISCARD with UNMAP, unknown segment flags and unknown request types are unsupported', (t) => {
  const s = setup(t);
  assert.equal(request(s, [header(VIRTIO_BLK_T.DISCARD, 0), segment(0, 1, 1)], [1]).status, VIRTIO_BLK_S.UNSUPP);
  assert.equal(request(s, [header(VIRTIO_BLK_T.WRITE_ZEROES, 0), segment(0, 1, 2)], [1]).status, VIRTIO_BLK_S.UNSUPP);
  assert.equal(request(s, [header(VIRTIO_BLK_T.GET_LIFETIME, 0)], [8, 1]).status, VIRTIO_BLK_S.UNSUPP);
  assert.equal(request(s, [header(VIRTIO_BLK_T.SECURE_ERASE, 0), segment(0, 1)], [1]).status, VIRTIO_BLK_S.UNSUPP);
  assert.equal(request(s, [header(0x7777, 0)], [1]).len, 1);
  assert.deepEqual([...readFileSync(s.path).subarray(0, 512)], imageBytes(0, 512));
});

test('ranges past the capacity, partial sectors and bad segment lists are IOERR', (t) => {
  const s = setup(t);
  const ioerr = (readable: Uint8Array[], writable: number[]): void => {
    const result = request(s, readable, writable);
    assert.deepEqual([result.status, result.len], [VIRTIO_BLK_S.IOERR, 1]);
  };
  ioerr([header(VIRTIO_BLK_T.IN, DISK_SECTORS - 1)], [1024, 1]);
  ioerr([header(VIRTIO_BLK_T.IN, DISK_SECTORS)], [512, 1]);
  ioerr([header(VIRTIO_BLK_T.IN, 2n ** 64n - 1n)], [512, 1]);
  ioerr([header(VIRTIO_BLK_T.IN, 0)], [100, 1]);
  ioerr([header(VIRTIO_BLK_T.OUT, DISK_SECTORS), new Uint8Array(512)], [1]);
  ioerr([header(VIRTIO_BLK_T.OUT, 0), new Uint8Array(300)], [1]);
  ioerr([header(VIRTIO_BLK_T.WRITE_ZEROES, 0), segment(DISK_SECTORS - 1, 2)], [1]);
  ioerr([header(VIRTIO_BLK_T.DISCARD, 0), segment(0, MAX_ZEROING_SECTORS + 1)], [1]);
  ioerr([header(VIRTIO_BLK_T.DISCARD, 0), segment(0, 1), segment(2, 1)], [1]);
  ioerr([header(VIRTIO_BLK_T.DISCARD, 0), new Uint8Array(8)], [1]);
  const last = request(s, [header(VIRTIO_BLK_T.IN, DISK_SECTORS - 1)], [512, 1]);
  assert.equal(last.status, VIRTIO_BLK_S.OK, 'the last sector itself is readable');
  assert.deepEqual([...readFileSync(s.path).subarray(0, DISK_SECTORS * 512)], imageBytes(0, DISK_SECTORS * 512));
});

test('a read-only disk refuses OUT, DISCARD and WRITE_ZEROES with IOERR but serves IN, FLUSH and GET_ID', (t) => {
  const s = setup(t, { readonly: true });
  assert.equal(request(s, [header(VIRTIO_BLK_T.OUT, 0), new Uint8Array(512)], [1]).status, VIRTIO_BLK_S.IOERR);
  assert.equal(request(s, [header(VIRTIO_BLK_T.DISCARD, 0), segment(0, 1)], [1]).status, VIRTIO_BLK_S.IOERR);
  assert.equal(request(s, [header(VIRTIO_BLK_T.WRITE_ZEROES, 0), segment(0, 1)], [1]).status, VIRTIO_BLK_S.IOERR);
  assert.equal(request(s, [header(VIRTIO_BLK_T.IN, 0)], [512, 1]).status, VIRTIO_BLK_S.OK);
  assert.equal(request(s, [header(VIRTIO_BLK_T.FLUSH, 0)], [1]).status, VIRTIO_BLK_S.OK);
  assert.equal(request(s, [header(VIRTIO_BLK_T.GET_ID, 0)], [20, 1]).status, VIRTIO_BLK_S.OK);
  assert.deepEqual([...readFileSync(s.path).subarray(0, 512)], imageBytes(0, 512));
});

test('a failing backend makes that request IOERR and the device keeps serving', (t) => {
  const s = setup(t);
  closeSync(s.fd);
  for (const [type, readable, writable] of [
    [VIRTIO_BLK_T.IN, [], [512, 1]],
    [VIRTIO_BLK_T.OUT, [new Uint8Array(512)], [1]],
    [VIRTIO_BLK_T.FLUSH, [], [1]],
    [VIRTIO_BLK_T.WRITE_ZEROES, [segment(0, 1)], [1]],
  ] as const) {
    const result = request(s, [header(type, 0), ...readable], [...writable]);
    assert.deepEqual([result.status, result.len], [VIRTIO_BLK_S.IOERR, 1], `request type ${type}`);
  }
  assert.equal(s.warnings.length, 4);
  assert.match(s.warnings[0]!, /WARN -- _disk0: queue 0: request type 0 at sector 0: EBADF/);
  assert.deepEqual(s.resets, []);
  assert.equal(request(s, [header(VIRTIO_BLK_T.GET_ID, 0)], [20, 1]).status, VIRTIO_BLK_S.OK);
});

test('a chain without a status byte or with a short header comes back with length 0 and a warning', (t) => {
  const s = setup(t);
  const noStatus = s.driver.addChain({ readable: [header(VIRTIO_BLK_T.OUT, 0), new Uint8Array(512).fill(1)] });
  const shortHeader = s.driver.addChain({ readable: [new Uint8Array(8)], writable: [1] });
  s.driver.publish();
  s.blk.queueNotified(0);
  assert.deepEqual(s.driver.takeUsed(), [
    { id: noStatus.head, len: 0 },
    { id: shortHeader.head, len: 0 },
  ]);
  assert.equal(s.memory.readU8(shortHeader.writable[0]!.addr), 0xee, 'no status was written');
  assert.equal(s.warnings.length, 2);
  assert.match(s.warnings[1]!, /request \d+ has 8 readable bytes \(a header needs 16\) and 1 writable/);
  assert.deepEqual([...readFileSync(s.path).subarray(0, 512)], imageBytes(0, 512));
  assert.deepEqual(s.resets, []);
});

test('a broken available ring asks for a device reset; after reset() notifications are ignored', (t) => {
  const s = setup(t);
  s.driver.setAvailIdx(100);
  s.blk.queueNotified(0);
  assert.equal(s.resets.length, 1);
  assert.match(s.resets[0]!, /^_disk0: virtqueue available idx 100/);

  const other = setup(t);
  other.blk.reset();
  other.driver.addChain({ readable: [header(VIRTIO_BLK_T.FLUSH, 0)], writable: [1] });
  other.driver.publish();
  other.blk.queueNotified(0);
  assert.deepEqual(other.driver.takeUsed(), []);
});

test('multiqueue: each queue is served on its own notification and interrupts name it', (t) => {
  const s = setup(t, { numQueues: 2 });
  const second = new VirtqDriver(s.memory, { size: 16, queueBase: 0x20000, dataBase: 0x24000, dataSize: 0xc000 });
  const secondQueue = new SplitQueue(s.memory, 128);
  secondQueue.configure(second.queueConfig());
  secondQueue.enable();
  s.blk.activate({ ...s.context, queues: [...s.context.queues, secondQueue] });

  const onSecond = second.addChain({ readable: [header(VIRTIO_BLK_T.IN, 7)], writable: [512, 1] });
  second.publish();
  const onFirst = s.driver.addChain({ readable: [header(VIRTIO_BLK_T.IN, 8)], writable: [512, 1] });
  s.driver.publish();
  s.blk.queueNotified(1);
  assert.deepEqual(second.takeUsed(), [{ id: onSecond.head, len: 513 }]);
  assert.deepEqual(s.driver.takeUsed(), [], 'queue 0 waits for its own notification');
  assert.deepEqual([...s.memory.read(onSecond.writable[0]!.addr, 512)], imageBytes(7 * 512, 512));
  s.blk.queueNotified(0);
  assert.deepEqual(s.driver.takeUsed(), [{ id: onFirst.head, len: 513 }]);
  assert.deepEqual([...s.memory.read(onFirst.writable[0]!.addr, 512)], imageBytes(8 * 512, 512));
  assert.deepEqual(s.interrupts, [1, 0]);
});

test('requests posted before activation are served when the device is activated', (t) => {
  const s = setup(t);
  s.blk.reset();
  const chain = s.driver.addChain({ readable: [header(VIRTIO_BLK_T.IN, 1)], writable: [512, 1] });
  s.driver.publish();
  s.blk.activate(s.context);
  assert.deepEqual(s.driver.takeUsed(), [{ id: chain.head, len: 513 }]);
  assert.deepEqual([...s.memory.read(chain.writable[0]!.addr, 512)], imageBytes(512, 512));
});
