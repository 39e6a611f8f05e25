/** Integer checks shared by the PCI layer (BAR sizes, register fields, snapshot values). Pure: no node:* imports. */

/** True for a safe integer in [0, max]. */
export function isInteger(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= max;
}

/** True for a positive safe integer with one bit set. */
export function isPowerOfTwo(value: number): boolean {
  return Number.isSafeInteger(value) && value > 0 && 2 ** Math.round(Math.log2(value)) === value;
}
