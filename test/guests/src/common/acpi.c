/*
 * ACPI table access for the Nimbus test guests (see acpi.h). Byte sums run at CPL3 through run_user, where PVM
 * executes natively; everything else here is a handful of loads at CPL0, and the FADT power-off and reset writes.
 */
#include "acpi.h"
#include "aml.h"
#include "lapic.h"

/* Hardware-reduced sleep control register: SLP_TYP in bits 4:2, SLP_EN bit 5. */
#define SLP_TYP_S5 5
#define SLP_TYP_SHIFT 2
#define SLP_EN (1u << 5)
/* PM1 control register of fixed-hardware ACPI: SCI_EN bit 0, SLP_TYP in bits 12:10, SLP_EN bit 13. */
#define PM1_CNT_SCI_EN 0x1u
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_TYP_MASK (7u << PM1_CNT_SLP_TYP_SHIFT)
#define PM1_CNT_SLP_EN (1u << 13)

static uint64_t user_byte_sum(uint64_t address, uint64_t length) {
    const uint8_t *bytes = (const uint8_t *)address;
    uint8_t sum = 0;
    for (uint64_t i = 0; i < length; i++) sum = (uint8_t)(sum + bytes[i]);
    return sum;
}

int acpi_checksum_ok(const void *table, uint32_t length) {
    return run_user(user_byte_sum, (uint64_t)table, length) == 0;
}

const struct acpi_rsdp *acpi_rsdp_at(uint64_t address) {
    if (address == 0 || !identity_mapped(address, sizeof(struct acpi_rsdp))) return NULL;
    const struct acpi_rsdp *rsdp = (const struct acpi_rsdp *)address;
    if (!bytes_equal(rsdp->signature, "RSD PTR ", 8)) return NULL;
    return rsdp;
}

const struct acpi_header *acpi_table_at(uint64_t address) {
    if (address == 0 || !identity_mapped(address, sizeof(struct acpi_header))) return NULL;
    const struct acpi_header *table = (const struct acpi_header *)address;
    if (table->length < sizeof(struct acpi_header) || table->length > ACPI_MAX_TABLE_LENGTH) return NULL;
    if (!identity_mapped(address, table->length)) return NULL;
    return table;
}

int acpi_root_init(const struct acpi_rsdp *rsdp, struct acpi_root *root) {
    const struct acpi_header *xsdt = rsdp->revision >= 2 ? acpi_table_at(rsdp->xsdt_address) : NULL;
    if (xsdt) {
        root->table = xsdt;
        root->entry_size = 8;
    } else {
        root->table = acpi_table_at(rsdp->rsdt_address);
        root->entry_size = 4;
    }
    if (!root->table) return 0;
    root->count = (root->table->length - sizeof(struct acpi_header)) / root->entry_size;
    return 1;
}

uint64_t acpi_root_entry(const struct acpi_root *root, unsigned index) {
    const uint8_t *entry = (const uint8_t *)root->table + sizeof(struct acpi_header) + index * root->entry_size;
    return root->entry_size == 8 ? load_u64(entry) : load_u32(entry);
}

const struct acpi_header *acpi_find(const struct acpi_root *root, const char signature[4]) {
    for (unsigned i = 0; i < root->count; i++) {
        const struct acpi_header *table = acpi_table_at(acpi_root_entry(root, i));
        if (table && bytes_equal(table->signature, signature, 4)) return table;
    }
    return NULL;
}

uint64_t acpi_fadt_dsdt(const struct acpi_header *fadt) {
    const uint8_t *bytes = (const uint8_t *)fadt;
    if (fadt->length >= FADT_X_DSDT + 8) {
        uint64_t x_dsdt = load_u64(bytes + FADT_X_DSDT);
        if (x_dsdt != 0) return x_dsdt;
    }
    return load_u32(bytes + FADT_DSDT);
}

const uint8_t *madt_next_entry(const struct acpi_header *madt, const uint8_t *previous) {
    const uint8_t *start = (const uint8_t *)madt;
    const uint8_t *end = start + madt->length;
    const uint8_t *entry = previous ? previous + previous[1] : start + MADT_ENTRIES;
    if (entry >= end) return NULL;
    if (end - entry < 2 || entry[1] < 2 || entry[1] > end - entry) panic("madt: entry length overruns the table");
    return entry;
}

