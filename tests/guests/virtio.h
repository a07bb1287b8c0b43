/*
 * virtio.h - what the virtio guests (virtio_blk.c, virtio_net.c, virtio_rng.c) share:
 * PCI configuration mechanism #1, finding a function by ID, the legacy virtio PCI
 * registers (Virtio 1.2, 4.1.4.10) and a split virtqueue in the legacy layout (2.7:
 * descriptors, the available ring after them, the used ring on the next 4096-byte
 * boundary), driven by polling its used index.
 *
 * Interface: vio_find() then vio_bar() (BAR 0's port, placed at fallback if no BIOS
 * placed it), vio_reset(), vq_init() per queue, vio_driver_ok(); per request fill
 * q->desc, vq_offer(), vq_kick(), vq_wait(). The modern interface (4.1.4) through
 * the same function's capabilities: vio_modern_find(), vio_modern_features(),
 * vq_modern_init() per queue, then the same requests.
 */
#ifndef GUESTS_VIRTIO_H
#define GUESTS_VIRTIO_H

#include <stdbool.h>

#include "guest.h"

#define VIRTIO_VENDOR   0x1af4
#define R_HOST_F        0x00
#define R_GUEST_F       0x04
#define R_PFN           0x08
#define R_QNUM          0x0c
#define R_QSEL          0x0e
#define R_NOTIFY        0x10
#define R_STATUS        0x12
#define R_ISR           0x13
#define R_CONFIG        0x14
#define ST_ACK          1
#define ST_DRIVER       2
#define ST_DRIVER_OK    4
#define ST_NEEDS_RESET  0x40
#define F_INDIRECT      28
#define D_NEXT          1
#define D_WRITE         2
#define D_INDIRECT      4
#define VQ_MEM          (3 * 4096)      /* a queue of up to 256 entries */

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
} __attribute__((packed));

struct vq {
	uint16_t io, index, num;
	volatile uint16_t *notify;      /* the modern interface's kick register, or NULL */
	struct desc *desc;
	volatile uint16_t *avail;       /* flags, idx, ring[] */
	volatile uint16_t *used;        /* flags, idx, then {u32 id, u32 len}[] */
	uint16_t last_used, next_avail;
	uint32_t last_id, last_len;     /* the last used entry vq_wait() took */
};

static inline uint32_t pci_rd(int dev, int reg)
{
	outl(0xcf8, 0x80000000u | dev << 11 | reg);
	return inl(0xcfc);
}
static inline void pci_wr(int dev, int reg, uint32_t v)
{
	outl(0xcf8, 0x80000000u | dev << 11 | reg);
	outl(0xcfc, v);
}

/* The slot of the first function 1af4:device on bus 0, or -1. */
static inline int vio_find(uint16_t device)
{
	for (int d = 0; d < 32; d++)
		if (pci_rd(d, 0) == ((uint32_t)device << 16 | VIRTIO_VENDOR))
			return d;
	return -1;
}

/* BAR 0's port (set to fallback when no BIOS placed it), with I/O decoding and bus
 * mastering on. */
static inline uint16_t vio_bar(int slot, uint16_t fallback)
{
	uint32_t bar = pci_rd(slot, 0x10);
	if (!(bar & ~3u)) {
		bar = fallback | 1u;
		pci_wr(slot, 0x10, bar);
	}
	pci_wr(slot, 0x04, (pci_rd(slot, 0x04) & 0xffff) | 0x5);
	return (uint16_t)(bar & ~3u);
}

/* Reset, acknowledge, driver; accept want & what is offered. */
static inline void vio_reset(uint16_t io, uint32_t want)
{
	outb(io + R_STATUS, 0);
	outb(io + R_STATUS, ST_ACK);
	outb(io + R_STATUS, ST_ACK | ST_DRIVER);
	outl(io + R_GUEST_F, inl(io + R_HOST_F) & want);
}
static inline void vio_driver_ok(uint16_t io)
{
	outb(io + R_STATUS, ST_ACK | ST_DRIVER | ST_DRIVER_OK);
}

/* Queue index of the device at io in mem (VQ_MEM bytes, page-aligned, cleared here). */
static inline void vq_init(struct vq *q, uint16_t io, uint16_t index, uint8_t *mem)
{
	outw(io + R_QSEL, index);
	uint16_t num = inw(io + R_QNUM);
	uint32_t base = (uint32_t)mem;
	memset(mem, 0, VQ_MEM);
	*q = (struct vq){ .io = io, .index = index, .num = num, .desc = (struct desc *)base };
	q->avail = (volatile uint16_t *)(base + 16u * num);
	q->used = (volatile uint16_t *)((base + 16u * num + 6u + 2u * num + 4095) & ~4095u);
	outl(io + R_PFN, base >> 12);
}

/* Offer the chain at descriptor head (no kick). */
static inline void vq_offer(struct vq *q, uint16_t head)
{
	q->avail[2 + (q->next_avail % q->num)] = head;
	__asm__ volatile("" ::: "memory");
	q->avail[1] = ++q->next_avail;
}
static inline void vq_kick(struct vq *q)
{
	if (q->notify)
		*q->notify = q->index;
	else
		outw(q->io + R_NOTIFY, q->index);
}

