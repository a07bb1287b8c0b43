/*
 * virtio_pci.c - the legacy virtio PCI transport (see virtio_pci.h): the function's
 * identity, its I/O BAR that follows wherever the guest moves it, the common registers,
 * the queues and INTx.
 *
 * Owns: the registers' state and the device's queues. A queue is set up when the
 * driver writes its PFN (the rings must lie in RAM, else the device fails); a kick
 * goes to the device model. The device status register keeps DEVICE_NEEDS_RESET once
 * the device failed (Virtio 1.2, 2.1.1: only a reset clears it).
 */
#include "virtio_pci.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pci.h"

#define VIRTIO_PCI_VENDOR       0x1af4
#define BAR_SIZE                128     /* the common registers, then the configuration */

/* Register offsets (4.1.4.10). */
enum {
	R_HOST_FEATURES = 0x00, R_GUEST_FEATURES = 0x04, R_QUEUE_PFN = 0x08, R_QUEUE_NUM = 0x0c,
	R_QUEUE_SEL = 0x0e, R_QUEUE_NOTIFY = 0x10, R_STATUS = 0x12, R_ISR = 0x13, R_CONFIG = 0x14,
};
#define VRING_ALIGN             4096u   /* the legacy rings' alignment and PFN unit */
#define ISR_QUEUE               0x01
#define ISR_CONFIG              0x02
#define STATUS_DRIVER_OK        0x04    /* 2.1 */
#define STATUS_NEEDS_RESET      0x40

struct virtio_pci {
	struct pci_func *fn;
	struct iobus *io;
	struct dma_space dma;
	struct virtio_pci_dev dev;
	int slot;
	uint16_t base;                  /* where BAR 0 decodes */
	uint32_t guest_features;
	uint16_t queue_sel;
	uint8_t status, isr;
	bool failed;
	struct virtq q[VIRTIO_PCI_MAX_QUEUES];
};

/* The transitional PCI device ID of a device type (4.1.2.1's table), 0 for none. */
static uint16_t transitional_id(uint16_t type)
{
	switch (type) {
	case VIRTIO_ID_NET: return 0x1000;
	case VIRTIO_ID_BLOCK: return 0x1001;
	case VIRTIO_ID_RNG: return 0x1005;
	default: return 0;
	}
}

static void update_irq(struct virtio_pci *t) { pci_set_irq(t->fn, t->isr != 0); }

static void reset(struct virtio_pci *t)
{
	t->guest_features = 0;
	t->queue_sel = 0;
	t->status = 0;
	t->isr = 0;
	t->failed = false;
	for (int i = 0; i < VIRTIO_PCI_MAX_QUEUES; i++)
		virtq_reset(&t->q[i]);
	update_irq(t);
	if (t->dev.reset)
		t->dev.reset(t->dev.opaque);
}

void virtio_pci_fail(struct virtio_pci *t, const char *why)
{
	if (t->failed)
		return;
	fprintf(stderr, "trapeze: virtio device %02x.0: %s; it needs a reset\n", t->slot, why);
	t->failed = true;
	t->status |= STATUS_NEEDS_RESET;
	t->isr |= ISR_CONFIG;
	update_irq(t);
}

void virtio_pci_used(struct virtio_pci *t, int q)
{
	if (virtq_wants_interrupt(&t->q[q], &t->dma)) {
		t->isr |= ISR_QUEUE;
		update_irq(t);
	}
}

bool virtio_pci_ready(const struct virtio_pci *t)
{
	return (t->status & STATUS_DRIVER_OK) && !t->failed;
}

struct virtq *virtio_pci_queue(struct virtio_pci *t, int q) { return &t->q[q]; }
const struct dma_space *virtio_pci_dma(const struct virtio_pci *t) { return &t->dma; }
uint32_t virtio_pci_features(const struct virtio_pci *t) { return t->guest_features; }

/* The driver gave the selected queue's page: the legacy layout puts the descriptor
 * table there, the available ring after it, the used ring at the next 4096-byte
 * boundary (2.7.2's legacy alignment). 0 takes the queue away. */
static void set_queue_pfn(struct virtio_pci *t, uint32_t pfn)
{
	if (t->queue_sel >= t->dev.nqueues)
		return;
	struct virtq *q = &t->q[t->queue_sel];
	if (!pfn) {
		virtq_reset(q);
		return;
	}
	uint16_t num = t->dev.queue_size;
	uint64_t desc = (uint64_t)pfn * VRING_ALIGN;
	uint64_t avail = desc + 16u * num;
	uint64_t used = (avail + 6u + 2u * num + VRING_ALIGN - 1) & ~(uint64_t)(VRING_ALIGN - 1);
	if (!virtq_setup(q, &t->dma, num, desc, avail, used))
		virtio_pci_fail(t, "queue rings outside guest RAM");
}

static void notify(struct virtio_pci *t, uint32_t q)
{
	if (q < (uint32_t)t->dev.nqueues && t->q[q].num && !t->failed)
		t->dev.notify(t->dev.opaque, t, (int)q);
}

