/**
 * Property test of the device side against hostile drivers: thousands of seeded, reproducible queues mixing
 * valid chains with random descriptor tables (random flags, next pointers forming loops, indirect tables,
 * addresses outside or straddling memory, huge lengths), random available indices, heads and event indices.
 * Properties: the queue and the chain readers/writers throw nothing but VirtqueueError, every pop does bounded
 * work, every guest-memory access lies inside the regions, and writes land only in the used ring or in the
 * chain's device-writable buffers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../../memory/guest-memory.ts';
import { VirtqDriver, type RawDescriptor } from '../../../test/helpers/virtq-driver.ts';
import { ChainReader, ChainWriter } from './chain-io.ts';
import type { DescriptorChain, GuestBuffer } from './descriptor-chain.ts';
import { SplitQueue } from './split-queue.ts';
import { VirtqueueError, type VirtqueueErrorCode } from './virtqueue-error.ts';
import { VIRTQ_DESC, VIRTQ_DESC_F as F, usedRingBytes } from './virtq-layout.ts';

const SEED = 0x5eed_1234;
const CASES = 2500;
const MAX_SIZE = 64;

/** Region A holds the queue and garbage; region B (two chunks, boundary 0x9000) holds the driver's buffers. */
const REGION_A = { guestBase: 0, size: 0x4000 };
const REGION_B = { guestBase: 0x8000, size: 0x2000 };
const LARGEST_REGION = 0x4000;
/** Descriptor accesses per descriptor read (two u32 for addr, len, flags, next). */
const ACCESSES_PER_DESCRIPTOR = 5;

const QUEUE_CODES: readonly VirtqueueErrorCode[] = ['BAD_AVAIL_INDEX', 'BAD_HEAD_INDEX'];
const CHAIN_CODES: readonly VirtqueueErrorCode[] = [
  'NEXT_OUT_OF_RANGE',
  'CHAIN_LOOP',
  'INDIRECT_NOT_NEGOTIATED',
  'NESTED_INDIRECT',
  'INDIRECT_WITH_NEXT',
  'BAD_INDIRECT_TABLE',
  'INDIRECT_TABLE_OUT_OF_RANGE',
  'BUFFER_OUT_OF_RANGE',
  'READABLE_AFTER_WRITABLE',
];

/** mulberry32: a small seeded generator, so a failing case can be replayed. */
function random(seed: number) {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (below: number): number => Math.floor(next() * below);
  return {
    int,
    chance: (p: number): boolean => next() < p,
    pick: <T>(items: readonly T[]): T => items[int(items.length)]!,
  };
}
type Random = ReturnType<typeof random>;

/** What the code under test may touch right now. */
interface Phase {
  /** Ranges it may write (with write/fill or through a view). */
  readonly writable: readonly GuestBuffer[];
  /** Ranges it may take live views of for reading. */
  readonly viewable: readonly GuestBuffer[];
}

/** Guest memory that counts reads and refuses (with a plain Error) writes and views outside the phase. */
class RecordingMemory extends GuestMemory {
  phase: Phase | null = null;
  reads = 0;

  override readInto(addr: number, target: Uint8Array): void {
    this.reads++;
    super.readInto(addr, target);
  }
  override readU8(addr: number): number {
    this.reads++;
    return super.readU8(addr);
  }
  override readU16(addr: number): number {
    this.reads++;
    return super.readU16(addr);
  }
  override readU32(addr: number): number {
    this.reads++;
    return super.readU32(addr);
  }
  override readU64(addr: number): bigint {
    this.reads++;
    return super.readU64(addr);
  }
  override write(addr: number, data: Uint8Array): void {
    this.checkWrite(addr, data.length);
    super.write(addr, data);
  }
  override fill(addr: number, length: number, value = 0): void {
    this.checkWrite(addr, length);
    super.fill(addr, length, value);
  }
  override writeU8(addr: number, value: number): void {
    this.checkWrite(addr, 1);
    super.writeU8(addr, value);
  }
  override writeU16(addr: number, value: number): void {
    this.checkWrite(addr, 2);
    super.writeU16(addr, value);
  }
  override writeU32(addr: number, value: number): void {
    this.checkWrite(addr, 4);
    super.writeU32(addr, value);
  }
  override writeU64(addr: number, value: bigint | number): void {
    this.checkWrite(addr, 8);
    super.writeU64(addr, value);
  }
  override slice(addr: number, length: number): Uint8Array {
    if (this.phase && !within(addr, length, [...this.phase.viewable, ...this.phase.writable])) {
      throw new Error(`a view of 0x${addr.toString(16)}+${length} outside the chain's buffers`);
    }
    return super.slice(addr, length);
  }

  private checkWrite(addr: number, length: number): void {
    if (this.phase && !within(addr, length, this.phase.writable)) {
      throw new Error(`a write to 0x${addr.toString(16)}+${length} outside the allowed ranges`);
    }
  }
}

