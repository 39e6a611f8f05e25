/**
 * Entry point of a vCPU Worker: started before the VM is built, it waits for its VcpuWorkerData, re-attaches the vCPU, builds this thread's instances of the legacy devices over the
 * VM's shared device state and its view of the PCI segment (accesses to PCI devices are forwarded to their I/O
 * workers), reports its thread id (for kicks) and runs the vCPU loop, counting exits, until the guest or the main
 * thread stops it.
 */
import { parentPort } from 'node:worker_threads';
import { LegacyPlatform } from '../devices/legacy-platform.ts';
import { attachVcpu } from '../hypervisor/attach.ts';
import { eventFdInterruptLine } from '../host/eventfd.ts';
import { fdSink, lineWriter, nullSink } from '../host/fd-sink.ts';
import { currentThread, installKickHandler } from '../host/thread-kick.ts';
import { createLogger } from '../util/logger.ts';
import type { Doorbell } from '../vmm/devices/device-mailbox.ts';
import { CountingBus, VcpuExitCounters } from './exit-counters.ts';
import { attachPciView } from './pci-view.ts';
import { VcpuControl } from './vcpu-control.ts';
import { runVcpuLoop, type VcpuStopReason } from './vcpu-loop.ts';
import type { VcpuWorkerData, VcpuWorkerMessage } from './vcpu-worker-protocol.ts';

const port = parentPort!;
const post = (message: VcpuWorkerMessage): void => port.postMessage(message);

installKickHandler();
port.once('message', (data: VcpuWorkerData) => run(data));

function run(data: VcpuWorkerData): void {
  const vcpu = attachVcpu(data.vcpu);
  const nanosSinceStart = (): number => Number(process.hrtime.bigint() - data.startTime);
  const logger = createLogger({
    level: data.logLevel,
    thread: `vcpu${data.vcpu.id}`,
    now: () => nanosSinceStart() / 1e9,
    writeLine: lineWriter(fdSink(data.logFd)),
  });

  let pending: VcpuStopReason | undefined;
  const platform = new LegacyPlatform(data.legacy, {
    serialInterrupt: eventFdInterruptLine(data.serialIrqFd),
    serialOutput: data.serialOutputFd === undefined ? nullSink : fdSink(data.serialOutputFd),
    firmwareDebugOutput: fdSink(data.firmwareDebugFd),
    platform: {
      requestShutdown: () => void (pending ??= { kind: 'guest-shutdown' }),
      requestReset: () => void (pending ??= { kind: 'guest-reset' }),
    },
    logger,
    monotonicClock: nanosSinceStart,
    wallClock: Date.now,
    lockMode: 'wait',
  });
  const counters = new VcpuExitCounters(data.exitCounters);
  const pio = new CountingBus('pio', counters);
  const mmio = new CountingBus('mmio', counters);
  platform.attach({ pio, mmio });
  attachPciView({ pio, mmio }, data.pci, { counters, doorbell: eventFdDoorbell, lockMode: 'wait' });

  post({ type: 'ready', thread: currentThread() });
  let reason: VcpuStopReason;
  try {
    reason = runVcpuLoop({ vcpu, control: new VcpuControl(data.control), pio, mmio, pendingStop: () => pending });
  } catch (error) {
    reason = { kind: 'error', message: `vCPU ${vcpu.id}: ${(error as Error).message}` };
  }
  vcpu.close();
  post({ type: 'stopped', reason });
}

/** A device owner's doorbell: a write to its eventfd. */
function eventFdDoorbell(fd: number): Doorbell {
  const line = eventFdInterruptLine(fd);
  return { ring: () => line.trigger() };
}
