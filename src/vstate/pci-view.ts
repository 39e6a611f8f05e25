/**
 * A vCPU worker's view of PCI segment 0 (docs/design/virtio-devices.md): its own host bridge at 00:00.0, its own
 * CF8/CFC latch (PciConfigIo) on the port-I/O bus and ECAM window (PciEcam) on the MMIO bus, over a PciBus whose
 * other functions are proxies that forward configuration accesses to each device's owner through its mailbox.
 * The segment's BAR windows sit on the MMIO bus too: an exit inside one is looked up in the shared BAR map and
 * forwarded to the owner of the BAR it hits (addresses in no BAR read all ones). Nothing here is a hot path: queue
 * notifications never exit (ioeventfds), and register accesses are rare.
 */
import { ECAM_BYTES_PER_BUS, PCI_CONFIG_IO_PORT, PCI_CONFIG_IO_PORT_COUNT, PCI_MMCONFIG_START } from '../arch/x86_64/layout.ts';
import type { Bus, BusDevice } from '../bus/bus.ts';
import type { LockMode } from '../devices/shared-lock.ts';
import { PciBus, type PciFunction } from '../pci/bus.ts';
import { PciConfigIo } from '../pci/config-io.ts';
import { PciEcam } from '../pci/ecam.ts';
import { createHostBridge } from '../pci/host-bridge.ts';
import { BarMap, type BarMapData } from '../vmm/devices/bar-map.ts';
import { ACCESS_KIND, MailboxClient, type Doorbell } from '../vmm/devices/device-mailbox.ts';
import { EXIT_COUNTER, type VcpuExitCounters } from './exit-counters.ts';

/** A device function on the segment (function 0 of its slot); its position in the list is its BAR map index. */
export interface PciFunctionData {
  readonly slot: number;
  readonly mailbox: SharedArrayBuffer;
  readonly doorbellFd: number;
}

export interface PciViewData {
  readonly functions: readonly PciFunctionData[];
  readonly barMap: BarMapData;
}

export interface PciViewOptions {
  readonly counters: VcpuExitCounters;
  /** The doorbell of a device's owner, from its eventfd. */
  readonly doorbell: (fd: number) => Doorbell;
  /** "wait" in vCPU workers. */
  readonly lockMode: LockMode;
}

/** A device function owned by another thread: every configuration access goes through its mailbox. */
class ForwardedFunction implements PciFunction {
  readonly client: MailboxClient;
  private readonly counters: VcpuExitCounters;

  constructor(client: MailboxClient, counters: VcpuExitCounters) {
    this.client = client;
    this.counters = counters;
  }

  readConfig(offset: number, data: Uint8Array): void {
    this.counters.add(EXIT_COUNTER.PCI_FORWARDED);
    this.client.access(ACCESS_KIND.CONFIG_READ, offset, data);
  }

  writeConfig(offset: number, data: Uint8Array): void {
    this.counters.add(EXIT_COUNTER.PCI_FORWARDED);
    this.client.access(ACCESS_KIND.CONFIG_WRITE, offset, data);
  }
}

/** One BAR window of the segment on the MMIO bus: routes each access to the BAR it hits. */
class BarWindow implements BusDevice {
  private readonly base: number;
  private readonly barMap: BarMap;
  private readonly functions: readonly ForwardedFunction[];
  private readonly counters: VcpuExitCounters;

  constructor(base: number, barMap: BarMap, functions: readonly ForwardedFunction[], counters: VcpuExitCounters) {
    this.base = base;
    this.barMap = barMap;
    this.functions = functions;
    this.counters = counters;
  }

  read(offset: number, data: Uint8Array): void {
    if (!this.forward(ACCESS_KIND.BAR_READ, offset, data)) data.fill(0xff);
  }

  write(offset: number, data: Uint8Array): void {
    this.forward(ACCESS_KIND.BAR_WRITE, offset, data);
  }

  private forward(kind: typeof ACCESS_KIND.BAR_READ | typeof ACCESS_KIND.BAR_WRITE, offset: number, data: Uint8Array): boolean {
    const hit = this.barMap.lookup(this.base + offset);
    const owner = hit && this.functions[hit.device];
    if (!hit || !owner) return false;
    this.counters.add(EXIT_COUNTER.PCI_FORWARDED);
    owner.client.access(kind, hit.offset, data);
    return true;
  }
}

/** Puts the PCI segment on this vCPU's buses. */
export function attachPciView(buses: { pio: Bus; mmio: Bus }, data: PciViewData, options: PciViewOptions): void {
  const { counters } = options;
  const pciBus = new PciBus(createHostBridge());
  const functions = data.functions.map((f) => {
    const proxy = new ForwardedFunction(new MailboxClient(f.mailbox, options.doorbell(f.doorbellFd), options.lockMode), counters);
    pciBus.attach(pciBus.allocateSlot(f.slot), 0, proxy);
    return proxy;
  });
  buses.pio.insert(PCI_CONFIG_IO_PORT, PCI_CONFIG_IO_PORT_COUNT, 'pci-config-io', new PciConfigIo(pciBus));
  buses.mmio.insert(PCI_MMCONFIG_START, ECAM_BYTES_PER_BUS, 'pci-ecam', new PciEcam(pciBus));
  const barMap = new BarMap(data.barMap, options.lockMode);
  for (const [name, window] of Object.entries(barMap.windows)) {
    if (window.size > 0) buses.mmio.insert(window.base, window.size, `pci-${name}`, new BarWindow(window.base, barMap, functions, counters));
  }
}
