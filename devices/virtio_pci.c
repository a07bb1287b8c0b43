/*
 * virtio_pci.c - the virtio PCI transport, transitional (see virtio_pci.h): the
 * function's identity and capability list, its two BARs that follow wherever the guest
 * moves them, the legacy registers (BAR 0) and the modern ones (BAR 1), the queues and
 * INTx.
 *
 * Owns: the registers' state and the device's queues. A legacy queue is set up when the
 * driver writes its PFN, a modern one when it writes queue_enable (size a power of two,
 * rings in RAM, else the device fails); a kick goes to the device model. The device
 * status register keeps DEVICE_NEEDS_RESET once the device failed (Virtio 1.2, 2.1.1:
 * only a reset clears it). Both interfaces show the same device; a driver uses one.
 */
#include "virtio_pci.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmio.h"
#include "pci.h"

#define VIRTIO_PCI_VENDOR       0x1af4
#define BAR_SIZE                128     /* the common registers, then the configuration */

/* The modern interface's regions in BAR 1 (4.1.4), one page each. */
#define MODERN_BAR              1
#define MODERN_SIZE             0x4000u
#define M_COMMON                0x0000u
#define M_ISR                   0x1000u
#define M_DEVICE                0x2000u
#define M_NOTIFY                0x3000u
#define NOTIFY_MULTIPLIER       4u      /* queue q's kick at M_NOTIFY + 4 q, as QEMU */
/* Capability types (4.1.4) and where the list sits in configuration space. */
enum { CAP_COMMON = 1, CAP_NOTIFY = 2, CAP_ISR = 3, CAP_DEVICE = 4 };
#define CAP_LIST                0x40
#define PCI_CAP_VENDOR          0x09
#define PCI_STATUS_CAP_LIST     0x10

/* struct virtio_pci_common_cfg (4.1.4.3). */
enum {
	C_DFSELECT = 0x00, C_DF = 0x04, C_GFSELECT = 0x08, C_GF = 0x0c, C_MSIX = 0x10,
	C_NUMQ = 0x12, C_STATUS = 0x14, C_GENERATION = 0x15, C_QSELECT = 0x16, C_QSIZE = 0x18,
	C_QMSIX = 0x1a, C_QENABLE = 0x1c, C_QNOTIFY_OFF = 0x1e, C_QDESC = 0x20, C_QDRIVER = 0x28,
	C_QDEVICE = 0x30, C_LEN = 0x38,
};
#define VIRTIO_F_VERSION_1      32
#define LOGGED_FAILURES         8

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

/* A modern queue's registers, until queue_enable makes them a struct virtq. */
struct qcfg {
	uint16_t size, msix;
	uint64_t desc, driver, device;
};

struct virtio_pci {
	struct pci_func *fn;
	struct virtio_pci_host host;
	struct virtio_pci_dev dev;
	int slot;
	uint16_t base;                  /* where BAR 0 decodes */
	uint64_t guest_features;
	uint32_t dfselect, gfselect;    /* which half of the 64 feature bits (modern) */
	uint16_t queue_sel, config_msix;
	uint8_t status, isr;
	bool failed;
	unsigned failures;              /* how often, for the log */
	struct virtq q[VIRTIO_PCI_MAX_QUEUES];
	struct qcfg qc[VIRTIO_PCI_MAX_QUEUES];
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

/* What the device offers: the model's bits and, to a modern driver, VERSION_1. */
static uint64_t offered(const struct virtio_pci *t)
{
	return t->dev.features | 1ull << VIRTIO_F_VERSION_1;
}

static void reset(struct virtio_pci *t)
{
	t->guest_features = 0;
	t->dfselect = t->gfselect = 0;
	t->config_msix = 0xffff;        /* VIRTIO_MSI_NO_VECTOR */
	t->queue_sel = 0;
	t->status = 0;
	t->isr = 0;
	t->failed = false;
	for (int i = 0; i < VIRTIO_PCI_MAX_QUEUES; i++) {
		virtq_reset(&t->q[i]);
		t->qc[i] = (struct qcfg){ .size = i < t->dev.nqueues ? t->dev.queue_size : 0,
					  .msix = 0xffff };
	}
	update_irq(t);
	if (t->dev.reset)
		t->dev.reset(t->dev.opaque);
}

void virtio_pci_fail(struct virtio_pci *t, const char *why)
{
	if (t->failed)
		return;
	/* A guest that fails its device again after every reset must not fill the log. */
	if (t->failures < LOGGED_FAILURES)
		fprintf(stderr, "trapeze: virtio device %02x.0: %s; it needs a reset%s\n", t->slot, why,
			t->failures + 1 == LOGGED_FAILURES ? " (further failures not logged)" : "");
	t->failures++;
	t->failed = true;
	t->status |= STATUS_NEEDS_RESET;
	t->isr |= ISR_CONFIG;
	update_irq(t);
}

void virtio_pci_used(struct virtio_pci *t, int q)
{
	if (virtq_wants_interrupt(&t->q[q], &t->host.dma)) {
		t->isr |= ISR_QUEUE;
		update_irq(t);
	}
}

bool virtio_pci_ready(const struct virtio_pci *t)
{
	return (t->status & STATUS_DRIVER_OK) && !t->failed;
}

struct virtq *virtio_pci_queue(struct virtio_pci *t, int q) { return &t->q[q]; }
const struct dma_space *virtio_pci_dma(const struct virtio_pci *t) { return &t->host.dma; }
uint64_t virtio_pci_features(const struct virtio_pci *t) { return t->guest_features; }

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
	if (!virtq_setup(q, &t->host.dma, num, desc, avail, used))
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
	uint32_t gf = (uint32_t)t->guest_features;
	memcpy(r + R_GUEST_FEATURES, &gf, 4);
	memcpy(r + R_QUEUE_PFN, &pfn, 4);
	memcpy(r + R_QUEUE_NUM, &num, 2);
	memcpy(r + R_QUEUE_SEL, &t->queue_sel, 2);
	r[R_STATUS] = t->status;
	r[R_ISR] = t->isr;
}