function within(addr: number, length: number, ranges: readonly GuestBuffer[]): boolean {
  return ranges.some((r) => addr >= r.addr && addr + length <= r.addr + r.length);
}

/** Runs `action` in `phase`; anything it throws must be a VirtqueueError (which is returned). */
function guarded<T>(memory: RecordingMemory, phase: Phase, action: () => T): T | VirtqueueError {
  memory.phase = phase;
  try {
    return action();
  } catch (error) {
    if (error instanceof VirtqueueError) return error;
    throw error;
  } finally {
    memory.phase = null;
  }
}

/** A guest address: mostly in memory, often near an edge, sometimes far outside or beyond 2^53. */
function randomAddress(rng: Random): number | bigint {
  switch (rng.int(8)) {
    case 0:
      return BigInt(rng.int(2 ** 32)) * 2n ** 32n + BigInt(rng.int(2 ** 32));
    case 1:
      return rng.pick([REGION_A, REGION_B]).guestBase + rng.pick([REGION_A, REGION_B]).size - rng.int(64);
    case 2:
      return 0x4000 + rng.int(0x4000);
    case 3:
      return 0x9000 - rng.int(32);
    default:
      return rng.chance(0.5) ? rng.int(REGION_A.size) : REGION_B.guestBase + rng.int(REGION_B.size);
  }
}

function randomLength(rng: Random): number {
  switch (rng.int(6)) {
    case 0:
      return 0;
    case 1:
      return 0xffff_ffff - rng.int(4);
    case 2:
      return VIRTQ_DESC.SIZE * (1 + rng.int(16));
    case 3:
      return rng.int(0x3000);
    default:
      return 1 + rng.int(64);
  }
}

function randomFlags(rng: Random): number {
  if (rng.chance(0.1)) return rng.int(0x10000);
  return rng.pick([0, F.NEXT, F.WRITE, F.NEXT | F.WRITE, F.INDIRECT, F.INDIRECT | F.NEXT, F.INDIRECT | F.WRITE, 7]);
}

/** Writes `count` random descriptors at random indices of the table at `table` (of `entries` entries). */
function scribble(driver: VirtqDriver, rng: Random, table: number, entries: number, count: number): void {
  for (let i = 0; i < count; i++) {
    const index = rng.int(entries);
    driver.writeDescriptor(table, index, {
      addr: rng.chance(0.15) ? rng.pick([0x3000, 0x3800]) : randomAddress(rng),
      len: randomLength(rng),
      flags: randomFlags(rng),
      next: rng.chance(0.1) ? rng.int(0x10000) : rng.chance(0.5) ? (index + 1) % entries : rng.int(entries),
    });
  }
}

/**
 * Builds an indirect table at `table` whose descriptors are mostly valid buffers linked in a ring (a loop), with
 * now and then a next past the end or a nested indirect descriptor, and returns a descriptor pointing at it.
 */
function hostileIndirectTable(driver: VirtqDriver, rng: Random, table: number): RawDescriptor {
  const entries = 1 + rng.int(64);
  for (let i = 0; i < entries; i++) {
    driver.writeDescriptor(table, i, {
      addr: 0x2000 + rng.int(0x800),
      len: 1 + rng.int(32),
      flags: rng.chance(0.02) ? F.INDIRECT : F.NEXT | (rng.chance(0.05) ? F.WRITE : 0),
      next: rng.chance(0.9) ? (i + 1) % entries : rng.int(entries + 2),
    });
  }
  return { addr: table, len: entries * VIRTQ_DESC.SIZE, flags: F.INDIRECT, next: 0 };
}

/** Reads and writes a valid chain through ChainReader/ChainWriter, checking what it is allowed to touch. */
function exercise(memory: RecordingMemory, rng: Random, chain: DescriptorChain): number {
  for (const buffer of [...chain.readable, ...chain.writable]) {
    assert.ok(buffer.length > 0 && memory.isValid(buffer.addr, buffer.length), `buffer ${JSON.stringify(buffer)} in memory`);
  }
  const reader = new ChainReader(memory, chain);
  const read = guarded(memory, { writable: [], viewable: chain.readable }, () => {
    if (rng.chance(0.5)) reader.skip(reader.views().reduce((sum, v) => sum + v.length, 0));
    else while (reader.readInto(new Uint8Array(1 + rng.int(100))) > 0);
    return reader.remaining;
  });
  assert.equal(read, 0);
  const writer = new ChainWriter(memory, chain);
  const written = guarded(memory, { writable: chain.writable, viewable: [] }, () => {
    if (rng.chance(0.5)) {
      const views = writer.views();
      for (const view of views) view.fill(0xab);
      writer.commit(rng.int(writer.remaining + 1));
    } else {
      writer.write(new Uint8Array(rng.int(chain.writableLength + 10)).fill(0xcd));
    }
    return writer.written;
  });
  if (written instanceof VirtqueueError) assert.fail(`writing a valid chain failed: ${written.message}`);
  return written;
}

