/*
 * mmio.c - the memory-mapped I/O bus (see mmio.h): a short list of ranges, looked up
 * linearly (a PC has a handful of them).
 */
#include "mmio.h"

#include <errno.h>
#include <stdlib.h>

#define MAX_RANGES 32

struct range {
	uint64_t base, len;
	mmio_read_fn rd;
	mmio_write_fn wr;
	void *opaque;
	bool *touched;          /* set on every access (mmio_watch), or NULL */
};

struct mmiobus {
	struct range r[MAX_RANGES];
	int n;
};

struct mmiobus *mmio_create(void) { return calloc(1, sizeof(struct mmiobus)); }

void mmio_destroy(struct mmiobus *b) { free(b); }

int mmio_register(struct mmiobus *b, uint64_t base, uint64_t len, mmio_read_fn rd,
		  mmio_write_fn wr, void *opaque)
{
	if (!len || base + len < base)
		return -EINVAL;
	for (int k = 0; k < b->n; k++)
		if (base < b->r[k].base + b->r[k].len && b->r[k].base < base + len)
			return -EBUSY;
	if (b->n == MAX_RANGES)
		return -ENOSPC;
	b->r[b->n++] = (struct range){ base, len, rd, wr, opaque, NULL };
	return 0;
}

void mmio_release(struct mmiobus *b, const void *opaque)
{
	int kept = 0;
	for (int k = 0; k < b->n; k++)
		if (b->r[k].opaque != opaque)
			b->r[kept++] = b->r[k];
	b->n = kept;
}

void mmio_watch(struct mmiobus *b, const void *opaque, bool *touched)
{
	for (int k = 0; k < b->n; k++)
		if (b->r[k].opaque == opaque)
			b->r[k].touched = touched;
}

int mmio_move(struct mmiobus *b, const void *opaque, uint64_t new_base)
{
	struct range *r = NULL;
	for (int k = 0; k < b->n; k++)
		if (b->r[k].opaque == opaque)
			r = &b->r[k];
	if (!r)
		return -ENOENT;
	if (new_base + r->len < new_base)
		return -EINVAL;
	for (int k = 0; k < b->n; k++)
		if (&b->r[k] != r && new_base < b->r[k].base + b->r[k].len &&
		    b->r[k].base < new_base + r->len)
			return -EBUSY;
	r->base = new_base;
	return 0;
}

static struct range *find(struct mmiobus *b, uint64_t pa, int size)
{
	for (int k = 0; b && k < b->n; k++)
		if (pa >= b->r[k].base && pa - b->r[k].base + (uint64_t)size <= b->r[k].len)
			return &b->r[k];
	return NULL;
}

bool mmio_read(struct mmiobus *b, uint64_t pa, int size, uint64_t *val)
{
	struct range *r = find(b, pa, size);
	if (!r)
		return false;
	if (r->touched)
		*r->touched = true;
	*val = r->rd ? r->rd(r->opaque, pa - r->base, size) : ~0ull;
	return true;
}

bool mmio_write(struct mmiobus *b, uint64_t pa, int size, uint64_t val)
{
	struct range *r = find(b, pa, size);
	if (!r)
		return false;
	if (r->touched)
		*r->touched = true;
	if (r->wr)
		r->wr(r->opaque, pa - r->base, size, val);
	return true;
}
