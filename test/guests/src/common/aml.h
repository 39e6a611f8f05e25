/*
 * Reading AML byte code the way the test guests need it: without an interpreter, by finding named objects
 * (Name(XXXX, ...)) in a definition block and decoding integer constants, package lengths and packages. Enough for
 * _CBA, _CRS resource templates and \_S5_, which every VMM the guests run on emits as plain data. Pure byte work:
 * callers run it at CPL3 (run_user), where PVM executes natively.
 */
#pragma once
#include "acpi.h"

#define AML_NAME_OP 0x08
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define AML_METHOD_OP 0x14
#define AML_RETURN_OP 0xa4

/* A position in AML and the end of what it may read. */
struct aml_cursor {
    const uint8_t *at;
    const uint8_t *end;
};

/* Little-endian value of `width` bytes at p. */
uint64_t aml_load_le(const uint8_t *p, unsigned width);
/* True when the 4 bytes at p are the NameSeg `name`. */
int aml_is_name(const uint8_t *p, const char name[4]);
/* Reads an integer term (ZeroOp, OneOp, OnesOp or a Byte/Word/DWord/QWord constant); 0 when it is something else. */
int aml_integer(struct aml_cursor *c, uint64_t *value);
/* Reads a PkgLength; sets *package_end to where the package (which includes the PkgLength bytes) ends. 0 when the
 * encoding is bad or the package overruns c->end. */
int aml_package_length(struct aml_cursor *c, const uint8_t **package_end);
/* The next Name(<name>, object) or Name(\<name>, object) in the table after `previous` (NULL: from the start): a
 * cursor on the object, or 0 when there is none. */
int aml_find_name(const struct acpi_header *table, const char name[4], const uint8_t *previous, struct aml_cursor *object);
/* Reads Buffer(size) {bytes} at the cursor: a cursor over the bytes, or 0 when it is something else. */
int aml_buffer(struct aml_cursor *c, struct aml_cursor *bytes);
/* Reads the first element of Package(n) {integer, ...} at the cursor; 0 when it is something else. */
int aml_package_first_integer(struct aml_cursor *c, uint64_t *value);
