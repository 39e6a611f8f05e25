/*
 * The ISR for MSI-X messages of the PCI devices a guest drives (vector VECTOR_MSI): counts the interrupt in
 * msi_interrupts and sends EOI. A few instructions only: it runs at CPL0, where PVM emulates each one. Drivers look
 * at their used rings after every wake-up, so one vector serves all their queues.
 */
#include "layout.h"

    .text
    .code64
    .globl msi_isr
msi_isr:
    pushq %rax
    pushq %rcx
    pushq %rdx
    incq msi_interrupts(%rip)
    call lapic_eoi_from_isr
    popq %rdx
    popq %rcx
    popq %rax
    iretq

    .data
    .p2align 3
    .globl msi_interrupts
msi_interrupts:
    .quad 0

    .section .note.GNU-stack, "", @progbits
