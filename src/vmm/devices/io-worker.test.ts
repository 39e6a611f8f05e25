/**
 * A virtio-rng I/O worker on the real /dev/kvm. The test plays the driver through the device's mailbox (as vCPU
 * workers forward accesses), then a tiny 64-bit guest makes buffers available and notifies queue 0 in a loop,
 * polling the used ring: the notify writes must end in the worker's ioeventfd (no MMIO exit), the buffers must come
 * back full of random bytes, and each must raise MSI-X vector 0 through the GSI route and irqfd (the vector shows
 * up in the guest LAPIC's IRR; the guest runs with interrupts disabled). Also: the cost of one forwarded access,
 * the per-round time of the guest's loop, start failures, and a stop while the worker blocks in a backend read.
 * And a virtio-blk worker on a real image file, driven through the mailbox alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { FakeVm } from '../../hypervisor/fake/fake-hypervisor.ts';
import { silentLogger } from '../../util/logger.ts';
import { PCI_CONFIG, PCI_CAPABILITY_ID, PCI_COMMAND } from '../../pci/config-registers.ts';
import { MSIX_CAPABILITY, MSIX_MESSAGE_CONTROL, MSIX_TABLE_ENTRY } from '../../pci/msix.ts';
import { VIRTIO_F } from '../../virtio/device.ts';
import { BLK_CONFIG, VIRTIO_BLK_S, VIRTIO_BLK_T } from '../../virtio/devices/block/virtio-blk-layout.ts';
import { VIRTQ_AVAIL, VIRTQ_DESC, VIRTQ_DESC_F, VIRTQ_USED } from '../../virtio/queue/virtq-layout.ts';
import { VIRTIO_PCI_BAR, VIRTIO_PCI_COMMON_CFG as CFG, VIRTIO_STATUS, type CommonConfigField } from '../../virtio/transport/virtio-pci-layout.ts';
import { CountingBus, VcpuExitCounters } from '../../vstate/exit-counters.ts';
import { VcpuControl } from '../../vstate/vcpu-control.ts';
import { runVcpuLoop } from '../../vstate/vcpu-loop.ts';
import { createTinyVm, type TinyVm } from '../../../test/helpers/tiny-vm.ts';
import { BarMap, type BarWindows } from './bar-map.ts';
import { ACCESS_KIND, MailboxClient } from './device-mailbox.ts';
import { FIRST_MSI_GSI, GsiRouteTable } from './gsi-routes.ts';
import { IoWorkerThread, type IoWorkerStart } from './io-worker-thread.ts';

/** BAR windows inside the tiny VM's identity-mapped low 4 GiB, above its RAM. */
const WINDOWS: BarWindows = { mmio32: { base: 0xd000_0000, size: 0x1000_0000 }, mmio64: { base: 0xc000_0000, size: 0x1000_0000 } };
const QUEUE = { size: 8, desc: 0x20_0000, avail: 0x20_1000, used: 0x20_2000, buffer: 0x20_3000, bufferBytes: 64 };
const MSI = { addressLo: 0xfee0_0000, data: 0x30 };
const ROUNDS = 200;
/** Local APIC register offsets: spurious-interrupt vector (bit 8 enables the APIC) and the interrupt request register. */
const LAPIC = { SVR: 0xf0, SVR_ENABLE: 0x100, IRR: 0x200 } as const;

