/*
 * The virtio 1.x PCI transport, driver side (virtio 1.2, section 4.1): the vendor capabilities that locate the
 * common configuration, notification, ISR and device-specific structures in the BARs; device status and feature
 * negotiation; queue setup with MSI-X vectors; notifications. Device drivers (rng and block today; net and console next)
 * build on this and on virtq.h.
 */
#pragma once
#include "pci.h"
#include "virtq.h"

#define VIRTIO_PCI_VENDOR_ID 0x1af4
#define VIRTIO_PCI_MODERN_DEVICE_ID_BASE 0x1040 /* device ID = 0x1040 + virtio device type */
#define VIRTIO_PCI_TRANSITIONAL_FIRST 0x1000 /* 0x1000-0x103f: type in the subsystem ID */
#define VIRTIO_PCI_TRANSITIONAL_LAST 0x103f
#define VIRTIO_PCI_MODERN_DEVICE_ID_LAST 0x107f

#define VIRTIO_DEVICE_TYPE_NET 1
#define VIRTIO_DEVICE_TYPE_BLOCK 2
#define VIRTIO_DEVICE_TYPE_CONSOLE 3
#define VIRTIO_DEVICE_TYPE_RNG 4

/* Vendor capability cfg_type values. */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG 5
#define VIRTIO_PCI_CAP_SHARED_MEMORY_CFG 8

/* Device status bits. */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* Reserved feature bits. */
#define VIRTIO_F_INDIRECT_DESC (1ull << 28)
#define VIRTIO_F_EVENT_IDX (1ull << 29)
#define VIRTIO_F_VERSION_1 (1ull << 32)

#define VIRTIO_MSI_NO_VECTOR 0xffff

/* struct virtio_pci_cap: cap_vndr 0, cap_next 1, cap_len 2, cfg_type 3, bar 4, id 5, offset 8 (u32), length 12
 * (u32); the notification capability adds notify_off_multiplier at 16 (u32). */
struct virtio_pci_cap {
    uint8_t cfg_type;
    uint8_t bar;
    uint32_t offset;
    uint32_t length;
    uint32_t notify_multiplier; /* notification capability only */
};

struct virtio_pci_device {
    const struct pci_function *pci;
    unsigned type; /* virtio device type */
    /* Virtual addresses of the structures in the mapped BARs. */
    uint64_t common; /* common configuration */
    uint64_t notify; /* base of the notification structure */
    uint32_t notify_multiplier;
    uint64_t isr; /* 0 when absent */
    uint64_t device_config; /* 0 when absent */
    uint32_t device_config_length;
    struct pci_msix msix;
};

/* The virtio device type of a PCI function (modern ID 0x1040 + type, or a transitional ID with the type in the
 * subsystem ID), or 0 when it is not a virtio device. */
unsigned virtio_pci_device_type(const struct pci_function *f);
/* Decodes the virtio vendor capability at `offset`; returns 0 when it is too short to be one. */
int virtio_pci_cap_decode(const struct pci_function *f, uint8_t offset, struct virtio_pci_cap *cap);
/* Locates the structures (the first capability of each type, as the spec asks), enables the function (memory
 * decoding, bus mastering) and finds its MSI-X capability. PANIC when the common or notification structure or
 * MSI-X is missing, or a structure lies outside its BAR. */
void virtio_pci_init(struct virtio_pci_device *dev, struct pci_function *f);

/* Writes 0 to device_status and waits (sti; hlt, up to a second) until it reads 0. PANIC if it never does. */
void virtio_pci_reset(const struct virtio_pci_device *dev);
uint8_t virtio_pci_status(const struct virtio_pci_device *dev);
/* Sets bits in device_status (read, or, write). */
void virtio_pci_add_status(const struct virtio_pci_device *dev, uint8_t bits);
/* Both 32-bit halves of device_feature. */
uint64_t virtio_pci_device_features(const struct virtio_pci_device *dev);
/* Writes both halves of driver_feature, sets FEATURES_OK and re-reads it. PANIC when the device clears it. */
void virtio_pci_set_features(const struct virtio_pci_device *dev, uint64_t features);
uint16_t virtio_pci_num_queues(const struct virtio_pci_device *dev);
/* The device's maximum size for queue `index` (0: the queue does not exist). */
uint16_t virtio_pci_queue_max_size(const struct virtio_pci_device *dev, uint16_t index);
/* Selects the queue, writes its size and ring addresses and computes its notification address. */
void virtio_pci_queue_setup(const struct virtio_pci_device *dev, struct virtq *q);
/* Points the queue's interrupts at MSI-X table entry `entry` and reads it back; PANIC when the device answers
 * VIRTIO_MSI_NO_VECTOR or anything else. */
void virtio_pci_queue_set_vector(const struct virtio_pci_device *dev, const struct virtq *q, uint16_t entry);
uint16_t virtio_pci_queue_vector(const struct virtio_pci_device *dev, const struct virtq *q);
/* The queue's queue_notify_off (its notification address is notify + queue_notify_off * notify_off_multiplier). */
uint16_t virtio_pci_queue_notify_off(const struct virtio_pci_device *dev, const struct virtq *q);
/* queue_enable = 1; PANIC when it does not read back as 1. */
void virtio_pci_queue_enable(const struct virtio_pci_device *dev, const struct virtq *q);
/* Sets DRIVER_OK; PANIC when the device reports DEVICE_NEEDS_RESET or FAILED. */
void virtio_pci_driver_ok(const struct virtio_pci_device *dev);
/* Writes the queue index (16 bits) to the queue's notification address. */
void virtio_pci_notify(const struct virtq *q);
/* Device-specific configuration fields at `offset`, each read with one access of its width; PANIC when the device
 * has no such structure or the field lies past its end. The 64-bit read takes two 32-bit halves, low first, and
 * repeats them while config_generation changes (virtio 1.2, 4.1.3.1). */
uint8_t virtio_pci_config_read8(const struct virtio_pci_device *dev, uint32_t offset);
uint32_t virtio_pci_config_read32(const struct virtio_pci_device *dev, uint32_t offset);
uint64_t virtio_pci_config_read64(const struct virtio_pci_device *dev, uint32_t offset);
