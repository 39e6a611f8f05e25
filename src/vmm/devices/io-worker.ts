/**
 * Entry point of a device's I/O worker (docs/design/virtio-devices.md): the only owner of one virtio-pci function.
 * It builds the function (VirtioPciTransport + device) over its own views of guest RAM and an attached handle of
 * the VM, registers an ioeventfd on each queue's notify address, and blocks in epoll_wait on those and on its
 * doorbell. A queue notification goes to the device; a doorbell wake serves the access a vCPU forwarded through
 * the mailbox, or notices the main thread's stop request. Interrupts leave through irqfds (IrqfdMsiRouter), and
 * guest BAR moves update the shared BAR map and move the ioeventfds. On stop it removes its ioeventfds and irqfds,
 * reports its counters and exits.
 */
import { parentPort } from 'node:worker_threads';
import { attachVm } from '../../hypervisor/attach.ts';
import type { Vm } from '../../hypervisor/hypervisor.ts';
import { drainEventFd, Epoll } from '../../host/epoll.ts';
import { EventFd, eventFdInterruptLine } from '../../host/eventfd.ts';
import { fdSink, lineWriter } from '../../host/fd-sink.ts';
import { fdSource } from '../../host/fd-source.ts';
import { guestMemoryViews } from '../../host/guest-memory-views.ts';
import { currentThread, installKickHandler } from '../../host/thread-kick.ts';
import type { InterruptLine } from '../../interrupt/interrupt-line.ts';
import type { BarRelocation } from '../../pci/config-space.ts';
import { createLogger, type Logger } from '../../util/logger.ts';
import type { VirtioDevice } from '../../virtio/device.ts';
import { VirtioBlk } from '../../virtio/devices/block/virtio-blk.ts';
import { VirtioRng } from '../../virtio/devices/rng/virtio-rng.ts';
import { VirtioPciTransport } from '../../virtio/transport/virtio-pci-transport.ts';
import { BarMap } from './bar-map.ts';
import { DiskFile } from './disk-file.ts';
import { ACCESS_KIND, MailboxServer, type AccessKind } from './device-mailbox.ts';
import { GsiRouteTable } from './gsi-routes.ts';
import type { IoWorkerCounters, IoWorkerData, IoWorkerMessage, VirtioDeviceSpec } from './io-worker-protocol.ts';
import { IrqfdMsiRouter } from './irqfd-msi-router.ts';

/** A virtio device as its owner drives it: the transport's contract plus queue notifications. */

/** epoll token of the doorbell; queue `i`'s notify eventfd is token i + 1. */
const DOORBELL_TOKEN = 0;
/** Any write length reaches the ioeventfd (virtio drivers write 16 bits, 32 with NOTIFICATION_DATA). */
const NOTIFY_IOEVENTFD = { pio: false, length: 0 } as const;

const port = parentPort!;
const post = (message: IoWorkerMessage): void => port.postMessage(message);

installKickHandler();
port.once('message', (data: IoWorkerData) => {
  let owner: FunctionOwner;
  try {
    owner = new FunctionOwner(data);
  } catch (error) {
    post({ type: 'failed', message: (error as Error).message });
    return;
  }
  post({ type: 'ready', thread: currentThread() });
  owner.run();
  post({ type: 'stopped', counters: owner.close() });
});

function createDevice(spec: VirtioDeviceSpec, id: string, logger: Logger): VirtioDevice {
  switch (spec.kind) {
    case 'rng':
      return new VirtioRng(fdSource(spec.sourceFd));
    case 'disk':
      return new VirtioBlk({
        backend: new DiskFile(spec.fd),
        readonly: spec.readonly,
        numQueues: spec.numQueues,
        queueSize: spec.queueSize,
        serial: spec.serial,
        logger,
        id,
      });
  }
}

/** One PCI function, its eventfds and its event loop. */
class FunctionOwner {
  private readonly id: string;
  private readonly index: number;
  private readonly logger: Logger;
  private readonly vm: Vm;
  private readonly barMap: BarMap;
  private readonly device: VirtioDevice;
  private readonly transport: VirtioPciTransport;
  private readonly mailbox: MailboxServer;
  private readonly doorbellFd: number;
  private readonly epoll = new Epoll();
  /** One non-blocking eventfd per queue, the target of the queue's notify ioeventfd. */
  private readonly notifyFds: EventFd[] = [];
  /** Where each queue's ioeventfd is registered (undefined: not registered). */
  private registeredNotify: (number | undefined)[] = [];
  private readonly irqfds: { eventFd: EventFd; gsi: number }[] = [];
  private readonly counters: IoWorkerCounters = { ioeventfdNotifications: 0, exitNotifications: 0, forwardedAccesses: 0, interrupts: 0 };

