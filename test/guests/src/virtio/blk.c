/*
 * A virtio-blk driver (virtio 1.2, section 5.2) for the "virtio" guest, over the modern virtio-pci transport with
 * one request queue on MSI-X. It negotiates VERSION_1 plus RO, BLK_SIZE and FLUSH when offered, reads the capacity
 * and block size from the device configuration, then, one request at a time (each completed by its used element and
 * its MSI-X interrupt):
 *   - reads the block at sector 0 and prints its CRC-32;
 *   - asks for the device ID (GET_ID) and prints the serial as hex;
 *   - writable device: writes a known pattern to the block at TEST_SECTOR, FLUSHes (when negotiated), reads the block
 *     back and compares;
 *   - read-only device (VIRTIO_BLK_F_RO): reads the block at TEST_SECTOR, writes the pattern there, expects
 *     VIRTIO_BLK_S_IOERR, reads the block again and checks it did not change.
 * Byte loops (pattern, CRC-32, comparison) run at CPL3, where PVM does not emulate them. virtio-guest.ts parses the
 * "virtio.blk.*" lines and recomputes the pattern; keep the two in step.
 */
#include "blk.h"
#include "crc32.h"
#include "virtio_driver.h"

/* Feature bits. */
#define VIRTIO_BLK_F_RO (1ull << 5)
#define VIRTIO_BLK_F_BLK_SIZE (1ull << 6)
#define VIRTIO_BLK_F_FLUSH (1ull << 9)

/* struct virtio_blk_config: capacity 0 (u64, in 512-byte sectors), blk_size 20 (u32, with VIRTIO_BLK_F_BLK_SIZE). */
#define CONFIG_CAPACITY 0
#define CONFIG_BLK_SIZE 20

/* Request types and status values. */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
/* What the status byte holds until the device writes it. */
#define STATUS_NOT_WRITTEN 0xff

#define SECTOR_SIZE 512
/* The ID string GET_ID returns: 20 bytes, NUL-terminated only when shorter. */
#define DEVICE_ID_BYTES 20
/* Largest logical block the driver transfers; each request moves one block. */
#define MAX_BLOCK_SIZE 4096
#define TEST_SECTOR 8
#define BLK_QUEUE_SIZE 8
/* Pattern written to TEST_SECTOR: byte i = (i * PATTERN_STEP + PATTERN_START) mod 256. */
#define PATTERN_STEP 13
#define PATTERN_START 0x5a

/* The device-readable header of every request. */
struct blk_request_header {
    uint32_t type; /* 0 */
    uint32_t reserved; /* 4 */
    uint64_t sector; /* 8: in 512-byte units, whatever the block size */
} PACKED;
_Static_assert(sizeof(struct blk_request_header) == 16, "virtio_blk_req header layout");

static struct virtq_memory blk_queue_memory = {0};
static struct blk_request_header request_header = {0};
static uint8_t request_status = 0;
static uint8_t pattern_block[MAX_BLOCK_SIZE] __attribute__((aligned(4096))) = {0};
static uint8_t read_block[MAX_BLOCK_SIZE] __attribute__((aligned(4096))) = {0};
static uint8_t saved_block[MAX_BLOCK_SIZE] __attribute__((aligned(4096))) = {0};
static uint8_t device_id[DEVICE_ID_BYTES] = {0};
/* The block size the CPL3 helpers work on (run_user passes two arguments only). */
static uint64_t block_size = SECTOR_SIZE;

static uint64_t user_fill_pattern(uint64_t address, uint64_t unused) {
    (void)unused;
    uint8_t *bytes = (uint8_t *)address;
    for (uint64_t i = 0; i < block_size; i++) bytes[i] = (uint8_t)(i * PATTERN_STEP + PATTERN_START);
    return 0;
}

static uint64_t user_blocks_equal(uint64_t a, uint64_t b) { return bytes_equal((const void *)a, (const void *)b, block_size); }

static uint64_t block_crc32(const uint8_t *block) { return run_user(user_crc32, (uint64_t)block, block_size); }

struct blk_driver {
    struct virtio_pci_device dev;
    struct virtq queue;
    unsigned requests;
};

/* Sends one request (header, an optional data buffer, status) and returns the status the device wrote. */
static uint8_t blk_request(struct blk_driver *blk, uint32_t type, uint64_t sector, void *data, uint32_t length,
                           int device_writes_data) {
    request_header = (struct blk_request_header){.type = type, .sector = sector};
    request_status = STATUS_NOT_WRITTEN;
    struct virtq_buffer chain[3];
    unsigned count = 0;
    chain[count++] = (struct virtq_buffer){.address = (uint64_t)&request_header, .length = sizeof request_header};
    if (length > 0)
        chain[count++] = (struct virtq_buffer){.address = (uint64_t)data, .length = length, .device_writable = device_writes_data};
    chain[count++] = (struct virtq_buffer){.address = (uint64_t)&request_status, .length = 1, .device_writable = 1};
    uint64_t interrupts_before = virtio_driver_interrupts();
    uint16_t head = virtq_post(&blk->queue, chain, count);
    uint32_t written = virtio_driver_complete(&blk->queue, head, interrupts_before);
    blk->requests++;
    if (written == 0 || request_status == STATUS_NOT_WRITTEN) panic("virtio-blk: the device returned a request without its status");
    return *(volatile uint8_t *)&request_status;
}

