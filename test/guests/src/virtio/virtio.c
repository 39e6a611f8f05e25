/*
 * The "virtio" test guest: enumerates the PCI root bus the way an operating system does and drives a virtio-rng and
 * a virtio-blk device as a modern virtio-pci driver, through MSI-X interrupts (shared steps in virtio_driver.c).
 *
 * 1. PCI: finds the ECAM window (MCFG, else the DSDT's _CBA) and the host bridge windows (DSDT _CRS), then prints
 *    one line per function, its BARs (sized with the all-ones protocol; kept when already placed inside a window,
 *    otherwise assigned from the windows) and its capability list, decoding MSI-X and virtio vendor capabilities.
 * 2. virtio-rng: reset, ACKNOWLEDGE, DRIVER, features (VERSION_1 only), FEATURES_OK, queue 0, MSI-X entry 0 on
 *    VECTOR_MSI, queue_msix_vector 0, queue_enable, DRIVER_OK; then RNG_ROUNDS times: post a 64-byte writable
 *    buffer, notify, sleep in sti; hlt until the used buffer and its interrupt arrive, print the bytes.
 * 3. virtio-blk (blk.c): reads, GET_ID, a write checked after FLUSH, or a refused write on a read-only device.
 * Then "report.done" and ACPI power-off. "virtio.rng=absent" / "virtio.blk=absent" when there is no such function (or
 * no PCI at all: "pci=absent"); PANIC on any protocol error or a timeout. virtio-guest.ts parses the output; keep the
 * two in step.
 */
#include "acpi.h"
#include "blk.h"
#include "virtio_driver.h"

#define MAX_FUNCTIONS 64
#define RNG_ROUNDS 4
#define RNG_BUFFER_SIZE 64
#define RNG_QUEUE_SIZE 8

static struct pci_function functions[MAX_FUNCTIONS] = {{0}};
static struct virtq_memory rng_queue_memory = {0};
static uint8_t rng_buffer[RNG_BUFFER_SIZE] __attribute__((aligned(64))) = {0};

static const char *window_type_name(uint8_t type) {
    return type == PCI_WINDOW_IO ? "io" : type == PCI_WINDOW_MEM32 ? "mem32" : "mem64";
}

static const char *bar_kind_name(uint8_t kind) {
    return kind == PCI_BAR_IO ? "io" : kind == PCI_BAR_MEM32 ? "mem32" : "mem64";
}

static const char *bar_source_name(uint8_t source) {
    return source == PCI_BAR_FROM_FIRMWARE ? "firmware" : source == PCI_BAR_ASSIGNED ? "assigned" : "unassigned";
}

static void print_host(const struct pci_host *host) {
    print("pci.ecam=base=");
    print_hex(host->ecam_base);
    print_field_dec("segment", host->segment);
    print_field_dec("bus_start", host->bus_start);
    print_field_dec("bus_end", host->bus_end);
    print(host->ecam_source == PCI_ECAM_FROM_MCFG ? " source=mcfg\n" : " source=dsdt\n");
    for (unsigned i = 0; i < host->window_count; i++) {
        const struct pci_window *w = &host->windows[i];
        print("pci.window=type=");
        print(window_type_name(w->type));
        print_field_hex("base", w->base);
        print_field_hex("size", w->size);
        print_char('\n');
    }
}

static void print_capability(const struct pci_function *f, uint8_t offset) {
    uint8_t id = pci_read8(f, offset);
    virtio_print_function_record("pci.cap", f);
    print_field_hex("offset", offset);
    print_field_hex("id", id);
    struct virtio_pci_cap cap;
    if (id == PCI_CAP_ID_MSIX) {
        struct pci_msix msix = pci_msix_decode(f, offset);
        print_field_dec("table_size", msix.table_size);
        print_field_dec("table_bar", msix.table_bar);
        print_field_hex("table_offset", msix.table_offset);
        print_field_dec("pba_bar", msix.pba_bar);
        print_field_hex("pba_offset", msix.pba_offset);
    } else if (id == PCI_CAP_ID_VENDOR && virtio_pci_device_type(f) != 0 && virtio_pci_cap_decode(f, offset, &cap)) {
        print_field_dec("cfg_type", cap.cfg_type);
        print_field_dec("bar", cap.bar);
        print_field_hex("bar_offset", cap.offset);
        print_field_hex("length", cap.length);
        if (cap.cfg_type == VIRTIO_PCI_CAP_NOTIFY_CFG) print_field_dec("notify_multiplier", cap.notify_multiplier);
    }
    print_char('\n');
}

