/*
 * ACPI table access for the Nimbus test guests: RSDP, XSDT/RSDT walk, checksums (computed at CPL3), MADT entries,
 * the hardware-reduced power-off through the FADT SLEEP_CONTROL_REG and the reset through its RESET_REG.
 */
#pragma once
#include "guest.h"

/* Longest table the guests accept (a bogus length must not send them through megabytes of MMIO). */
#define ACPI_MAX_TABLE_LENGTH 0x100000u

struct acpi_rsdp {
    char signature[8]; /* 0: "RSD PTR " */
    uint8_t checksum; /* 8: over bytes 0..19 */
    char oem_id[6]; /* 9 */
    uint8_t revision; /* 15: 0 = ACPI 1.0 (RSDT only), 2 = XSDT */
    uint32_t rsdt_address; /* 16 */
    uint32_t length; /* 20 */
    uint64_t xsdt_address; /* 24 */
    uint8_t extended_checksum; /* 32: over the whole length */
    uint8_t reserved[3]; /* 33 */
} PACKED;
_Static_assert(sizeof(struct acpi_rsdp) == 36, "acpi_rsdp layout");
#define ACPI_RSDP_V1_LENGTH 20

struct acpi_header {
    char signature[4]; /* 0 */
    uint32_t length; /* 4 */
    uint8_t revision; /* 8 */
    uint8_t checksum; /* 9 */
    char oem_id[6]; /* 10 */
    char oem_table_id[8]; /* 16 */
    uint32_t oem_revision; /* 24 */
    uint32_t creator_id; /* 28 */
    uint32_t creator_revision; /* 32 */
} PACKED;
_Static_assert(sizeof(struct acpi_header) == 36, "acpi_header layout");

/* Generic Address Structure. */
struct acpi_gas {
    uint8_t space_id; /* 0: 0 = system memory, 1 = system I/O */
    uint8_t bit_width; /* 1 */
    uint8_t bit_offset; /* 2 */
    uint8_t access_size; /* 3: 0 = undefined, 1 = byte, 2 = word, 3 = dword, 4 = qword */
    uint64_t address; /* 4 */
} PACKED;
_Static_assert(sizeof(struct acpi_gas) == 12, "acpi_gas layout");
#define ACPI_SPACE_MEMORY 0
#define ACPI_SPACE_IO 1

/* FADT field offsets (ACPI 6.x, table 5.9). */
#define FADT_DSDT 40
#define FADT_SMI_CMD 48
#define FADT_ACPI_ENABLE 52
#define FADT_PM1A_CNT_BLK 64
#define FADT_PM1B_CNT_BLK 68
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_MINOR_VERSION 131
#define FADT_X_DSDT 140
#define FADT_SLEEP_CONTROL_REG 244
#define FADT_SLEEP_STATUS_REG 256
#define FADT_HYPERVISOR_VENDOR 268
#define FADT_LENGTH_V6 276
#define FADT_FLAG_RESET_REG_SUP (1u << 10)
#define FADT_FLAG_HW_REDUCED_ACPI (1u << 20)

/* MADT: local APIC address and flags, then variable-length entries. */
#define MADT_LOCAL_APIC_ADDRESS 36
#define MADT_FLAGS 40
#define MADT_ENTRIES 44
#define MADT_TYPE_LOCAL_APIC 0 /* uid u8 @2, apic id u8 @3, flags u32 @4 */
#define MADT_TYPE_IO_APIC 1 /* id u8 @2, address u32 @4, gsi base u32 @8 */
#define MADT_TYPE_INTERRUPT_OVERRIDE 2 /* bus u8 @2, source u8 @3, gsi u32 @4, flags u16 @8 */
#define MADT_TYPE_LOCAL_APIC_NMI 4 /* uid u8 @2, flags u16 @3, lint u8 @5 */
#define MADT_TYPE_LOCAL_X2APIC 9 /* x2apic id u32 @4, flags u32 @8, uid u32 @12 */
#define MADT_CPU_ENABLED 0x1
#define MADT_CPU_ONLINE_CAPABLE 0x2

/* MCFG: 8 reserved bytes after the header, then 16-byte allocations
 * (base u64 @0, segment u16 @8, start bus u8 @10, end bus u8 @11). */
#define MCFG_ALLOCATIONS 44
#define MCFG_ALLOCATION_SIZE 16

/* The root table: the XSDT (8-byte entries) when the RSDP has one, else the RSDT (4-byte entries). */
struct acpi_root {
    const struct acpi_header *table;
    unsigned entry_size;
    unsigned count;
};

struct madt_cpu {
    uint32_t apic_id;
    uint32_t uid;
    uint32_t flags;
    int x2apic;
};

/* Sum of the bytes, computed at CPL3: 0 means the checksum is right. */
int acpi_checksum_ok(const void *table, uint32_t length);
/* The RSDP at address when its signature matches, else NULL. */
const struct acpi_rsdp *acpi_rsdp_at(uint64_t address);
/* The table at address when it is readable with a sane length, else NULL. */
const struct acpi_header *acpi_table_at(uint64_t address);
/* Fills root from the RSDP; returns 0 when neither XSDT nor RSDT is readable. */
int acpi_root_init(const struct acpi_rsdp *rsdp, struct acpi_root *root);
/* Fills root from the start info's RSDP; PANIC when there is no RSDP or root table. */
void acpi_tables_checked(const struct hvm_start_info *info, struct acpi_root *root);
uint64_t acpi_root_entry(const struct acpi_root *root, unsigned index);
/* First table with this signature listed in the root table, or NULL. */
const struct acpi_header *acpi_find(const struct acpi_root *root, const char signature[4]);
/* The DSDT address from the FADT (X_DSDT when present and non-zero). */
uint64_t acpi_fadt_dsdt(const struct acpi_header *fadt);
/* Iterates MADT entries: pass NULL first; returns NULL at the end. PANIC on an entry that overruns the table. */
const uint8_t *madt_next_entry(const struct acpi_header *madt, const uint8_t *previous);
/* Decodes a local APIC or local x2APIC entry; returns 0 for other entry types. */
int madt_entry_cpu(const uint8_t *entry, struct madt_cpu *cpu);
/* ACPI S5: through SLEEP_CONTROL_REG (I/O or memory space) with a hardware-reduced FADT, else through PM1a_CNT with
 * SLP_TYP from the DSDT's \_S5_. PANIC if the FADT cannot do that or the VM is still running a second later. */
NORETURN void acpi_power_off(const struct acpi_header *fadt);
/* Writes RESET_VALUE to the FADT's RESET_REG (I/O or memory space). PANIC if the FADT has no reset register or the
 * VM is still running a second later. */
NORETURN void acpi_reset(const struct acpi_header *fadt);
