/*
 * Device mappings beyond the boot page tables: the image's identity map covers the low 4 GiB only, while PCI host
 * bridges put 64-bit BARs (and sometimes ECAM) far above that, up to the top of the physical address space. map_mmio
 * adds uncached 2 MiB mappings there from a small pool of page tables that ships zeroed in the image.
 */
#pragma once
#include "guest.h"

/*
 * Maps the physical range [address, address + length) uncached (U=1, as everything, so CPL3 code may reach it) and
 * returns the virtual address of `address`: the physical address in canonical form (bits 63:48 copies of bit 47),
 * which has the same page-table indexes, so a range at or above 128 TiB lands in the upper half. Below 4 GiB it is
 * the identity map. PANIC when the range lies beyond the CPU's physical address width, beyond 4-level paging's
 * 256 TiB or across 128 TiB, or when the pool of page tables runs out.
 */
uint64_t map_mmio(uint64_t address, uint64_t length);