static void print_function(const struct pci_function *f) {
    virtio_print_function_record("pci.function", f);
    print_field_hex("vendor", f->vendor_id);
    print_field_hex("device", f->device_id);
    print_field_hex("revision", f->revision);
    print_field_hex("class", f->class_code);
    print_field_hex("header", f->header_type);
    print_field_hex("subsystem_vendor", f->subsystem_vendor_id);
    print_field_hex("subsystem", f->subsystem_id);
    print_char('\n');
    for (unsigned b = 0; b < PCI_BAR_COUNT; b++) {
        const struct pci_bar *bar = &f->bars[b];
        if (bar->kind == PCI_BAR_NONE) continue;
        virtio_print_function_record("pci.bar", f);
        print_field_dec("index", b);
        print(" type=");
        print(bar_kind_name(bar->kind));
        print_field_dec("prefetchable", bar->prefetchable);
        print_field_hex("addr", bar->address);
        print_field_hex("size", bar->size);
        print(" source=");
        print(bar_source_name(bar->source));
        print_char('\n');
    }
    uint8_t offsets[PCI_MAX_CAPABILITIES];
    unsigned count = pci_capabilities(f, offsets, PCI_MAX_CAPABILITIES);
    for (unsigned i = 0; i < count; i++) print_capability(f, offsets[i]);
}

static void rng_round(struct virtq *q) {
    memset(rng_buffer, 0, sizeof rng_buffer);
    struct virtq_buffer buffer = {.address = (uint64_t)rng_buffer, .length = sizeof rng_buffer, .device_writable = 1};
    uint64_t interrupts_before = virtio_driver_interrupts();
    uint16_t head = virtq_post(q, &buffer, 1);
    uint32_t length = virtio_driver_complete(q, head, interrupts_before);
    if (length > sizeof rng_buffer) panic("virtio-rng: the device reports more bytes than the buffer holds");
    print_key_dec("virtio.rng.bytes", length);
    print("virtio.rng.data=");
    print_hex_bytes(rng_buffer, length);
    print_char('\n');
}

static void rng_drive(struct pci_function *f) {
    static struct virtio_pci_device dev;
    static struct virtq queue;
    virtio_print_function_record("virtio.rng.device", f);
    print_char('\n');
    virtio_driver_negotiate(&dev, f, 0, "virtio");
    virtio_driver_start(&dev, f, &queue, &rng_queue_memory, RNG_QUEUE_SIZE, "virtio");
    for (unsigned round = 0; round < RNG_ROUNDS; round++) rng_round(&queue);
    print_key_dec("virtio.rng.interrupts", virtio_driver_interrupts());
    print_key_str("virtio.rng", "ok");
}

NORETURN void guest_main(uint32_t start_info_address);
void guest_main(uint32_t start_info_address) {
    serial_init();
    print_char('\n');
    print_key_str("report.guest", "virtio");
    const struct hvm_start_info *info = start_info_checked(start_info_address);
    lapic_init();
    struct acpi_root root;
    acpi_tables_checked(info, &root);
    const struct acpi_header *fadt = acpi_find(&root, "FACP");
    if (!fadt) panic("acpi: no FACP table, cannot power off");

    static struct pci_host host;
    struct pci_function *rng = NULL;
    struct pci_function *blk = NULL;
    if (pci_host_from_acpi(&root, fadt, &host)) {
        print_host(&host);
        unsigned count = pci_enumerate_root_bus(&host, functions, MAX_FUNCTIONS);
        pci_assign_bars(&host, functions, count);
        for (unsigned i = 0; i < count; i++) {
            print_function(&functions[i]);
            unsigned type = virtio_pci_device_type(&functions[i]);
            if (!rng && type == VIRTIO_DEVICE_TYPE_RNG) rng = &functions[i];
            if (!blk && type == VIRTIO_DEVICE_TYPE_BLOCK) blk = &functions[i];
        }
        print_key_dec("pci.functions", count);
    } else {
        print_key_str("pci", "absent");
    }
    if (rng)
        rng_drive(rng);
    else
        print_key_str("virtio.rng", "absent");
    if (blk)
        blk_drive(blk);
    else
        print_key_str("virtio.blk", "absent");
    print("report.done\n");
    post_code(POST_REPORT_DONE);
    acpi_power_off(fadt);
}
