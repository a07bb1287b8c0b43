/*
 * virtio_rng.h - a virtio entropy device (Virtio 1.2, 5.4 "Entropy Device") over the
 * legacy PCI transport (virtio_pci.h): the host's getrandom() into the buffers the
 * driver offers.
 */
#ifndef TRAPEZE_VIRTIO_RNG_H
#define TRAPEZE_VIRTIO_RNG_H

#include <stdint.h>

#include "dma.h"
#include "ioport.h"

struct pci_bus;
struct virtio_rng;

/* The device in PCI slot of bus, BAR 0 on io. NULL if the slot is taken or out of
 * memory. */
struct virtio_rng *virtio_rng_create(struct pci_bus *bus, int slot, struct iobus *io,
				     const struct dma_space *dma);
void virtio_rng_destroy(struct virtio_rng *r);
/* Where a BIOS puts its BAR. */
void virtio_rng_bios_init(struct virtio_rng *r, uint16_t base);

#endif
