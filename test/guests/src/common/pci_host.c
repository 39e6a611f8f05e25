/*
 * PCI host bridge discovery from ACPI (see pci_host.h). The DSDT is not interpreted: a byte scan (at CPL3, where PVM
 * runs it natively) finds Name(_CBA, n) or Method(_CBA) { Return (n) }, and the first Name(_CRS, ResourceTemplate)
 * holding a bus-number range, which is what marks a host bridge's resources.
 */
#include "pci_host.h"
#include "aml.h"
#include "paging.h"

/* Resource descriptors (ACPI 6.5, section 6.4). Large items: bit 7 set, name in bits 6:0, u16 length at 1. Small
 * items: name in bits 6:3, length in bits 2:0. */
#define RESOURCE_LARGE 0x80
#define RESOURCE_LARGE_HEADER 3
#define RESOURCE_SMALL_END_TAG 0x0f
#define RESOURCE_WORD_ADDRESS 0x08
#define RESOURCE_DWORD_ADDRESS 0x07
#define RESOURCE_QWORD_ADDRESS 0x0a
/* Address space descriptor body (after the 3-byte header): resource type, general flags, type-specific flags, then
 * granularity, minimum, maximum, translation offset and length, each 2, 4 or 8 bytes wide. */
#define ADDRESS_RESOURCE_TYPE 0
#define ADDRESS_FIELDS 3
#define ADDRESS_FIELD_COUNT 5
#define ADDRESS_MINIMUM 1
#define ADDRESS_MAXIMUM 2
#define ADDRESS_LENGTH 4
#define ADDRESS_TYPE_MEMORY 0
#define ADDRESS_TYPE_IO 1
#define ADDRESS_TYPE_BUS 2

/* MCFG allocation fields (offsets within one 16-byte allocation). */
#define MCFG_BASE 0
#define MCFG_SEGMENT 8
#define MCFG_BUS_START 10
#define MCFG_BUS_END 11

#define ECAM_BUS_SHIFT 20
#define FOUR_GIB 0x100000000ull

/* What the CPL3 scan of the DSDT found. */
struct dsdt_pci {
    int has_cba;
    uint64_t cba;
    int has_bus_range;
    uint8_t bus_start;
    uint8_t bus_end;
    unsigned window_count;
    struct pci_window windows[PCI_MAX_WINDOWS];
};

static struct dsdt_pci dsdt_scan_result = {0};

/* Method(_CBA, 0) { Return (n) }: finds a MethodOp whose PkgLength ends at a _CBA NameSeg and reads n. */
static int cba_method(const struct acpi_header *table, uint64_t *value) {
    const uint8_t *start = (const uint8_t *)table + sizeof(struct acpi_header);
    const uint8_t *end = (const uint8_t *)table + table->length;
    for (const uint8_t *name = start + 2; end - name >= 7; name++) {
        if (!aml_is_name(name, "_CBA")) continue;
        for (unsigned length_bytes = 1; length_bytes <= 4 && name - start >= length_bytes + 1; length_bytes++) {
            const uint8_t *op = name - length_bytes - 1;
            if (*op != AML_METHOD_OP || (op[1] >> 6) != length_bytes - 1) continue;
            struct aml_cursor c = {op + 1, end};
            const uint8_t *method_end;
            /* NameString, MethodFlags, then ReturnOp as the first term of the body. */
            if (!aml_package_length(&c, &method_end) || c.at != name || method_end - name < 7 || name[5] != AML_RETURN_OP)
                continue;
            c = (struct aml_cursor){name + 6, method_end};
            if (aml_integer(&c, value)) return 1;
        }
    }
    return 0;
}

static void add_window(struct dsdt_pci *out, uint8_t resource_type, uint64_t minimum, uint64_t length) {
    if (length == 0 || out->window_count == PCI_MAX_WINDOWS) return;
    uint8_t type = resource_type == ADDRESS_TYPE_IO ? PCI_WINDOW_IO
                   : minimum + length <= FOUR_GIB  ? PCI_WINDOW_MEM32
                                                   : PCI_WINDOW_MEM64;
    out->windows[out->window_count++] = (struct pci_window){.type = type, .base = minimum, .size = length};
}

