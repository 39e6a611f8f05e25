/*
 * IOAPIC routing for the Nimbus test guests (see ioapic.h). The IOAPIC is reached through its index register
 * (IOREGSEL) and data window (IOWIN); each pin has a 64-bit redirection entry split over two registers.
 */
#include "ioapic.h"

/* MMIO offsets from the IOAPIC base. */
#define IOAPIC_IOREGSEL 0x00
#define IOAPIC_IOWIN 0x10
/* Indirect registers. */
#define IOAPIC_REG_VERSION 0x01 /* bits 16-23: index of the last redirection entry */
#define IOAPIC_REG_REDIRECTION_LOW(pin) (0x10 + 2 * (pin))
#define IOAPIC_REG_REDIRECTION_HIGH(pin) (0x11 + 2 * (pin))
/* Redirection entry, low half (delivery mode 0 = fixed, destination mode 0 = physical, bit 16 clear = unmasked). */
#define REDIRECTION_ACTIVE_LOW (1u << 13)
#define REDIRECTION_LEVEL (1u << 15)
#define REDIRECTION_DESTINATION_SHIFT 24 /* in the high half */
/* MPS INTI flags of an interrupt source override: polarity in bits 0-1, trigger mode in bits 2-3. */
#define INTI_POLARITY_MASK 0x3
#define INTI_POLARITY_ACTIVE_LOW 0x3
#define INTI_TRIGGER_SHIFT 2
#define INTI_TRIGGER_MASK 0x3
#define INTI_TRIGGER_LEVEL 0x3
#define ISA_BUS 0

static uint32_t ioapic_read(uint64_t base, uint32_t reg) {
    mmio_write32(base + IOAPIC_IOREGSEL, reg);
    return mmio_read32(base + IOAPIC_IOWIN);
}

static void ioapic_write(uint64_t base, uint32_t reg, uint32_t value) {
    mmio_write32(base + IOAPIC_IOREGSEL, reg);
    mmio_write32(base + IOAPIC_IOWIN, value);
}

struct ioapic_route ioapic_route_isa_irq(const struct acpi_header *madt, uint8_t irq, uint8_t vector, uint32_t apic_id) {
    if (apic_id > 0xff) panic("ioapic: the destination APIC ID does not fit a physical-mode redirection entry");
    struct ioapic_route route = {.gsi = irq};
    for (const uint8_t *e = madt_next_entry(madt, NULL); e; e = madt_next_entry(madt, e)) {
        if (e[0] != MADT_TYPE_INTERRUPT_OVERRIDE || e[1] < 10 || e[2] != ISA_BUS || e[3] != irq) continue;
        uint16_t flags = load_u16(e + 8);
        route.gsi = load_u32(e + 4);
        route.active_low = (flags & INTI_POLARITY_MASK) == INTI_POLARITY_ACTIVE_LOW;
        route.level_triggered = ((flags >> INTI_TRIGGER_SHIFT) & INTI_TRIGGER_MASK) == INTI_TRIGGER_LEVEL;
    }
    for (const uint8_t *e = madt_next_entry(madt, NULL); e; e = madt_next_entry(madt, e)) {
        if (e[0] != MADT_TYPE_IO_APIC || e[1] < 12) continue;
        uint64_t base = load_u32(e + 4);
        uint32_t gsi_base = load_u32(e + 8);
        if (!identity_mapped(base, 0x20)) panic("ioapic: MMIO registers above 4 GiB");
        uint32_t last_pin = (ioapic_read(base, IOAPIC_REG_VERSION) >> 16) & 0xff;
        if (route.gsi < gsi_base || route.gsi - gsi_base > last_pin) continue;
        route.ioapic_address = base;
        route.pin = route.gsi - gsi_base;
        uint32_t low = vector | (route.active_low ? REDIRECTION_ACTIVE_LOW : 0) | (route.level_triggered ? REDIRECTION_LEVEL : 0);
        ioapic_write(base, IOAPIC_REG_REDIRECTION_HIGH(route.pin), apic_id << REDIRECTION_DESTINATION_SHIFT);
        ioapic_write(base, IOAPIC_REG_REDIRECTION_LOW(route.pin), low);
        return route;
    }
    print_key_dec("ioapic.gsi", route.gsi);
    panic("ioapic: no IOAPIC in the MADT covers the GSI");
}
