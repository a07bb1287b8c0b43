/*
 * debugports.c - isa-debug-exit (0xf4) and the POST code port (0x80); see debugports.h.
 */
#include "debugports.h"

#include <stdio.h>
#include <stdlib.h>

struct debugports {
	struct board_stop_hook stop;
	bool trace;
};

static void debug_exit_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	struct debugports *d = opaque;
	char msg[64];
	(void)port;
	(void)size;
	snprintf(msg, sizeof(msg), "guest wrote %#x to the debug-exit port", val);
	board_stop(&d->stop, BOARD_EXIT, (int)((val << 1) | 1) & 0xff, msg);
}

static void post_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	struct debugports *d = opaque;
	(void)port;
	(void)size;
	if (d->trace)
		fprintf(stderr, "trapeze: POST code %#x\n", val & 0xff);
}

struct debugports *debugports_create(struct iobus *io, const struct board_stop_hook *stop,
				     bool trace)
{
	struct debugports *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->stop = *stop;
	d->trace = trace;
	static const struct io_ports ports[] = {
		{ 0xf4, 4, NULL, debug_exit_write }, { 0x80, 1, NULL, post_write },
	};
	if (io_claim(io, ports, 2, d) < 0) {
		free(d);
		return NULL;
	}
	return d;
}

void debugports_destroy(struct debugports *d) { free(d); }
