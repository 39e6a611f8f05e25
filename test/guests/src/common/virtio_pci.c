/*
 * virtio-pci modern transport, driver side (see virtio_pci.h). Register accesses use the width of each field; the
 * 64-bit queue addresses are written as two 32-bit halves, low first, as Linux does.
 */
#include "virtio_pci.h"
#include "lapic.h"

/* Common configuration structure (virtio 1.2, 4.1.4.3). */
#define COMMON_DEVICE_FEATURE_SELECT 0x00
#define COMMON_DEVICE_FEATURE 0x04
#define COMMON_DRIVER_FEATURE_SELECT 0x08
#define COMMON_DRIVER_FEATURE 0x0c
#define COMMON_CONFIG_MSIX_VECTOR 0x10
#define COMMON_NUM_QUEUES 0x12
#define COMMON_DEVICE_STATUS 0x14
#define COMMON_CONFIG_GENERATION 0x15
#define COMMON_QUEUE_SELECT 0x16
#define COMMON_QUEUE_SIZE 0x18
#define COMMON_QUEUE_MSIX_VECTOR 0x1a
#define COMMON_QUEUE_ENABLE 0x1c
#define COMMON_QUEUE_NOTIFY_OFF 0x1e
#define COMMON_QUEUE_DESC 0x20
#define COMMON_QUEUE_DRIVER 0x28
#define COMMON_QUEUE_DEVICE 0x30
#define COMMON_LENGTH 0x38

/* struct virtio_pci_cap fields. */
#define CAP_LENGTH 2
#define CAP_CFG_TYPE 3
#define CAP_BAR 4
#define CAP_OFFSET 8
#define CAP_STRUCTURE_LENGTH 12
#define CAP_NOTIFY_MULTIPLIER 16
#define CAP_SIZE 16
#define NOTIFY_CAP_SIZE 20

#define RESET_TIMEOUT_TICKS TICKS_PER_SECOND
/* Reads of a 64-bit configuration field before giving up on a device whose configuration keeps changing. */
#define CONFIG_READ_ATTEMPTS 16

unsigned virtio_pci_device_type(const struct pci_function *f) {
    if (f->vendor_id != VIRTIO_PCI_VENDOR_ID) return 0;
    if (f->device_id >= VIRTIO_PCI_MODERN_DEVICE_ID_BASE && f->device_id <= VIRTIO_PCI_MODERN_DEVICE_ID_LAST)
        return f->device_id - VIRTIO_PCI_MODERN_DEVICE_ID_BASE;
    if (f->device_id >= VIRTIO_PCI_TRANSITIONAL_FIRST && f->device_id <= VIRTIO_PCI_TRANSITIONAL_LAST)
        return f->subsystem_id;
    return 0;
}

int virtio_pci_cap_decode(const struct pci_function *f, uint8_t offset, struct virtio_pci_cap *cap) {
    uint8_t length = pci_read8(f, offset + CAP_LENGTH);
    if (length < CAP_SIZE) return 0;
    *cap = (struct virtio_pci_cap){
        .cfg_type = pci_read8(f, offset + CAP_CFG_TYPE),
        .bar = pci_read8(f, offset + CAP_BAR),
        .offset = pci_read32(f, offset + CAP_OFFSET),
        .length = pci_read32(f, offset + CAP_STRUCTURE_LENGTH),
    };
    if (cap->cfg_type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
        if (length < NOTIFY_CAP_SIZE) return 0;
        cap->notify_multiplier = pci_read32(f, offset + CAP_NOTIFY_MULTIPLIER);
    }
    return 1;
}

/* The address of the structure a capability describes; PANIC when it does not lie inside a memory BAR. */
static uint64_t structure_address(const struct pci_function *f, const struct virtio_pci_cap *cap, uint32_t minimum_length) {
    if (cap->bar >= PCI_BAR_COUNT) panic("virtio-pci: a capability names a BAR above 5");
    const struct pci_bar *bar = &f->bars[cap->bar];
    if (bar->kind != PCI_BAR_MEM32 && bar->kind != PCI_BAR_MEM64) panic("virtio-pci: a capability's BAR is not a memory BAR");
    if (cap->length < minimum_length) panic("virtio-pci: a structure is shorter than the spec's layout");
    if ((uint64_t)cap->offset + cap->length > bar->size) panic("virtio-pci: a structure extends past the end of its BAR");
    return bar->mapped + cap->offset;
}

