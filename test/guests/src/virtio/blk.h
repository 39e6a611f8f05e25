/*
 * The virtio-blk driver of the "virtio" guest (blk.c).
 */
#pragma once
#include "virtio_pci.h"

/* Drives the virtio-blk function `f` through its checks and prints "virtio.blk.*" lines, ending with "virtio.blk=ok"
 * or "virtio.blk=failed"; PANIC on a protocol error or a timeout. */
void blk_drive(struct pci_function *f);
