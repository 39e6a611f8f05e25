/*
 * PCI configuration space access through ECAM, root-bus enumeration, BAR sizing and placement, capabilities and
 * MSI-X (see pci.h). Everything here runs at CPL0: each configuration access is one MMIO exit.
 */
#include "pci.h"
#include "paging.h"

#define ECAM_DEVICE_SHIFT 15
#define ECAM_FUNCTION_SHIFT 12
#define PCI_DEVICES_PER_BUS 32
#define PCI_FUNCTIONS_PER_DEVICE 8
#define PCI_TYPE0_BARS 6
#define PCI_TYPE1_BARS 2

/* BAR register bits. */
#define PCI_BAR_SPACE_IO 0x1
#define PCI_BAR_MEM_TYPE_MASK 0x6
#define PCI_BAR_MEM_TYPE_64 0x4
#define PCI_BAR_MEM_PREFETCH 0x8
#define PCI_BAR_IO_ADDRESS_MASK 0xfffffffcu
#define PCI_BAR_MEM_ADDRESS_MASK 0xfffffff0u

/* MSI-X capability fields and table entries. */
#define MSIX_MESSAGE_CONTROL 2
#define MSIX_TABLE 4
#define MSIX_PBA 8
#define MSIX_CONTROL_TABLE_SIZE_MASK 0x7ff
#define MSIX_CONTROL_FUNCTION_MASK 0x4000
#define MSIX_CONTROL_ENABLE 0x8000
#define MSIX_BIR_MASK 0x7
#define MSIX_ENTRY_SIZE 16
#define MSIX_ENTRY_ADDRESS_LOW 0
#define MSIX_ENTRY_ADDRESS_HIGH 4
#define MSIX_ENTRY_DATA 8
#define MSIX_ENTRY_VECTOR_CONTROL 12
#define MSIX_VECTOR_MASKED 0x1
/* Interrupt message address for the local APIC (Intel SDM vol. 3, 11.11.1): destination ID in bits 19:12. */
#define MSI_ADDRESS_BASE 0xfee00000u
#define MSI_ADDRESS_DESTINATION_SHIFT 12

/* Windows that end below 1 MiB (the legacy VGA hole) are not used for new BARs. */
#define LEGACY_MEMORY_END 0x100000u

#define CAPABILITY_POINTER_MASK 0xfc
#define CAPABILITY_AREA_START 0x40

uint8_t pci_read8(const struct pci_function *f, unsigned offset) { return mmio_read8(f->config + offset); }
uint16_t pci_read16(const struct pci_function *f, unsigned offset) { return mmio_read16(f->config + offset); }
uint32_t pci_read32(const struct pci_function *f, unsigned offset) { return mmio_read32(f->config + offset); }
void pci_write16(const struct pci_function *f, unsigned offset, uint16_t value) {
    mmio_write16(f->config + offset, value);
}
void pci_write32(const struct pci_function *f, unsigned offset, uint32_t value) {
    mmio_write32(f->config + offset, value);
}

static unsigned bar_register_count(const struct pci_function *f) {
    return f->header_type == 0 ? PCI_TYPE0_BARS : f->header_type == 1 ? PCI_TYPE1_BARS : 0;
}

/* Sizes the BAR at `index` with the all-ones protocol and restores it; returns how many registers it takes. */
static unsigned size_bar(const struct pci_function *f, unsigned index, struct pci_bar *bar) {
    unsigned offset = PCI_BAR0 + 4 * index;
    uint32_t original = pci_read32(f, offset);
    pci_write32(f, offset, 0xffffffffu);
    uint32_t probe = pci_read32(f, offset);
    pci_write32(f, offset, original);
    *bar = (struct pci_bar){.kind = PCI_BAR_NONE};
    if (original & PCI_BAR_SPACE_IO) {
        uint32_t mask = probe & PCI_BAR_IO_ADDRESS_MASK & 0xffff;
        if (mask == 0) return 1;
        *bar = (struct pci_bar){.kind = PCI_BAR_IO, .address = original & PCI_BAR_IO_ADDRESS_MASK, .size = (~mask + 1) & 0xffff};
        return 1;
    }
    int is64 = (original & PCI_BAR_MEM_TYPE_MASK) == PCI_BAR_MEM_TYPE_64 && index + 1 < bar_register_count(f);
    uint64_t address = original & PCI_BAR_MEM_ADDRESS_MASK;
    uint64_t mask = probe & PCI_BAR_MEM_ADDRESS_MASK;
    if (is64) {
        uint32_t original_high = pci_read32(f, offset + 4);
        pci_write32(f, offset + 4, 0xffffffffu);
        uint32_t probe_high = pci_read32(f, offset + 4);
        pci_write32(f, offset + 4, original_high);
        address |= (uint64_t)original_high << 32;
        mask |= (uint64_t)probe_high << 32;
    }
    if (mask == 0) return is64 ? 2 : 1;
    if (!is64) mask |= 0xffffffff00000000ull;
    *bar = (struct pci_bar){
        .kind = is64 ? PCI_BAR_MEM64 : PCI_BAR_MEM32,
        .prefetchable = (original & PCI_BAR_MEM_PREFETCH) != 0,
        .address = address,
        .size = ~mask + 1,
    };
    return is64 ? 2 : 1;
}

