/*
 * pc_virtio.h - the PC's virtio devices: which PCI slots, which ports (pc_virtio.c).
 */
#ifndef TRAPEZE_PC_VIRTIO_H
#define TRAPEZE_PC_VIRTIO_H

#include <stdbool.h>

#include "dma.h"

struct blockdev;
struct board;
struct netdev;
struct pci_bus;

#define PC_VIRTIO_MAX_DISKS 8

/* What to plug in; the disks and the back end stay the caller's, open while the
 * board lives. */
struct pc_virtio_config {
	struct blockdev *const *disks;  /* a virtio-blk device each, in order */
	int ndisks;                     /* up to PC_VIRTIO_MAX_DISKS */
	struct netdev *net;             /* a virtio-net device on it, or NULL */
	bool rng;                       /* a virtio entropy device */
};

/* Put the devices cfg asks for on the board's PCI bus, reaching guest RAM through
 * dma. 0 or negative errno (-EINVAL: too many disks). */
int pc_add_virtio(struct board *b, struct pci_bus *pci, const struct dma_space *dma,
		  const struct pc_virtio_config *cfg);

#endif
