/*
 * virtio_blk.h - a virtio block device (Virtio 1.2, 5.2 "Block Device") on a raw
 * image, over the PCI transport (virtio_pci.h).
 *
 * The disk is a struct blockdev the caller keeps open while the device lives; a
 * read-only one is offered as VIRTIO_BLK_F_RO and refuses writes.
 */
#ifndef TRAPEZE_VIRTIO_BLK_H
#define TRAPEZE_VIRTIO_BLK_H

#include <stdint.h>

#include "virtio_pci.h"

struct blockdev;
struct virtio_blk;

/* The device in PCI slot of host's bus, on disk; id is what GET_ID answers
 * (up to 20 bytes; copied). NULL if the slot is taken or out of memory. */
struct virtio_blk *virtio_blk_create(const struct virtio_pci_host *host, int slot,
				     struct blockdev *disk, const char *id);
/* Free the device (not the disk). */
void virtio_blk_destroy(struct virtio_blk *b);
/* Where a BIOS puts its BARs. */
void virtio_blk_bios_init(struct virtio_blk *b, uint16_t port, uint32_t mem);

#endif
