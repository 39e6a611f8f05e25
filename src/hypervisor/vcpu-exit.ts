/**
 * Why a vCPU stopped running, as a tagged union the vCPU loop switches on. Port-I/O and MMIO exits carry `data`, a
 * live view the handler fills for reads (the backend hands it to the guest on the next run).
 */

export type VcpuExit =
  /** Port I/O. `data` holds `count` elements of `size` bytes (count > 1 for rep ins/outs). */
  | { kind: 'io-in'; port: number; size: number; count: number; data: Uint8Array }
  | { kind: 'io-out'; port: number; size: number; count: number; data: Uint8Array }
  | { kind: 'mmio-read'; address: number; data: Uint8Array }
  | { kind: 'mmio-write'; address: number; data: Uint8Array }
  /** HLT with no in-kernel irqchip to absorb it. */
  | { kind: 'hlt' }
  /** Triple fault or other CPU shutdown condition. */
  | { kind: 'shutdown' }
  /** The backend reported a guest-requested system event (e.g. PSCI/ACPI handled in the kernel). */
  | { kind: 'system-event'; event: 'shutdown' | 'reset' | 'crash' | 'other'; code: number }
  /** The run was interrupted (kick signal or immediate-exit request); the loop should check its mailbox. */
  | { kind: 'interrupted' }
  /** The backend could not run or emulate the guest (e.g. KVM emulation failure). */
  | { kind: 'internal-error'; suberror: number; detail: readonly bigint[] }
  | { kind: 'fail-entry'; reason: bigint }
  | { kind: 'unhandled'; reason: number };
