/*
 * Where a PCI host bridge is, as ACPI describes it to an operating system: the ECAM window from the MCFG (Cloud
 * Hypervisor, Nimbus) or, when there is no MCFG, from the host bridge's _CBA in the DSDT (QEMU microvm); the bus range
 * and the address windows the bridge forwards from the host bridge's _CRS. Linux uses the same sources.
 */
#pragma once
#include "acpi.h"

#define PCI_WINDOW_IO 1
#define PCI_WINDOW_MEM32 2 /* memory window below 4 GiB */
#define PCI_WINDOW_MEM64 3 /* memory window reaching above 4 GiB */
#define PCI_MAX_WINDOWS 8

struct pci_window {
    uint8_t type; /* PCI_WINDOW_* */
    uint64_t base;
    uint64_t size;
};

#define PCI_ECAM_FROM_MCFG 1
#define PCI_ECAM_FROM_DSDT 2

struct pci_host {
    uint8_t ecam_source; /* PCI_ECAM_FROM_* */
    uint64_t ecam_base; /* physical address of bus 0's configuration space */
    uint64_t root_bus_config; /* virtual address of bus_start's configuration space (mapped) */
    uint16_t segment;
    uint8_t bus_start;
    uint8_t bus_end;
    unsigned window_count;
    struct pci_window windows[PCI_MAX_WINDOWS];
};

/* Fills host from the ACPI tables; returns 0 when they describe no ECAM (no MCFG allocation and no _CBA). The
 * DSDT is scanned at CPL3. The first bus's configuration space is mapped on return (root_bus_config). */
int pci_host_from_acpi(const struct acpi_root *root, const struct acpi_header *fadt, struct pci_host *host);
