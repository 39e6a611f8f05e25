/*
 * PCI functions as a driver sees them through ECAM: configuration-space access, enumeration of the root bus, BAR
 * sizing and placement (keep what firmware or the VMM placed inside a host bridge window, otherwise allocate from
 * the windows, as Linux does), the capability list, and MSI-X programming.
 */
#pragma once
#include "pci_host.h"

/* Type 0 configuration header (PCI Local Bus 3.0, section 6.1). */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08 /* class code in the upper 24 bits of this dword */
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_CAPABILITY_LIST 0x34

#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_BUS_MASTER 0x4
#define PCI_STATUS_CAPABILITY_LIST 0x10
#define PCI_HEADER_TYPE_MASK 0x7f
#define PCI_HEADER_MULTI_FUNCTION 0x80
#define PCI_VENDOR_NONE 0xffff

#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_ID_VENDOR 0x09

#define PCI_BAR_COUNT 6
#define PCI_BAR_NONE 0
#define PCI_BAR_IO 1
#define PCI_BAR_MEM32 2
#define PCI_BAR_MEM64 3 /* takes two BAR registers; the second is recorded as PCI_BAR_NONE */

/* Where a BAR's address came from. */
#define PCI_BAR_FROM_FIRMWARE 1 /* programmed before the guest ran (kept) */
#define PCI_BAR_ASSIGNED 2 /* allocated by this guest from a host bridge window */
#define PCI_BAR_UNASSIGNED 3 /* no address: no window fits (or an I/O BAR, which the guests do not place) */

struct pci_bar {
    uint8_t kind; /* PCI_BAR_* */
    uint8_t prefetchable;
    uint8_t source; /* PCI_BAR_FROM_FIRMWARE, PCI_BAR_ASSIGNED, PCI_BAR_UNASSIGNED */
    uint64_t address; /* physical (bus) address */
    uint64_t size;
    uint64_t mapped; /* virtual address of a memory BAR once pci_enable mapped it, else 0 */
};

struct pci_function {
    uint64_t config; /* virtual address of its 4 KiB ECAM configuration space */
    uint8_t bus, device, function;
    uint16_t vendor_id, device_id;
    uint8_t revision;
    uint32_t class_code; /* base class, subclass, programming interface */
    uint8_t header_type; /* without the multi-function bit */
    uint16_t subsystem_vendor_id, subsystem_id; /* type 0 headers only */
    struct pci_bar bars[PCI_BAR_COUNT];
};

uint8_t pci_read8(const struct pci_function *f, unsigned offset);
uint16_t pci_read16(const struct pci_function *f, unsigned offset);
uint32_t pci_read32(const struct pci_function *f, unsigned offset);
void pci_write16(const struct pci_function *f, unsigned offset, uint16_t value);
void pci_write32(const struct pci_function *f, unsigned offset, uint32_t value);

/* Records every function on the host's first bus (up to max) with its identity and sized BARs; returns the count. */
unsigned pci_enumerate_root_bus(const struct pci_host *host, struct pci_function *functions, unsigned max);
/* Gives every memory BAR of the functions an address: keeps one that is set and lies inside a host bridge memory
 * window (any address when the host has no windows), otherwise allocates from the windows (64-bit BARs prefer a
 * window above 4 GiB; windows below 1 MiB are left alone), avoiding the kept ones. Writes the BAR registers with
 * decoding off. I/O BARs are kept when set and never placed. */
void pci_assign_bars(const struct pci_host *host, struct pci_function *functions, unsigned count);
/* Maps the function's memory BARs (setting their `mapped` addresses) and turns on memory decoding and bus
 * mastering. PANIC if a memory BAR has no address. */
void pci_enable(struct pci_function *f);

/* Fills offsets with the capability list (at most max entries; a loop in the list ends it); returns the count. */
unsigned pci_capabilities(const struct pci_function *f, uint8_t *offsets, unsigned max);
#define PCI_MAX_CAPABILITIES 48

/* MSI-X capability (PCI 3.0, section 6.8.2): message control at +2, table and PBA offset/BIR at +4 and +8. */
struct pci_msix {
    uint8_t capability; /* its offset in configuration space */
    uint16_t table_size; /* entries */
    uint8_t table_bar;
    uint32_t table_offset;
    uint8_t pba_bar;
    uint32_t pba_offset;
};
/* Decodes the MSI-X capability at `offset`. */
struct pci_msix pci_msix_decode(const struct pci_function *f, uint8_t offset);
/* Finds and decodes the function's MSI-X capability; returns 0 when it has none. */
int pci_msix_find(const struct pci_function *f, struct pci_msix *msix);
/* Enables MSI-X and points table entry `entry` at vector `vector` of the local APIC `apic_id` (fixed delivery,
 * physical destination), unmasked; the function mask is cleared last. The function must be enabled (pci_enable).
 * PANIC when the entry does not exist or does not read back. Returns the message address written. */
uint64_t pci_msix_route(const struct pci_function *f, const struct pci_msix *msix, unsigned entry, uint32_t apic_id,
                        uint8_t vector);
