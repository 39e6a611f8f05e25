/**
 * The MC146818-compatible CMOS/RTC register map: the two ports, the RTC register indices and bits, and the CMOS
 * bytes firmware reads the memory size from (Cloud Hypervisor's and SeaBIOS's layout). Pure: no node:* imports.
 */

/** Port offsets from the base 0x70. */
export const CMOS_PORT = {
  /** 0x70: register index; bit 7 is the NMI-disable bit and does not take part in addressing. */
  INDEX: 0,
  /** 0x71: data of the indexed register. */
  DATA: 1,
} as const;

export const CMOS_PORT_COUNT = 2;

/** Bytes of CMOS RAM (RTC registers included) addressed by the low 7 index bits. */
export const CMOS_RAM_BYTES = 128;

export const CMOS_INDEX_MASK = 0x7f;
export const CMOS_NMI_DISABLE = 0x80;

export const CMOS_REGISTER = {
  SECONDS: 0x00,
  SECONDS_ALARM: 0x01,
  MINUTES: 0x02,
  MINUTES_ALARM: 0x03,
  HOURS: 0x04,
  HOURS_ALARM: 0x05,
  DAY_OF_WEEK: 0x06,
  DAY_OF_MONTH: 0x07,
  MONTH: 0x08,
  YEAR: 0x09,
  STATUS_A: 0x0a,
  STATUS_B: 0x0b,
  STATUS_C: 0x0c,
  STATUS_D: 0x0d,
  SHUTDOWN_STATUS: 0x0f,
  CENTURY: 0x32,
  /** Memory from 16 MiB to the 32-bit gap, in 64 KiB units (low and high byte). */
  EXTENDED_MEMORY_LOW: 0x34,
  EXTENDED_MEMORY_HIGH: 0x35,
  /** Memory above 4 GiB, in 64 KiB units (three bytes, low first). */
  HIGH_MEMORY_LOW: 0x5b,
  HIGH_MEMORY_MIDDLE: 0x5c,
  HIGH_MEMORY_HIGH: 0x5d,
} as const;

export const STATUS_A = {
  UPDATE_IN_PROGRESS: 0x80,
  /** Power-on value: 32.768 kHz time base (divider 010), 1.024 kHz periodic rate (0110). */
  POWER_ON: 0x26,
} as const;

export const STATUS_B = {
  SET: 0x80,
  /** Data mode: 1 = binary, 0 = BCD. */
  BINARY: 0x04,
  /** Hours format: 1 = 24-hour. This RTC only runs in 24-hour mode, so the bit always reads 1. */
  HOURS_24: 0x02,
} as const;

export const STATUS_D = {
  /** Valid RAM and time: the RTC has power. */
  VALID: 0x80,
} as const;

/**
 * Index written (with NMI disabled) before writing 0 to the shutdown-status byte: Linux's real-mode reboot path,
 * which Cloud Hypervisor turns into a VM reset.
 */
export const CMOS_RESET_INDEX = CMOS_NMI_DISABLE | CMOS_REGISTER.SHUTDOWN_STATUS;

/** 64 KiB: the unit of the memory-size bytes. */
export const MEMORY_SIZE_UNIT = 64 * 1024;
/** The extended-memory bytes count from 16 MiB. */
export const EXTENDED_MEMORY_START = 16 * 1024 * 1024;