int madt_entry_cpu(const uint8_t *entry, struct madt_cpu *cpu) {
    if (entry[0] == MADT_TYPE_LOCAL_APIC && entry[1] >= 8) {
        *cpu = (struct madt_cpu){.apic_id = entry[3], .uid = entry[2], .flags = load_u32(entry + 4), .x2apic = 0};
        return 1;
    }
    if (entry[0] == MADT_TYPE_LOCAL_X2APIC && entry[1] >= 16) {
        *cpu = (struct madt_cpu){
            .apic_id = load_u32(entry + 4), .uid = load_u32(entry + 12), .flags = load_u32(entry + 8), .x2apic = 1};
        return 1;
    }
    return 0;
}

/* Writes value to the register a FADT Generic Address Structure describes (I/O or memory space); name says which
 * register in a PANIC. */
static void gas_write(const struct acpi_gas *gas, uint64_t value, const char *name) {
    /* Access size 0 (undefined): derive it from the register width. */
    unsigned access_size = gas->access_size;
    if (access_size == 0) access_size = gas->bit_width <= 8 ? 1u : gas->bit_width <= 16 ? 2u : 3u;
    value <<= gas->bit_offset;
    if (gas->address == 0) {
        print_key_str("fadt.register", name);
        panic("fadt: the register is empty");
    }
    if (gas->space_id == ACPI_SPACE_IO) {
        uint16_t port = (uint16_t)gas->address;
        if (gas->address > 0xffff) {
            print_key_str("fadt.register", name);
            panic("fadt: I/O port above 0xffff");
        } else if (access_size == 1) {
            outb(port, (uint8_t)value);
        } else if (access_size == 2) {
            outw(port, (uint16_t)value);
        } else if (access_size == 3) {
            outl(port, (uint32_t)value);
        } else {
            print_key_str("fadt.register", name);
            panic("fadt: unsupported I/O access size");
        }
    } else if (gas->space_id == ACPI_SPACE_MEMORY) {
        if (!identity_mapped(gas->address, 8)) {
            print_key_str("fadt.register", name);
            panic("fadt: register above 4 GiB");
        } else if (access_size == 1) {
            *(volatile uint8_t *)gas->address = (uint8_t)value;
        } else if (access_size == 2) {
            *(volatile uint16_t *)gas->address = (uint16_t)value;
        } else if (access_size == 3) {
            *(volatile uint32_t *)gas->address = (uint32_t)value;
        } else if (access_size == 4) {
            *(volatile uint64_t *)gas->address = value;
        } else {
            print_key_str("fadt.register", name);
            panic("fadt: unsupported memory access size");
        }
    } else {
        print_key_str("fadt.register", name);
        panic("fadt: the register is neither system memory nor system I/O");
    }
}

void acpi_tables_checked(const struct hvm_start_info *info, struct acpi_root *root) {
    const struct acpi_rsdp *rsdp = acpi_rsdp_at(info->rsdp_paddr);
    if (!rsdp) panic("acpi: no RSDP signature at rsdp_paddr");
    if (!acpi_root_init(rsdp, root)) panic("acpi: neither the XSDT nor the RSDT is readable");
}

/* CPL3: the first integer of Name(_S5_, Package() {...}) in the DSDT at dsdt_address, stored at out_address. */
static uint64_t user_find_s5(uint64_t dsdt_address, uint64_t out_address) {
    struct aml_cursor object;
    if (!aml_find_name((const struct acpi_header *)dsdt_address, "_S5_", NULL, &object)) return 0;
    return (uint64_t)aml_package_first_integer(&object, (uint64_t *)out_address);
}

/* The FADT's 32-bit I/O port field at `offset` (0 when absent); PANIC when it does not fit in 16 bits. */
static uint16_t fadt_port(const struct acpi_header *fadt, unsigned offset, const char *name) {
    uint32_t port = load_u32((const uint8_t *)fadt + offset);
    if (port > 0xffff) {
        print_key_str("fadt.register", name);
        panic("fadt: I/O port above 0xffff");
    }
    return (uint16_t)port;
}

