/*
 * Local APIC driver of the Nimbus test guests (see lapic.h). The timer ISR in entry.S reads lapic_x2apic and
 * lapic_eoi_address and increments timer_ticks.
 */
#include "lapic.h"

#define APIC_BASE_ENABLE 0x800
#define APIC_BASE_ADDRESS_MASK 0xffffffffff000ull
#define X2APIC_MSR_BASE 0x800

/* Register offsets in the xAPIC page; the x2APIC MSR is 0x800 + offset / 16. */
#define LAPIC_ID 0x20
#define LAPIC_TPR 0x80
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LOW 0x300
#define LAPIC_ICR_HIGH 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_TIMER_INITIAL_COUNT 0x380
#define LAPIC_TIMER_DIVIDE 0x3e0

#define SVR_APIC_ENABLE 0x100
#define LVT_MASKED 0x10000
#define LVT_TIMER_PERIODIC 0x20000
#define TIMER_DIVIDE_BY_1 0xb
#define ICR_DELIVERY_PENDING 0x1000
/* KVM's and QEMU's APIC timers count at 1 GHz (1 ns per tick with divide-by-1). */
#define TIMER_COUNT_PER_TICK (1000000000u / TICKS_PER_SECOND)

uint8_t lapic_x2apic = 0;
uint64_t lapic_eoi_address = 0;
uint64_t timer_ticks = 0;
static uint64_t lapic_base = 0;

extern void timer_isr(void);
extern void spurious_isr(void);

static uint32_t lapic_read(uint32_t reg) {
    if (lapic_x2apic) return (uint32_t)rdmsr(X2APIC_MSR_BASE + (reg >> 4));
    return mmio_read32(lapic_base + reg);
}

static void lapic_write(uint32_t reg, uint32_t value) {
    if (lapic_x2apic)
        wrmsr(X2APIC_MSR_BASE + (reg >> 4), value);
    else
        mmio_write32(lapic_base + reg, value);
}

void lapic_init(void) {
    uint64_t apic_base = rdmsr(MSR_APIC_BASE);
    if (!(apic_base & APIC_BASE_ENABLE)) panic("lapic: disabled in IA32_APIC_BASE");
    lapic_x2apic = (apic_base & APIC_BASE_X2APIC) != 0;
    lapic_base = apic_base & APIC_BASE_ADDRESS_MASK;
    if (!lapic_x2apic && !identity_mapped(lapic_base, 0x1000)) panic("lapic: xAPIC page above 4 GiB");
    lapic_eoi_address = lapic_base + LAPIC_EOI;

    idt_set_gate(VECTOR_TIMER, timer_isr);
    idt_set_gate(VECTOR_SPURIOUS, spurious_isr);
    lapic_write(LAPIC_TPR, 0);
    lapic_write(LAPIC_SVR, SVR_APIC_ENABLE | VECTOR_SPURIOUS);
    lapic_write(LAPIC_LVT_LINT0, LVT_MASKED);
    lapic_write(LAPIC_LVT_LINT1, LVT_MASKED);
    lapic_write(LAPIC_TIMER_DIVIDE, TIMER_DIVIDE_BY_1);
    lapic_write(LAPIC_LVT_TIMER, LVT_TIMER_PERIODIC | VECTOR_TIMER);
    lapic_write(LAPIC_TIMER_INITIAL_COUNT, TIMER_COUNT_PER_TICK);
}

int lapic_is_x2apic(void) { return lapic_x2apic; }

uint32_t lapic_id(void) {
    uint32_t id = lapic_read(LAPIC_ID);
    return lapic_x2apic ? id : id >> 24;
}

void lapic_send_ipi(uint32_t destination, uint32_t icr_low) {
    if (lapic_x2apic) {
        wrmsr(X2APIC_MSR_BASE + (LAPIC_ICR_LOW >> 4), ((uint64_t)destination << 32) | icr_low);
        return;
    }
    lapic_write(LAPIC_ICR_HIGH, destination << 24);
    lapic_write(LAPIC_ICR_LOW, icr_low);
    while (lapic_read(LAPIC_ICR_LOW) & ICR_DELIVERY_PENDING) wait_for_interrupt();
}

uint64_t ticks_now(void) { return *(volatile uint64_t *)&timer_ticks; }

void wait_for_interrupt(void) { __asm__ volatile("sti; hlt; cli" ::: "memory"); }

void wait_ticks(uint64_t ticks) {
    uint64_t target = ticks_now() + ticks;
    while (ticks_now() < target) wait_for_interrupt();
}
