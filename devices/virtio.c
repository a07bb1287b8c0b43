/*
 * virtio.c - the split virtqueue (see virtio.h): taking descriptor chains from the
 * available ring and giving them back through the used ring. Layouts from Virtio 1.2,
 * 2.7.5 "The Virtqueue Descriptor Table", 2.7.6 "The Virtqueue Available Ring", 2.7.8
 * "The Virtqueue Used Ring"; all fields little-endian, as the x86 host is.
 */
#include "virtio.h"

#include <errno.h>
#include <string.h>

#define DESC_F_NEXT      1u
#define DESC_F_WRITE     2u
#define DESC_F_INDIRECT  4u
#define AVAIL_F_NO_INTERRUPT 1u
#define DESC_SIZE        16u

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static uint64_t avail_bytes(uint16_t num) { return 6u + 2u * num; }   /* flags, idx, ring, used_event */
static uint64_t used_bytes(uint16_t num) { return 6u + 8u * num; }    /* flags, idx, ring, avail_event */

void virtq_reset(struct virtq *q) { *q = (struct virtq){ 0 }; }

bool virtq_setup(struct virtq *q, const struct dma_space *dma, uint16_t num, uint64_t desc,
		 uint64_t avail, uint64_t used)
{
	virtq_reset(q);
	if (!num || num > VIRTQ_MAX_SIZE || (num & (num - 1)))
		return false;
	if (!dma_map(dma, desc, (uint64_t)num * DESC_SIZE, false) ||
	    !dma_map(dma, avail, avail_bytes(num), false) || !dma_map(dma, used, used_bytes(num), false))
		return false;
	*q = (struct virtq){ .num = num, .desc = desc, .avail = avail, .used = used };
	return true;
}

/* Descriptor i of the table at table (entries: its size); false if not in RAM. */
static bool read_desc(const struct dma_space *dma, uint64_t table, uint16_t i, struct desc *d)
{
	const uint8_t *p = dma_map(dma, table + (uint64_t)i * DESC_SIZE, DESC_SIZE, false);
	if (!p)
		return false;
	memcpy(&d->addr, p, 8);
	memcpy(&d->len, p + 8, 4);
	memcpy(&d->flags, p + 12, 2);
	memcpy(&d->next, p + 14, 2);
	return true;
}

/* Add d's buffer to the chain: readable ones must all come before the writable ones
 * (2.7.4.2: "the driver MUST place any device-writable descriptor elements after any
 * device-readable descriptor elements"). An empty buffer adds nothing. */
static int add_seg(const struct dma_space *dma, struct virtq_chain *c, const struct desc *d)
{
	bool write = d->flags & DESC_F_WRITE;
	if (!write && c->nwrite)
		return -EPROTO;
	if (!d->len)
		return 0;
	uint8_t *p = dma_map(dma, d->addr, d->len, write);
	if (!p)
		return -EFAULT;
	c->seg[c->nread + c->nwrite] = (struct virtq_seg){ p, d->len };
	if (write) {
		c->nwrite++;
		c->write_len += d->len;
	} else {
		c->nread++;
		c->read_len += d->len;
	}
	return 0;
}

/* Walk the chain from head. At most q->num buffers in all, the indirect table's
 * included (2.7.5.3.1: no chain is longer than the queue), so a loop ends here; an
 * indirect descriptor is alone in its chain's table entry and never nested (2.7.5.3.1),
 * so the walk switches tables at most once. */
static int walk(const struct virtq *q, const struct dma_space *dma, struct virtq_chain *c)
{
	uint64_t table = q->desc;
	uint32_t size = q->num;
	uint16_t i = c->head;
	bool indirect = false;
	for (unsigned n = 0;;) {
		struct desc d;
		if (i >= size)
			return -EPROTO;
		if (!read_desc(dma, table, i, &d))
			return -EFAULT;
		if (d.flags & DESC_F_INDIRECT) {
			if (indirect || (d.flags & DESC_F_NEXT) || !d.len || d.len % DESC_SIZE)
				return -EPROTO;
			if (!dma_map(dma, d.addr, d.len, false))
				return -EFAULT;
			indirect = true;
			table = d.addr;
			size = d.len / DESC_SIZE;
			i = 0;
			continue;
		}
		if (n++ == q->num)
			return -ELOOP;
		int r = add_seg(dma, c, &d);
		if (r < 0)
			return r;
		if (!(d.flags & DESC_F_NEXT))
			return 1;
		i = d.next;
	}
}

bool virtq_has_avail(const struct virtq *q, const struct dma_space *dma)
{
	const uint8_t *av = q->num ? dma_map(dma, q->avail, 4, false) : NULL;
	return av && get16(av + 2) != q->last_avail;
}

int virtq_pop(struct virtq *q, const struct dma_space *dma, struct virtq_chain *c)
{
	if (!q->num)
		return 0;
	const uint8_t *av = dma_map(dma, q->avail, avail_bytes(q->num), false);
	if (!av)
		return -EFAULT;
	uint16_t idx = get16(av + 2);
	if (idx == q->last_avail)
		return 0;
	/* More entries than the ring has: the index is garbage (2.7.13.3). */
	if ((uint16_t)(idx - q->last_avail) > q->num)
		return -EPROTO;
	c->head = get16(av + 4 + 2u * (q->last_avail & (q->num - 1)));
	c->nread = c->nwrite = 0;
	c->read_len = c->write_len = 0;
	q->last_avail++;
	return walk(q, dma, c);
}

const char *virtq_strerror(int err)
{
	switch (err) {
	case -EFAULT: return "a ring or buffer outside guest RAM";
	case -ELOOP: return "a descriptor chain longer than the queue (a loop?)";
	default: return "a malformed descriptor chain or available ring";
	}
}

bool virtq_push(struct virtq *q, const struct dma_space *dma, uint16_t head, uint32_t len)
{
	uint8_t *u = dma_map(dma, q->used, used_bytes(q->num), true);
	if (!u)
		return false;
	uint32_t elem[2] = { head, len };
	memcpy(u + 4 + 8u * (q->used_idx & (q->num - 1)), elem, sizeof(elem));
	q->used_idx++;
	memcpy(u + 2, &q->used_idx, 2);
	return true;
}

bool virtq_wants_interrupt(const struct virtq *q, const struct dma_space *dma)
{
	const uint8_t *av = dma_map(dma, q->avail, 2, false);
	return av && !(get16(av) & AVAIL_F_NO_INTERRUPT);
}

/* Copy between buf and bytes [off, off + len) of the segments seg[0 .. n). */
static size_t chain_copy(const struct virtq_seg *seg, unsigned n, uint64_t off, uint8_t *buf,
			 size_t len, bool to_chain)
{
	size_t done = 0;
	for (unsigned k = 0; k < n && done < len; k++) {
		if (off >= seg[k].len) {
			off -= seg[k].len;
			continue;
		}
		size_t m = seg[k].len - off;
		if (m > len - done)
			m = len - done;
		if (to_chain)
			memcpy(seg[k].p + off, buf + done, m);
		else
			memcpy(buf + done, seg[k].p + off, m);
		done += m;
		off = 0;
	}
	return done;
}

size_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *buf, size_t len)
{
	return chain_copy(c->seg, c->nread, off, buf, len, false);
}

size_t virtq_chain_write(const struct virtq_chain *c, uint64_t off, const void *buf, size_t len)
{
	return chain_copy(c->seg + c->nread, c->nwrite, off, (uint8_t *)(uintptr_t)buf, len, true);
}
