/** XSDT (ACPI 6.5 §5.2.8): the list of 64-bit physical addresses of every other table except the DSDT. Pure. */
import { finishSdt, startSdt } from './sdt.ts';

export const XSDT_REVISION = 1;
/** Table addresses (u64 each) start right after the header. */
export const XSDT = { entries: 36, entrySize: 8 } as const;

export function buildXsdt(tableAddresses: readonly number[]): Uint8Array {
  const writer = startSdt('XSDT', XSDT_REVISION);
  for (const address of tableAddresses) writer.u64(address);
  return finishSdt(writer);
}