/** The guest: `rounds` times, avail.idx++, a 16-bit write of queue index 0 to the notify address, wait for used.idx. */
function guestLoop(notify: number, rounds: number): Uint8Array {
  const imm64 = (value: number): number[] => [...new Uint8Array(new BigUint64Array([BigInt(value)]).buffer)];
  const imm32 = (value: number): number[] => [...new Uint8Array(new Uint32Array([value]).buffer)];
  return Uint8Array.from([
    ...[0x48, 0xbb, ...imm64(notify)], // mov rbx, notify
    ...[0x48, 0xbe, ...imm64(QUEUE.avail + VIRTQ_AVAIL.IDX)], // mov rsi, &avail.idx
    ...[0x48, 0xbf, ...imm64(QUEUE.used + VIRTQ_USED.IDX)], // mov rdi, &used.idx
    ...[0xb9, ...imm32(rounds)], // mov ecx, rounds
    ...[0x31, 0xd2], // xor edx, edx
    ...[0x31, 0xc0], // xor eax, eax
    // loop:
    ...[0x66, 0xff, 0x06], // inc word [rsi]
    ...[0x66, 0x89, 0x03], // mov [rbx], ax
    ...[0xff, 0xc2], // inc edx
    // wait:
    ...[0x66, 0x3b, 0x17], // cmp dx, [rdi]
    ...[0x75, 0xfb], // jne wait
    ...[0xff, 0xc9], // dec ecx
    ...[0x75, 0xef], // jnz loop
    ...[0x0f, 0x0b], // ud2: triple fault (no IDT) ends the run
  ]);
}

/** The driver's side of the device, through the mailbox (a spinning main-thread client). */
class MailboxDriver {
  private readonly client: MailboxClient;

  constructor(thread: IoWorkerThread) {
    this.client = new MailboxClient(thread.mailbox, { ring: () => thread.doorbell.write() }, 'spin');
  }

  config(offset: number, width: number): number {
    return this.read(ACCESS_KIND.CONFIG_READ, offset, width);
  }

  setConfig(offset: number, width: number, value: number): void {
    this.write(ACCESS_KIND.CONFIG_WRITE, offset, width, value);
  }

  common(field: CommonConfigField): number {
    return this.read(ACCESS_KIND.BAR_READ, CFG[field].offset, CFG[field].width);
  }

  setCommon(field: CommonConfigField, value: number): void {
    this.write(ACCESS_KIND.BAR_WRITE, CFG[field].offset, CFG[field].width, value);
  }

  /** A read of the device-specific configuration (BAR0's device configuration structure). */
  device(offset: number, width: number): number {
    return this.read(ACCESS_KIND.BAR_READ, VIRTIO_PCI_BAR.DEVICE_CONFIG + offset, width);
  }

  setBar(offset: number, width: number, value: number): void {
    this.write(ACCESS_KIND.BAR_WRITE, offset, width, value);
  }

  /** Offset of the first capability with `id` in configuration space. */
  capability(id: number): number {
    for (let at = this.config(PCI_CONFIG.CAPABILITIES_POINTER, 1); at !== 0; at = this.config(at + 1, 1)) {
      if (this.config(at, 1) === id) return at;
    }
    throw new Error(`no capability 0x${id.toString(16)}`);
  }

  private read(kind: typeof ACCESS_KIND.CONFIG_READ | typeof ACCESS_KIND.BAR_READ, offset: number, width: number): number {
    const data = new Uint8Array(width);
    this.client.access(kind, offset, data);
    return data.reduceRight((value, byte) => value * 256 + byte, 0);
  }

  private write(kind: typeof ACCESS_KIND.CONFIG_WRITE | typeof ACCESS_KIND.BAR_WRITE, offset: number, width: number, value: number): void {
    const data = new Uint8Array(width);
    for (let i = 0; i < width; i++) data[i] = Math.floor(value / 256 ** i) & 0xff;
    this.client.access(kind, offset, data);
  }
}

interface Rig {
  vm: TinyVm;
  thread: IoWorkerThread;
  routes: SharedArrayBuffer;
  barAddress: number;
  sourceFd: number;
  start: IoWorkerStart;
}

function rig(code: Uint8Array, sourcePath = '/dev/urandom'): Rig {
  const vm = createTinyVm(code);
  const barMap = BarMap.create(1, WINDOWS);
  const barAddress = new BarMap(barMap, 'spin').allocate(0, 'memory64', VIRTIO_PCI_BAR.SIZE, VIRTIO_PCI_BAR.ALIGNMENT);
  const routes = GsiRouteTable.create();
  const sourceFd = openSync(sourcePath, 'r+');
  const start: IoWorkerStart = {
    index: 0,
    device: { kind: 'rng', sourceFd },
    vm: vm.vm.handle(),
    memory: vm.ram.regions.map(({ guestBase, size, hostAddress }) => ({ guestBase, size, hostAddress })),
    barAddress,
    barMap,
    gsiRoutes: routes,
    logFd: 2,
    logLevel: 'warn',
    startTime: process.hrtime.bigint(),
  };
  return { vm, thread: new IoWorkerThread('__rng', silentLogger), routes, barAddress, sourceFd, start };
}

