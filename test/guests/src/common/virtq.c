/*
 * Split virtqueue, driver side (see virtq.h). Stores to the rings are ordered for the device by x86's store ordering
 * plus compiler barriers: descriptors, then the ring entry, then avail.idx.
 */
#include "virtq.h"
#include "lapic.h"

void virtq_init(struct virtq *q, uint16_t index, uint16_t size, struct virtq_memory *memory) {
    if (size == 0 || size > VIRTQ_MAX_SIZE || (size & (size - 1)) != 0)
        panic("virtq: the size must be a power of two up to VIRTQ_MAX_SIZE");
    memset(memory, 0, sizeof *memory);
    *q = (struct virtq){.index = index, .size = size, .memory = memory, .free_head = 0, .free_count = size};
    for (uint16_t i = 0; i + 1 < size; i++) memory->desc[i].next = i + 1;
}

uint16_t virtq_post(struct virtq *q, const struct virtq_buffer *buffers, unsigned count) {
    if (count == 0 || count > q->free_count) panic("virtq: not enough free descriptors for the chain");
    struct virtq_desc *desc = q->memory->desc;
    uint16_t head = q->free_head;
    uint16_t current = head;
    for (unsigned i = 0; i < count; i++) {
        struct virtq_desc *d = &desc[current];
        d->addr = buffers[i].address;
        d->len = buffers[i].length;
        d->flags = (uint16_t)((buffers[i].device_writable ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < count ? VIRTQ_DESC_F_NEXT : 0));
        if (i + 1 < count) current = d->next;
    }
    q->free_head = desc[current].next;
    q->free_count = (uint16_t)(q->free_count - count);
    q->chain_length[head] = (uint8_t)count;

    q->memory->avail.ring[q->avail_idx % q->size] = head;
    compiler_barrier();
    q->avail_idx++;
    *(volatile uint16_t *)&q->memory->avail.idx = q->avail_idx;
    compiler_barrier();
    return head;
}

int virtq_take_used(struct virtq *q, struct virtq_used_elem *used) {
    uint16_t device_idx = *(volatile uint16_t *)&q->memory->used.idx;
    if (device_idx == q->used_idx) return 0;
    if ((uint16_t)(device_idx - q->used_idx) > q->size) panic("virtq: used.idx moved further than the queue size");
    compiler_barrier();
    *used = q->memory->used.ring[q->used_idx % q->size];
    q->used_idx++;
    if (used->id >= q->size || q->chain_length[used->id] == 0) {
        print_key_dec("virtq.used.id", used->id);
        panic("virtq: the used ring names no outstanding descriptor chain");
    }
    uint16_t head = (uint16_t)used->id;
    uint16_t tail = head;
    for (unsigned i = 1; i < q->chain_length[head]; i++) tail = q->memory->desc[tail].next;
    q->free_count = (uint16_t)(q->free_count + q->chain_length[head]);
    q->chain_length[head] = 0;
    q->memory->desc[tail].next = q->free_head;
    q->free_head = head;
    return 1;
}

int virtq_wait_used(struct virtq *q, struct virtq_used_elem *used, uint64_t timeout_ticks) {
    uint64_t deadline = ticks_now() + timeout_ticks;
    while (!virtq_take_used(q, used)) {
        if (ticks_now() >= deadline) return 0;
        wait_for_interrupt();
    }
    return 1;
}