/* Decodes a resource template; keeps the result in *out (and returns 1) only when it holds a bus-number range. */
static int host_bridge_resources(struct aml_cursor template, struct dsdt_pci *out) {
    struct dsdt_pci found = {0};
    const uint8_t *bytes = template.at;
    while (bytes < template.end) {
        uint8_t tag = bytes[0];
        if (!(tag & RESOURCE_LARGE)) {
            if (((tag >> 3) & 0x0f) == RESOURCE_SMALL_END_TAG) break;
            bytes += 1 + (tag & 7);
            continue;
        }
        if (template.end - bytes < RESOURCE_LARGE_HEADER) return 0;
        unsigned length = bytes[1] | (unsigned)bytes[2] << 8;
        const uint8_t *body = bytes + RESOURCE_LARGE_HEADER;
        if (template.end - body < length) return 0;
        uint8_t name = tag & 0x7f;
        unsigned width = name == RESOURCE_WORD_ADDRESS    ? 2
                         : name == RESOURCE_DWORD_ADDRESS ? 4
                         : name == RESOURCE_QWORD_ADDRESS ? 8
                                                          : 0;
        if (width != 0 && length >= ADDRESS_FIELDS + ADDRESS_FIELD_COUNT * width) {
            const uint8_t *fields = body + ADDRESS_FIELDS;
            uint64_t minimum = aml_load_le(fields + ADDRESS_MINIMUM * width, width);
            uint64_t maximum = aml_load_le(fields + ADDRESS_MAXIMUM * width, width);
            uint64_t size = aml_load_le(fields + ADDRESS_LENGTH * width, width);
            if (size == 0 && maximum >= minimum) size = maximum - minimum + 1;
            uint8_t type = body[ADDRESS_RESOURCE_TYPE];
            if (type == ADDRESS_TYPE_BUS && !found.has_bus_range && minimum <= maximum && maximum <= 0xff) {
                found.has_bus_range = 1;
                found.bus_start = (uint8_t)minimum;
                found.bus_end = (uint8_t)maximum;
            } else if (type == ADDRESS_TYPE_MEMORY || type == ADDRESS_TYPE_IO) {
                add_window(&found, type, minimum, size);
            }
        }
        bytes = body + length;
    }
    if (!found.has_bus_range) return 0;
    out->has_bus_range = 1;
    out->bus_start = found.bus_start;
    out->bus_end = found.bus_end;
    out->window_count = found.window_count;
    for (unsigned i = 0; i < found.window_count; i++) out->windows[i] = found.windows[i];
    return 1;
}

/* CPL3: scans the DSDT for _CBA (Name or Method) and the first _CRS that describes a host bridge; the result goes
 * to dsdt_scan_result. */
static uint64_t user_scan_dsdt(uint64_t dsdt_address, uint64_t unused) {
    (void)unused;
    const struct acpi_header *dsdt = (const struct acpi_header *)dsdt_address;
    struct dsdt_pci *out = &dsdt_scan_result;
    struct aml_cursor object;
    if (aml_find_name(dsdt, "_CBA", NULL, &object))
        out->has_cba = aml_integer(&object, &out->cba);
    else
        out->has_cba = cba_method(dsdt, &out->cba);
    for (const uint8_t *after = NULL; aml_find_name(dsdt, "_CRS", after, &object); after = object.at) {
        struct aml_cursor template;
        struct aml_cursor buffer = object;
        if (aml_buffer(&buffer, &template) && host_bridge_resources(template, out)) break;
    }
    return 0;
}

static int ecam_from_mcfg(const struct acpi_root *root, struct pci_host *host) {
    const struct acpi_header *mcfg = acpi_find(root, "MCFG");
    if (!mcfg || mcfg->length < MCFG_ALLOCATIONS + MCFG_ALLOCATION_SIZE) return 0;
    const uint8_t *allocation = (const uint8_t *)mcfg + MCFG_ALLOCATIONS;
    host->ecam_source = PCI_ECAM_FROM_MCFG;
    host->ecam_base = load_u64(allocation + MCFG_BASE);
    host->segment = load_u16(allocation + MCFG_SEGMENT);
    host->bus_start = allocation[MCFG_BUS_START];
    host->bus_end = allocation[MCFG_BUS_END];
    return 1;
}

int pci_host_from_acpi(const struct acpi_root *root, const struct acpi_header *fadt, struct pci_host *host) {
    *host = (struct pci_host){0};
    const struct acpi_header *dsdt = acpi_table_at(acpi_fadt_dsdt(fadt));
    dsdt_scan_result = (struct dsdt_pci){0};
    if (dsdt) run_user(user_scan_dsdt, (uint64_t)dsdt, 0);
    const struct dsdt_pci *scan = &dsdt_scan_result;

    if (!ecam_from_mcfg(root, host)) {
        if (!scan->has_cba) return 0;
        host->ecam_source = PCI_ECAM_FROM_DSDT;
        host->ecam_base = scan->cba;
        host->bus_start = scan->has_bus_range ? scan->bus_start : 0;
        host->bus_end = scan->has_bus_range ? scan->bus_end : 0;
    }
    if (host->bus_end < host->bus_start) panic("pci: the ECAM bus range ends before it starts");
    host->window_count = scan->window_count;
    for (unsigned i = 0; i < scan->window_count; i++) host->windows[i] = scan->windows[i];
    host->root_bus_config = map_mmio(host->ecam_base + ((uint64_t)host->bus_start << ECAM_BUS_SHIFT), 1ull << ECAM_BUS_SHIFT);
    return 1;
}
