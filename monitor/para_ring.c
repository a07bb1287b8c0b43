/*
 * para_ring.c - para-x86's device rings (docs/para-x86.md, section 8), monitor side:
 * the block device on --disk's image, the network device on --net's back end.
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
 * response comes after fdatasync. Received frames go into the buffers the guest posted
 * on the network's receive ring, whenever the board brings the device up to date (a
 * frame's arrival kicks the guest: SIGIO) and at each notify; one event per batch.
 */
#include <errno.h>
#include <string.h>

#include "para.h"
#include "vm.h"
#include "../devices/blockdev.h"
#include "../devices/board.h"
#include "../devices/netdev.h"
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

/* A network slot: transmit {id, buf, len} answered {id, status}; receive {id, buf,
 * room} answered {id, length or error} (section 8). */
struct net_req {
	uint32_t id, buf, len;
};

static void raise_event(struct vm *vm, uint32_t dev)
{
	size_t off = offsetof(struct para_shared, event_pending);
	para_shared_set(vm, off, para_shared_get(vm, off) | 1u << vm->para->dev[dev].event);
}

/* Fill the receive buffers posted on dev's receive ring with the frames waiting, one
 * event for the batch. A ring claiming more than its slots is broken (section 8). */
static void net_receive(struct vm *vm, uint32_t dev)
{
	struct para_ring *r = &vm->para->ring[dev];
	if (!r->live || r->broken)
		return;
	uint32_t prod, n = 0;
	memcpy(&prod, mem_phys(&vm->mem, r->rx_pa, 4), 4);
	if (prod - r->rx_cons > RING_SLOTS) {
		r->broken = true;
		return;
	}
	for (; r->rx_cons != prod; r->rx_cons++, n++) {
		uint8_t frame[NETDEV_MTU_FRAME];
		ssize_t len = netdev_recv(vm->cfg.net, frame, sizeof(frame));
		if (len <= 0)
			break;
		struct net_req q;
		memcpy(&q, mem_phys(&vm->mem, SLOT(r->rx_pa, r->rx_cons), sizeof(q)), sizeof(q));
		int32_t status = (int32_t)len;
		if ((q.buf & 0xfff) + (uint64_t)q.len > 4096 || q.buf > vm->mem.size - 4096)
			status = -PARA_EFAULT;          /* the frame is dropped, as a full NIC would */
		else
			mem_write_phys(&vm->mem, q.buf, frame, (size_t)len < q.len ? (size_t)len : q.len);
		struct blk_rsp a = { q.id, status };
		mem_write_phys(&vm->mem, SLOT(r->rx_pa, r->rx_cons), &a, sizeof(a));
	}
	if (!n)
		return;
	uint32_t counts[2] = { r->rx_cons, r->rx_cons };
	mem_write_phys(&vm->mem, r->rx_pa + 4, counts, sizeof(counts));
	raise_event(vm, dev);
}

/* One transmit request: its status. */
static int32_t net_send(struct vm *vm, const struct net_req *q)
{
	if (q->len < 14 || q->len > NETDEV_MTU_FRAME)
		return -PARA_EINVAL;
	if ((q->buf & 0xfff) + (uint64_t)q->len > 4096 || q->buf > vm->mem.size - 4096)
		return -PARA_EFAULT;
	netdev_send(vm->cfg.net, mem_phys(&vm->mem, q->buf, q->len), q->len);
	return 0;               /* sent, or dropped as a wire drops: not the guest's error */
}

/* The network device on the board: frames are taken when it is brought up to date. */
static void net_update(void *opaque, uint64_t now)
{
	struct vm *vm = opaque;
	(void)now;
	for (uint32_t d = 0; d < vm->para->ndev; d++)
		if (vm->para->dev[d].type == PARA_DEV_NET)
			net_receive(vm, d);
}

/* The back end's descriptor while a posted receive buffer waits for a frame; -1 while
 * none is posted (or the rings are not set up, or broken): the frames then wait in the
 * socket, which stays readable, and an idle guest must not poll it in a busy loop. */
static int net_wait_fd(void *opaque)
{
	struct vm *vm = opaque;
	for (uint32_t d = 0; d < vm->para->ndev; d++) {
		const struct para_ring *r = &vm->para->ring[d];
		if (vm->para->dev[d].type != PARA_DEV_NET || !r->live || r->broken)
			continue;
		uint32_t prod;
		memcpy(&prod, mem_phys(&vm->mem, r->rx_pa, 4), 4);
		if (prod != r->rx_cons)
			return netdev_fd(vm->cfg.net);
	}
	return -1;
}

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
	if (vm->cfg.net) {
		struct para_dev *d = &si->dev[p->ndev];
		uint8_t mac[6];
		netdev_mac(vm->cfg.net, mac);
		d->type = PARA_DEV_NET;
		d->event = (uint8_t)(PARA_EVENT_DEVICE + p->ndev);
		d->a = (uint32_t)mac[0] | (uint32_t)mac[1] << 8 | (uint32_t)mac[2] << 16 |
		       (uint32_t)mac[3] << 24;
		d->b = (uint32_t)mac[4] | (uint32_t)mac[5] << 8;
		p->dev[p->ndev++] = *d;
		board_add(vm->board, &(struct board_dev){ .name = "para network", .opaque = vm,
			  .update = net_update, .wait_fd = net_wait_fd });
	}
	si->ndev = p->ndev;
}

int32_t para_ring_setup(struct vm *vm, uint32_t dev, uint32_t ring, uint32_t rx)
{
	struct para *p = vm->para;
	bool net = dev < p->ndev && p->dev[dev].type == PARA_DEV_NET;
	if (dev >= p->ndev || (ring & 0xfff) || (net && ((rx & 0xfff) || rx == ring)))
		return -PARA_EINVAL;
	if (ring > vm->mem.size - 4096 || (net && rx > vm->mem.size - 4096))
		return -PARA_EFAULT;
	p->ring[dev] = (struct para_ring){ .pa = ring, .rx_pa = net ? rx : 0, .live = true };
	uint32_t zero[4] = { 0 };
	mem_write_phys(&vm->mem, ring, zero, sizeof(zero));
	if (net)
		mem_write_phys(&vm->mem, rx, zero, sizeof(zero));
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
	bool net = p->dev[dev].type == PARA_DEV_NET;
	uint32_t n = 0;
	for (; r->cons != prod; r->cons++, n++) {
		uint8_t slot[64];
		memcpy(slot, mem_phys(&vm->mem, SLOT(r->pa, r->cons), sizeof(slot)), sizeof(slot));
		struct blk_rsp a;
		if (net) {
			struct net_req q;
			memcpy(&q, slot, sizeof(q));
			a = (struct blk_rsp){ q.id, net_send(vm, &q) };
		} else {
			struct blk_req q;
			memcpy(&q, slot, sizeof(q));
			a = (struct blk_rsp){ q.id, block_req(vm, &q) };
		}
		mem_write_phys(&vm->mem, SLOT(r->pa, r->cons), &a, sizeof(a));
	}
	uint32_t counts[2] = { r->cons, r->cons };      /* req_cons, rsp_prod */
	mem_write_phys(&vm->mem, r->pa + 4, counts, sizeof(counts));
	if (n)
		raise_event(vm, dev);
	if (net)
		net_receive(vm, dev);   /* buffers posted with the batch, frames waiting */
	return (int32_t)n;
}
