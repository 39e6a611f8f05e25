/*
 * The "smp" test guest: the BSP reads the MADT and starts every other enabled CPU as Linux does with an in-kernel
 * LAPIC (INIT assert, INIT de-assert, then two SIPIs), one at a time. Each AP runs trampoline.S and checks in with
 * its APIC ID. The BSP waits with sti; hlt on its 1 kHz LAPIC timer, prints "smp.cpu <apic id> online" per AP and
 * "smp.online=<N>" (BSP included), then "report.done", then powers off. An AP that has not checked in 2 s after the
 * first INIT is a PANIC.
 */
#include "acpi.h"
#include "lapic.h"

#define CHECKIN_EMPTY 0xffffffffu
#define SMP_TIMEOUT_TICKS (2 * TICKS_PER_SECOND)

/* Written by the APs (trampoline.S). */
uint32_t ap_checkin[MAX_CPUS] = {[0 ... MAX_CPUS - 1] = CHECKIN_EMPTY};
uint32_t ap_next_slot = 0;

extern char ap_trampoline_start[], ap_trampoline_end[];

static uint32_t checkin(unsigned slot) { return *(volatile uint32_t *)&ap_checkin[slot]; }

static void install_trampoline(const struct hvm_start_info *info) {
    size_t size = (size_t)(ap_trampoline_end - ap_trampoline_start);
    if (!memmap_covers_ram(info, AP_TRAMPOLINE_BASE, 0x1000))
        panic("smp: the trampoline page 0x70000 is not RAM in the memory map");
    memcpy((void *)AP_TRAMPOLINE_BASE, ap_trampoline_start, size);
}

/* Starts one AP and waits for it to take check-in slot `slot`. */
static void start_ap(uint32_t apic_id, unsigned slot, uint64_t deadline) {
    lapic_send_ipi(apic_id, ICR_DELIVERY_INIT | ICR_LEVEL_ASSERT | ICR_TRIGGER_LEVEL);
    lapic_send_ipi(apic_id, ICR_DELIVERY_INIT | ICR_TRIGGER_LEVEL);
    wait_ticks(1);
    for (int sipi = 0; sipi < 2 && checkin(slot) == CHECKIN_EMPTY; sipi++) {
        lapic_send_ipi(apic_id, ICR_DELIVERY_STARTUP | AP_TRAMPOLINE_VECTOR);
        wait_ticks(1);
    }
    while (checkin(slot) == CHECKIN_EMPTY) {
        if (ticks_now() >= deadline) {
            print_key_dec("smp.timeout_apic", apic_id);
            panic("smp: an AP did not check in within 2 s");
        }
        wait_for_interrupt();
    }
    print("smp.cpu ");
    print_dec(checkin(slot));
    print(" online\n");
}

NORETURN void guest_main(uint32_t start_info_address);
void guest_main(uint32_t start_info_address) {
    serial_init();
    print_char('\n');
    print_key_str("report.guest", "smp");
    const struct hvm_start_info *info = start_info_checked(start_info_address);
    lapic_init();
    struct acpi_root root;
    acpi_tables_checked(info, &root);
    const struct acpi_header *madt = acpi_find(&root, "APIC");
    if (!madt || madt->length < MADT_ENTRIES) panic("smp: no MADT");
    const struct acpi_header *fadt = acpi_find(&root, "FACP");
    if (!fadt) panic("acpi: no FACP table, cannot power off");

    uint32_t bsp = lapic_id();
    print_key_dec("smp.bsp", bsp);
    uint32_t aps[MAX_CPUS];
    unsigned ap_count = 0, enabled = 0;
    for (const uint8_t *e = madt_next_entry(madt, NULL); e; e = madt_next_entry(madt, e)) {
        struct madt_cpu cpu;
        if (!madt_entry_cpu(e, &cpu) || !(cpu.flags & MADT_CPU_ENABLED)) continue;
        enabled++;
        if (cpu.apic_id == bsp) continue;
        if (ap_count == MAX_CPUS) panic("smp: more enabled CPUs in the MADT than the guest supports (64)");
        aps[ap_count++] = cpu.apic_id;
    }
    print_key_dec("smp.expected", enabled);

    if (ap_count > 0) install_trampoline(info);
    uint64_t deadline = ticks_now() + SMP_TIMEOUT_TICKS;
    for (unsigned i = 0; i < ap_count; i++) start_ap(aps[i], i, deadline);
    print_key_dec("smp.online", 1 + ap_count);
    print("report.done\n");
    post_code(POST_REPORT_DONE);
    acpi_power_off(fadt);
}
