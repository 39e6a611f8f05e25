/*
 * Shared virtio driver steps of the "virtio" guest (see virtio_driver.h).
 */
#include "virtio_driver.h"

extern void msi_isr(void);
extern uint64_t msi_interrupts;

uint64_t virtio_driver_interrupts(void) { return *(volatile uint64_t *)&msi_interrupts; }

void virtio_print_function_record(const char *key, const struct pci_function *f) {
    print(key);
    print("=bdf=");
    print_hex_digits(f->bus, 2);
    print_char(':');
    print_hex_digits(f->device, 2);
    print_char('.');
    print_hex_digits(f->function, 1);
}

static void print_prefixed(const char *prefix, const char *key) {
    print(prefix);
    print(key);
}

uint64_t virtio_driver_negotiate(struct virtio_pci_device *dev, struct pci_function *f, uint64_t optional,
                                 const char *prefix) {
    virtio_pci_init(dev, f);
    virtio_pci_reset(dev);
    virtio_pci_add_status(dev, VIRTIO_STATUS_ACKNOWLEDGE);
    virtio_pci_add_status(dev, VIRTIO_STATUS_DRIVER);
    uint64_t offered = virtio_pci_device_features(dev);
    print_prefixed(prefix, ".device_features=");
    print_hex(offered);
    print_char('\n');
    if (!(offered & VIRTIO_F_VERSION_1)) panic("virtio: the device does not offer VIRTIO_F_VERSION_1");
    uint64_t features = VIRTIO_F_VERSION_1 | (offered & optional);
    virtio_pci_set_features(dev, features);
    print_prefixed(prefix, ".driver_features=");
    print_hex(features);
    print_char('\n');
    return features;
}

void virtio_driver_start(struct virtio_pci_device *dev, struct pci_function *f, struct virtq *q,
                         struct virtq_memory *memory, uint16_t size, const char *prefix) {
    uint16_t max_size = virtio_pci_queue_max_size(dev, VIRTIO_DRIVER_QUEUE);
    if (max_size == 0) panic("virtio: the device has no queue 0");
    while (size > max_size) size >>= 1;
    virtq_init(q, VIRTIO_DRIVER_QUEUE, size, memory);
    virtio_pci_queue_setup(dev, q);

    idt_set_gate(VECTOR_MSI, msi_isr);
    uint64_t message_address = pci_msix_route(f, &dev->msix, VIRTIO_DRIVER_MSIX_ENTRY, lapic_id(), VECTOR_MSI);
    virtio_pci_queue_set_vector(dev, q, VIRTIO_DRIVER_MSIX_ENTRY);
    virtio_pci_queue_enable(dev, q);
    virtio_pci_driver_ok(dev);

    print_prefixed(prefix, ".queue=index=");
    print_dec(VIRTIO_DRIVER_QUEUE);
    print_field_dec("max_size", max_size);
    print_field_dec("size", size);
    print_field_dec("notify_off", virtio_pci_queue_notify_off(dev, q));
    print_field_dec("msix_vector", virtio_pci_queue_vector(dev, q));
    print_char('\n');
    print_prefixed(prefix, ".msix=entry=");
    print_dec(VIRTIO_DRIVER_MSIX_ENTRY);
    print_field_hex("address", message_address);
    print_field_hex("data", VECTOR_MSI);
    print_char('\n');
    print_prefixed(prefix, ".status=");
    print_hex(virtio_pci_status(dev));
    print_char('\n');
}

uint32_t virtio_driver_complete(struct virtq *q, uint16_t head, uint64_t interrupts_before) {
    virtio_pci_notify(q);
    struct virtq_used_elem used;
    if (!virtq_wait_used(q, &used, VIRTIO_DRIVER_TIMEOUT_TICKS))
        panic("virtio: no used buffer within 2 s of the notification");
    if (used.id != head) panic("virtio: the used element is not the posted chain");
    uint64_t deadline = ticks_now() + VIRTIO_DRIVER_TIMEOUT_TICKS;
    while (virtio_driver_interrupts() == interrupts_before) {
        if (ticks_now() >= deadline) panic("virtio: the used buffer arrived but no MSI-X interrupt within 2 s");
        wait_for_interrupt();
    }
    return used.len;
}
