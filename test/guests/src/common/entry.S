/*
 * PVH entry and CPU plumbing shared by the Nimbus test guests.
 *
 * - The Xen PHYS32_ENTRY ELF note (type 18) that makes the image a PVH kernel.
 * - pvh_entry32: 32-bit protected-mode entry (EBX = hvm_start_info). It records the entry state, then goes to long
 *   mode through the page tables below, which are prebuilt in the image (a run-time fill loop would cost ~10 ms of
 *   emulated CPL0 time under PVM).
 * - The GDT (user segments and a TSS slot for CPL3 work), exception stubs, the LAPIC timer and spurious ISRs and
 *   the EOI routine other ISRs share.
 * - run_user: calls a function at CPL3 (where PVM runs code natively); it returns with a ud2 caught by #UD.
 * - triple_fault: the panic exit (never int3: under PVM that is an emulation failure, not a shutdown).
 */
#include "layout.h"

/* Offsets in struct entry_state (guest.h). */
#define ENTRY_CR0 0
#define ENTRY_CR4 4
#define ENTRY_EFER 8
#define ENTRY_EFLAGS 12
#define ENTRY_CS 16
#define ENTRY_DS 18
#define ENTRY_ES 20
#define ENTRY_SS 22
#define ENTRY_START_INFO 24

/* Page-table entry bits. */
#define PTE_PRESENT 0x1
#define PTE_WRITABLE 0x2
#define PTE_USER 0x4
#define PTE_WRITE_THROUGH 0x8
#define PTE_CACHE_DISABLE 0x10
#define PTE_LARGE 0x80
#define PTE_TABLE (PTE_PRESENT | PTE_WRITABLE | PTE_USER)
#define PTE_RAM_2M (PTE_PRESENT | PTE_WRITABLE | PTE_USER | PTE_LARGE)
#define PTE_MMIO_2M (PTE_RAM_2M | PTE_WRITE_THROUGH | PTE_CACHE_DISABLE)
/* 2 MiB pages from 3 GiB up (the 32-bit device hole: LAPIC, IOAPIC, PCI BARs) are mapped uncached. */
#define FIRST_MMIO_2M_PAGE 1536

/* ---------------------------------------------------------------------------------------------------------------- */
    .section .note.Xen, "a"
    .p2align 2
    .long 4                         /* namesz: "Xen\0" */
    .long 4                         /* descsz: a 32-bit physical address */
    .long 18                        /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long pvh_entry32

/* ---------------------------------------------------------------------------------------------------------------- */
    .section .text32, "ax"
    .code32
    .globl pvh_entry32
pvh_entry32:
    movb $POST_ENTRY32, %al
    outb %al, $DEBUG_PORT
    movl $boot_stack_top, %esp
    pushfl
    popl entry_state + ENTRY_EFLAGS
    movl %ebx, entry_state + ENTRY_START_INFO
    movl %cr0, %eax
    movl %eax, entry_state + ENTRY_CR0
    movl %cr4, %eax
    movl %eax, entry_state + ENTRY_CR4
    movw %cs, entry_state + ENTRY_CS
    movw %ds, entry_state + ENTRY_DS
    movw %es, entry_state + ENTRY_ES
    movw %ss, entry_state + ENTRY_SS
    lgdt gdt_pointer
    movl $pml4, %eax
    movl %eax, %cr3
    movl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $MSR_EFER, %ecx
    rdmsr
    movl %eax, entry_state + ENTRY_EFER
    orl $EFER_LME, %eax
    wrmsr
    movl %cr0, %eax
    orl $(CR0_PG | CR0_PE), %eax
    movl %eax, %cr0
    ljmp $SEL_KERNEL_CODE64, $long_mode_entry

    .text
    .code64
long_mode_entry:
    movl $SEL_KERNEL_DATA, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    movq $boot_stack_top, %rsp
    movb $POST_LONG_MODE, %al
    outb %al, $DEBUG_PORT
    call cpu_tables_init
    movl entry_state + ENTRY_START_INFO(%rip), %edi
    call guest_main
    jmp triple_fault

    .globl triple_fault
triple_fault:
    lidt zero_idt_pointer(%rip)
    ud2

/* uint64_t run_user(uint64_t (*fn)(uint64_t, uint64_t), uint64_t a, uint64_t b): runs fn(a, b) at CPL3 with
 * interrupts off, on the user stack. fn returns to user_exit, whose ud2 lands in exception_common, which
 * restores the kernel stack saved here and returns fn's result (still in RAX). */
    .globl run_user
run_user:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, saved_kernel_rsp(%rip)
    movq %rdi, %rax
    movq %rsi, %rdi
    movq %rdx, %rsi
    leaq user_stack_top(%rip), %rcx
    leaq user_exit(%rip), %rdx
    movq %rdx, -8(%rcx)
    subq $8, %rcx
    pushq $SEL_USER_DATA
    pushq %rcx
    pushq $0x2                      /* RFLAGS: IF=0, IOPL=0 */
    pushq $SEL_USER_CODE64
    pushq %rax
    iretq
user_exit:
    ud2

/* Exception stubs, 16 bytes apart: cpu.c installs exception_stubs + 16 * vector. Each pushes an error code (a 0 where
 * the CPU pushes none) and the vector, so exception_common sees one frame layout. */
.macro stub_without_error vector
    .p2align 4
    pushq $0
    pushq $\vector
    jmp exception_common
