/*
 * CRC-32 (IEEE 802.3, as zlib computes it) of guest memory, written to run at CPL3 through run_user, where PVM
 * executes natively: at CPL0 every instruction of the loop would be emulated.
 */
#pragma once
#include "guest.h"

/* The CRC-32 of `length` bytes at `address`; pass it to run_user(user_crc32, address, length). */
uint64_t user_crc32(uint64_t address, uint64_t length);