/* Wait (a bounded spin) for the next used entry: true with last_id and last_len set. */
static inline bool vq_wait(struct vq *q)
{
	for (int spin = 0; spin < 1000000 && q->used[1] == q->last_used; spin++)
		__asm__ volatile("pause" ::: "memory");
	if (q->used[1] == q->last_used)
		return false;
	const volatile uint32_t *e = (const volatile uint32_t *)(q->used + 2) + 2 * (q->last_used % q->num);
	q->last_id = e[0];
	q->last_len = e[1];
	q->last_used++;
	return true;
}

/* ---- the modern interface (4.1.4) ---- */

#define CAP_COMMON      1
#define CAP_NOTIFY      2
#define CAP_ISR         3
#define CAP_DEVICE      4
#define ST_FEATURES_OK  8
/* struct virtio_pci_common_cfg offsets (4.1.4.3). */
#define C_DFSELECT      0x00
#define C_DF            0x04
#define C_GFSELECT      0x08
#define C_GF            0x0c
#define C_NUMQ          0x12
#define C_STATUS        0x14
#define C_QSELECT       0x16
#define C_QSIZE         0x18
#define C_QENABLE       0x1c
#define C_QNOTIFY_OFF   0x1e
#define C_QDESC         0x20
#define C_QDRIVER       0x28
#define C_QDEVICE       0x30

/* The regions the capabilities point at (paging is off: physical addresses). */
static struct {
	volatile uint8_t *common, *isr, *devcfg, *notify;
	uint32_t notify_mult;
} vmod __attribute__((unused));

static inline void c8(int off, uint8_t v) { vmod.common[off] = v; }
static inline void c16(int off, uint16_t v) { *(volatile uint16_t *)(vmod.common + off) = v; }
static inline void c32(int off, uint32_t v) { *(volatile uint32_t *)(vmod.common + off) = v; }
static inline uint16_t r16(int off) { return *(volatile uint16_t *)(vmod.common + off); }
static inline uint32_t r32(int off) { return *(volatile uint32_t *)(vmod.common + off); }

/* Where memory BAR bar of slot decodes (0 for a 64-bit BAR above 4 GiB). */
static inline uint32_t vio_mem_bar(int slot, int bar)
{
	uint32_t lo = pci_rd(slot, 0x10 + 4 * bar);
	if ((lo & 6) == 4 && pci_rd(slot, 0x14 + 4 * bar))
		return 0;
	return lo & ~15u;
}

/* Walk slot's vendor capabilities into vmod: false unless all four regions are there. */
static inline bool vio_modern_find(int slot)
{
	vmod.common = vmod.isr = vmod.devcfg = vmod.notify = 0;
	if (!(pci_rd(slot, 0x04) >> 16 & 0x10))
		return false;
	for (int at = pci_rd(slot, 0x34) & 0xfc, n = 0; at && n < 48; n++) {
		uint32_t h = pci_rd(slot, at);
		uint32_t base = (h & 0xff) == 0x09 ? vio_mem_bar(slot, pci_rd(slot, at + 4) & 0xff) : 0;
		volatile uint8_t *p = (volatile uint8_t *)(base + pci_rd(slot, at + 8));
		if (base) {
			switch (h >> 24) {
			case CAP_COMMON: vmod.common = p; break;
			case CAP_ISR: vmod.isr = p; break;
			case CAP_DEVICE: vmod.devcfg = p; break;
			case CAP_NOTIFY:
				vmod.notify = p;
				vmod.notify_mult = pci_rd(slot, at + 16);
				break;
			}
		}
		at = h >> 8 & 0xfc;
	}
	return vmod.common && vmod.isr && vmod.devcfg && vmod.notify;
}

/* Reset, acknowledge, driver; accept the feature words lo and hi (bit 0: VERSION_1);
 * FEATURES_OK. */
static inline void vio_modern_features(uint32_t lo, uint32_t hi)
{
	c8(C_STATUS, 0);
	c8(C_STATUS, ST_ACK | ST_DRIVER);
	c32(C_GFSELECT, 0);
	c32(C_GF, lo);
	c32(C_GFSELECT, 1);
	c32(C_GF, hi);
	c8(C_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
}

/* Queue index of size entries, its three areas where given (the caller cleared them),
 * enabled; q set up to drive it. */
static inline void vq_modern_init(struct vq *q, uint16_t index, uint16_t size, uint64_t desc,
				  uint32_t avail, uint32_t used)
{
	c16(C_QSELECT, index);
	c16(C_QSIZE, size);
	c32(C_QDESC, (uint32_t)desc);
	c32(C_QDESC + 4, (uint32_t)(desc >> 32));
	c32(C_QDRIVER, avail);
	c32(C_QDRIVER + 4, 0);
	c32(C_QDEVICE, used);
	c32(C_QDEVICE + 4, 0);
	c16(C_QENABLE, 1);
	*q = (struct vq){ .index = index, .num = size, .desc = (struct desc *)(uint32_t)desc,
			  .avail = (volatile uint16_t *)avail, .used = (volatile uint16_t *)used,
			  .notify = (volatile uint16_t *)(vmod.notify + r16(C_QNOTIFY_OFF) * vmod.notify_mult) };
}

#endif
