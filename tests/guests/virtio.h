/*
 * virtio.h - what the virtio guests (virtio_blk.c, virtio_net.c, virtio_rng.c) share:
 * PCI configuration mechanism #1, finding a function by ID, the legacy virtio PCI
 * registers (Virtio 1.2, 4.1.4.10) and a split virtqueue in the legacy layout (2.7:
 * descriptors, the available ring after them, the used ring on the next 4096-byte
 * boundary), driven by polling its used index.
 *
 * Interface: vio_find() then vio_bar() (BAR 0's port, placed at fallback if no BIOS
 * placed it), vio_reset(), vq_init() per queue, vio_driver_ok(); per request fill
 * q->desc, vq_offer(), vq_kick(), vq_wait(). A modern driver (virtio_blk.c) fills a
 * struct vq itself and sets its notify register.
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

#endif
