/*
 * Constants shared by the assembly and C parts of the Nimbus test guests: GDT selectors, debug-port milestone
 * codes, interrupt vectors, the UART registers, stack sizes and the physical page used for the SMP real-mode
 * trampoline. Only #defines, so that both .S and .c files can include it.
 */
#pragma once

/* GDT selectors (see gdt in entry.S). */
#define SEL_KERNEL_CODE64 0x08
#define SEL_KERNEL_DATA 0x10
#define SEL_KERNEL_CODE32 0x18
#define SEL_USER_DATA 0x23 /* descriptor 0x20, RPL 3 */
#define SEL_USER_CODE64 0x2b /* descriptor 0x28, RPL 3 */
#define SEL_TSS 0x30 /* 16-byte descriptor */
#define GDT_ENTRIES 8

/* Codes written to the 0x80 debug port at milestones (the VMM logs them with a timestamp). */
#define DEBUG_PORT 0x80
#define POST_ENTRY32 0x40
#define POST_LONG_MODE 0x41
#define POST_REPORT_DONE 0x42
#define POST_AP_ONLINE 0x43
#define POST_PANIC 0x4f

/* Control registers and MSRs used while switching to long mode. */
#define CR0_PE 0x1
#define CR0_PG 0x80000000
#define CR4_PAE 0x20
#define MSR_EFER 0xc0000080
#define EFER_LME 0x100
#define MSR_APIC_BASE 0x1b
#define APIC_BASE_X2APIC 0x400

/*
 * The AP start-up trampoline is copied to this page (SIPI vector 0x70). Nimbus keeps its boot data at
 * 0x6000-0x9fff and the command line at 0x20000, the MP table sits at 0x9fc00 and the EBDA at 0xa0000, so
 * 0x70000 is free low RAM on every layout the guests run on. The SMP guest checks it against the memory map.
 */
#define AP_TRAMPOLINE_BASE 0x70000
#define AP_TRAMPOLINE_VECTOR (AP_TRAMPOLINE_BASE >> 12)

/* Most CPUs the SMP guest records (check-in slots). */
#define MAX_CPUS 64

/* Interrupt vectors. */
#define VECTOR_TIMER 0x20
#define VECTOR_SERIAL 0x24
#define VECTOR_MSI 0x30 /* MSI-X messages of the PCI devices a guest drives (msi_isr.S) */
#define VECTOR_SPURIOUS 0xff

/* The 16550 UART (COM1, ISA IRQ 4): registers at UART_BASE + offset, and the bits the guests use. */
#define UART_BASE 0x3f8
#define UART_IRQ 4
#define UART_RBR (UART_BASE + 0) /* receive buffer (read) */
#define UART_THR (UART_BASE + 0) /* transmit holding register (write) */
#define UART_IER (UART_BASE + 1) /* interrupt enable */
#define UART_FCR (UART_BASE + 2) /* FIFO control (write) */
#define UART_LCR (UART_BASE + 3) /* line control */
#define UART_MCR (UART_BASE + 4) /* modem control */
#define UART_LSR (UART_BASE + 5) /* line status */
#define UART_IER_RECEIVED_DATA 0x01
#define UART_FCR_ENABLE_AND_CLEAR 0x07
#define UART_LCR_8N1 0x03
#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT2 0x08 /* gates the UART's interrupt output on PCs */
#define UART_LSR_DATA_READY 0x01
#define UART_LSR_THR_EMPTY 0x20
#define UART_FIFO_SIZE 16

/* Exception vectors. */
#define VECTOR_INVALID_OPCODE 6

#define BOOT_STACK_SIZE 16384
#define INTERRUPT_STACK_SIZE 8192
#define USER_STACK_SIZE 16384
