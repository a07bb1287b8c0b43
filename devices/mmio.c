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
	b->r[b->n++] = (struct range){ base, len, rd, wr, opaque };
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
	*val = r->rd ? r->rd(r->opaque, pa - r->base, size) : ~0ull;
	return true;
}

bool mmio_write(struct mmiobus *b, uint64_t pa, int size, uint64_t val)
{
	struct range *r = find(b, pa, size);
	if (!r)
		return false;
	if (r->wr)
		r->wr(r->opaque, pa - r->base, size, val);
	return true;
}