/* Sizes every BAR with decoding turned off (a BAR holding all ones must not claim addresses meanwhile). */
static void size_bars(struct pci_function *f) {
    unsigned count = bar_register_count(f);
    uint16_t command = pci_read16(f, PCI_COMMAND);
    pci_write16(f, PCI_COMMAND, command & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
    for (unsigned index = 0; index < count;) {
        unsigned used = size_bar(f, index, &f->bars[index]);
        if (used == 2) f->bars[index + 1] = (struct pci_bar){.kind = PCI_BAR_NONE};
        index += used;
    }
    pci_write16(f, PCI_COMMAND, command);
}

/* Virtual address of a function's configuration space on the host's first bus. */
static uint64_t config_address(const struct pci_host *host, uint8_t device, uint8_t function) {
    return host->root_bus_config + ((uint64_t)device << ECAM_DEVICE_SHIFT) + ((uint64_t)function << ECAM_FUNCTION_SHIFT);
}

static void record_function(const struct pci_host *host, uint8_t device, uint8_t function, struct pci_function *f) {
    *f = (struct pci_function){
        .config = config_address(host, device, function),
        .bus = host->bus_start,
        .device = device,
        .function = function,
    };
    f->vendor_id = pci_read16(f, PCI_VENDOR_ID);
    f->device_id = pci_read16(f, PCI_DEVICE_ID);
    uint32_t class_revision = pci_read32(f, PCI_REVISION_ID);
    f->revision = (uint8_t)class_revision;
    f->class_code = class_revision >> 8;
    f->header_type = pci_read8(f, PCI_HEADER_TYPE) & PCI_HEADER_TYPE_MASK;
    if (f->header_type == 0) {
        f->subsystem_vendor_id = pci_read16(f, PCI_SUBSYSTEM_VENDOR_ID);
        f->subsystem_id = pci_read16(f, PCI_SUBSYSTEM_ID);
    }
    size_bars(f);
}

unsigned pci_enumerate_root_bus(const struct pci_host *host, struct pci_function *functions, unsigned max) {
    unsigned count = 0;
    for (uint8_t device = 0; device < PCI_DEVICES_PER_BUS; device++) {
        for (uint8_t function = 0; function < PCI_FUNCTIONS_PER_DEVICE && count < max; function++) {
            struct pci_function *f = &functions[count];
            uint64_t config = config_address(host, device, function);
            if (mmio_read16(config + PCI_VENDOR_ID) == PCI_VENDOR_NONE) {
                if (function == 0) break;
                continue;
            }
            record_function(host, device, function, f);
            count++;
            if (function == 0 && !(mmio_read8(config + PCI_HEADER_TYPE) & PCI_HEADER_MULTI_FUNCTION)) break;
        }
    }
    return count;
}

/* ---- BAR placement ------------------------------------------------------------------------------------------- */

struct address_range {
    uint64_t base;
    uint64_t end; /* exclusive */
};
#define MAX_PLACED_BARS (PCI_BAR_COUNT * 64)

/* Memory BARs placed so far (kept or assigned), which new assignments must not overlap. */
struct placement {
    unsigned count;
    struct address_range placed[MAX_PLACED_BARS];
};

static struct placement placement = {0};

static int window_accepts(const struct pci_window *w, const struct pci_bar *bar) {
    if (w->type == PCI_WINDOW_IO) return 0;
    return w->type == PCI_WINDOW_MEM32 || bar->kind == PCI_BAR_MEM64;
}

static int inside_window(const struct pci_host *host, const struct pci_bar *bar) {
    for (unsigned i = 0; i < host->window_count; i++) {
        const struct pci_window *w = &host->windows[i];
        if (window_accepts(w, bar) && bar->address >= w->base && bar->size <= w->size &&
            bar->address - w->base <= w->size - bar->size)
            return 1;
    }
    return 0;
}

static void remember(uint64_t base, uint64_t size) {
    if (placement.count == MAX_PLACED_BARS) panic("pci: too many BARs to place");
    placement.placed[placement.count++] = (struct address_range){base, base + size};
}

/* The lowest size-aligned address in the window where the BAR overlaps nothing placed so far, or 0. */
static uint64_t allocate_in(const struct pci_window *w, uint64_t size) {
    uint64_t end = w->base + w->size;
    uint64_t candidate = (w->base + size - 1) & ~(size - 1);
    for (int moved = 1; moved;) {
        moved = 0;
        if (candidate < w->base || candidate > end || size > end - candidate) return 0;
        for (unsigned i = 0; i < placement.count; i++) {
            const struct address_range *r = &placement.placed[i];
            if (candidate < r->end && r->base < candidate + size) {
                candidate = (r->end + size - 1) & ~(size - 1);
                moved = 1;
            }
        }
    }
    return candidate;
}

/* Allocates from the windows in order of preference (for a 64-bit BAR the ones above 4 GiB first); 0 when none
 * has room. */
static uint64_t allocate(const struct pci_host *host, const struct pci_bar *bar) {
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < host->window_count; i++) {
            const struct pci_window *w = &host->windows[i];
            int preferred = bar->kind == PCI_BAR_MEM64 ? w->type == PCI_WINDOW_MEM64 : 1;
            if (!window_accepts(w, bar) || preferred != (pass == 0) || w->base + w->size <= LEGACY_MEMORY_END) continue;
            uint64_t address = allocate_in(w, bar->size);
            if (address != 0) return address;
        }
    }
    return 0;
}

