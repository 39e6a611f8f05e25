/*
 * The "lifecycle" test guest: does what `nimbus.test=<action>` on the command line asks, to exercise how the VMM
 * ends or restarts a VM and feeds it serial input.
 *
 * Every boot first prints "lifecycle.boot=<n>": n counts the boots whose RAM this one still sees (a record the
 * guest leaves just past its image), so a VMM that rebuilds the VM on reset (fresh RAM) always shows 1, while one
 * that keeps RAM across a reset (QEMU) counts up.
 *
 * - acpi-reset, i8042-reset, cmos-reset: print "lifecycle.reset=<action>", then request a reset through the FADT's
 *   RESET_REG, the i8042 (command 0xFE to port 0x64), or the CMOS shutdown byte (0 to register 0x8F). The guest
 *   resets again on every boot. PANIC if it still runs 1 s later.
 * - triple-fault: print "lifecycle.triple_fault", then triple-fault (no PANIC line).
 * - serial-echo: route COM1's IRQ through the IOAPIC as a driver does (MADT overrides, redirection entry), print
 *   "ioapic.route=..." and "serial.ready", then sleep in sti; hlt while the ISR (serial_rx.S) collects input. Each
 *   line received is echoed as "serial.rx=<hex bytes>" (without the newline). After an empty line the guest prints
 *   "report.done" and powers off; after the line "reset" it resets through RESET_REG.
 * - ticker: print "lifecycle.tick=N" every 20 ms of guest time, forever (the test stops the VM).
 */
#include "acpi.h"
#include "ioapic.h"
#include "lapic.h"
#include "serial_rx.h"

#define CMDLINE_MAX 4096
#define TEST_KEY "nimbus.test"
#define LINE_MAX 1024

/* i8042 command port and its "pulse the reset line" command; CMOS index/data ports and the shutdown-status byte
 * with NMI disabled (bit 7), whose 0 value asks for a reset. */
#define I8042_COMMAND_PORT 0x64
#define I8042_PULSE_RESET 0xfe
#define CMOS_INDEX_PORT 0x70
#define CMOS_DATA_PORT 0x71
#define CMOS_SHUTDOWN_STATUS_NMI_OFF 0x8f

/* Left in RAM just past the image by each boot. */
struct boot_record {
    uint64_t magic;
    uint64_t boots;
};
#define BOOT_RECORD_MAGIC 0x544f4f424546494cull /* "LIFEBOOT" */

static void count_boot(const struct hvm_start_info *info) {
    struct boot_record *record = (struct boot_record *)image_end;
    if (!memmap_covers_ram(info, (uint64_t)record, sizeof *record)) panic("lifecycle: the page after the image is not RAM");
    uint64_t boots = record->magic == BOOT_RECORD_MAGIC ? record->boots + 1 : 1;
    *record = (struct boot_record){.magic = BOOT_RECORD_MAGIC, .boots = boots};
    print_key_dec("lifecycle.boot", boots);
}

static int text_equal(const char *s, size_t n, const char *literal) {
    size_t i = 0;
    for (; i < n && literal[i] != '\0'; i++)
        if (s[i] != literal[i]) return 0;
    return i == n && literal[i] == '\0';
}

/* The value of `key=` among the space-separated words of the command line (no quoting), or NULL. */
static const char *cmdline_value(const char *cmdline, size_t length, const char *key, size_t *value_length) {
    size_t key_length = 0;
    while (key[key_length] != '\0') key_length++;
    size_t start = 0;
    while (start < length) {
        size_t end = start;
        while (end < length && cmdline[end] != ' ') end++;
        if (end - start > key_length && bytes_equal(cmdline + start, key, key_length) &&
            cmdline[start + key_length] == '=') {
            *value_length = end - start - key_length - 1;
            return cmdline + start + key_length + 1;
        }
        start = end + 1;
    }
    return NULL;
}

static const char *requested_test(const struct hvm_start_info *info, size_t *length) {
    if (info->cmdline_paddr == 0) panic("lifecycle: no command line (expected nimbus.test=<action>)");
    if (!identity_mapped(info->cmdline_paddr, CMDLINE_MAX)) panic("start_info: cmdline_paddr is not readable");
    const char *cmdline = (const char *)info->cmdline_paddr;
    size_t cmdline_length = 0;
    while (cmdline_length < CMDLINE_MAX && cmdline[cmdline_length] != '\0') cmdline_length++;
    const char *value = cmdline_value(cmdline, cmdline_length, TEST_KEY, length);
    if (!value) panic("lifecycle: no nimbus.test=<action> on the command line");
    return value;
}

static void announce_reset(const char *action) {
    print_key_str("lifecycle.reset", action);
}