void virtio_pci_init(struct virtio_pci_device *dev, struct pci_function *f) {
    *dev = (struct virtio_pci_device){.pci = f, .type = virtio_pci_device_type(f)};
    pci_enable(f);
    uint8_t offsets[PCI_MAX_CAPABILITIES];
    unsigned count = pci_capabilities(f, offsets, PCI_MAX_CAPABILITIES);
    for (unsigned i = 0; i < count; i++) {
        struct virtio_pci_cap cap;
        if (pci_read8(f, offsets[i]) != PCI_CAP_ID_VENDOR || !virtio_pci_cap_decode(f, offsets[i], &cap)) continue;
        if (cap.cfg_type == VIRTIO_PCI_CAP_COMMON_CFG && !dev->common) {
            dev->common = structure_address(f, &cap, COMMON_LENGTH);
        } else if (cap.cfg_type == VIRTIO_PCI_CAP_NOTIFY_CFG && !dev->notify) {
            dev->notify = structure_address(f, &cap, sizeof(uint16_t));
            dev->notify_multiplier = cap.notify_multiplier;
        } else if (cap.cfg_type == VIRTIO_PCI_CAP_ISR_CFG && !dev->isr) {
            dev->isr = structure_address(f, &cap, 1);
        } else if (cap.cfg_type == VIRTIO_PCI_CAP_DEVICE_CFG && !dev->device_config) {
            dev->device_config = structure_address(f, &cap, 0);
            dev->device_config_length = cap.length;
        }
    }
    if (!dev->common) panic("virtio-pci: no common configuration capability (a legacy-only device?)");
    if (!dev->notify) panic("virtio-pci: no notification capability");
    if (!pci_msix_find(f, &dev->msix)) panic("virtio-pci: no MSI-X capability");
}

uint8_t virtio_pci_status(const struct virtio_pci_device *dev) { return mmio_read8(dev->common + COMMON_DEVICE_STATUS); }

void virtio_pci_reset(const struct virtio_pci_device *dev) {
    mmio_write8(dev->common + COMMON_DEVICE_STATUS, 0);
    for (uint64_t waited = 0; virtio_pci_status(dev) != 0; waited++) {
        if (waited == RESET_TIMEOUT_TICKS) panic("virtio-pci: device_status still not 0 a second after the reset");
        wait_ticks(1);
    }
}

void virtio_pci_add_status(const struct virtio_pci_device *dev, uint8_t bits) {
    mmio_write8(dev->common + COMMON_DEVICE_STATUS, virtio_pci_status(dev) | bits);
}

uint64_t virtio_pci_device_features(const struct virtio_pci_device *dev) {
    mmio_write32(dev->common + COMMON_DEVICE_FEATURE_SELECT, 0);
    uint64_t low = mmio_read32(dev->common + COMMON_DEVICE_FEATURE);
    mmio_write32(dev->common + COMMON_DEVICE_FEATURE_SELECT, 1);
    uint64_t high = mmio_read32(dev->common + COMMON_DEVICE_FEATURE);
    return high << 32 | low;
}

void virtio_pci_set_features(const struct virtio_pci_device *dev, uint64_t features) {
    mmio_write32(dev->common + COMMON_DRIVER_FEATURE_SELECT, 0);
    mmio_write32(dev->common + COMMON_DRIVER_FEATURE, (uint32_t)features);
    mmio_write32(dev->common + COMMON_DRIVER_FEATURE_SELECT, 1);
    mmio_write32(dev->common + COMMON_DRIVER_FEATURE, (uint32_t)(features >> 32));
    virtio_pci_add_status(dev, VIRTIO_STATUS_FEATURES_OK);
    if (!(virtio_pci_status(dev) & VIRTIO_STATUS_FEATURES_OK))
        panic("virtio-pci: the device cleared FEATURES_OK (it refused the features)");
}

uint16_t virtio_pci_num_queues(const struct virtio_pci_device *dev) { return mmio_read16(dev->common + COMMON_NUM_QUEUES); }

uint16_t virtio_pci_queue_max_size(const struct virtio_pci_device *dev, uint16_t index) {
    if (index >= virtio_pci_num_queues(dev)) return 0;
    mmio_write16(dev->common + COMMON_QUEUE_SELECT, index);
    return mmio_read16(dev->common + COMMON_QUEUE_SIZE);
}

static void write_address(const struct virtio_pci_device *dev, unsigned offset, const void *pointer) {
    uint64_t address = (uint64_t)pointer;
    mmio_write32(dev->common + offset, (uint32_t)address);
    mmio_write32(dev->common + offset + 4, (uint32_t)(address >> 32));
}