.endm
.macro stub_with_error vector
    .p2align 4
    pushq $\vector
    jmp exception_common
.endm

    .p2align 4
    .globl exception_stubs
exception_stubs:
    stub_without_error 0
    stub_without_error 1
    stub_without_error 2
    stub_without_error 3
    stub_without_error 4
    stub_without_error 5
    stub_without_error 6
    stub_without_error 7
    stub_with_error 8
    stub_without_error 9
    stub_with_error 10
    stub_with_error 11
    stub_with_error 12
    stub_with_error 13
    stub_with_error 14
    stub_without_error 15
    stub_without_error 16
    stub_with_error 17
    stub_without_error 18
    stub_without_error 19
    stub_without_error 20
    stub_with_error 21
    stub_without_error 22
    stub_without_error 23
    stub_without_error 24
    stub_without_error 25
    stub_without_error 26
    stub_without_error 27
    stub_without_error 28
    stub_with_error 29
    stub_with_error 30
    stub_without_error 31

/* Frame: vector, error, RIP, CS, RFLAGS, RSP, SS. A ud2 at user_exit from CPL3 is run_user's return path; anything
 * else is fatal and goes to exception_panic (lib.c). */
exception_common:
    cmpq $VECTOR_INVALID_OPCODE, (%rsp)
    jne 1f
    cmpq $user_exit, 16(%rsp)
    jne 1f
    cmpq $SEL_USER_CODE64, 24(%rsp)
    jne 1f
    movq saved_kernel_rsp(%rip), %rsp
    movl $SEL_KERNEL_DATA, %ecx
    movl %ecx, %ss
    movl %ecx, %ds
    movl %ecx, %es
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
1:
    movq %rsp, %rdi
    andq $-16, %rsp
    call exception_panic
    jmp triple_fault

/* LAPIC timer: count the tick and send EOI. Kept to a few instructions: every one is emulated at CPL0 under PVM. */
    .globl timer_isr
timer_isr:
    pushq %rax
    pushq %rcx
    pushq %rdx
    incq timer_ticks(%rip)
    call lapic_eoi_from_isr
    popq %rdx
    popq %rcx
    popq %rax
    iretq

/* Sends EOI to the local APIC (xAPIC MMIO or x2APIC MSR, as lapic_init found it). For ISRs: clobbers RAX, RCX and
 * RDX only. */
    .globl lapic_eoi_from_isr
lapic_eoi_from_isr:
    cmpb $0, lapic_x2apic(%rip)
    jne 1f
    movq lapic_eoi_address(%rip), %rax
    movl $0, (%rax)
    ret
1:
    movl $0x80b, %ecx               /* x2APIC EOI MSR */
    xorl %eax, %eax
    xorl %edx, %edx
    wrmsr
    ret

/* Spurious LAPIC interrupts need no EOI. */
    .globl spurious_isr
spurious_isr:
    iretq

/* ---------------------------------------------------------------------------------------------------------------- */
    .data
    .p2align 3
    .globl gdt
gdt:
    .quad 0
    .quad 0x00af9a000000ffff        /* 0x08 kernel code, 64-bit */
    .quad 0x00cf92000000ffff        /* 0x10 kernel data */
    .quad 0x00cf9a000000ffff        /* 0x18 kernel code, 32-bit (AP trampoline) */
    .quad 0x00cff2000000ffff        /* 0x20 user data */
    .quad 0x00affa000000ffff        /* 0x28 user code, 64-bit */
    .quad 0, 0                      /* 0x30 64-bit TSS, filled by cpu_tables_init */
gdt_end:
    .if gdt_end - gdt != GDT_ENTRIES * 8
    .error "GDT_ENTRIES in layout.h does not match the GDT"
    .endif

    .p2align 3
    .globl gdt_pointer
gdt_pointer:
    .word GDT_ENTRIES * 8 - 1
    .quad gdt

    .p2align 3
zero_idt_pointer:
    .word 0
    .quad 0

    .p2align 3
saved_kernel_rsp:
    .quad 0

/* Identity map of the low 4 GiB with 2 MiB pages, all U=1 so that run_user's CPL3 code reaches everything. */
    .section .data.page_tables, "aw"
    .p2align 12
    .globl pml4
pml4:
    .quad pdpt + PTE_TABLE
    .fill 511, 8, 0
pdpt:
    .quad page_directories + PTE_TABLE
    .quad page_directories + 0x1000 + PTE_TABLE
    .quad page_directories + 0x2000 + PTE_TABLE
    .quad page_directories + 0x3000 + PTE_TABLE
    .fill 508, 8, 0
page_directories:
    .set page, 0
    .rept FIRST_MMIO_2M_PAGE
    .quad (page << 21) | PTE_RAM_2M
    .set page, page + 1
    .endr
    .rept 2048 - FIRST_MMIO_2M_PAGE
    .quad (page << 21) | PTE_MMIO_2M
    .set page, page + 1
    .endr

/* ---------------------------------------------------------------------------------------------------------------- */
    .bss
    .p2align 4
    .skip BOOT_STACK_SIZE
    .globl boot_stack_top
boot_stack_top:
    .skip INTERRUPT_STACK_SIZE
    .globl interrupt_stack_top
interrupt_stack_top:
    .skip USER_STACK_SIZE
user_stack_top:

    .section .note.GNU-stack, "", @progbits