async function release(r: Rig): Promise<void> {
  await r.thread.stop();
  r.thread.close();
  closeSync(r.sourceFd);
  r.vm.dispose();
}

/** Brings the device to DRIVER_OK with queue 0 and MSI-X vector 0, as the test guest's driver does. */
function driveToRunning(driver: MailboxDriver): void {
  driver.setConfig(PCI_CONFIG.COMMAND, 2, PCI_COMMAND.MEMORY_SPACE | PCI_COMMAND.BUS_MASTER);
  const msix = driver.capability(PCI_CAPABILITY_ID.MSIX);
  driver.setConfig(msix + MSIX_CAPABILITY.MESSAGE_CONTROL, 2, MSIX_MESSAGE_CONTROL.ENABLE);
  driver.setCommon('DEVICE_STATUS', VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER);
  driver.setCommon('DRIVER_FEATURE_SELECT', 1);
  driver.setCommon('DRIVER_FEATURE', Number(VIRTIO_F.VERSION_1 >> 32n));
  driver.setCommon('DEVICE_STATUS', VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER | VIRTIO_STATUS.FEATURES_OK);
  assert.equal(driver.common('DEVICE_STATUS') & VIRTIO_STATUS.FEATURES_OK, VIRTIO_STATUS.FEATURES_OK);
  driver.setCommon('QUEUE_SELECT', 0);
  driver.setCommon('QUEUE_SIZE', QUEUE.size);
  driver.setCommon('QUEUE_DESC_LO', QUEUE.desc);
  driver.setCommon('QUEUE_DRIVER_LO', QUEUE.avail);
  driver.setCommon('QUEUE_DEVICE_LO', QUEUE.used);
  const entry = VIRTIO_PCI_BAR.MSIX_TABLE;
  driver.setBar(entry + MSIX_TABLE_ENTRY.ADDRESS_LO, 4, MSI.addressLo);
  driver.setBar(entry + MSIX_TABLE_ENTRY.DATA, 4, MSI.data);
  driver.setBar(entry + MSIX_TABLE_ENTRY.VECTOR_CONTROL, 4, 0);
  driver.setCommon('QUEUE_MSIX_VECTOR', 0);
  assert.equal(driver.common('QUEUE_MSIX_VECTOR'), 0);
  driver.setCommon('QUEUE_ENABLE', 1);
  driver.setCommon('DEVICE_STATUS', VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER | VIRTIO_STATUS.FEATURES_OK | VIRTIO_STATUS.DRIVER_OK);
  assert.equal(driver.common('DEVICE_STATUS'), 0x0f);
}

/** One 64-byte device-writable descriptor, named by every available ring slot. */
function layOutQueue(r: Rig): void {
  const memory = r.vm.ram.memory;
  memory.writeU64(QUEUE.desc + VIRTQ_DESC.ADDR, BigInt(QUEUE.buffer));
  memory.writeU32(QUEUE.desc + VIRTQ_DESC.LEN, QUEUE.bufferBytes);
  memory.writeU16(QUEUE.desc + VIRTQ_DESC.FLAGS, VIRTQ_DESC_F.WRITE);
  memory.fill(QUEUE.avail, 0x1000, 0);
  memory.fill(QUEUE.used, 0x1000, 0);
}

