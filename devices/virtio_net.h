/*
 * virtio_net.h - a virtio network device (Virtio 1.2, 5.1 "Network Device") over the
 * PCI transport (virtio_pci.h), its frames through a struct netdev back end.
 *
 * Interface: virtio_net_create(); the board's virtio_net_poll() (frames that arrived)
 * and virtio_net_wait_fd(); virtio_net_destroy().
 */
#ifndef TRAPEZE_VIRTIO_NET_H
#define TRAPEZE_VIRTIO_NET_H

#include <stdint.h>

#include "virtio_pci.h"

struct netdev;
struct virtio_net;

/* The device in PCI slot of host's bus, on back end net (the caller's, open
 * while the device lives). NULL if the slot is taken or out of memory. */
struct virtio_net *virtio_net_create(const struct virtio_pci_host *host, int slot,
				     struct netdev *net);
void virtio_net_destroy(struct virtio_net *n);
/* Where a BIOS puts its BARs. */
void virtio_net_bios_init(struct virtio_net *n, uint16_t port, uint32_t mem);
/* Deliver the frames waiting in the back end into the receive buffers posted. */
void virtio_net_poll(struct virtio_net *n);
/* The back end's descriptor while a receive buffer is posted, else -1 (frames then
 * wait in the back end: an idle guest must not spin on a readable socket). */
int virtio_net_wait_fd(struct virtio_net *n);

#endif