/* ACPI S5 on a FADT with fixed hardware (PCs such as QEMU q35): SLP_TYP from \_S5_, written with SLP_EN to
 * PM1a_CNT (and PM1b_CNT), after switching to ACPI mode through SMI_CMD if SCI_EN is clear, as an OS does. */
NORETURN static void pm1_power_off(const struct acpi_header *fadt) {
    if (fadt->length < FADT_FLAGS) panic("fadt: too short to hold PM1a_CNT_BLK");
    const struct acpi_header *dsdt = acpi_table_at(acpi_fadt_dsdt(fadt));
    uint64_t sleep_type = 0;
    if (!dsdt || !run_user(user_find_s5, (uint64_t)dsdt, (uint64_t)&sleep_type)) panic("acpi: no \\_S5_ package in the DSDT");
    uint16_t pm1a = fadt_port(fadt, FADT_PM1A_CNT_BLK, "PM1a_CNT_BLK");
    uint16_t pm1b = fadt_port(fadt, FADT_PM1B_CNT_BLK, "PM1b_CNT_BLK");
    if (pm1a == 0) panic("fadt: neither hardware-reduced nor a PM1a_CNT_BLK port");
    if (!(inw(pm1a) & PM1_CNT_SCI_EN)) {
        uint16_t smi_command = fadt_port(fadt, FADT_SMI_CMD, "SMI_CMD");
        if (smi_command == 0) panic("fadt: SCI_EN is clear and there is no SMI_CMD port to enable ACPI");
        outb(smi_command, ((const uint8_t *)fadt)[FADT_ACPI_ENABLE]);
        for (uint64_t waited = 0; !(inw(pm1a) & PM1_CNT_SCI_EN); waited++) {
            if (waited == TICKS_PER_SECOND) panic("acpi: SCI_EN still clear 1 s after writing ACPI_ENABLE to SMI_CMD");
            wait_ticks(1);
        }
    }
    uint16_t sleep = (uint16_t)(((sleep_type & 7) << PM1_CNT_SLP_TYP_SHIFT) | PM1_CNT_SLP_EN);
    if (pm1b != 0) outw(pm1b, (uint16_t)((inw(pm1b) & ~PM1_CNT_SLP_TYP_MASK) | sleep));
    outw(pm1a, (uint16_t)((inw(pm1a) & ~PM1_CNT_SLP_TYP_MASK) | sleep));
    wait_ticks(TICKS_PER_SECOND);
    panic("power-off: still running 1 s after writing PM1_CNT");
}

void acpi_power_off(const struct acpi_header *fadt) {
    const uint8_t *bytes = (const uint8_t *)fadt;
    if (fadt->length < FADT_FLAGS + 4) panic("fadt: too short to hold its flags");
    if (!(load_u32(bytes + FADT_FLAGS) & FADT_FLAG_HW_REDUCED_ACPI)) pm1_power_off(fadt);
    if (fadt->length < FADT_SLEEP_STATUS_REG) panic("fadt: too short to hold SLEEP_CONTROL_REG");
    struct acpi_gas sleep_control;
    __builtin_memcpy(&sleep_control, bytes + FADT_SLEEP_CONTROL_REG, sizeof sleep_control);
    gas_write(&sleep_control, (SLP_TYP_S5 << SLP_TYP_SHIFT) | SLP_EN, "SLEEP_CONTROL_REG");
    wait_ticks(TICKS_PER_SECOND);
    panic("power-off: still running 1 s after writing SLEEP_CONTROL_REG");
}

void acpi_reset(const struct acpi_header *fadt) {
    const uint8_t *bytes = (const uint8_t *)fadt;
    if (fadt->length <= FADT_RESET_VALUE) panic("fadt: too short to hold RESET_REG and RESET_VALUE");
    if (!(load_u32(bytes + FADT_FLAGS) & FADT_FLAG_RESET_REG_SUP)) panic("fadt: RESET_REG_SUP is clear");
    struct acpi_gas reset;
    __builtin_memcpy(&reset, bytes + FADT_RESET_REG, sizeof reset);
    gas_write(&reset, bytes[FADT_RESET_VALUE], "RESET_REG");
    wait_ticks(TICKS_PER_SECOND);
    panic("reset: still running 1 s after writing RESET_REG");
}