test('virtio-rng in its I/O worker: ioeventfd notifications, random bytes, MSI-X through irqfd, no MMIO exits', async (t) => {
  const probe = rig(new Uint8Array());
  const notify = probe.barAddress + VIRTIO_PCI_BAR.NOTIFY;
  await release(probe);
  const r = rig(guestLoop(notify, ROUNDS));
  try {
    layOutQueue(r);
    await r.thread.start(r.start);
    const driver = new MailboxDriver(r.thread);
    driveToRunning(driver);
    assert.deepEqual(
      new GsiRouteTable(r.routes, new FakeVm(), 'spin').routes().filter((route) => route.kind === 'msi'),
      [{ gsi: FIRST_MSI_GSI, kind: 'msi', address: BigInt(MSI.addressLo), data: MSI.data }],
    );

    const accesses = 2000;
    const begin = process.hrtime.bigint();
    for (let i = 0; i < accesses; i++) driver.config(PCI_CONFIG.VENDOR_ID, 4);
    t.diagnostic(`forwarded config read, spinning main-thread client: ${(Number(process.hrtime.bigint() - begin) / accesses / 1000).toFixed(1)} us`);

    // Software-enable the LAPIC (SVR bit 8) so that it accepts the fixed-delivery MSI into its IRR.
    const lapic = r.vm.vcpu.getLapic();
    const registers = new DataView(lapic.buffer, lapic.byteOffset);
    registers.setUint32(LAPIC.SVR, registers.getUint32(LAPIC.SVR, true) | LAPIC.SVR_ENABLE, true);
    r.vm.vcpu.setLapic(lapic);

    const counters = new VcpuExitCounters();
    const started = process.hrtime.bigint();
    const reason = runVcpuLoop({
      vcpu: r.vm.vcpu,
      control: new VcpuControl(),
      pio: new CountingBus('pio', counters),
      mmio: new CountingBus('mmio', counters),
      pendingStop: () => undefined,
    });
    const perRound = Number(process.hrtime.bigint() - started) / ROUNDS / 1000;
    t.diagnostic(`guest round trip (avail, notify, device fills 64 bytes, used seen by the guest): ${perRound.toFixed(1)} us`);
    assert.equal(reason.kind, 'triple-fault', 'the guest finished its loop');
    assert.deepEqual(counters.read(), { pio: 0, mmio: 0, pciForwarded: 0 }, 'no notify write exited to user space');

    const memory = r.vm.ram.memory;
    assert.equal(memory.readU16(QUEUE.used + VIRTQ_USED.IDX), ROUNDS);
    const lastElement = QUEUE.used + VIRTQ_USED.RING + VIRTQ_USED.ELEM_SIZE * ((ROUNDS - 1) % QUEUE.size);
    assert.deepEqual([memory.readU32(lastElement + VIRTQ_USED.ELEM_ID), memory.readU32(lastElement + VIRTQ_USED.ELEM_LEN)], [0, 64]);
    const bytes = memory.read(QUEUE.buffer, QUEUE.bufferBytes);
    assert.ok(new Set(bytes).size > 16, 'the buffer holds random bytes');

    // Vector 0x30 is pending in the LAPIC: IRR is 8 registers of 32 bits, 16 bytes apart.
    const after = r.vm.vcpu.getLapic();
    const irr = new DataView(after.buffer, after.byteOffset).getUint32(LAPIC.IRR + (MSI.data >> 5) * 0x10, true);
    assert.equal((irr >>> (MSI.data & 31)) & 1, 1, 'the MSI reached the LAPIC');

    const stats = await r.thread.stop();
    assert.ok(stats);
    assert.equal(stats.ioeventfdNotifications, ROUNDS);
    assert.equal(stats.exitNotifications, 0);
    assert.ok(stats.forwardedAccesses > accesses);
    // One interrupt per batch of used buffers: the device may find the next buffer before it notifies.
    assert.ok(stats.interrupts >= 1 && stats.interrupts <= ROUNDS, `${stats.interrupts} interrupts`);
  } finally {
    await release(r);
  }
});