/* The common registers as bytes, for reads of any width. */
static void common_regs(const struct virtio_pci *t, uint8_t r[R_CONFIG])
{
	uint16_t num = t->queue_sel < t->dev.nqueues ? t->dev.queue_size : 0;
	uint32_t pfn = t->queue_sel < t->dev.nqueues ? (uint32_t)(t->q[t->queue_sel].desc / VRING_ALIGN) : 0;
	memset(r, 0, R_CONFIG);
	memcpy(r + R_HOST_FEATURES, &t->dev.features, 4);
	memcpy(r + R_GUEST_FEATURES, &t->guest_features, 4);
	memcpy(r + R_QUEUE_PFN, &pfn, 4);
	memcpy(r + R_QUEUE_NUM, &num, 2);
	memcpy(r + R_QUEUE_SEL, &t->queue_sel, 2);
	r[R_STATUS] = t->status;
	r[R_ISR] = t->isr;
}

static uint32_t bar_read(void *opaque, uint16_t port, int size)
{
	struct virtio_pci *t = opaque;
	int off = port - t->base;
	uint8_t b[4] = { 0 };
	for (int i = 0; i < size; i++) {
		int o = off + i;
		if (o < R_CONFIG) {
			uint8_t r[R_CONFIG];
			common_regs(t, r);
			b[i] = r[o];
		} else if (o - R_CONFIG < t->dev.config_len) {
			b[i] = t->dev.config[o - R_CONFIG];
		}
	}
	/* Reading the ISR acknowledges the interrupt (4.1.4.5). */
	if (off <= R_ISR && off + size > R_ISR) {
		t->isr = 0;
		update_irq(t);
	}
	uint32_t v = 0;
	memcpy(&v, b, 4);
	return v;
}

static void bar_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	struct virtio_pci *t = opaque;
	int off = port - t->base;
	switch (off) {
	case R_GUEST_FEATURES:
		if (size == 4)
			t->guest_features = val & t->dev.features;
		break;
	case R_QUEUE_PFN:
		if (size == 4)
			set_queue_pfn(t, val);
		break;
	case R_QUEUE_SEL:
		if (size == 2)
			t->queue_sel = (uint16_t)val;
		break;
	case R_QUEUE_NOTIFY:
		if (size == 2)
			notify(t, val & 0xffff);
		break;
	case R_STATUS:
		if (size != 1)
			break;
		if (!(val & 0xff))
			reset(t);
		else
			t->status = (uint8_t)val | (t->status & STATUS_NEEDS_RESET);
		break;
	default:
		break;          /* read-only registers; the configuration is read-only here */
	}
}

/* BAR 0 moved or its decoding changed: the ports follow it. An address past the
 * 64 KiB I/O space, or one over another device's ports, decodes nothing. */
static void bar_map(void *opaque, int bar, uint32_t addr, bool enabled)
{
	struct virtio_pci *t = opaque;
	if (bar != 0)
		return;
	io_release(t->io, t);
	if (enabled && addr && addr <= 0x10000u - BAR_SIZE) {
		t->base = (uint16_t)addr;
		(void)io_register(t->io, t->base, BAR_SIZE, bar_read, bar_write, t);
	}
}

struct virtio_pci *virtio_pci_create(struct pci_bus *bus, int slot, struct iobus *io,
				     const struct dma_space *dma, const struct virtio_pci_dev *dev)
{
	if (dev->nqueues > VIRTIO_PCI_MAX_QUEUES || dev->config_len > BAR_SIZE - R_CONFIG ||
	    !transitional_id(dev->type))
		return NULL;
	struct virtio_pci *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	*t = (struct virtio_pci){ .io = io, .dma = *dma, .dev = *dev, .slot = slot };
	const struct pci_id id = {
		.vendor = VIRTIO_PCI_VENDOR, .device = transitional_id(dev->type),
		.subsys_vendor = VIRTIO_PCI_VENDOR, .subsys = dev->type,
		.class_code = dev->class_code, .revision = 0, .irq_pin = 1,
	};
	static const struct pci_func_ops ops = { .map = bar_map };
	t->fn = pci_register(bus, slot, 0, &id, &ops, t);
	if (!t->fn || pci_set_bar(t->fn, 0, BAR_SIZE, PCI_BAR_IO) < 0) {
		free(t);
		return NULL;
	}
	return t;
}

void virtio_pci_destroy(struct virtio_pci *t)
{
	if (!t)
		return;
	io_release(t->io, t);
	free(t);
}

/* Configuration mechanism #1 from the board's side, as a BIOS's POST does it. */
static void cfg_write(struct iobus *io, int slot, int reg, int size, uint32_t v)
{
	io_out(io, 0xcf8, 4, 0x80000000u | (uint32_t)slot << 11 | (uint32_t)(reg & 0xfc));
	io_out(io, (uint16_t)(0xcfc + (reg & 3)), size, v);
	io_out(io, 0xcf8, 4, 0);
}

void virtio_pci_bios_init(struct virtio_pci *t, uint16_t base)
{
	cfg_write(t->io, t->slot, 0x10, 4, base);
	cfg_write(t->io, t->slot, 0x04, 2, 0x0001);     /* I/O space decoding, as SeaBIOS leaves it */
}
