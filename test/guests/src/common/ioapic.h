/*
 * IOAPIC routing for the Nimbus test guests: how a driver connects an ISA IRQ to a vector, from the MADT (interrupt
 * source overrides, IOAPIC entries) down to the redirection entry.
 */
#pragma once
#include "acpi.h"

/* Where an ISA IRQ was routed (ioapic_route_isa_irq). */
struct ioapic_route {
    uint32_t gsi;
    uint64_t ioapic_address;
    uint32_t pin;
    int level_triggered;
    int active_low;
};

/*
 * Routes ISA IRQ `irq` to `vector` on the local APIC `apic_id`: applies the MADT's interrupt source override for the
 * IRQ if there is one (else GSI = IRQ, edge, active high), finds the IOAPIC whose pins cover the GSI and programs
 * its redirection entry (fixed delivery, physical destination, unmasked). PANIC when no IOAPIC covers the GSI.
 */
struct ioapic_route ioapic_route_isa_irq(const struct acpi_header *madt, uint8_t irq, uint8_t vector, uint32_t apic_id);