test('the cost of one access forwarded by a vCPU-like Worker (Atomics.wait, eventfd doorbell)', async (t) => {
  const r = rig(new Uint8Array());
  try {
    await r.thread.start(r.start);
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      Promise.all([import(workerData.mailboxModule), import(workerData.eventfdModule)]).then(([{ MailboxClient, ACCESS_KIND }, { eventFdInterruptLine }]) => {
        const line = eventFdInterruptLine(workerData.doorbellFd);
        const client = new MailboxClient(workerData.mailbox, { ring: () => line.trigger() }, 'wait');
        const data = new Uint8Array(4);
        for (let i = 0; i < 200; i++) client.access(ACCESS_KIND.CONFIG_READ, 0, data);
        const start = process.hrtime.bigint();
        for (let i = 0; i < workerData.count; i++) client.access(ACCESS_KIND.CONFIG_READ, 0, data);
        parentPort.postMessage({ ns: Number(process.hrtime.bigint() - start) / workerData.count, id: Array.from(data) });
      });
    `;
    const worker = new Worker(source, {
      eval: true,
      workerData: {
        mailboxModule: new URL('./device-mailbox.js', import.meta.url).href,
        eventfdModule: new URL('../../host/eventfd.js', import.meta.url).href,
        mailbox: r.thread.mailbox,
        doorbellFd: r.thread.doorbell.fd,
        count: 2000,
      },
    });
    const result = await new Promise<{ ns: number; id: number[] }>((resolve) => worker.once('message', resolve));
    assert.deepEqual(result.id, [0xf4, 0x1a, 0x44, 0x10], 'vendor 1af4, device 1044');
    t.diagnostic(`forwarded config read, vCPU-like Worker client: ${(result.ns / 1000).toFixed(1)} us`);
  } finally {
    await release(r);
  }
});

test('a stop interrupts a worker blocked in a backend read; the waiting vCPU gets its answer', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-fifo-'));
  const fifo = join(dir, 'entropy');
  execFileSync('mkfifo', [fifo]);
  const r = rig(new Uint8Array(), fifo);
  try {
    layOutQueue(r);
    await r.thread.start(r.start);
    driveToRunning(new MailboxDriver(r.thread));
    r.vm.ram.memory.writeU16(QUEUE.avail + VIRTQ_AVAIL.IDX, 1);
    // A vCPU-like Worker writes the notify register through the mailbox: the worker then blocks reading the FIFO.
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      Promise.all([import(workerData.mailboxModule), import(workerData.eventfdModule)]).then(([{ MailboxClient, ACCESS_KIND }, { eventFdInterruptLine }]) => {
        const line = eventFdInterruptLine(workerData.doorbellFd);
        const client = new MailboxClient(workerData.mailbox, { ring: () => line.trigger() }, 'wait');
        parentPort.postMessage('notifying');
        client.access(ACCESS_KIND.BAR_WRITE, workerData.notify, new Uint8Array(2));
        parentPort.postMessage('answered');
      });
    `;
    const vcpu = new Worker(source, {
      eval: true,
      workerData: {
        mailboxModule: new URL('./device-mailbox.js', import.meta.url).href,
        eventfdModule: new URL('../../host/eventfd.js', import.meta.url).href,
        mailbox: r.thread.mailbox,
        doorbellFd: r.thread.doorbell.fd,
        notify: VIRTIO_PCI_BAR.NOTIFY,
      },
    });
    const messages: string[] = [];
    const answered = new Promise<void>((resolve) => vcpu.on('message', (m: string) => (messages.push(m), m === 'answered' && resolve())));
    while (messages.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(messages, ['notifying'], 'the access is stuck behind the blocking read');
    const stats = await r.thread.stop();
    await answered;
    assert.equal(stats?.exitNotifications, 1);
    assert.equal(r.vm.ram.memory.readU32(QUEUE.used + VIRTQ_USED.RING + VIRTQ_USED.ELEM_LEN), 0, 'the interrupted read filled nothing');
  } finally {
    await release(r);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a worker that cannot build its device fails start() with the reason and can still be stopped', async () => {
  const r = rig(new Uint8Array());
  try {
    await assert.rejects(r.thread.start({ ...r.start, barAddress: r.barAddress + 0x1000 }), {
      code: 'WORKER_START_FAILED',
      message: /^__rng: the device's I\/O worker could not start: BAR 0: address \d+ must be a multiple of its size/,
    });
    assert.equal(await r.thread.stop(), undefined);
    const elsewhere = new IoWorkerThread('__rng', silentLogger);
    await assert.rejects(elsewhere.start({ ...r.start, vm: new FakeVm().handle() }), {
      code: 'WORKER_START_FAILED',
      message: '__rng: the device\'s I/O worker could not start: VM backend "fake" cannot be attached in another thread',
    });
    await elsewhere.stop();
    elsewhere.close();
  } finally {
    await release(r);
  }
});

test('a worker never started is stopped without running anything', async () => {
  const thread = new IoWorkerThread('__rng', silentLogger);
  assert.equal(await thread.stop(), undefined);
  thread.close();
});

test('virtio-blk in its I/O worker: capacity in the device configuration, an IN and an OUT on the image file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-disk-'));
  const path = join(dir, 'disk.raw');
  const image = Uint8Array.from({ length: 8 * 512 }, (_, i) => (i * 13) & 0xff);
  writeFileSync(path, image);
  const fd = openSync(path, 'r+');
  const r = rig(new Uint8Array());
  try {
    layOutQueue(r);
    const disk = new IoWorkerThread('_disk0', silentLogger);
    const serial = new TextEncoder().encode('worker-disk');
    await disk.start({ ...r.start, device: { kind: 'disk', fd, readonly: false, numQueues: 1, queueSize: 128, serial } });
    try {
      const driver = new MailboxDriver(disk);
      assert.equal(driver.config(PCI_CONFIG.DEVICE_ID, 2), 0x1042);
      driveToRunning(driver);
      assert.equal(driver.device(BLK_CONFIG.CAPACITY, 4), 8);

      const memory = r.vm.ram.memory;
      const request = (type: number, sector: number, data: { writable: boolean; bytes: number }, slot: number): number => {
        const headerAt = QUEUE.buffer;
        const dataAt = QUEUE.buffer + 0x100;
        const statusAt = QUEUE.buffer + 0x80;
        memory.writeU32(headerAt, type);
        memory.writeU64(headerAt + 8, BigInt(sector));
        memory.fill(statusAt, 1, 0xee);
        const descriptors = [
          { addr: headerAt, len: 16, flags: 0 },
          { addr: dataAt, len: data.bytes, flags: data.writable ? VIRTQ_DESC_F.WRITE : 0 },
          { addr: statusAt, len: 1, flags: VIRTQ_DESC_F.WRITE },
        ];
        descriptors.forEach((d, i) => {
          const at = QUEUE.desc + i * VIRTQ_DESC.SIZE;
          memory.writeU64(at + VIRTQ_DESC.ADDR, BigInt(d.addr));
          memory.writeU32(at + VIRTQ_DESC.LEN, d.len);
          memory.writeU16(at + VIRTQ_DESC.FLAGS, d.flags | (i < 2 ? VIRTQ_DESC_F.NEXT : 0));
          memory.writeU16(at + VIRTQ_DESC.NEXT, i + 1);
        });
        memory.writeU16(QUEUE.avail + VIRTQ_AVAIL.RING + 2 * slot, 0);
        memory.writeU16(QUEUE.avail + VIRTQ_AVAIL.IDX, slot + 1);
        driver.setBar(VIRTIO_PCI_BAR.NOTIFY, 2, 0);
        assert.equal(memory.readU16(QUEUE.used + VIRTQ_USED.IDX), slot + 1, 'served before the notify write was answered');
        return memory.readU8(statusAt);
      };

      assert.equal(request(VIRTIO_BLK_T.IN, 2, { writable: true, bytes: 1024 }, 0), VIRTIO_BLK_S.OK);
      assert.deepEqual([...memory.read(QUEUE.buffer + 0x100, 1024)], [...image.subarray(1024, 2048)]);
      memory.fill(QUEUE.buffer + 0x100, 512, 0x77);
      assert.equal(request(VIRTIO_BLK_T.OUT, 7, { writable: false, bytes: 512 }, 1), VIRTIO_BLK_S.OK);
      assert.deepEqual([...readFileSync(path).subarray(7 * 512)], new Array(512).fill(0x77));
      assert.equal(request(VIRTIO_BLK_T.IN, 8, { writable: true, bytes: 512 }, 2), VIRTIO_BLK_S.IOERR, 'past the capacity');
      const stats = await disk.stop();
      assert.equal(stats?.exitNotifications, 3);
    } finally {
      await disk.stop();
      disk.close();
    }
  } finally {
    await release(r);
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});
