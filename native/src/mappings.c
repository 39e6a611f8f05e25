/* Mapping registry shared by all threads (the main thread and every Worker load the same shared object). */
#include "mappings.h"
#include <pthread.h>

#define MAX_MAPPINGS 4096

static struct { uintptr_t addr; size_t length; } table[MAX_MAPPINGS];
static size_t count;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

bool mappings_add(uintptr_t addr, size_t length) {
  pthread_mutex_lock(&lock);
  bool ok = count < MAX_MAPPINGS;
  if (ok) {
    table[count].addr = addr;
    table[count].length = length;
    count++;
  }
  pthread_mutex_unlock(&lock);
  return ok;
}

bool mappings_remove(uintptr_t addr, size_t length) {
  pthread_mutex_lock(&lock);
  bool found = false;
  for (size_t i = 0; i < count; i++) {
    if (table[i].addr == addr && table[i].length == length) {
      table[i] = table[--count];
      found = true;
      break;
    }
  }
  pthread_mutex_unlock(&lock);
  return found;
}

bool mappings_contain(uintptr_t addr, size_t length) {
  pthread_mutex_lock(&lock);
  bool inside = false;
  for (size_t i = 0; i < count && !inside; i++) {
    uintptr_t start = table[i].addr;
    size_t size = table[i].length;
    inside = addr >= start && addr - start <= size && length <= size - (addr - start);
  }
  pthread_mutex_unlock(&lock);
  return inside;
}
