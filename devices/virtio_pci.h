/*
 * virtio_pci.h - the virtio PCI transport, a transitional device (Virtio 1.2, 4.1.2.3):
 * one PCI function, vendor 1af4, the type's transitional device ID (1000 network, 1001
 * block, 1005 entropy), subsystem the device type, revision 0, INTx (no MSI-X), with
 * both interfaces: the legacy one in I/O BAR 0 (4.1.4.10 "Legacy Interfaces: A Note on
 * PCI Device Layout", the 0.9.5 interface) and the modern one (4.1.4, VERSION_1) in
 * memory BAR 1, found through vendor capabilities: common configuration at 0x0000,
 * ISR at 0x1000, device configuration at 0x2000, queue q's notification at 0x3000 + 4 q.
 *
 * A device model (virtio_blk.c) fills a struct virtio_pci_dev: what it offers and its
 * callbacks; the transport owns the registers, the queues and the interrupt. When the
 * driver kicks a queue the device takes its chains (virtq_pop), answers them
 * (virtq_push) and calls virtio_pci_used(); if the driver broke the queue it calls
 * virtio_pci_fail() and hears nothing more until the driver resets the device.
 *
 * Legacy registers at BAR 0 (no MSI-X): 0x00 device features (R, 32), 0x04 driver features
 * (RW, 32), 0x08 queue PFN (RW, 32: the rings' page, 4096-byte aligned, the used ring
 * on the next 4096-byte boundary after the available ring), 0x0c queue size (R, 16),
 * 0x0e queue select (RW, 16), 0x10 queue notify (W, 16), 0x12 device status (RW, 8;
 * writing 0 resets), 0x13 ISR (R, 8: bit 0 used buffers, bit 1 configuration change;
 * reading it clears it and lowers INTx), 0x14 the device's configuration.
 */
#ifndef TRAPEZE_VIRTIO_PCI_H
#define TRAPEZE_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "dma.h"
#include "ioport.h"
#include "virtio.h"

struct mmiobus;
struct pci_bus;
struct virtio_pci;

/* Where a function lives: its bus, the buses its BARs decode on, guest RAM. */
struct virtio_pci_host {
	struct pci_bus *pci;
	struct iobus *io;
	struct mmiobus *mmio;
	struct dma_space dma;
};

#define VIRTIO_PCI_MAX_QUEUES 4

struct virtio_pci_dev {
	uint16_t type;                  /* VIRTIO_ID_* */
	uint32_t class_code;            /* the PCI class, as QEMU gives the type */
	uint32_t features;              /* offered, bits 0-31 (the transport adds VERSION_1) */
	int nqueues;
	uint16_t queue_size;            /* each queue's, a power of two */
	const uint8_t *config;          /* the device's configuration, read at 0x14 up */
	uint16_t config_len;
	/* The driver kicked queue q (set up, the device not failed). */
	void (*notify)(void *opaque, struct virtio_pci *t, int q);
	/* The driver reset the device: forget requests in flight. May be NULL. */
	void (*reset)(void *opaque);
	void *opaque;
};

/* The function at device slot (function 0) of host's bus (host and dev copied; dev's
 * config and opaque stay the caller's). NULL if the slot is taken or out of memory. */
struct virtio_pci *virtio_pci_create(const struct virtio_pci_host *host, int slot,
				     const struct virtio_pci_dev *dev);
/* Free the transport (its BAR's ports given back; the PCI function stays the bus's). */
void virtio_pci_destroy(struct virtio_pci *t);

/* Queue q, the guest memory, and the features the driver accepted. */
struct virtq *virtio_pci_queue(struct virtio_pci *t, int q);
const struct dma_space *virtio_pci_dma(const struct virtio_pci *t);
uint64_t virtio_pci_features(const struct virtio_pci *t);
#define VIRTIO_PCI_F_VERSION_1 (1ull << 32)     /* a modern driver: 1.x formats */
/* Is the driver done setting the device up (DRIVER_OK) and the device not failed?
 * What a device waits for before it takes buffers on its own (received frames). */
bool virtio_pci_ready(const struct virtio_pci *t);
/* Chains were put on queue q's used ring: interrupt if the driver wants one. */
void virtio_pci_used(struct virtio_pci *t, int q);
/* The driver broke a queue (why: a line for the log): the device needs a reset (status DEVICE_NEEDS_RESET, a configuration-change interrupt) and serves no
 * queue until the driver resets it. */
void virtio_pci_fail(struct virtio_pci *t, const char *why);
/* A PCI BIOS's work: BAR 0 at port, BAR 1 at mem, I/O and memory decoding on, the
 * function's IRQ level-triggered in the 8259s' ELCR. */
void virtio_pci_bios_init(struct virtio_pci *t, uint16_t port, uint32_t mem);

#endif
