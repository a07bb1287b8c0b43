/*
 * para_ring.c - para-x86's device rings (docs/para-x86.md, section 8), monitor side:
 * the block device on --disk's image.
 *
 * A ring is a page of guest RAM the guest hands over with ring_setup. The guest posts
 * requests and bumps req_prod; ring_notify makes the monitor take every request posted,
 * answer each in its slot, publish req_cons and rsp_prod, and raise the device's event
 * once for the batch: one exit per batch, however many blocks. Everything in the ring is
 * the guest's to scribble on, so the monitor keeps its own counts (what it took and
 * answered) and believes only req_prod, which it checks: a ring that claims more than
 * its 63 slots is broken and taken from no more.
 *
 * Requests complete before ring_notify returns (the spec allows later); a flush's
 * response comes after fdatasync.
 */
#include <errno.h>
#include <string.h>

#include "para.h"
#include "vm.h"
#include "../devices/blockdev.h"
#include "../shadowmmu/mem.h"

#define RING_SLOTS      63u
#define SLOT(pa, n)     ((pa) + 64u + ((n) % RING_SLOTS) * 64u)
#define BLOCK_SECTORS   8u      /* 4 KiB blocks of 512-byte sectors */

/* The request and response of a block slot (section 8). */
struct blk_req {
	uint32_t id;
	uint16_t op, zero;
	uint32_t block;
	uint32_t buf;
};
struct blk_rsp {
	uint32_t id;
	int32_t status;
};
enum { BLK_READ = 0, BLK_WRITE = 1, BLK_FLUSH = 2 };

void para_devices_init(struct vm *vm, struct para_start_info *si)
{
	struct para *p = vm->para;
	p->ndev = 0;
	if (vm->cfg.disk) {
		struct para_dev *d = &si->dev[p->ndev];
		d->type = PARA_DEV_BLOCK;
		d->event = (uint8_t)(PARA_EVENT_DEVICE + p->ndev);
		d->flags = blockdev_readonly(vm->cfg.disk) ? 1 : 0;
		d->a = (uint32_t)(blockdev_sectors(vm->cfg.disk) / BLOCK_SECTORS);
		p->dev[p->ndev++] = *d;
	}
	si->ndev = p->ndev;
}

int32_t para_ring_setup(struct vm *vm, uint32_t dev, uint32_t ring, uint32_t rx)
{
	struct para *p = vm->para;
	(void)rx;                       /* only a network device has a second ring */
	if (dev >= p->ndev || (ring & 0xfff))
		return -PARA_EINVAL;
	if (ring > vm->mem.size - 4096)
		return -PARA_EFAULT;
	p->ring[dev] = (struct para_ring){ .pa = ring, .live = true };
	uint32_t zero[4] = { 0 };
	mem_write_phys(&vm->mem, ring, zero, sizeof(zero));
	return 0;
}

/* One block request: its status (0 or a negative error of section 8). */
static int32_t block_req(struct vm *vm, const struct blk_req *q)
{
	struct blockdev *d = vm->cfg.disk;
	if (q->op == BLK_FLUSH)
		return blockdev_flush(d) < 0 ? -PARA_EIO : 0;
	if (q->op != BLK_READ && q->op != BLK_WRITE)
		return -PARA_EINVAL;
	if ((q->buf & 0xfff) || q->buf > vm->mem.size - 4096)
		return -PARA_EFAULT;
	if (q->block >= blockdev_sectors(d) / BLOCK_SECTORS)
		return -PARA_EIO;
	uint64_t lba = (uint64_t)q->block * BLOCK_SECTORS;
	uint8_t tmp[4096];
	int r;
	if (q->op == BLK_READ) {
		r = blockdev_read(d, lba, BLOCK_SECTORS, tmp);
		if (r == 0)
			mem_write_phys(&vm->mem, q->buf, tmp, sizeof(tmp));
	} else {
		memcpy(tmp, mem_phys(&vm->mem, q->buf, sizeof(tmp)), sizeof(tmp));
		r = blockdev_write(d, lba, BLOCK_SECTORS, tmp);
	}
	return r == -EROFS ? -PARA_EROFS : r < 0 ? -PARA_EIO : 0;
}

int32_t para_ring_notify(struct vm *vm, uint32_t dev)
{
	struct para *p = vm->para;
	if (dev >= p->ndev || !p->ring[dev].live)
		return -PARA_EINVAL;
	struct para_ring *r = &p->ring[dev];
	if (r->broken)
		return -PARA_EBUSY;
	uint32_t prod;
	memcpy(&prod, mem_phys(&vm->mem, r->pa, 4), 4);
	if (prod - r->cons > RING_SLOTS) {
		r->broken = true;
		return -PARA_EBUSY;
	}
	uint32_t n = 0;
	for (; r->cons != prod; r->cons++, n++) {
		struct blk_req q;
		memcpy(&q, mem_phys(&vm->mem, SLOT(r->pa, r->cons), sizeof(q)), sizeof(q));
		struct blk_rsp a = { q.id, block_req(vm, &q) };
		mem_write_phys(&vm->mem, SLOT(r->pa, r->cons), &a, sizeof(a));
	}
	uint32_t counts[2] = { r->cons, r->cons };      /* req_cons, rsp_prod */
	mem_write_phys(&vm->mem, r->pa + 4, counts, sizeof(counts));
	if (n) {
		size_t off = offsetof(struct para_shared, event_pending);
		para_shared_set(vm, off, para_shared_get(vm, off) | 1u << p->dev[dev].event);
	}
	return (int32_t)n;
}
