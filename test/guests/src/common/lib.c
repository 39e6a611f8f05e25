/*
 * Console and panic support for the Nimbus test guests: the 16550 UART at 0x3f8 (FIFO bursts of up to 16 bytes
 * after one LSR check, because every port access is an exit), number formatting, the debug port, the fatal
 * exception report and the string functions gcc may call.
 */
#include "guest.h"

static char pending[UART_FIFO_SIZE];
static unsigned pending_count = 0;

void *memcpy(void *dst, const void *src, size_t n) {
    void *ret = dst;
    __asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n)::"memory");
    return ret;
}

void *memset(void *dst, int value, size_t n) {
    void *ret = dst;
    __asm__ volatile("rep stosb" : "+D"(dst), "+c"(n) : "a"(value) : "memory");
    return ret;
}

void post_code(uint8_t code) { outb(DEBUG_PORT, code); }

void serial_init(void) { outb(UART_FCR, UART_FCR_ENABLE_AND_CLEAR); }

static void flush(void) {
    if (pending_count == 0) return;
    while (!(inb(UART_LSR) & UART_LSR_THR_EMPTY)) {
    }
    for (unsigned i = 0; i < pending_count; i++) outb(UART_THR, (uint8_t)pending[i]);
    pending_count = 0;
}

void print_char(char c) {
    pending[pending_count++] = c;
    if (c == '\n' || pending_count == UART_FIFO_SIZE) flush();
}

void print(const char *s) {
    while (*s) print_char(*s++);
}

void print_hex(uint64_t value) {
    char digits[16];
    int n = 0;
    do {
        digits[n++] = "0123456789abcdef"[value & 0xf];
        value >>= 4;
    } while (value != 0);
    print("0x");
    while (n > 0) print_char(digits[--n]);
}

void print_dec(uint64_t value) {
    char digits[20];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    while (n > 0) print_char(digits[--n]);
}

void print_hex_digits(uint64_t value, unsigned digits) {
    while (digits > 0) {
        digits--;
        print_char("0123456789abcdef"[(value >> (digits * 4)) & 0xf]);
    }
}

void print_hex_bytes(const uint8_t *bytes, size_t n) {
    for (size_t i = 0; i < n; i++) print_hex_digits(bytes[i], 2);
}

static void print_escaped(const char *s, size_t n, uint8_t first_plain) {
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c >= first_plain && c <= 0x7e && c != '\\') {
            print_char((char)c);
        } else {
            print("\\x");
            print_hex_digits(c, 2);
        }
    }
}

void print_text(const char *s, size_t n) { print_escaped(s, n, ' '); }

void print_token(const char *s, size_t n) { print_escaped(s, n, '!'); }

void print_key_hex(const char *key, uint64_t value) {
    print(key);
    print_char('=');
    print_hex(value);
    print_char('\n');
}

void print_key_dec(const char *key, uint64_t value) {
    print(key);
    print_char('=');
    print_dec(value);
    print_char('\n');
}

void print_key_str(const char *key, const char *value) {
    print(key);
    print_char('=');
    print(value);
    print_char('\n');
}

void print_field_hex(const char *name, uint64_t value) {
    print_char(' ');
    print(name);
    print_char('=');
    print_hex(value);
}

void print_field_dec(const char *name, uint64_t value) {
    print_char(' ');
    print(name);
    print_char('=');
    print_dec(value);
}

void panic(const char *reason) {
    print("\nPANIC ");
    print(reason);
    print_char('\n');
    post_code(POST_PANIC);
    triple_fault();
}

/* Frame pushed by the exception stubs and the CPU (entry.S). */
struct exception_frame {
    uint64_t vector;
    uint64_t error;
    uint64_t rip;
    uint64_t cs;
    uint64_t rflags;
    uint64_t rsp;
    uint64_t ss;
};

NORETURN void exception_panic(const struct exception_frame *frame);
void exception_panic(const struct exception_frame *frame) {
    uint64_t cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    print("\nPANIC exception vector=");
    print_dec(frame->vector);
    print(" error=");
    print_hex(frame->error);
    print(" rip=");
    print_hex(frame->rip);
    print(" cs=");
    print_hex(frame->cs);
    print(" cr2=");
    print_hex(cr2);
    print_char('\n');
    post_code(POST_PANIC);
    triple_fault();
}
