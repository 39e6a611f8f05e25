/*
 * Local APIC access for the Nimbus test guests, in xAPIC (MMIO) or x2APIC (MSR) mode as IA32_APIC_BASE says, plus
 * a 1 kHz periodic timer that the guests wait on with sti; hlt (never a polling loop: CPL0 is emulated under PVM).
 */
#pragma once
#include "guest.h"

#define TICKS_PER_SECOND 1000

/* ICR fields (Intel SDM vol. 3, 11.6.1). */
#define ICR_DELIVERY_INIT 0x500
#define ICR_DELIVERY_STARTUP 0x600
#define ICR_LEVEL_ASSERT 0x4000
#define ICR_TRIGGER_LEVEL 0x8000

/* Reads IA32_APIC_BASE, enables the APIC (SVR), masks LINT0/LINT1, installs the timer and spurious gates and starts
 * the periodic timer. Interrupts stay disabled until a wait. */
void lapic_init(void);
int lapic_is_x2apic(void);
uint32_t lapic_id(void);
/* Sends an IPI: icr_low holds the delivery mode, level and vector; destination is a physical APIC ID. */
void lapic_send_ipi(uint32_t destination, uint32_t icr_low);
uint64_t ticks_now(void);
/* Sleeps until the next interrupt (sti; hlt), then disables interrupts again. */
void wait_for_interrupt(void);
/* Sleeps (sti; hlt) until `ticks` timer ticks have passed. */
void wait_ticks(uint64_t ticks);