test(`${CASES} random queues (seed 0x${SEED.toString(16)}): only VirtqueueError, bounded work, memory stays in bounds`, () => {
  const memory = new RecordingMemory([
    { ...REGION_A, backing: [new Uint8Array(REGION_A.size)] },
    { ...REGION_B, backing: [new Uint8Array(0x1000), new Uint8Array(0x1000)] },
  ]);
  const queue = new SplitQueue(memory, MAX_SIZE);
  const rng = random(SEED);
  const seen = new Map<string, number>();
  const count = (key: string): void => void seen.set(key, (seen.get(key) ?? 0) + 1);

  for (let caseIndex = 0; caseIndex < CASES; caseIndex++) {
    try {
      const size = 2 ** rng.int(7);
      const eventIdx = rng.chance(0.5);
      const indirect = rng.chance(0.7);
      const driver = new VirtqDriver(memory, { size, queueBase: 0, dataBase: REGION_B.guestBase, dataSize: REGION_B.size, eventIdx });
      queue.reset();
      const start = rng.chance(0.3) ? 0xffff - rng.int(4) : rng.int(0x10000);
      queue.restore({ ...queue.save(), ...driver.queueConfig(indirect), ready: true, nextAvail: start, nextUsed: start, signalledUsed: start });
      driver.setAvailIdx(start);
      const usedRing = { addr: driver.usedRing, length: usedRingBytes(size) };

      for (let n = rng.int(size + 1); n > 0; n--) {
        const readable = Array.from({ length: rng.int(3) }, () => new Uint8Array(1 + rng.int(40)));
        const writable = Array.from({ length: readable.length === 0 ? 1 + rng.int(2) : rng.int(3) }, () => 1 + rng.int(40));
        const viaIndirect = rng.chance(0.4);
        const fits =
          driver.freeDescriptorCount >= (viaIndirect ? 1 : readable.length + writable.length) && driver.dataRemaining >= 0x200;
        if (fits && rng.chance(0.5)) {
          driver.addChain({ readable, writable, indirect: viaIndirect });
        } else {
          scribble(driver, rng, driver.descTable, size, 1 + rng.int(size));
          if (rng.chance(0.3)) scribble(driver, rng, rng.pick([0x3000, 0x3800]), 64, 1 + rng.int(8));
          const head = rng.chance(0.95) ? rng.int(size) : rng.int(0x10000);
          if (rng.chance(0.2) && head < size) driver.writeDescriptor(driver.descTable, head, hostileIndirectTable(driver, rng, 0x3000));
          driver.makeAvailable(head);
        }
      }
      if (rng.chance(0.05)) driver.setAvailIdx(rng.int(0x10000));
      else driver.publish();
      driver.setUsedEvent(rng.int(0x10000));
      driver.setAvailFlags(rng.int(4));

      for (let pops = 0; pops <= size + 2; pops++) {
        const readsBefore = memory.reads;
        const popped = guarded(memory, { writable: [usedRing], viewable: [] }, () => queue.pop());
        const maxReads = 2 + ACCESSES_PER_DESCRIPTOR * (size + LARGEST_REGION / VIRTQ_DESC.SIZE);
        assert.ok(memory.reads - readsBefore <= maxReads, `pop did ${memory.reads - readsBefore} reads, bound ${maxReads}`);
        if (popped === null) break;
        if (popped instanceof VirtqueueError) {
          assert.ok(QUEUE_CODES.includes(popped.code), `queue-level ${popped.code}: ${popped.message}`);
          count(popped.code);
          break;
        }
        let written = 0;
        if (popped.kind === 'invalid') {
          assert.ok(CHAIN_CODES.includes(popped.error.code), `chain-level ${popped.error.code}: ${popped.error.message}`);
          count(popped.error.code);
        } else {
          count('valid');
          written = exercise(memory, rng, popped.chain);
          assert.ok(written <= popped.chain.writableLength);
        }
        const head = popped.kind === 'chain' ? popped.chain.headIndex : popped.headIndex;
        const notified = guarded(memory, { writable: [usedRing], viewable: [] }, () => {
          queue.addUsed(head, written);
          if (rng.chance(0.3)) queue.disableNotification();
          if (rng.chance(0.3)) queue.enableNotification();
          return queue.needsNotification();
        });
        assert.equal(typeof notified, 'boolean', `notification calls failed: ${String(notified)}`);
      }
    } catch (error) {
      throw new Error(`case ${caseIndex} of seed 0x${SEED.toString(16)} failed: ${(error as Error).stack}`);
    }
  }
  for (const key of ['valid', ...QUEUE_CODES, ...CHAIN_CODES]) {
    assert.ok((seen.get(key) ?? 0) > 0, `the generator never produced ${key}: ${JSON.stringify([...seen])}`);
  }
});
