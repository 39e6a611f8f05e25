/*
 * The "report" test guest: prints what the VMM handed over through the PVH boot protocol as key=value lines on the
 * serial console (entry state, hvm_start_info, command line, memory map, modules with a CRC-32 computed at CPL3,
 * ACPI tables with their checksums, FADT, MADT and MCFG details), then "report.done", then powers off through ACPI.
 * test/helpers/guest-report.ts parses the output; keep the two in step.
 */
#include "acpi.h"
#include "crc32.h"
#include "lapic.h"

#define CMDLINE_MAX 4096
#define MEMMAP_MAX_PRINTED 128
#define MODULES_MAX_PRINTED 16

static void print_ok(const char *key, int ok) { print_key_str(key, ok ? "ok" : "bad"); }

static void report_entry_state(void) {
    print_key_hex("entry.cr0", entry_state.cr0);
    print_key_hex("entry.cr4", entry_state.cr4);
    print_key_hex("entry.efer", entry_state.efer);
    print_key_hex("entry.eflags", entry_state.eflags);
    print_key_hex("entry.cs", entry_state.cs);
    print_key_hex("entry.ds", entry_state.ds);
    print_key_hex("entry.es", entry_state.es);
    print_key_hex("entry.ss", entry_state.ss);
}

static void report_start_info(const struct hvm_start_info *info) {
    print_key_hex("start_info.addr", (uint64_t)info);
    print_key_hex("start_info.magic", info->magic);
    print_key_dec("start_info.version", info->version);
    print_key_hex("start_info.flags", info->flags);
}

static void report_cmdline(const struct hvm_start_info *info) {
    print_key_hex("cmdline.addr", info->cmdline_paddr);
    if (info->cmdline_paddr == 0) return;
    if (!identity_mapped(info->cmdline_paddr, CMDLINE_MAX)) panic("start_info: cmdline_paddr is not readable");
    const char *cmdline = (const char *)info->cmdline_paddr;
    size_t length = 0;
    while (length < CMDLINE_MAX && cmdline[length] != '\0') length++;
    print("cmdline=");
    print_text(cmdline, length);
    print_char('\n');
    if (length == CMDLINE_MAX) print_key_dec("cmdline.truncated", 1);
}

static void report_memmap(const struct hvm_start_info *info) {
    if (info->version < 1) return;
    print_key_hex("memmap.addr", info->memmap_paddr);
    print_key_dec("memmap.count", info->memmap_entries);
    uint32_t printed = info->memmap_entries < MEMMAP_MAX_PRINTED ? info->memmap_entries : MEMMAP_MAX_PRINTED;
    if (printed == 0) return;
    if (!identity_mapped(info->memmap_paddr, printed * sizeof(struct hvm_memmap_entry)))
        panic("start_info: memmap_paddr is not readable");
    const struct hvm_memmap_entry *entries = (const struct hvm_memmap_entry *)info->memmap_paddr;
    for (uint32_t i = 0; i < printed; i++) {
        print("memmap.entry=");
        print("addr=");
        print_hex(entries[i].addr);
        print_field_hex("size", entries[i].size);
        print_field_dec("type", entries[i].type);
        print_char('\n');
    }
}

static void report_modules(const struct hvm_start_info *info) {
    print_key_hex("modules.addr", info->modlist_paddr);
    print_key_dec("modules.count", info->nr_modules);
    uint32_t printed = info->nr_modules < MODULES_MAX_PRINTED ? info->nr_modules : MODULES_MAX_PRINTED;
    if (printed == 0) return;
    if (!identity_mapped(info->modlist_paddr, printed * sizeof(struct hvm_modlist_entry)))
        panic("start_info: modlist_paddr is not readable");
    const struct hvm_modlist_entry *modules = (const struct hvm_modlist_entry *)info->modlist_paddr;
    for (uint32_t i = 0; i < printed; i++) {
        const struct hvm_modlist_entry *m = &modules[i];
        int in_ram = identity_mapped(m->paddr, m->size) && memmap_covers_ram(info, m->paddr, m->size);
        print("module=addr=");
        print_hex(m->paddr);
        print_field_hex("size", m->size);
        print_field_hex("cmdline", m->cmdline_paddr);
        print(in_ram ? " ram=yes" : " ram=no");
        if (in_ram) print_field_hex("crc32", run_user(user_crc32, m->paddr, m->size));
        print_char('\n');
    }
}

