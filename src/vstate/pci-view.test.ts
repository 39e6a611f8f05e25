/**
 * Tests of a vCPU's PCI view in one thread: each device's "owner" is a MailboxServer in front of a real virtio-pci
 * transport (virtio-rng over fake memory), served synchronously when the vCPU side rings its doorbell.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PCI_CONFIG_IO_PORT, PCI_MMCONFIG_START } from '../arch/x86_64/layout.ts';
import { Bus } from '../bus/bus.ts';
import { GuestMemory } from '../memory/guest-memory.ts';
import type { MsiRouter } from '../pci/msix.ts';
import { VirtioRng } from '../virtio/devices/rng/virtio-rng.ts';
import { VIRTIO_PCI_BAR, VIRTIO_PCI_COMMON_CFG } from '../virtio/transport/virtio-pci-layout.ts';
import { VirtioPciTransport } from '../virtio/transport/virtio-pci-transport.ts';
import { BarMap, type BarWindows } from '../vmm/devices/bar-map.ts';
import { ACCESS_KIND, createMailbox, MailboxServer } from '../vmm/devices/device-mailbox.ts';
import { VcpuExitCounters } from './exit-counters.ts';
import { attachPciView } from './pci-view.ts';

const WINDOWS: BarWindows = { mmio32: { base: 0xc000_0000, size: 0x2800_0000 }, mmio64: { base: 0x1_0000_0000, size: 0x100_0000_0000 } };
const noRouting: MsiRouter = { route: () => {}, inject: () => {} };

function setup(slots: number[]): { pio: Bus; mmio: Bus; counters: VcpuExitCounters; bars: number[]; map: BarMap } {
  const barMapData = BarMap.create(slots.length, WINDOWS);
  const map = new BarMap(barMapData, 'spin');
  const memory = GuestMemory.anonymous([{ guestBase: 0, size: 0x10000 }]);
  const owners = slots.map((_, index) => {
    const barAddress = map.allocate(index, 'memory64', VIRTIO_PCI_BAR.SIZE, VIRTIO_PCI_BAR.ALIGNMENT);
    const transport = new VirtioPciTransport({
      device: new VirtioRng({ read: () => 0 }),
      memory,
      barAddress,
      msiRouter: noRouting,
      hooks: { barMoved: (move) => map.relocate(index, move), queueNotified: () => {} },
    });
    const mailbox = createMailbox();
    const server = new MailboxServer(mailbox);
    const serve = (): void =>
      void server.serve((kind, offset, data) => {
        if (kind === ACCESS_KIND.CONFIG_READ) transport.readConfig(offset, data);
        else if (kind === ACCESS_KIND.CONFIG_WRITE) transport.writeConfig(offset, data);
        else if (kind === ACCESS_KIND.BAR_READ) transport.read(offset, data);
        else transport.write(offset, data);
      });
    return { barAddress, mailbox, serve };
  });
  const pio = new Bus('pio');
  const mmio = new Bus('mmio');
  const counters = new VcpuExitCounters();
  attachPciView(
    { pio, mmio },
    { functions: slots.map((slot, index) => ({ slot, mailbox: owners[index]!.mailbox, doorbellFd: index })), barMap: barMapData },
    { counters, doorbell: (fd) => ({ ring: () => owners[fd]!.serve() }), lockMode: 'spin' },
  );
  return { pio, mmio, counters, bars: owners.map((o) => o.barAddress), map };
}

function readValue(bus: Bus, address: number, width: number): number {
  const data = new Uint8Array(width);
  bus.read(address, data);
  return data.reduceRight((value, byte) => value * 256 + byte, 0);
}

function u32(value: number): Uint8Array {
  return Uint8Array.of(value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24);
}

/** Vendor/device dword of (0, slot, fn) through CF8/CFC. */
function cf8Identity(pio: Bus, slot: number, fn = 0): number {
  pio.write(PCI_CONFIG_IO_PORT, u32(0x8000_0000 | (slot << 11) | (fn << 8)));
  return readValue(pio, PCI_CONFIG_IO_PORT + 4, 4);
}

test('CF8/CFC and ECAM see the local host bridge at 00:00.0 and the forwarded devices at their slots', () => {
  const { pio, mmio, counters } = setup([1, 3]);
  assert.equal(cf8Identity(pio, 0), 0x0d57_8086);
  assert.equal(cf8Identity(pio, 1), 0x1044_1af4);
  assert.equal(cf8Identity(pio, 3), 0x1044_1af4);
  assert.equal(cf8Identity(pio, 2), 0xffff_ffff, 'an empty slot');
  assert.equal(cf8Identity(pio, 1, 1), 0xffff_ffff, 'function 1 of a single-function device');
  assert.equal(readValue(mmio, PCI_MMCONFIG_START + (1 << 15) + 0x08, 4) >>> 8, 0xff_ff00, 'class code through ECAM');
  assert.equal(readValue(mmio, PCI_MMCONFIG_START + (3 << 15), 2), 0x1af4);
  assert.deepEqual(counters.read(), { pio: 0, mmio: 0, pciForwarded: 4 }, 'the buses here are plain; only forwards count');
});

test('BAR0 accesses are routed by the BAR map to the owning device, other window addresses read all ones', () => {
  const { mmio, counters, bars } = setup([1, 2]);
  const numQueues = VIRTIO_PCI_COMMON_CFG.NUM_QUEUES.offset;
  assert.equal(readValue(mmio, bars[0]! + numQueues, 2), 1);
  const status = VIRTIO_PCI_COMMON_CFG.DEVICE_STATUS.offset;
  mmio.write(bars[1]! + status, Uint8Array.of(1));
  assert.equal(readValue(mmio, bars[1]! + status, 1), 1, 'device 1 was acknowledged');
  assert.equal(readValue(mmio, bars[0]! + status, 1), 0, 'device 0 was not');
  assert.equal(readValue(mmio, WINDOWS.mmio32.base, 4), 0xffff_ffff);
  mmio.write(WINDOWS.mmio32.base, u32(1));
  assert.equal(counters.read().pciForwarded, 4);
});

test('a guest BAR move through configuration space reroutes the next BAR accesses', () => {
  const { pio, mmio, bars, map } = setup([1]);
  const newBar = 0x2_0000_0000;
  const select = (register: number): boolean => pio.write(PCI_CONFIG_IO_PORT, u32(0x8000_0000 | (1 << 11) | register));
  select(0x04);
  pio.write(PCI_CONFIG_IO_PORT + 4, Uint8Array.of(0, 0));
  select(0x10);
  pio.write(PCI_CONFIG_IO_PORT + 4, u32(newBar % 2 ** 32 | 0x4));
  select(0x14);
  pio.write(PCI_CONFIG_IO_PORT + 4, u32(Math.floor(newBar / 2 ** 32)));
  select(0x04);
  pio.write(PCI_CONFIG_IO_PORT + 4, Uint8Array.of(0x02, 0));
  assert.deepEqual(map.barOf(0), { address: newBar, size: VIRTIO_PCI_BAR.SIZE });
  assert.equal(readValue(mmio, newBar + VIRTIO_PCI_COMMON_CFG.NUM_QUEUES.offset, 2), 1);
  assert.equal(readValue(mmio, bars[0]! + VIRTIO_PCI_COMMON_CFG.NUM_QUEUES.offset, 2), 0xffff);
});