  constructor(data: IoWorkerData) {
    this.id = data.id;
    this.index = data.index;
    this.doorbellFd = data.doorbellFd;
    this.logger = createLogger({
      level: data.logLevel,
      thread: data.id,
      now: () => Number(process.hrtime.bigint() - data.startTime) / 1e9,
      writeLine: lineWriter(fdSink(data.logFd)),
    });
    this.barMap = new BarMap(data.barMap, 'wait');
    this.mailbox = new MailboxServer(data.mailbox);
    try {
      this.vm = attachVm(data.vm);
      this.device = createDevice(data.device, data.id, this.logger);
      const routes = new GsiRouteTable(data.gsiRoutes, this.vm, 'wait');
      this.transport = new VirtioPciTransport({
        device: this.device,
        memory: guestMemoryViews(data.memory),
        barAddress: data.barAddress,
        msiRouter: new IrqfdMsiRouter(routes, { create: (gsi) => this.createIrqfd(gsi) }, this.logger, data.id),
        hooks: {
          barMoved: (move, addresses) => this.moveBar(move, addresses),
          queueNotified: (queue) => {
            this.counters.exitNotifications++;
            this.device.queueNotified(queue);
          },
        },
        id: data.id,
        logger: this.logger,
      });
      this.epoll.add(this.doorbellFd, DOORBELL_TOKEN);
      this.device.queueMaxSizes.forEach((_, queue) => {
        const eventFd = new EventFd({ nonBlocking: true });
        this.notifyFds.push(eventFd);
        this.epoll.add(eventFd.fd, queue + 1);
      });
      this.registerNotify(this.transport.notifyAddresses());
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /** Serves events until the main thread asks the worker to stop. */
  run(): void {
    while (!this.mailbox.stopRequested) {
      const ready = this.epoll.wait();
      for (let i = 0; i < ready; i++) this.dispatch(this.epoll.token(i));
    }
  }

  /** Unregisters and closes everything the worker made; returns its counters. Safe after a partial start. */
  close(): IoWorkerCounters {
    this.unregisterNotify();
    for (const { eventFd, gsi } of this.irqfds.splice(0)) {
      this.bestEffort(`remove the irqfd of GSI ${gsi}`, () => this.vm.unregisterIrqfd(eventFd.fd, gsi));
      eventFd.close();
    }
    for (const eventFd of this.notifyFds.splice(0)) eventFd.close();
    this.epoll.close();
    return { ...this.counters };
  }

  private dispatch(token: number): void {
    try {
      if (token === DOORBELL_TOKEN) {
        drainEventFd(this.doorbellFd);
        if (this.mailbox.serve((kind, offset, data) => this.access(kind, offset, data))) this.counters.forwardedAccesses++;
        return;
      }
      const queue = token - 1;
      const eventFd = this.notifyFds[queue];
      if (!eventFd) return;
      this.counters.ioeventfdNotifications += drainEventFd(eventFd.fd);
      this.device.queueNotified(queue);
    } catch (error) {
      this.logger.error(`${this.id}: ${(error as Error).message}`);
    }
  }

  /** A register access a vCPU forwarded. */
  private access(kind: AccessKind, offset: number, data: Uint8Array): void {
    switch (kind) {
      case ACCESS_KIND.CONFIG_READ:
        return this.transport.readConfig(offset, data);
      case ACCESS_KIND.CONFIG_WRITE:
        return this.transport.writeConfig(offset, data);
      case ACCESS_KIND.BAR_READ:
        return this.transport.read(offset, data);
      case ACCESS_KIND.BAR_WRITE:
        return this.transport.write(offset, data);
    }
  }

  /** The guest moved BAR0: take the new place in the BAR map, then move the notify ioeventfds there. */
  private moveBar(move: BarRelocation, addresses: readonly number[]): boolean {
    if (!this.barMap.relocate(this.index, move)) return false;
    this.unregisterNotify();
    this.registerNotify(addresses);
    this.logger.info(`${this.id}: BAR${move.index} moved from 0x${move.oldAddress.toString(16)} to 0x${move.newAddress.toString(16)}`);
    return true;
  }

  /**
   * Registers each queue's ioeventfd at its notify address. A queue whose registration fails still works: its
   * notify writes then exit and reach the transport through the vCPU.
   */
  private registerNotify(addresses: readonly number[]): void {
    this.registeredNotify = addresses.map((address, queue) => {
      const eventFd = this.notifyFds[queue]!;
      const registered = this.bestEffort(`register the notify ioeventfd of queue ${queue}`, () =>
        this.vm.registerIoeventfd(eventFd.fd, address, NOTIFY_IOEVENTFD),
      );
      return registered ? address : undefined;
    });
  }

  private unregisterNotify(): void {
    this.registeredNotify.forEach((address, queue) => {
      const eventFd = this.notifyFds[queue];
      if (address === undefined || !eventFd) return;
      this.bestEffort(`remove the notify ioeventfd of queue ${queue}`, () => this.vm.unregisterIoeventfd(eventFd.fd, address, NOTIFY_IOEVENTFD));
    });
    this.registeredNotify = [];
  }

  /** An eventfd wired by irqfd to `gsi`, counted as it fires. */
  private createIrqfd(gsi: number): InterruptLine {
    const eventFd = new EventFd();
    try {
      this.vm.registerIrqfd(eventFd.fd, gsi);
    } catch (error) {
      eventFd.close();
      throw error;
    }
    this.irqfds.push({ eventFd, gsi });
    const line = eventFdInterruptLine(eventFd.fd);
    return {
      trigger: () => {
        this.counters.interrupts++;
        line.trigger();
      },
    };
  }

  /** Runs `action`; a failure is logged as a warning. Returns whether it succeeded. */
  private bestEffort(what: string, action: () => void): boolean {
    try {
      action();
      return true;
    } catch (error) {
      this.logger.warn(`${this.id}: cannot ${what}: ${(error as Error).message}`);
      return false;
    }
  }
}
