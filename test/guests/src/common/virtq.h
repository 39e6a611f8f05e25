/*
 * The driver's side of a split virtqueue (virtio 1.2, section 2.7): descriptor table, available ring and used ring
 * in guest RAM the guest owns, a free list of descriptors, posting buffer chains and taking used elements back.
 * Transport-independent: the virtio-pci code (virtio_pci.h) tells the device where the rings are and notifies it.
 */
#pragma once
#include "guest.h"

/* Largest queue the guests set up (a device may offer more; the driver chooses a smaller power of two). */
#define VIRTQ_MAX_SIZE 64

#define VIRTQ_DESC_F_NEXT 0x1
#define VIRTQ_DESC_F_WRITE 0x2 /* the device writes the buffer */

struct virtq_desc {
    uint64_t addr; /* 0 */
    uint32_t len; /* 8 */
    uint16_t flags; /* 12 */
    uint16_t next; /* 14 */
} PACKED;
_Static_assert(sizeof(struct virtq_desc) == 16, "virtq_desc layout");

/* ring[size] is used_event when VIRTIO_F_EVENT_IDX is negotiated (not done by these guests). */
struct virtq_avail {
    uint16_t flags; /* 0 */
    uint16_t idx; /* 2 */
    uint16_t ring[VIRTQ_MAX_SIZE + 1]; /* 4 */
} PACKED;

struct virtq_used_elem {
    uint32_t id; /* 0: head of the descriptor chain */
    uint32_t len; /* 4: bytes the device wrote */
} PACKED;

/* ring[size] is followed by avail_event when VIRTIO_F_EVENT_IDX is negotiated. */
struct virtq_used {
    uint16_t flags; /* 0 */
    uint16_t idx; /* 2 */
    struct virtq_used_elem ring[VIRTQ_MAX_SIZE]; /* 4 */
    uint16_t avail_event;
} PACKED;

/* One queue's rings, at the alignments virtio 1.x requires (descriptors 16, available ring 2, used ring 4). */
struct virtq_memory {
    struct virtq_desc desc[VIRTQ_MAX_SIZE];
    struct virtq_avail avail;
    struct virtq_used used __attribute__((aligned(4)));
} __attribute__((aligned(4096)));

struct virtq {
    uint16_t index; /* queue number on the device */
    uint16_t size;
    struct virtq_memory *memory;
    uint16_t free_head; /* first free descriptor; free ones are linked through next */
    uint16_t free_count;
    uint16_t avail_idx; /* the driver's copy of avail.idx */
    uint16_t used_idx; /* next used ring entry to take */
    uint8_t chain_length[VIRTQ_MAX_SIZE]; /* descriptors in the outstanding chain headed here; 0 when none */
    uint64_t notify_address; /* where the transport writes to notify the device (set by the transport) */
};

/* One buffer of a chain: device-readable or device-writable. */
struct virtq_buffer {
    uint64_t address;
    uint32_t length;
    int device_writable;
};

/* Lays out an empty queue of `size` entries (a power of two up to VIRTQ_MAX_SIZE) in `memory`. */
void virtq_init(struct virtq *q, uint16_t index, uint16_t size, struct virtq_memory *memory);
/* Chains the buffers in descriptors and publishes the chain in the available ring; returns its head. The caller
 * then notifies the device. PANIC when the queue lacks free descriptors. */
uint16_t virtq_post(struct virtq *q, const struct virtq_buffer *buffers, unsigned count);
/* Takes the next used element into *used and frees its chain; returns 0 when the device has returned nothing new.
 * PANIC when the used ring names no outstanding chain or moves further than the queue size. */
int virtq_take_used(struct virtq *q, struct virtq_used_elem *used);
/* Sleeps (sti; hlt) until a used element arrives or `timeout_ticks` timer ticks pass; returns virtq_take_used's
 * result. */
int virtq_wait_used(struct virtq *q, struct virtq_used_elem *used, uint64_t timeout_ticks);