static uint8_t blk_read(struct blk_driver *blk, uint64_t sector, uint8_t *block) {
    memset(block, 0, block_size);
    return blk_request(blk, VIRTIO_BLK_T_IN, sector, block, (uint32_t)block_size, 1);
}

static uint8_t blk_write(struct blk_driver *blk, uint64_t sector, uint8_t *block) {
    return blk_request(blk, VIRTIO_BLK_T_OUT, sector, block, (uint32_t)block_size, 0);
}

/* "<key>=sector=<n> status=<s>" without the line end. */
static void print_request(const char *key, uint64_t sector, uint8_t status) {
    print(key);
    print("=sector=");
    print_dec(sector);
    print_field_dec("status", status);
}

static void read_first_block(struct blk_driver *blk) {
    uint8_t status = blk_read(blk, 0, read_block);
    print_request("virtio.blk.read", 0, status);
    print_field_dec("bytes", block_size);
    if (status == VIRTIO_BLK_S_OK) print_field_hex("crc32", block_crc32(read_block));
    print_char('\n');
    if (status != VIRTIO_BLK_S_OK) panic("virtio-blk: reading sector 0 failed");
}

static void read_device_id(struct blk_driver *blk) {
    memset(device_id, 0, sizeof device_id);
    uint8_t status = blk_request(blk, VIRTIO_BLK_T_GET_ID, 0, device_id, sizeof device_id, 1);
    print("virtio.blk.id=status=");
    print_dec(status);
    print(" serial=");
    size_t length = 0;
    while (status == VIRTIO_BLK_S_OK && length < sizeof device_id && device_id[length] != 0) length++;
    print_hex_bytes(device_id, length);
    print_char('\n');
}

/* Writes the pattern, flushes, reads it back; returns whether the block read back is the pattern. */
static int write_flush_read_back(struct blk_driver *blk, uint64_t features) {
    uint8_t status = blk_write(blk, TEST_SECTOR, pattern_block);
    print_request("virtio.blk.write", TEST_SECTOR, status);
    print_field_dec("bytes", block_size);
    print_field_hex("crc32", block_crc32(pattern_block));
    print_char('\n');
    if (status != VIRTIO_BLK_S_OK) return 0;
    if (features & VIRTIO_BLK_F_FLUSH) {
        status = blk_request(blk, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0);
        print_key_dec("virtio.blk.flush", status);
        if (status != VIRTIO_BLK_S_OK) return 0;
    } else {
        print_key_str("virtio.blk.flush", "not_offered");
    }
    status = blk_read(blk, TEST_SECTOR, read_block);
    int match = status == VIRTIO_BLK_S_OK && run_user(user_blocks_equal, (uint64_t)read_block, (uint64_t)pattern_block);
    print_request("virtio.blk.readback", TEST_SECTOR, status);
    print_field_dec("match", match);
    print_char('\n');
    return match;
}

/* On a read-only device: the write must fail with IOERR and leave the block as it was. */
static int write_refused(struct blk_driver *blk) {
    if (blk_read(blk, TEST_SECTOR, saved_block) != VIRTIO_BLK_S_OK) panic("virtio-blk: reading the test sector failed");
    uint8_t status = blk_write(blk, TEST_SECTOR, pattern_block);
    uint8_t reread = blk_read(blk, TEST_SECTOR, read_block);
    int unchanged = reread == VIRTIO_BLK_S_OK && run_user(user_blocks_equal, (uint64_t)read_block, (uint64_t)saved_block);
    print_request("virtio.blk.ro_write", TEST_SECTOR, status);
    print_field_dec("unchanged", unchanged);
    print_char('\n');
    return status == VIRTIO_BLK_S_IOERR && unchanged;
}

void blk_drive(struct pci_function *f) {
    static struct blk_driver blk;
    blk.requests = 0;
    virtio_print_function_record("virtio.blk.device", f);
    print_char('\n');
    uint64_t features =
        virtio_driver_negotiate(&blk.dev, f, VIRTIO_BLK_F_RO | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH, "virtio.blk");
    uint64_t capacity = virtio_pci_config_read64(&blk.dev, CONFIG_CAPACITY);
    block_size = features & VIRTIO_BLK_F_BLK_SIZE ? virtio_pci_config_read32(&blk.dev, CONFIG_BLK_SIZE) : SECTOR_SIZE;
    int read_only = (features & VIRTIO_BLK_F_RO) != 0;
    print("virtio.blk.config=capacity=");
    print_dec(capacity);
    print_field_dec("blk_size", block_size);
    print_field_dec("ro", read_only);
    print_char('\n');
    if (block_size < SECTOR_SIZE || block_size > MAX_BLOCK_SIZE || (block_size & (block_size - 1)) != 0)
        panic("virtio-blk: blk_size is not a power of two from 512 to 4096");
    if (capacity < TEST_SECTOR + block_size / SECTOR_SIZE) panic("virtio-blk: the disk is too small for the test sector");

    uint64_t interrupts_before = virtio_driver_interrupts();
    virtio_driver_start(&blk.dev, f, &blk.queue, &blk_queue_memory, BLK_QUEUE_SIZE, "virtio.blk");
    read_first_block(&blk);
    read_device_id(&blk);
    run_user(user_fill_pattern, (uint64_t)pattern_block, 0);
    int passed = read_only ? write_refused(&blk) : write_flush_read_back(&blk, features);
    print_key_dec("virtio.blk.requests", blk.requests);
    print_key_dec("virtio.blk.interrupts", virtio_driver_interrupts() - interrupts_before);
    print_key_str("virtio.blk", passed ? "ok" : "failed");
}
