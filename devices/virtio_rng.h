/*
 * virtio_rng.h - a virtio entropy device (Virtio 1.2, 5.4 "Entropy Device") over the
 * PCI transport (virtio_pci.h): the host's getrandom() into the buffers the
 * driver offers.
 */
#ifndef TRAPEZE_VIRTIO_RNG_H
#define TRAPEZE_VIRTIO_RNG_H

#include <stdint.h>

#include "virtio_pci.h"

struct virtio_rng;

/* The device in PCI slot of host's bus. NULL if the slot is taken or out of
 * memory. */
struct virtio_rng *virtio_rng_create(const struct virtio_pci_host *host, int slot);
void virtio_rng_destroy(struct virtio_rng *r);
/* Where a BIOS puts its BARs. */
void virtio_rng_bios_init(struct virtio_rng *r, uint16_t port, uint32_t mem);

#endif
