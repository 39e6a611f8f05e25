/*
 * The steps every virtio driver of the "virtio" guest shares: bring-up of a virtio-pci function with one queue on
 * MSI-X entry 0 (vector VECTOR_MSI), printed as "<prefix>.<field>" lines, and the completion of one posted chain
 * (notify, sleep in sti; hlt until the used element and its interrupt arrive).
 * Used by virtio.c (rng) and blk.c.
 */
#pragma once
#include "lapic.h"
#include "virtio_pci.h"

/* The single queue each driver uses. */
#define VIRTIO_DRIVER_QUEUE 0
#define VIRTIO_DRIVER_MSIX_ENTRY 0
/* How long a device may take to return a buffer and raise its interrupt. */
#define VIRTIO_DRIVER_TIMEOUT_TICKS (2 * TICKS_PER_SECOND)

/* Prints "<key>=bdf=bb:dd.f", the start of a per-function record. */
void virtio_print_function_record(const char *key, const struct pci_function *f);

/* MSI-X interrupts msi_isr has counted so far. */
uint64_t virtio_driver_interrupts(void);

/* Resets the device, sets ACKNOWLEDGE and DRIVER, and negotiates VERSION_1 plus the `optional` features the device
 * offers; prints "<prefix>.device_features" and "<prefix>.driver_features" and returns the negotiated set. PANIC
 * when VERSION_1 is not offered or the device refuses the features. */
uint64_t virtio_driver_negotiate(struct virtio_pci_device *dev, struct pci_function *f, uint64_t optional,
                                 const char *prefix);

/* Sets up queue 0 with min(`size`, the device's maximum) entries in `memory`, routes MSI-X entry 0 to VECTOR_MSI of
 * this CPU, enables the queue and sets DRIVER_OK; prints "<prefix>.queue", "<prefix>.msix" and "<prefix>.status". */
void virtio_driver_start(struct virtio_pci_device *dev, struct pci_function *f, struct virtq *q,
                         struct virtq_memory *memory, uint16_t size, const char *prefix);

/* Notifies the device of the chain headed by `head`, sleeps until its used element arrives and an MSI-X interrupt
 * beyond `interrupts_before` has been counted, and returns the number of bytes the device wrote. PANIC on a
 * timeout or a used element for another chain. */
uint32_t virtio_driver_complete(struct virtq *q, uint16_t head, uint64_t interrupts_before);
