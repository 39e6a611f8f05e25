/*
 * The receive ring the lifecycle guest's UART ISR (serial_rx.S) fills and guest_main drains. Only #defines and
 * declarations guarded for C, so that the .S file can include it.
 */
#pragma once

/* Bytes the ring holds; a power of two (the ISR masks the free-running head with SERIAL_RX_RING_SIZE - 1). */
#define SERIAL_RX_RING_SIZE 4096

#ifndef __ASSEMBLER__
#include <stdint.h>
/* Written by the ISR only: the ring and the count of bytes ever received (free-running). */
extern uint8_t serial_rx_ring[SERIAL_RX_RING_SIZE];
extern uint32_t serial_rx_head;
void serial_rx_isr(void);
#endif