void virtio_pci_queue_setup(const struct virtio_pci_device *dev, struct virtq *q) {
    mmio_write16(dev->common + COMMON_QUEUE_SELECT, q->index);
    mmio_write16(dev->common + COMMON_QUEUE_SIZE, q->size);
    if (mmio_read16(dev->common + COMMON_QUEUE_SIZE) != q->size) panic("virtio-pci: queue_size did not read back");
    write_address(dev, COMMON_QUEUE_DESC, q->memory->desc);
    write_address(dev, COMMON_QUEUE_DRIVER, &q->memory->avail);
    write_address(dev, COMMON_QUEUE_DEVICE, &q->memory->used);
    q->notify_address = dev->notify + (uint64_t)virtio_pci_queue_notify_off(dev, q) * dev->notify_multiplier;
}

uint16_t virtio_pci_queue_notify_off(const struct virtio_pci_device *dev, const struct virtq *q) {
    mmio_write16(dev->common + COMMON_QUEUE_SELECT, q->index);
    return mmio_read16(dev->common + COMMON_QUEUE_NOTIFY_OFF);
}

uint16_t virtio_pci_queue_vector(const struct virtio_pci_device *dev, const struct virtq *q) {
    mmio_write16(dev->common + COMMON_QUEUE_SELECT, q->index);
    return mmio_read16(dev->common + COMMON_QUEUE_MSIX_VECTOR);
}

void virtio_pci_queue_set_vector(const struct virtio_pci_device *dev, const struct virtq *q, uint16_t entry) {
    mmio_write16(dev->common + COMMON_QUEUE_SELECT, q->index);
    mmio_write16(dev->common + COMMON_QUEUE_MSIX_VECTOR, entry);
    uint16_t read_back = mmio_read16(dev->common + COMMON_QUEUE_MSIX_VECTOR);
    if (read_back == VIRTIO_MSI_NO_VECTOR) panic("virtio-pci: the device refused the queue's MSI-X vector");
    if (read_back != entry) panic("virtio-pci: queue_msix_vector did not read back as written");
}

void virtio_pci_queue_enable(const struct virtio_pci_device *dev, const struct virtq *q) {
    mmio_write16(dev->common + COMMON_QUEUE_SELECT, q->index);
    mmio_write16(dev->common + COMMON_QUEUE_ENABLE, 1);
    if (mmio_read16(dev->common + COMMON_QUEUE_ENABLE) != 1) panic("virtio-pci: queue_enable did not read back as 1");
}

void virtio_pci_driver_ok(const struct virtio_pci_device *dev) {
    virtio_pci_add_status(dev, VIRTIO_STATUS_DRIVER_OK);
    uint8_t status = virtio_pci_status(dev);
    if (status & (VIRTIO_STATUS_DEVICE_NEEDS_RESET | VIRTIO_STATUS_FAILED)) {
        print_key_hex("virtio.status", status);
        panic("virtio-pci: the device reports DEVICE_NEEDS_RESET or FAILED after DRIVER_OK");
    }
}

void virtio_pci_notify(const struct virtq *q) { mmio_write16(q->notify_address, q->index); }

/* The address of a device configuration field; PANIC when it is not inside the structure. */
static uint64_t config_field(const struct virtio_pci_device *dev, uint32_t offset, uint32_t width) {
    if (!dev->device_config) panic("virtio-pci: the device has no device-specific configuration capability");
    if (offset > dev->device_config_length || width > dev->device_config_length - offset)
        panic("virtio-pci: a device configuration field lies past the end of the structure");
    return dev->device_config + offset;
}

uint8_t virtio_pci_config_read8(const struct virtio_pci_device *dev, uint32_t offset) {
    return mmio_read8(config_field(dev, offset, sizeof(uint8_t)));
}

uint32_t virtio_pci_config_read32(const struct virtio_pci_device *dev, uint32_t offset) {
    return mmio_read32(config_field(dev, offset, sizeof(uint32_t)));
}

uint64_t virtio_pci_config_read64(const struct virtio_pci_device *dev, uint32_t offset) {
    uint64_t field = config_field(dev, offset, sizeof(uint64_t));
    for (unsigned attempt = 0; attempt < CONFIG_READ_ATTEMPTS; attempt++) {
        uint8_t generation = mmio_read8(dev->common + COMMON_CONFIG_GENERATION);
        uint64_t low = mmio_read32(field);
        uint64_t high = mmio_read32(field + 4);
        if (mmio_read8(dev->common + COMMON_CONFIG_GENERATION) == generation) return high << 32 | low;
    }
    panic("virtio-pci: config_generation kept changing while reading a 64-bit configuration field");
}
