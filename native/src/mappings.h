/* Process-wide registry of the memory mappings this addon created; views may only be made inside them. */
#ifndef NIMBUS_MAPPINGS_H
#define NIMBUS_MAPPINGS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Records [addr, addr+length). Returns false if the registry is full. */
bool mappings_add(uintptr_t addr, size_t length);
/* Removes the mapping that starts at addr with exactly this length. Returns false if there is none. */
bool mappings_remove(uintptr_t addr, size_t length);
/* True if [addr, addr+length) lies inside one recorded mapping (overflow-safe). */
bool mappings_contain(uintptr_t addr, size_t length);

#endif
