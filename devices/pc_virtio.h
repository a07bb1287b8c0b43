/*
 * pc_virtio.h - the PC's virtio devices: which PCI slots, which ports (pc_virtio.c).
 */
#ifndef TRAPEZE_PC_VIRTIO_H
#define TRAPEZE_PC_VIRTIO_H

#include "dma.h"

struct blockdev;
struct board;
struct pci_bus;

#define PC_VIRTIO_MAX_DISKS 8

/* Put a virtio block device for each of the n disks (the caller's, kept open while
 * the board lives) on the board's PCI bus, reaching guest RAM through dma. 0 or
 * negative errno (-EINVAL: more than PC_VIRTIO_MAX_DISKS). */
int pc_add_virtio_disks(struct board *b, struct pci_bus *pci, const struct dma_space *dma,
			struct blockdev *const *disks, int n);

#endif
