/*
 * Shared declarations for the Nimbus test guests: port and MMIO access, the serial console, panic, CPL3 calls,
 * the CPU tables and the PVH hvm_start_info layout. Everything here is freestanding (no libc).
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "layout.h"

#define NORETURN __attribute__((noreturn))
#define PACKED __attribute__((packed))

static inline void outb(uint16_t port, uint8_t value) { __asm__ volatile("outb %0, %1" ::"a"(value), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t value) { __asm__ volatile("outw %0, %1" ::"a"(value), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t value) { __asm__ volatile("outl %0, %1" ::"a"(value), "Nd"(port)); }
static inline uint16_t inw(uint16_t port) {
    uint16_t value;
    __asm__ volatile("inw %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}
static inline uint8_t inb(uint16_t port) {
    uint8_t value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}

static inline uint64_t rdmsr(uint32_t msr) {
    uint32_t low, high;
    __asm__ volatile("rdmsr" : "=a"(low), "=d"(high) : "c"(msr));
    return ((uint64_t)high << 32) | low;
}
static inline void wrmsr(uint32_t msr, uint64_t value) {
    __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)));
}

/* Device registers: one access of exactly the given width (PCI config space and virtio registers care). */
static inline uint8_t mmio_read8(uint64_t address) { return *(volatile uint8_t *)address; }
static inline uint16_t mmio_read16(uint64_t address) { return *(volatile uint16_t *)address; }
static inline uint32_t mmio_read32(uint64_t address) { return *(volatile uint32_t *)address; }
static inline void mmio_write8(uint64_t address, uint8_t value) { *(volatile uint8_t *)address = value; }
static inline void mmio_write16(uint64_t address, uint16_t value) { *(volatile uint16_t *)address = value; }
static inline void mmio_write32(uint64_t address, uint32_t value) { *(volatile uint32_t *)address = value; }

/* Orders compiler-visible memory accesses (x86 keeps stores in order and loads in order by itself). */
static inline void compiler_barrier(void) { __asm__ volatile("" ::: "memory"); }

/* Unaligned little-endian loads from tables in guest memory. */
static inline uint16_t load_u16(const void *p) {
    uint16_t v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}
static inline uint32_t load_u32(const void *p) {
    uint32_t v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}
static inline uint64_t load_u64(const void *p) {
    uint64_t v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}

static inline int bytes_equal(const void *a, const void *b, size_t n) {
    const uint8_t *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i]) return 0;
    return 1;
}

/* The low 4 GiB are identity mapped; nothing above can be read. */
#define IDENTITY_MAP_END 0x100000000ull
static inline int identity_mapped(uint64_t address, uint64_t length) {
    return address < IDENTITY_MAP_END && length <= IDENTITY_MAP_END - address;
}

/* First page after the loaded image (guest.ld). */
extern char image_end[];

void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int value, size_t n);

/* ---- console (lib.c) -------------------------------------------------------------------------------------------- */
void post_code(uint8_t code);
void serial_init(void);
void print(const char *s);
void print_char(char c);
void print_hex(uint64_t value);
void print_dec(uint64_t value);
/* Exactly `digits` lowercase hex digits, without 0x (for fixed-width fields such as a PCI bus:device.function). */
void print_hex_digits(uint64_t value, unsigned digits);
/* Two lowercase hex digits per byte, no separators. */
void print_hex_bytes(const uint8_t *bytes, size_t n);
/* Print n bytes, escaping bytes outside printable ASCII and the backslash as \xNN. print_text keeps spaces (a whole
 * line's value, such as the command line); print_token escapes them too (a field of a space-separated record). */
void print_text(const char *s, size_t n);
void print_token(const char *s, size_t n);
/* "key=value\n" helpers. */
void print_key_hex(const char *key, uint64_t value);
void print_key_dec(const char *key, uint64_t value);
void print_key_str(const char *key, const char *value);
/* " name=value" fields of a space-separated record. */
void print_field_hex(const char *name, uint64_t value);
void print_field_dec(const char *name, uint64_t value);
NORETURN void panic(const char *reason);
NORETURN void triple_fault(void);

/* ---- CPU tables and CPL3 calls (cpu.c, entry.S) ----------------------------------------------------------------- */
/* Register state recorded by pvh_entry32 before it changes anything (offsets mirrored in entry.S). */
struct entry_state {
    uint32_t cr0; /* 0 */
    uint32_t cr4; /* 4 */
    uint32_t efer; /* 8, low half */
    uint32_t eflags; /* 12 */
    uint16_t cs; /* 16 */
    uint16_t ds; /* 18 */
    uint16_t es; /* 20 */
    uint16_t ss; /* 22 */
    uint32_t start_info; /* 24: EBX */
};
extern struct entry_state entry_state;

void cpu_tables_init(void);
void idt_set_gate(unsigned vector, void (*handler)(void));
typedef uint64_t (*user_function)(uint64_t, uint64_t);
/* Runs fn(a, b) at CPL3 (native speed under PVM) and returns its result. */
uint64_t run_user(user_function fn, uint64_t a, uint64_t b);

/* ---- PVH start info (xen/include/public/arch-x86/hvm/start_info.h) ---------------------------------------------- */
#define HVM_START_MAGIC 0x336ec578u

struct hvm_start_info {
    uint32_t magic; /* 0x00 */
    uint32_t version; /* 0x04 */
    uint32_t flags; /* 0x08 */
    uint32_t nr_modules; /* 0x0c */
    uint64_t modlist_paddr; /* 0x10 */
    uint64_t cmdline_paddr; /* 0x18 */
    uint64_t rsdp_paddr; /* 0x20 */
    uint64_t memmap_paddr; /* 0x28, version >= 1 */
    uint32_t memmap_entries; /* 0x30, version >= 1 */
    uint32_t reserved; /* 0x34 */
} PACKED;
_Static_assert(sizeof(struct hvm_start_info) == 0x38, "hvm_start_info layout");

struct hvm_modlist_entry {
    uint64_t paddr; /* 0x00 */
    uint64_t size; /* 0x08 */
    uint64_t cmdline_paddr; /* 0x10 */
    uint64_t reserved; /* 0x18 */
} PACKED;
_Static_assert(sizeof(struct hvm_modlist_entry) == 0x20, "hvm_modlist_entry layout");

#define HVM_MEMMAP_TYPE_RAM 1
struct hvm_memmap_entry {
    uint64_t addr; /* 0x00 */
    uint64_t size; /* 0x08 */
    uint32_t type; /* 0x10 */
    uint32_t reserved; /* 0x14 */
} PACKED;
_Static_assert(sizeof(struct hvm_memmap_entry) == 0x18, "hvm_memmap_entry layout");

/* Validates the start info passed in EBX (PANIC on a bad magic or an unreadable address) and returns it. */
const struct hvm_start_info *start_info_checked(uint32_t address);
/* True when [address, address + length) lies inside one RAM entry of the PVH memory map (version >= 1). */
int memmap_covers_ram(const struct hvm_start_info *info, uint64_t address, uint64_t length);
