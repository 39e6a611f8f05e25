/**
 * Interrupt contracts handed to devices. A device never sees the hypervisor: it gets an InterruptLine to raise
 * (edge-triggered, as Cloud Hypervisor's legacy devices and irqfd are). Pure: no node:* imports.
 */

/** An edge-triggered interrupt source (a GSI through irqfd/KVM_IRQ_LINE, or an MSI vector). */
export interface InterruptLine {
  trigger(): void;
}

