/**
 * virtio-rng, the entropy device (virtio 1.x §5.4): one request queue, no configuration space, no device feature
 * bits (Cloud Hypervisor offers none either). The driver posts device-writable buffers; the device fills them from
 * its entropy source (`--rng src=`, /dev/urandom by default) and returns them with the number of bytes written.
 *
 * Requests are served when the queue is notified (`queueNotified`, called by the device's owner for the
 * queue's ioeventfd) and at activation. Bytes are read from the source straight into the chain's guest-memory
 * views. A chain the driver built wrongly is returned unfilled (used length 0); a broken queue or a failing source
 * sets DEVICE_NEEDS_RESET. One used-buffer notification follows each batch, if the driver wants it.
 * Pure: no node:* imports (the source is an interface).
 */
import { VIRTIO_DEVICE_TYPE, type VirtioActivation, type VirtioDevice } from '../../device.ts';
import { ChainWriter } from '../../queue/chain-io.ts';
import type { DescriptorChain } from '../../queue/descriptor-chain.ts';
import type { GuestMemory } from '../../../memory/guest-memory.ts';

/** Cloud Hypervisor's queue size for virtio-rng. */
export const VIRTIO_RNG_QUEUE_SIZE = 256;
const REQUEST_QUEUE = 0;

/** Where random bytes come from. */
export interface EntropySource {
  /** Fills a prefix of `target` and returns its length (0 when nothing is available). Throws when the source fails. */
  read(target: Uint8Array): number;
}

export class VirtioRng implements VirtioDevice {
  readonly deviceType = VIRTIO_DEVICE_TYPE.RNG;
  readonly queueMaxSizes: readonly number[] = [VIRTIO_RNG_QUEUE_SIZE];
  readonly availableFeatures = 0n;
  readonly configSize = 0;
  private readonly source: EntropySource;
  private active: VirtioActivation | undefined;

  constructor(source: EntropySource) {
    this.source = source;
  }

  /** There is no configuration space: the transport never calls this. */
  readConfig(_offset: number, data: Uint8Array): void {
    data.fill(0);
  }

  /** There is no configuration space: the transport never calls this. */
  writeConfig(_offset: number, _data: Uint8Array): void {}

  activate(context: VirtioActivation): void {
    this.active = context;
    this.serve();
  }

  reset(): void {
    this.active = undefined;
  }

  /** The driver notified queue `index` (only queue 0 exists). */
  queueNotified(index: number): void {
    if (index === REQUEST_QUEUE) this.serve();
  }

  /** Fills every available buffer, then notifies the driver once if it wants it. */
  private serve(): void {
    const context = this.active;
    const queue = context?.queues[REQUEST_QUEUE];
    if (!context || !queue?.ready) return;
    try {
      for (let popped = queue.pop(); popped; popped = queue.pop()) {
        if (popped.kind === 'invalid') queue.addUsed(popped.headIndex, 0);
        else queue.addUsed(popped.chain.headIndex, this.fill(context.memory, popped.chain));
      }
      if (queue.needsNotification()) context.interrupts.queue(REQUEST_QUEUE);
    } catch (error) {
      context.needsReset(`virtio-rng: ${(error as Error).message}`);
    }
  }

  /** Reads from the source into the chain's writable buffers, in order, until one comes back short. */
  private fill(memory: GuestMemory, chain: DescriptorChain): number {
    const writer = new ChainWriter(memory, chain);
    let filled = 0;
    for (const view of writer.views()) {
      const length = this.source.read(view);
      filled += length;
      if (length < view.length) break;
    }
    writer.commit(filled);
    return filled;
  }
}
