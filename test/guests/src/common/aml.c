/*
 * AML byte-code reading for the test guests (see aml.h). Opcode values from ACPI 6.5, section 20.
 */
#include "aml.h"

#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_ONES_OP 0xff
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_QWORD_PREFIX 0x0e
#define AML_ROOT_PREFIX 0x5c /* '\\' */
#define NAME_SEG_SIZE 4

uint64_t aml_load_le(const uint8_t *p, unsigned width) {
    uint64_t value = 0;
    for (unsigned i = width; i > 0; i--) value = (value << 8) | p[i - 1];
    return value;
}

int aml_is_name(const uint8_t *p, const char name[4]) {
    return p[0] == (uint8_t)name[0] && p[1] == (uint8_t)name[1] && p[2] == (uint8_t)name[2] && p[3] == (uint8_t)name[3];
}

int aml_integer(struct aml_cursor *c, uint64_t *value) {
    if (c->at >= c->end) return 0;
    uint8_t op = *c->at++;
    unsigned width = op == AML_BYTE_PREFIX    ? 1
                     : op == AML_WORD_PREFIX  ? 2
                     : op == AML_DWORD_PREFIX ? 4
                     : op == AML_QWORD_PREFIX ? 8
                                              : 0;
    if (width == 0) {
        if (op != AML_ZERO_OP && op != AML_ONE_OP && op != AML_ONES_OP) return 0;
        *value = op == AML_ZERO_OP ? 0 : op == AML_ONE_OP ? 1 : ~0ull;
        return 1;
    }
    if (c->end - c->at < width) return 0;
    *value = aml_load_le(c->at, width);
    c->at += width;
    return 1;
}

int aml_package_length(struct aml_cursor *c, const uint8_t **package_end) {
    const uint8_t *start = c->at;
    if (c->at >= c->end) return 0;
    uint8_t lead = *c->at++;
    unsigned follow = lead >> 6;
    uint64_t length = follow == 0 ? (lead & 0x3f) : (lead & 0x0f);
    if (c->end - c->at < follow) return 0;
    for (unsigned i = 0; i < follow; i++) length |= (uint64_t)*c->at++ << (4 + 8 * i);
    if (length > (uint64_t)(c->end - start)) return 0;
    *package_end = start + length;
    return 1;
}

int aml_find_name(const struct acpi_header *table, const char name[4], const uint8_t *previous, struct aml_cursor *object) {
    const uint8_t *start = (const uint8_t *)table + sizeof(struct acpi_header);
    const uint8_t *end = (const uint8_t *)table + table->length;
    const uint8_t *p = previous ? previous + 1 : start + 2;
    for (; end - p > NAME_SEG_SIZE; p++) {
        int after_name_op = p[-1] == AML_NAME_OP || (p[-1] == AML_ROOT_PREFIX && p[-2] == AML_NAME_OP);
        if (after_name_op && aml_is_name(p, name)) {
            *object = (struct aml_cursor){p + NAME_SEG_SIZE, end};
            return 1;
        }
    }
    return 0;
}

int aml_buffer(struct aml_cursor *c, struct aml_cursor *bytes) {
    if (c->at >= c->end || *c->at != AML_BUFFER_OP) return 0;
    struct aml_cursor inner = {c->at + 1, c->end};
    const uint8_t *buffer_end;
    uint64_t size;
    if (!aml_package_length(&inner, &buffer_end)) return 0;
    inner.end = buffer_end;
    if (!aml_integer(&inner, &size) || size > (uint64_t)(buffer_end - inner.at)) return 0;
    *bytes = (struct aml_cursor){inner.at, inner.at + size};
    c->at = buffer_end;
    return 1;
}

int aml_package_first_integer(struct aml_cursor *c, uint64_t *value) {
    if (c->at >= c->end || *c->at != AML_PACKAGE_OP) return 0;
    struct aml_cursor inner = {c->at + 1, c->end};
    const uint8_t *package_end;
    if (!aml_package_length(&inner, &package_end)) return 0;
    inner.end = package_end;
    if (inner.at >= inner.end || *inner.at++ == 0) return 0; /* NumElements */
    return aml_integer(&inner, value);
}
