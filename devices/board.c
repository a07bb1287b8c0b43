/*
 * board.c - the device list of a machine (see board.h): a short array of records,
 * walked in order; the monitor walks it only when the host timer fired or the guest
 * touched a timed device, never per instruction.
 */
#include "board.h"

#include <errno.h>
#include <stdlib.h>

#include "clock.h"
#include "ioport.h"
#include "mmio.h"


struct board {
	struct iobus *io;
	struct mmiobus *mmio;
	bool *deadlines_moved;
	struct intc intc;
	bool have_intc;
	struct board_dev dev[BOARD_MAX_DEVICES];
	int n;
};

struct board *board_create(bool *deadlines_moved)
{
	struct board *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->deadlines_moved = deadlines_moved;
	b->io = io_create();
	b->mmio = mmio_create();
	if (!b->io || !b->mmio) {
		board_destroy(b);
		return NULL;
	}
	return b;
}

void board_destroy(struct board *b)
{
	if (!b)
		return;
	while (b->n > 0) {
		struct board_dev *d = &b->dev[--b->n];
		if (d->destroy)
			d->destroy(d->opaque);
	}
	io_destroy(b->io);
	mmio_destroy(b->mmio);
	free(b);
}

struct iobus *board_io(struct board *b) { return b->io; }
struct mmiobus *board_mmio(struct board *b) { return b->mmio; }

int board_add(struct board *b, const struct board_dev *d)
{
	if (b->n == BOARD_MAX_DEVICES) {
		io_release(b->io, d->opaque);   /* its ports must not lead to freed state */
		mmio_release(b->mmio, d->opaque);
		if (d->destroy)
			d->destroy(d->opaque);
		return -ENOSPC;
	}
	b->dev[b->n++] = *d;
	/* The bus marks the access itself: no per-port table of timed devices to keep. */
	if (d->next_deadline) {
		io_watch(b->io, d->opaque, b->deadlines_moved);
		mmio_watch(b->mmio, d->opaque, b->deadlines_moved);
	}
	return 0;
}

void board_set_intc(struct board *b, const struct intc *c)
{
	b->intc = *c;
	b->have_intc = true;
}

const struct intc *board_intc(const struct board *b) { return b->have_intc ? &b->intc : NULL; }

void board_update(struct board *b, uint64_t now)
{
	for (int i = 0; i < b->n; i++)
		if (b->dev[i].update)
			b->dev[i].update(b->dev[i].opaque, now);
}

uint64_t board_next_deadline(struct board *b)
{
	uint64_t soonest = VCLOCK_NEVER;
	for (int i = 0; i < b->n; i++) {
		if (!b->dev[i].next_deadline)
			continue;
		uint64_t d = b->dev[i].next_deadline(b->dev[i].opaque);
		if (d < soonest)
			soonest = d;
	}
	return soonest;
}

int board_wait_fds(struct board *b, int *fds, int max)
{
	int n = 0;
	for (int i = 0; i < b->n && n < max; i++) {
		if (!b->dev[i].wait_fd)
			continue;
		int fd = b->dev[i].wait_fd(b->dev[i].opaque);
		if (fd >= 0)
			fds[n++] = fd;
	}
	return n;
}