NORETURN static void reset_through_i8042(void) {
    announce_reset("i8042-reset");
    outb(I8042_COMMAND_PORT, I8042_PULSE_RESET);
    wait_ticks(TICKS_PER_SECOND);
    panic("reset: still running 1 s after the i8042 reset command");
}

NORETURN static void reset_through_cmos(void) {
    announce_reset("cmos-reset");
    outb(CMOS_INDEX_PORT, CMOS_SHUTDOWN_STATUS_NMI_OFF);
    outb(CMOS_DATA_PORT, 0);
    wait_ticks(TICKS_PER_SECOND);
    panic("reset: still running 1 s after writing 0 to CMOS register 0x8f");
}

static uint32_t rx_head(void) { return *(volatile uint32_t *)&serial_rx_head; }

/* Takes the next received byte, sleeping until the ISR has one. */
static uint8_t serial_receive(uint32_t *tail) {
    while (rx_head() == *tail) wait_for_interrupt();
    if (rx_head() - *tail > SERIAL_RX_RING_SIZE) panic("serial: the receive ring overflowed");
    return serial_rx_ring[(*tail)++ & (SERIAL_RX_RING_SIZE - 1)];
}

NORETURN static void serial_echo(const struct acpi_header *madt, const struct acpi_header *fadt) {
    idt_set_gate(VECTOR_SERIAL, serial_rx_isr);
    struct ioapic_route route = ioapic_route_isa_irq(madt, UART_IRQ, VECTOR_SERIAL, lapic_id());
    print("ioapic.route=irq=");
    print_dec(UART_IRQ);
    print(" gsi=");
    print_dec(route.gsi);
    print(" ioapic=");
    print_hex(route.ioapic_address);
    print(" pin=");
    print_dec(route.pin);
    print(" level=");
    print_dec((uint64_t)route.level_triggered);
    print(" active_low=");
    print_dec((uint64_t)route.active_low);
    print_char('\n');

    outb(UART_LCR, UART_LCR_8N1);
    outb(UART_MCR, UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2);
    outb(UART_IER, UART_IER_RECEIVED_DATA);
    print("serial.ready\n");

    static uint8_t line[LINE_MAX];
    uint32_t tail = 0;
    for (;;) {
        size_t length = 0;
        for (uint8_t byte = serial_receive(&tail); byte != '\n'; byte = serial_receive(&tail)) {
            if (length == LINE_MAX) panic("serial: input line longer than 1024 bytes");
            line[length++] = byte;
        }
        print("serial.rx=");
        print_hex_bytes(line, length);
        print_char('\n');
        if (length == 0) {
            print("report.done\n");
            post_code(POST_REPORT_DONE);
            acpi_power_off(fadt);
        }
        if (text_equal((const char *)line, length, "reset")) {
            announce_reset("acpi-reset");
            acpi_reset(fadt);
        }
    }
}

/* Prints lifecycle.tick=N every 20 ms, forever: lets a test watch the guest make progress (pause, resume). */
NORETURN static void ticker(void) {
    for (uint64_t n = 1;; n++) {
        wait_ticks(TICKS_PER_SECOND / 50);
        print_key_dec("lifecycle.tick", n);
    }
}

NORETURN void guest_main(uint32_t start_info_address);
void guest_main(uint32_t start_info_address) {
    serial_init();
    print_char('\n');
    print_key_str("report.guest", "lifecycle");
    const struct hvm_start_info *info = start_info_checked(start_info_address);
    count_boot(info);
    lapic_init();
    struct acpi_root root;
    acpi_tables_checked(info, &root);
    const struct acpi_header *fadt = acpi_find(&root, "FACP");
    if (!fadt) panic("acpi: no FACP table, cannot power off or reset");
    const struct acpi_header *madt = acpi_find(&root, "APIC");
    if (!madt || madt->length < MADT_ENTRIES) panic("acpi: no MADT");

    size_t length;
    const char *test = requested_test(info, &length);
    print("lifecycle.test=");
    print_token(test, length);
    print_char('\n');
    if (text_equal(test, length, "acpi-reset")) {
        announce_reset("acpi-reset");
        acpi_reset(fadt);
    }
    if (text_equal(test, length, "i8042-reset")) reset_through_i8042();
    if (text_equal(test, length, "cmos-reset")) reset_through_cmos();
    if (text_equal(test, length, "triple-fault")) {
        print("lifecycle.triple_fault\n");
        triple_fault();
    }
    if (text_equal(test, length, "serial-echo")) serial_echo(madt, fadt);
    if (text_equal(test, length, "ticker")) ticker();
    panic("lifecycle: unknown nimbus.test action (acpi-reset, i8042-reset, cmos-reset, triple-fault, serial-echo, ticker)");
}