/* Reading the ISR acknowledges the interrupt (4.1.4.5). */
static uint8_t take_isr(struct virtio_pci *t)
{
	uint8_t v = t->isr;
	t->isr = 0;
	update_irq(t);
	return v;
}

/* A status write, either interface: 0 resets; NEEDS_RESET stays until then. */
static void write_status(struct virtio_pci *t, uint8_t v)
{
	if (!v)
		reset(t);
	else
		t->status = v | (t->status & STATUS_NEEDS_RESET);
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
	if (off <= R_ISR && off + size > R_ISR)
		take_isr(t);
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
			t->guest_features = val & t->dev.features;      /* no VERSION_1: legacy */
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
		if (size == 1)
			write_status(t, (uint8_t)val);
		break;
	default:
		break;          /* read-only registers; the configuration is read-only here */
	}
}

/* ---- the modern interface (4.1.4) ---- */

/* queue_enable: the selected queue's registers become its rings (2.7: the size a
 * power of two, no larger than the device's; every area in RAM), or the device fails. */
static void enable_queue(struct virtio_pci *t)
{
	if (t->queue_sel >= t->dev.nqueues || t->q[t->queue_sel].num)
		return;
	const struct qcfg *c = &t->qc[t->queue_sel];
	if (c->size > t->dev.queue_size ||
	    !virtq_setup(&t->q[t->queue_sel], &t->host.dma, c->size, c->desc, c->driver, c->device))
		virtio_pci_fail(t, "a queue size not a power of two, or rings outside guest RAM");
}

/* The common configuration as bytes, for reads of any width. */
static void common_cfg(const struct virtio_pci *t, uint8_t r[C_LEN])
{
	memset(r, 0, C_LEN);
	uint32_t df = t->dfselect < 2 ? (uint32_t)(offered(t) >> (32 * t->dfselect)) : 0;
	uint32_t gf = t->gfselect < 2 ? (uint32_t)(t->guest_features >> (32 * t->gfselect)) : 0;
	uint16_t nq = (uint16_t)t->dev.nqueues;
	memcpy(r + C_DFSELECT, &t->dfselect, 4);
	memcpy(r + C_DF, &df, 4);
	memcpy(r + C_GFSELECT, &t->gfselect, 4);
	memcpy(r + C_GF, &gf, 4);
	memcpy(r + C_MSIX, &t->config_msix, 2);
	memcpy(r + C_NUMQ, &nq, 2);
	r[C_STATUS] = t->status;
	memcpy(r + C_QSELECT, &t->queue_sel, 2);
	if (t->queue_sel < t->dev.nqueues) {
		const struct qcfg *c = &t->qc[t->queue_sel];
		uint16_t en = t->q[t->queue_sel].num != 0, off = t->queue_sel;
		memcpy(r + C_QSIZE, &c->size, 2);
		memcpy(r + C_QMSIX, &c->msix, 2);
		memcpy(r + C_QENABLE, &en, 2);
		memcpy(r + C_QNOTIFY_OFF, &off, 2);
		memcpy(r + C_QDESC, &c->desc, 8);
		memcpy(r + C_QDRIVER, &c->driver, 8);
		memcpy(r + C_QDEVICE, &c->device, 8);
	}
}

