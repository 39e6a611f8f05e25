/** Small fakes shared by unit tests: interrupt lines that count, byte sinks that collect. */
import type { InterruptLine } from '../../src/interrupt/interrupt-line.ts';

/** Records triggers. */
export class CountingInterruptLine implements InterruptLine {
  count = 0;

  trigger(): void {
    this.count++;
  }
}
