/**
 * The MsiRouter of one PCI function on KVM (docs/design/virtio-devices.md): each MSI-X vector the guest unmasks
 * gets a GSI from the VM's shared route table, an MSI route carrying the vector's message, and an irqfd (an eventfd
 * wired to that GSI), so raising the vector is one eventfd write from the device's thread, without an ioctl.
 * A vector's GSI and irqfd are made the first time it is routed (drivers use few of a device's vectors); masking
 * a vector removes its route. Masked vectors never reach `inject`: the function's Msix keeps their pending bits.
 * A failing route update is logged and leaves the vector undeliverable; it never reaches the guest's config write.
 * Pure: no node:* imports (the irqfds come from an IrqfdFactory).
 */
import type { InterruptLine } from '../../interrupt/interrupt-line.ts';
import type { MsiMessage, MsiRouter } from '../../pci/msix.ts';
import type { Logger } from '../../util/logger.ts';
import type { GsiRouteTable } from './gsi-routes.ts';

/** Makes irqfds: an eventfd registered with the hypervisor for `gsi`, returned as the line that raises it. */
export interface IrqfdFactory {
  create(gsi: number): InterruptLine;
}

interface RoutedVector {
  readonly gsi: number;
  readonly irqfd: InterruptLine;
}

export class IrqfdMsiRouter implements MsiRouter {
  private readonly table: GsiRouteTable;
  private readonly irqfds: IrqfdFactory;
  private readonly logger: Logger;
  private readonly name: string;
  private readonly vectors: (RoutedVector | undefined)[] = [];

  /** `name` identifies the function in log messages. */
  constructor(table: GsiRouteTable, irqfds: IrqfdFactory, logger: Logger, name: string) {
    this.table = table;
    this.irqfds = irqfds;
    this.logger = logger;
    this.name = name;
  }

  route(vector: number, message: MsiMessage, masked: boolean): void {
    try {
      const routed = this.vectors[vector] ?? (masked ? undefined : this.allocate(vector));
      if (routed) this.table.setMsiRoute(routed.gsi, masked ? undefined : message);
    } catch (error) {
      this.logger.warn(`${this.name}: MSI-X vector ${vector} cannot be routed: ${(error as Error).message}`);
    }
  }

  inject(vector: number): void {
    this.vectors[vector]?.irqfd.trigger();
  }

  private allocate(vector: number): RoutedVector {
    const gsi = this.table.allocate();
    const routed = { gsi, irqfd: this.irqfds.create(gsi) };
    this.vectors[vector] = routed;
    return routed;
  }
}