static void report_table(const struct acpi_header *table) {
    print("acpi.table=sig=");
    print_token(table->signature, 4);
    print_field_hex("addr", (uint64_t)table);
    print_field_dec("len", table->length);
    print_field_dec("rev", table->revision);
    print(" oem=");
    print_token(table->oem_id, 6);
    print(acpi_checksum_ok(table, table->length) ? " checksum=ok\n" : " checksum=bad\n");
}

static void report_gas(const char *key, const uint8_t *bytes) {
    struct acpi_gas gas;
    __builtin_memcpy(&gas, bytes, sizeof gas);
    print(key);
    print("=space=");
    print_dec(gas.space_id);
    print_field_dec("width", gas.bit_width);
    print_field_dec("offset", gas.bit_offset);
    print_field_dec("access", gas.access_size);
    print_field_hex("addr", gas.address);
}

static void report_fadt(const struct acpi_header *fadt) {
    const uint8_t *bytes = (const uint8_t *)fadt;
    if (fadt->length < FADT_RESET_REG) panic("fadt: shorter than the ACPI 2.0 layout");
    uint32_t flags = load_u32(bytes + FADT_FLAGS);
    print_key_hex("fadt.flags", flags);
    print_key_dec("fadt.hw_reduced", (flags & FADT_FLAG_HW_REDUCED_ACPI) != 0);
    print_key_hex("fadt.dsdt", acpi_fadt_dsdt(fadt));
    if (fadt->length > FADT_MINOR_VERSION) print_key_dec("fadt.minor", bytes[FADT_MINOR_VERSION]);
    if (fadt->length > FADT_RESET_VALUE) {
        report_gas("fadt.reset", bytes + FADT_RESET_REG);
        print_field_hex("value", bytes[FADT_RESET_VALUE]);
        print_char('\n');
    }
    if (fadt->length >= FADT_SLEEP_STATUS_REG) {
        report_gas("fadt.sleep_control", bytes + FADT_SLEEP_CONTROL_REG);
        print_char('\n');
    }
    if (fadt->length >= FADT_HYPERVISOR_VENDOR) {
        report_gas("fadt.sleep_status", bytes + FADT_SLEEP_STATUS_REG);
        print_char('\n');
    }
    if (fadt->length >= FADT_LENGTH_V6) {
        print("fadt.hypervisor=");
        print_token((const char *)bytes + FADT_HYPERVISOR_VENDOR, 8);
        print_char('\n');
    }
}

static void report_madt(const struct acpi_header *madt) {
    const uint8_t *bytes = (const uint8_t *)madt;
    if (madt->length < MADT_ENTRIES) panic("madt: shorter than its fixed fields");
    print_key_hex("madt.lapic_addr", load_u32(bytes + MADT_LOCAL_APIC_ADDRESS));
    print_key_hex("madt.flags", load_u32(bytes + MADT_FLAGS));
    unsigned enabled = 0, possible = 0;
    for (const uint8_t *e = madt_next_entry(madt, NULL); e; e = madt_next_entry(madt, e)) {
        struct madt_cpu cpu;
        if (madt_entry_cpu(e, &cpu)) {
            print("madt.cpu=apic=");
            print_dec(cpu.apic_id);
            print_field_dec("uid", cpu.uid);
            print_field_hex("flags", cpu.flags);
            print_field_dec("x2apic", (uint64_t)cpu.x2apic);
            print_char('\n');
            if (cpu.flags & MADT_CPU_ENABLED) enabled++;
            if (cpu.flags & (MADT_CPU_ENABLED | MADT_CPU_ONLINE_CAPABLE)) possible++;
        } else if (e[0] == MADT_TYPE_IO_APIC && e[1] >= 12) {
            print("madt.ioapic=id=");
            print_dec(e[2]);
            print_field_hex("addr", load_u32(e + 4));
            print_field_dec("gsi_base", load_u32(e + 8));
            print_char('\n');
        } else if (e[0] == MADT_TYPE_INTERRUPT_OVERRIDE && e[1] >= 10) {
            print("madt.override=bus=");
            print_dec(e[2]);
            print_field_dec("source", e[3]);
            print_field_dec("gsi", load_u32(e + 4));
            print_field_hex("flags", load_u16(e + 8));
            print_char('\n');
        } else if (e[0] == MADT_TYPE_LOCAL_APIC_NMI && e[1] >= 6) {
            print("madt.lapic_nmi=uid=");
            print_hex(e[2]);
            print_field_hex("flags", load_u16(e + 3));
            print_field_dec("lint", e[5]);
            print_char('\n');
        } else {
            print("madt.entry=type=");
            print_dec(e[0]);
            print_field_dec("len", e[1]);
            print_char('\n');
        }
    }
    print_key_dec("madt.cpus.enabled", enabled);
    print_key_dec("madt.cpus.possible", possible);
}

