/*
 * map_mmio (see paging.h): walks PML4 -> PDPT -> PD from the boot PML4 (entry.S), taking missing tables from a pool,
 * and writes 2 MiB leaf entries. 1 GiB pages are not used: PVM's CPUID has no PDPE1GB.
 */
#include "paging.h"

#define PAGE_TABLE_ENTRIES 512
/* Enough for three separate 1 GiB regions above 4 GiB (each needs at most a PDPT and a PD). */
#define SPARE_TABLE_COUNT 6
#define LARGE_PAGE_SIZE 0x200000ull

#define PTE_PRESENT 0x1ull
#define PTE_WRITABLE 0x2ull
#define PTE_USER 0x4ull
#define PTE_WRITE_THROUGH 0x8ull
#define PTE_CACHE_DISABLE 0x10ull
#define PTE_LARGE 0x80ull
#define PTE_TABLE (PTE_PRESENT | PTE_WRITABLE | PTE_USER)
#define PTE_MMIO_2M (PTE_TABLE | PTE_WRITE_THROUGH | PTE_CACHE_DISABLE | PTE_LARGE)
#define PTE_ADDRESS_MASK 0x000ffffffffff000ull

#define PML4_SHIFT 39
#define PDPT_SHIFT 30
#define PD_SHIFT 21

#define CPUID_ADDRESS_SIZES 0x80000008u
/* 4-level paging translates 48-bit virtual addresses; bit 47 is copied into bits 63:48 (canonical form). */
#define FOUR_LEVEL_LIMIT (1ull << 48)
#define UPPER_HALF_START (1ull << 47)
#define CANONICAL_UPPER_BITS 0xffff000000000000ull

extern uint64_t pml4[PAGE_TABLE_ENTRIES];

static uint64_t spare_tables[SPARE_TABLE_COUNT][PAGE_TABLE_ENTRIES] __attribute__((aligned(4096))) = {{0}};
static unsigned spare_tables_used = 0;

/* The table an entry points at, taking a zeroed one from the pool when the entry is empty. */
static uint64_t *lower_table(uint64_t *entry) {
    if (*entry & PTE_PRESENT) {
        if (*entry & PTE_LARGE) panic("paging: a 1 GiB page is in the way of an MMIO mapping");
        return (uint64_t *)(*entry & PTE_ADDRESS_MASK);
    }
    if (spare_tables_used == SPARE_TABLE_COUNT) panic("paging: out of page tables for MMIO mappings");
    uint64_t *table = spare_tables[spare_tables_used++];
    *entry = (uint64_t)table | PTE_TABLE;
    return table;
}

static unsigned physical_address_bits(void) {
    uint32_t eax, ebx, ecx, edx;
    __asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(CPUID_ADDRESS_SIZES), "c"(0));
    return eax & 0xff;
}

uint64_t map_mmio(uint64_t address, uint64_t length) {
    if (length == 0 || identity_mapped(address, length)) return address;
    uint64_t limit = 1ull << physical_address_bits();
    if (limit > FOUR_LEVEL_LIMIT) limit = FOUR_LEVEL_LIMIT;
    uint64_t end = address + length;
    if (address >= limit || length > limit - address || (address < UPPER_HALF_START) != (end - 1 < UPPER_HALF_START)) {
        print_key_hex("paging.address", address);
        print_key_hex("paging.length", length);
        panic("paging: the MMIO range is beyond the physical address width or 256 TiB, or crosses 128 TiB");
    }
    for (uint64_t page = address & ~(LARGE_PAGE_SIZE - 1); page < end; page += LARGE_PAGE_SIZE) {
        uint64_t *pdpt = lower_table(&pml4[(page >> PML4_SHIFT) % PAGE_TABLE_ENTRIES]);
        uint64_t *pd = lower_table(&pdpt[(page >> PDPT_SHIFT) % PAGE_TABLE_ENTRIES]);
        pd[(page >> PD_SHIFT) % PAGE_TABLE_ENTRIES] = page | PTE_MMIO_2M;
    }
    /* Reloading CR3 flushes any paging-structure caches (no translation of these addresses was cached before). */
    uint64_t cr3;
    __asm__ volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3)::"memory");
    return address >= UPPER_HALF_START ? address | CANONICAL_UPPER_BITS : address;
}
