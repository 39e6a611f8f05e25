/*
 * CPU tables of the Nimbus test guests: the 64-bit TSS (RSP0 for CPL3 -> CPL0 transitions), its GDT descriptor and
 * the IDT. Only the 32 exception gates are filled at boot (about 300 emulated instructions); guests add interrupt
 * gates with idt_set_gate.
 */
#include "guest.h"

/* 64-bit TSS. */
struct tss64 {
    uint32_t reserved0; /* 0x00 */
    uint64_t rsp0; /* 0x04 */
    uint64_t rsp1; /* 0x0c */
    uint64_t rsp2; /* 0x14 */
    uint64_t reserved1; /* 0x1c */
    uint64_t ist[7]; /* 0x24 */
    uint64_t reserved2; /* 0x5c */
    uint16_t reserved3; /* 0x64 */
    uint16_t iomap_base; /* 0x66 */
} PACKED;
_Static_assert(sizeof(struct tss64) == 0x68, "tss64 layout");

/* 64-bit interrupt gate. */
struct idt_gate {
    uint16_t offset_low; /* 0x0 */
    uint16_t selector; /* 0x2 */
    uint8_t ist; /* 0x4 */
    uint8_t type_attributes; /* 0x5: P=1, DPL=0, type 0xe (interrupt gate) */
    uint16_t offset_middle; /* 0x6 */
    uint32_t offset_high; /* 0x8 */
    uint32_t reserved; /* 0xc */
} PACKED;
_Static_assert(sizeof(struct idt_gate) == 16, "idt_gate layout");

#define IDT_INTERRUPT_GATE 0x8e
#define TSS_TYPE_AVAILABLE_64 0x89
#define EXCEPTION_COUNT 32
#define EXCEPTION_STUB_SIZE 16

struct descriptor_pointer {
    uint16_t limit;
    uint64_t base;
} PACKED;

struct entry_state entry_state = {0};

extern uint64_t gdt[];
extern char exception_stubs[];
extern char interrupt_stack_top[];

static struct tss64 tss __attribute__((aligned(16))) = {.iomap_base = sizeof(struct tss64)};
static struct idt_gate idt[256] __attribute__((aligned(16))) = {{0}};

void idt_set_gate(unsigned vector, void (*handler)(void)) {
    uint64_t offset = (uint64_t)handler;
    idt[vector] = (struct idt_gate){
        .offset_low = (uint16_t)offset,
        .selector = SEL_KERNEL_CODE64,
        .type_attributes = IDT_INTERRUPT_GATE,
        .offset_middle = (uint16_t)(offset >> 16),
        .offset_high = (uint32_t)(offset >> 32),
    };
}

void cpu_tables_init(void) {
    uint64_t base = (uint64_t)&tss;
    tss.rsp0 = (uint64_t)interrupt_stack_top;
    /* 16-byte TSS descriptor: limit 15:0, base 23:0 at bit 16, type at bit 40, base 31:24 at bit 56, base 63:32. */
    gdt[SEL_TSS / 8] = (sizeof(struct tss64) - 1) | ((base & 0xffffff) << 16) |
                       ((uint64_t)TSS_TYPE_AVAILABLE_64 << 40) | (((base >> 24) & 0xff) << 56);
    gdt[SEL_TSS / 8 + 1] = base >> 32;
    __asm__ volatile("ltr %w0" ::"r"(SEL_TSS));

    for (unsigned vector = 0; vector < EXCEPTION_COUNT; vector++)
        idt_set_gate(vector, (void (*)(void))(exception_stubs + vector * EXCEPTION_STUB_SIZE));
    struct descriptor_pointer pointer = {.limit = sizeof idt - 1, .base = (uint64_t)idt};
    __asm__ volatile("lidt %0" ::"m"(pointer));
}
