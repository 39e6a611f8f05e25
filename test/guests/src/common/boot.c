/*
 * PVH start-info checks shared by the Nimbus test guests: validates the structure EBX points at and answers whether
 * a physical range is RAM according to the PVH memory map.
 */
#include "guest.h"

const struct hvm_start_info *start_info_checked(uint32_t address) {
    if (address == 0 || !identity_mapped(address, sizeof(struct hvm_start_info)))
        panic("start_info: EBX does not point at readable memory");
    const struct hvm_start_info *info = (const struct hvm_start_info *)(uint64_t)address;
    if (info->magic != HVM_START_MAGIC) {
        print_key_hex("start_info.magic", info->magic);
        panic("start_info: bad magic (expected 0x336ec578)");
    }
    return info;
}

int memmap_covers_ram(const struct hvm_start_info *info, uint64_t address, uint64_t length) {
    if (info->version < 1 || info->memmap_paddr == 0) return 0;
    uint64_t table_size = (uint64_t)info->memmap_entries * sizeof(struct hvm_memmap_entry);
    if (!identity_mapped(info->memmap_paddr, table_size)) return 0;
    const struct hvm_memmap_entry *entries = (const struct hvm_memmap_entry *)info->memmap_paddr;
    for (uint32_t i = 0; i < info->memmap_entries; i++) {
        const struct hvm_memmap_entry *e = &entries[i];
        if (e->type == HVM_MEMMAP_TYPE_RAM && address >= e->addr && length <= e->size &&
            address - e->addr <= e->size - length)
            return 1;
    }
    return 0;
}
