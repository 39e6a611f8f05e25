/*
 * AP start-up path of the SMP test guest. smp.c copies the real-mode part (ap_trampoline_start..end) to
 * AP_TRAMPOLINE_BASE and sends INIT, SIPI, SIPI with vector AP_TRAMPOLINE_BASE >> 12. Each AP then goes
 * 16 -> 32 -> 64 bit through the guest's GDT and prebuilt page tables (entry.S), claims a check-in slot, stores its
 * APIC ID there and halts with interrupts off. The AP needs no stack.
 */
#include "layout.h"

#define CHECKIN_SLOT_SIZE 4
#define LAPIC_ID_REGISTER 0x20
#define X2APIC_ID_MSR 0x802

    .section .text16, "ax"
    .code16
    .globl ap_trampoline_start
ap_trampoline_start:
    cli
    movw %cs, %ax
    movw %ax, %ds
    lgdtl ap_gdt_pointer - ap_trampoline_start
    movl %cr0, %eax
    orl $CR0_PE, %eax
    movl %eax, %cr0
    ljmpl $SEL_KERNEL_CODE32, $ap_protected_mode
    .p2align 2
ap_gdt_pointer:
    .word GDT_ENTRIES * 8 - 1
    .long gdt
    .globl ap_trampoline_end
ap_trampoline_end:

    .section .text32, "ax"
    .code32
ap_protected_mode:
    movl $SEL_KERNEL_DATA, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl $pml4, %eax
    movl %eax, %cr3
    movl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr
    movl %cr0, %eax
    orl $CR0_PG, %eax
    movl %eax, %cr0
    ljmp $SEL_KERNEL_CODE64, $ap_long_mode

    .text
    .code64
ap_long_mode:
    movb $POST_AP_ONLINE, %al
    outb %al, $DEBUG_PORT
    movl $MSR_APIC_BASE, %ecx
    rdmsr
    testl $APIC_BASE_X2APIC, %eax
    jnz 1f
    andl $0xfffff000, %eax          /* xAPIC page (below 4 GiB, which smp.c checked for the BSP) */
    movl LAPIC_ID_REGISTER(%rax), %eax
    shrl $24, %eax
    jmp 2f
1:
    movl $X2APIC_ID_MSR, %ecx
    rdmsr
2:
    movl $1, %ecx
    lock xaddl %ecx, ap_next_slot(%rip)
    cmpl $MAX_CPUS, %ecx
    jae 3f
    leaq ap_checkin(%rip), %rdx
    movl %eax, (%rdx, %rcx, CHECKIN_SLOT_SIZE)
3:
    cli
4:
    hlt
    jmp 4b

    .section .note.GNU-stack, "", @progbits