/* Part of a 64-bit queue address: a 4-byte half or all 8 bytes at off within it. */
static void write_addr(uint64_t *a, uint64_t off, int size, uint64_t v)
{
	if (size == 8 && !off)
		*a = v;
	else if (size == 4 && (off == 0 || off == 4))
		*a = (*a & ~(0xffffffffull << (8 * off))) | (v & 0xffffffffu) << (8 * off);
}

static void common_write(struct virtio_pci *t, uint64_t off, int size, uint64_t v)
{
	struct qcfg *c = t->queue_sel < t->dev.nqueues ? &t->qc[t->queue_sel] : NULL;
	bool live = c && t->q[t->queue_sel].num;        /* an enabled queue's registers stay */
	switch (off) {
	case C_DFSELECT: if (size == 4) t->dfselect = (uint32_t)v; return;
	case C_GFSELECT: if (size == 4) t->gfselect = (uint32_t)v; return;
	case C_GF:
		if (size == 4 && t->gfselect < 2) {
			uint64_t mask = 0xffffffffull << (32 * t->gfselect);
			t->guest_features = (t->guest_features & ~mask) |
					    ((v & 0xffffffffu) << (32 * t->gfselect) & offered(t));
		}
		return;
	case C_MSIX: if (size == 2) t->config_msix = (uint16_t)v; return;
	case C_STATUS: if (size == 1) write_status(t, (uint8_t)v); return;
	case C_QSELECT: if (size == 2) t->queue_sel = (uint16_t)v; return;
	case C_QSIZE: if (size == 2 && c && !live) c->size = (uint16_t)v; return;
	case C_QMSIX: if (size == 2 && c) c->msix = (uint16_t)v; return;
	case C_QENABLE: if (size == 2 && v == 1) enable_queue(t); return;
	default: break;
	}
	if (!c || live)
		return;
	if (off >= C_QDESC && off < C_QDRIVER)
		write_addr(&c->desc, off - C_QDESC, size, v);
	else if (off >= C_QDRIVER && off < C_QDEVICE)
		write_addr(&c->driver, off - C_QDRIVER, size, v);
	else if (off >= C_QDEVICE && off < C_LEN)
		write_addr(&c->device, off - C_QDEVICE, size, v);
}

static uint64_t modern_read(void *opaque, uint64_t off, int size)
{
	struct virtio_pci *t = opaque;
	uint8_t b[8] = { 0 };
	if (off >= M_ISR && off < M_DEVICE) {
		b[0] = off == M_ISR ? take_isr(t) : 0;
	} else {
		uint8_t r[C_LEN];
		common_cfg(t, r);
		for (int i = 0; i < size; i++) {
			uint64_t o = off + (uint64_t)i;
			if (o < C_LEN)
				b[i] = r[o];
			else if (o >= M_DEVICE && o - M_DEVICE < t->dev.config_len)
				b[i] = t->dev.config[o - M_DEVICE];
		}
	}
	uint64_t v;
	memcpy(&v, b, 8);
	return v;
}

static void modern_write(void *opaque, uint64_t off, int size, uint64_t v)
{
	struct virtio_pci *t = opaque;
	if (off < C_LEN)
		common_write(t, off, size, v);
	else if (off >= M_NOTIFY && !((off - M_NOTIFY) % NOTIFY_MULTIPLIER))
		notify(t, (uint32_t)((off - M_NOTIFY) / NOTIFY_MULTIPLIER));
}

/* The vendor capabilities (struct virtio_pci_cap, 4.1.4) that point the driver at
 * the regions above, chained from CAP_LIST. */
static void write_caps(struct pci_func *fn)
{
	static const struct { uint8_t type; uint32_t offset; } caps[] = {
		{ CAP_COMMON, M_COMMON }, { CAP_ISR, M_ISR }, { CAP_DEVICE, M_DEVICE },
		{ CAP_NOTIFY, M_NOTIFY },
	};
	uint8_t *c = pci_config(fn);
	int at = CAP_LIST;
	for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
		bool last = k + 1 == sizeof(caps) / sizeof(caps[0]);
		uint8_t len = caps[k].type == CAP_NOTIFY ? 20 : 16;
		uint32_t region = 0x1000, mult = NOTIFY_MULTIPLIER;
		c[at] = PCI_CAP_VENDOR;
		c[at + 1] = last ? 0 : (uint8_t)(at + 16);
		c[at + 2] = len;
		c[at + 3] = caps[k].type;
		c[at + 4] = MODERN_BAR;
		memcpy(c + at + 8, &caps[k].offset, 4);
		memcpy(c + at + 12, &region, 4);
		if (caps[k].type == CAP_NOTIFY)
			memcpy(c + at + 16, &mult, 4);
		at += 16;
	}
	c[0x34] = CAP_LIST;                     /* capabilities pointer (PCI 3.0, 6.7) */
	c[0x06] |= PCI_STATUS_CAP_LIST;
}

