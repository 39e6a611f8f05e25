/*
 * The lifecycle guest's COM1 receive ISR: moves every byte the UART holds (RBR while LSR.DATA_READY) into
 * serial_rx_ring, advancing serial_rx_head, then sends EOI. A dozen instructions per byte: it runs at CPL0, where
 * PVM emulates each one.
 */
#include "layout.h"
#include "serial_rx.h"

    .text
    .code64
    .globl serial_rx_isr
serial_rx_isr:
    pushq %rax
    pushq %rcx
    pushq %rdx
1:
    movw $UART_LSR, %dx
    inb %dx, %al
    testb $UART_LSR_DATA_READY, %al
    jz 2f
    movw $UART_RBR, %dx
    inb %dx, %al
    movl serial_rx_head(%rip), %ecx
    andl $(SERIAL_RX_RING_SIZE - 1), %ecx
    movb %al, serial_rx_ring(%rcx)
    incl serial_rx_head(%rip)
    jmp 1b
2:
    call lapic_eoi_from_isr
    popq %rdx
    popq %rcx
    popq %rax
    iretq

    .data
    .p2align 2
    .globl serial_rx_head
serial_rx_head:
    .long 0

    .bss
    .p2align 4
    .globl serial_rx_ring
serial_rx_ring:
    .skip SERIAL_RX_RING_SIZE

    .section .note.GNU-stack, "", @progbits