static void report_mcfg(const struct acpi_header *mcfg) {
    const uint8_t *bytes = (const uint8_t *)mcfg;
    for (uint32_t offset = MCFG_ALLOCATIONS; offset + MCFG_ALLOCATION_SIZE <= mcfg->length;
         offset += MCFG_ALLOCATION_SIZE) {
        print("mcfg.allocation=base=");
        print_hex(load_u64(bytes + offset));
        print_field_dec("segment", load_u16(bytes + offset + 8));
        print_field_dec("bus_start", bytes[offset + 10]);
        print_field_dec("bus_end", bytes[offset + 11]);
        print_char('\n');
    }
}

/* Prints the RSDP, then every table the root table lists (and the DSDT from the FADT); returns the FADT. */
static const struct acpi_header *report_acpi(const struct hvm_start_info *info) {
    print_key_hex("rsdp.addr", info->rsdp_paddr);
    const struct acpi_rsdp *rsdp = acpi_rsdp_at(info->rsdp_paddr);
    if (!rsdp) panic("acpi: no RSDP signature at rsdp_paddr");
    print_key_dec("rsdp.revision", rsdp->revision);
    print("rsdp.oem=");
    print_token(rsdp->oem_id, 6);
    print_char('\n');
    print_ok("rsdp.checksum", acpi_checksum_ok(rsdp, ACPI_RSDP_V1_LENGTH));
    print_key_hex("rsdp.rsdt", rsdp->rsdt_address);
    if (rsdp->revision >= 2) {
        int length_ok = rsdp->length >= sizeof(struct acpi_rsdp) && rsdp->length <= ACPI_MAX_TABLE_LENGTH &&
                        identity_mapped((uint64_t)rsdp, rsdp->length);
        print_ok("rsdp.extended_checksum", length_ok && acpi_checksum_ok(rsdp, rsdp->length));
        print_key_hex("rsdp.xsdt", rsdp->xsdt_address);
    }

    struct acpi_root root;
    if (!acpi_root_init(rsdp, &root)) panic("acpi: neither the XSDT nor the RSDT is readable");
    report_table(root.table);
    const struct acpi_header *fadt = NULL, *madt = NULL, *mcfg = NULL;
    for (unsigned i = 0; i < root.count; i++) {
        uint64_t address = acpi_root_entry(&root, i);
        const struct acpi_header *table = acpi_table_at(address);
        if (!table) {
            print_key_hex("acpi.unreadable", address);
            continue;
        }
        report_table(table);
        if (!fadt && bytes_equal(table->signature, "FACP", 4)) fadt = table;
        if (!madt && bytes_equal(table->signature, "APIC", 4)) madt = table;
        if (!mcfg && bytes_equal(table->signature, "MCFG", 4)) mcfg = table;
    }
    if (fadt) {
        uint64_t dsdt_address = acpi_fadt_dsdt(fadt);
        const struct acpi_header *dsdt = acpi_table_at(dsdt_address);
        if (dsdt)
            report_table(dsdt);
        else
            print_key_hex("acpi.unreadable", dsdt_address);
        report_fadt(fadt);
    }
    if (madt) report_madt(madt);
    if (mcfg) report_mcfg(mcfg);
    return fadt;
}

NORETURN void guest_main(uint32_t start_info_address);
void guest_main(uint32_t start_info_address) {
    serial_init();
    print_char('\n');
    print_key_str("report.guest", "report");
    report_entry_state();
    const struct hvm_start_info *info = start_info_checked(start_info_address);
    report_start_info(info);
    lapic_init();
    print_key_dec("lapic.id", lapic_id());
    print_key_str("lapic.mode", lapic_is_x2apic() ? "x2apic" : "xapic");
    report_cmdline(info);
    report_memmap(info);
    report_modules(info);
    const struct acpi_header *fadt = report_acpi(info);
    if (!fadt) panic("acpi: no FACP table, cannot power off");
    print("report.done\n");
    post_code(POST_REPORT_DONE);
    acpi_power_off(fadt);
}
