/*
 * ioport.c - a flat table of claimed port ranges; lookups are linear (a PC has a
 * dozen devices). A range may carry a flag to set on access (io_watch): the board's
 * "a timed device was touched", one test on the path the lookup already takes.
 */
#include "ioport.h"

#include <errno.h>
#include <stdlib.h>

#define IO_MAX 32

struct io_range {
	uint16_t base, len;
	io_read_fn rd;
	io_write_fn wr;
	void *opaque;
	bool *touched;          /* set on every access (io_watch), or NULL */
};

struct iobus {
	struct io_range r[IO_MAX];
	int n;
};

struct iobus *io_create(void) { return calloc(1, sizeof(struct iobus)); }
void io_destroy(struct iobus *io) { free(io); }

int io_register(struct iobus *io, uint16_t base, uint16_t len, io_read_fn rd, io_write_fn wr,
		void *opaque)
{
	if (io->n == IO_MAX)
		return -ENOSPC;
	for (int i = 0; i < io->n; i++)
		if (base < io->r[i].base + io->r[i].len && io->r[i].base < base + len)
			return -EBUSY;
	io->r[io->n++] = (struct io_range){ base, len, rd, wr, opaque, NULL };
	return 0;
}

int io_claim(struct iobus *io, const struct io_ports *p, int n, void *opaque)
{
	for (int k = 0; k < n; k++) {
		int r = io_register(io, p[k].base, p[k].len, p[k].rd, p[k].wr, opaque);
		if (r < 0) {
			io_release(io, opaque);
			return r;
		}
	}
	return 0;
}

void io_release(struct iobus *io, const void *opaque)
{
	int kept = 0;
	for (int i = 0; i < io->n; i++)
		if (io->r[i].opaque != opaque)
			io->r[kept++] = io->r[i];
	io->n = kept;
}

void io_watch(struct iobus *io, const void *opaque, bool *touched)
{
	for (int i = 0; i < io->n; i++)
		if (io->r[i].opaque == opaque)
			io->r[i].touched = touched;
}

static struct io_range *find(struct iobus *io, uint16_t port)
{
	for (int i = 0; i < io->n; i++)
		if (port >= io->r[i].base && port < io->r[i].base + io->r[i].len)
			return &io->r[i];
	return NULL;
}

uint32_t io_in(struct iobus *io, uint16_t port, int size)
{
	struct io_range *r = find(io, port);
	uint32_t ones = size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
	if (r && r->touched)
		*r->touched = true;
	if (!r || !r->rd)
		return ones;
	return r->rd(r->opaque, port, size) & ones;
}

void io_out(struct iobus *io, uint16_t port, int size, uint32_t val)
{
	struct io_range *r = find(io, port);
	if (r && r->touched)
		*r->touched = true;
	if (r && r->wr)
		r->wr(r->opaque, port, size, val);
}