static void write_bar(const struct pci_function *f, unsigned index, const struct pci_bar *bar) {
    uint16_t command = pci_read16(f, PCI_COMMAND);
    pci_write16(f, PCI_COMMAND, command & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
    uint32_t low = pci_read32(f, PCI_BAR0 + 4 * index) & ~PCI_BAR_MEM_ADDRESS_MASK;
    pci_write32(f, PCI_BAR0 + 4 * index, low | (uint32_t)bar->address);
    if (bar->kind == PCI_BAR_MEM64) pci_write32(f, PCI_BAR0 + 4 * index + 4, (uint32_t)(bar->address >> 32));
    pci_write16(f, PCI_COMMAND, command);
}

void pci_assign_bars(const struct pci_host *host, struct pci_function *functions, unsigned count) {
    placement.count = 0;
    for (unsigned i = 0; i < count; i++) {
        for (unsigned b = 0; b < PCI_BAR_COUNT; b++) {
            struct pci_bar *bar = &functions[i].bars[b];
            if (bar->kind == PCI_BAR_NONE) continue;
            int kept = bar->address != 0 && (bar->kind == PCI_BAR_IO || host->window_count == 0 || inside_window(host, bar));
            bar->source = kept ? PCI_BAR_FROM_FIRMWARE : PCI_BAR_UNASSIGNED;
            if (kept && bar->kind != PCI_BAR_IO) remember(bar->address, bar->size);
        }
    }
    for (unsigned i = 0; i < count; i++) {
        for (unsigned b = 0; b < PCI_BAR_COUNT; b++) {
            struct pci_bar *bar = &functions[i].bars[b];
            if (bar->source != PCI_BAR_UNASSIGNED || bar->kind == PCI_BAR_IO) continue;
            uint64_t address = allocate(host, bar);
            if (address == 0) continue;
            bar->address = address;
            bar->source = PCI_BAR_ASSIGNED;
            remember(address, bar->size);
            write_bar(&functions[i], b, bar);
        }
    }
}

void pci_enable(struct pci_function *f) {
    for (unsigned b = 0; b < PCI_BAR_COUNT; b++) {
        struct pci_bar *bar = &f->bars[b];
        if (bar->kind != PCI_BAR_MEM32 && bar->kind != PCI_BAR_MEM64) continue;
        if (bar->source == PCI_BAR_UNASSIGNED) panic("pci: a memory BAR of the device has no address");
        bar->mapped = map_mmio(bar->address, bar->size);
    }
    uint16_t command = pci_read16(f, PCI_COMMAND);
    pci_write16(f, PCI_COMMAND, command | PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER);
}

/* ---- capabilities and MSI-X ----------------------------------------------------------------------------------- */

unsigned pci_capabilities(const struct pci_function *f, uint8_t *offsets, unsigned max) {
    if (!(pci_read16(f, PCI_STATUS) & PCI_STATUS_CAPABILITY_LIST)) return 0;
    unsigned count = 0;
    uint8_t offset = pci_read8(f, PCI_CAPABILITY_LIST) & CAPABILITY_POINTER_MASK;
    while (offset >= CAPABILITY_AREA_START && count < max) {
        for (unsigned i = 0; i < count; i++)
            if (offsets[i] == offset) return count;
        offsets[count++] = offset;
        offset = pci_read8(f, offset + 1) & CAPABILITY_POINTER_MASK;
    }
    return count;
}

struct pci_msix pci_msix_decode(const struct pci_function *f, uint8_t offset) {
    uint16_t control = pci_read16(f, offset + MSIX_MESSAGE_CONTROL);
    uint32_t table = pci_read32(f, offset + MSIX_TABLE);
    uint32_t pba = pci_read32(f, offset + MSIX_PBA);
    return (struct pci_msix){
        .capability = offset,
        .table_size = (control & MSIX_CONTROL_TABLE_SIZE_MASK) + 1,
        .table_bar = table & MSIX_BIR_MASK,
        .table_offset = table & ~(uint32_t)MSIX_BIR_MASK,
        .pba_bar = pba & MSIX_BIR_MASK,
        .pba_offset = pba & ~(uint32_t)MSIX_BIR_MASK,
    };
}

int pci_msix_find(const struct pci_function *f, struct pci_msix *msix) {
    uint8_t offsets[PCI_MAX_CAPABILITIES];
    unsigned count = pci_capabilities(f, offsets, PCI_MAX_CAPABILITIES);
    for (unsigned i = 0; i < count; i++) {
        if (pci_read8(f, offsets[i]) == PCI_CAP_ID_MSIX) {
            *msix = pci_msix_decode(f, offsets[i]);
            return 1;
        }
    }
    return 0;
}

uint64_t pci_msix_route(const struct pci_function *f, const struct pci_msix *msix, unsigned entry, uint32_t apic_id,
                        uint8_t vector) {
    if (entry >= msix->table_size) panic("msix: the table has no such entry");
    if (msix->table_bar >= PCI_BAR_COUNT) panic("msix: the table BAR indicator is not a BAR");
    const struct pci_bar *bar = &f->bars[msix->table_bar];
    if (bar->kind != PCI_BAR_MEM32 && bar->kind != PCI_BAR_MEM64) panic("msix: the table BAR is not a memory BAR");
    if (bar->mapped == 0) panic("msix: the table BAR is not mapped (pci_enable first)");
    if ((uint64_t)msix->table_offset + (uint64_t)msix->table_size * MSIX_ENTRY_SIZE > bar->size)
        panic("msix: the table does not fit in its BAR");
    if (apic_id > 0xff) panic("msix: APIC ID above 255 needs interrupt remapping");

    unsigned control = msix->capability + MSIX_MESSAGE_CONTROL;
    uint16_t value = pci_read16(f, control);
    pci_write16(f, control, value | MSIX_CONTROL_ENABLE | MSIX_CONTROL_FUNCTION_MASK);

    uint64_t slot = bar->mapped + msix->table_offset + (uint64_t)entry * MSIX_ENTRY_SIZE;
    uint32_t address = MSI_ADDRESS_BASE | (apic_id << MSI_ADDRESS_DESTINATION_SHIFT);
    mmio_write32(slot + MSIX_ENTRY_ADDRESS_LOW, address);
    mmio_write32(slot + MSIX_ENTRY_ADDRESS_HIGH, 0);
    mmio_write32(slot + MSIX_ENTRY_DATA, vector);
    mmio_write32(slot + MSIX_ENTRY_VECTOR_CONTROL, mmio_read32(slot + MSIX_ENTRY_VECTOR_CONTROL) & ~MSIX_VECTOR_MASKED);
    if (mmio_read32(slot + MSIX_ENTRY_ADDRESS_LOW) != address || mmio_read32(slot + MSIX_ENTRY_DATA) != vector ||
        (mmio_read32(slot + MSIX_ENTRY_VECTOR_CONTROL) & MSIX_VECTOR_MASKED))
        panic("msix: the table entry did not read back as written");

    pci_write16(f, control, (pci_read16(f, control) | MSIX_CONTROL_ENABLE) & ~MSIX_CONTROL_FUNCTION_MASK);
    if ((pci_read16(f, control) & (MSIX_CONTROL_ENABLE | MSIX_CONTROL_FUNCTION_MASK)) != MSIX_CONTROL_ENABLE)
        panic("msix: the message control register did not keep enable=1, function mask=0");
    return address;
}