/* A BAR moved or its decoding changed: the registers follow it. An I/O address past
 * the 64 KiB I/O space, or a range over another device's, decodes nothing; a memory
 * BAR over RAM is never reached (RAM answers there). */
static void bar_map(void *opaque, int bar, uint32_t addr, bool enabled)
{
	struct virtio_pci *t = opaque;
	if (bar == 0) {
		io_release(t->host.io, t);
		if (enabled && addr && addr <= 0x10000u - BAR_SIZE) {
			t->base = (uint16_t)addr;
			(void)io_register(t->host.io, t->base, BAR_SIZE, bar_read, bar_write, t);
		}
	} else if (bar == MODERN_BAR) {
		mmio_release(t->host.mmio, t);
		if (enabled && addr)
			(void)mmio_register(t->host.mmio, addr, MODERN_SIZE, modern_read, modern_write, t);
	}
}

struct virtio_pci *virtio_pci_create(const struct virtio_pci_host *host, int slot,
				     const struct virtio_pci_dev *dev)
{
	if (dev->nqueues > VIRTIO_PCI_MAX_QUEUES || dev->config_len > BAR_SIZE - R_CONFIG ||
	    !transitional_id(dev->type))
		return NULL;
	struct virtio_pci *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	*t = (struct virtio_pci){ .host = *host, .dev = *dev, .slot = slot };
	const struct pci_id id = {
		.vendor = VIRTIO_PCI_VENDOR, .device = transitional_id(dev->type),
		.subsys_vendor = VIRTIO_PCI_VENDOR, .subsys = dev->type,
		.class_code = dev->class_code, .revision = 0, .irq_pin = 1,
	};
	static const struct pci_func_ops ops = { .map = bar_map };
	t->fn = pci_register(host->pci, slot, 0, &id, &ops, t);
	if (!t->fn || pci_set_bar(t->fn, 0, BAR_SIZE, PCI_BAR_IO) < 0 ||
	    pci_set_bar(t->fn, MODERN_BAR, MODERN_SIZE, PCI_BAR_MEM32) < 0) {
		free(t);
		return NULL;
	}
	write_caps(t->fn);
	reset(t);
	return t;
}

void virtio_pci_destroy(struct virtio_pci *t)
{
	if (!t)
		return;
	io_release(t->host.io, t);
	mmio_release(t->host.mmio, t);
	free(t);
}

/* Configuration mechanism #1 from the board's side, as a BIOS's POST does it. */
static void cfg_write(struct iobus *io, int slot, int reg, int size, uint32_t v)
{
	io_out(io, 0xcf8, 4, 0x80000000u | (uint32_t)slot << 11 | (uint32_t)(reg & 0xfc));
	io_out(io, (uint16_t)(0xcfc + (reg & 3)), size, v);
	io_out(io, 0xcf8, 4, 0);
}

/* The 8259s' edge/level control registers (ELCR, ports 0x4d0-0x4d1, a bit per IRQ). */
#define ELCR_PORT 0x4d0

void virtio_pci_bios_init(struct virtio_pci *t, uint16_t port, uint32_t mem)
{
	cfg_write(t->host.io, t->slot, 0x10, 4, port);
	cfg_write(t->host.io, t->slot, 0x10 + 4 * MODERN_BAR, 4, mem);
	cfg_write(t->host.io, t->slot, 0x04, 2, 0x0003);        /* I/O and memory decoding, as SeaBIOS leaves them */
	/* INTx is level-triggered and shared: SeaBIOS sets the IRQ it routed level in the
	 * ELCR, so that a guest on the 8259 sees the line, not one edge of it. */
	int irq = pci_config(t->fn)[0x3c];
	if (irq > 2 && irq < 16) {
		uint16_t elcr = (uint16_t)(ELCR_PORT + (irq >> 3));
		io_out(t->host.io, elcr, 1, (io_in(t->host.io, elcr, 1) | 1u << (irq & 7)) & 0xff);
	}
}
