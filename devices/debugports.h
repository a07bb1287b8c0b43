/*
 * debugports.h - the small PC-board ports that end the machine or only log:
 * QEMU's isa-debug-exit at 0xf4 (writing v ends the VM with status (v << 1) | 1) and
 * the POST code port 0x80 (ignored; logged to stderr with trace).
 */
#ifndef TRAPEZE_DEBUGPORTS_H
#define TRAPEZE_DEBUGPORTS_H

#include <stdbool.h>

#include "board.h"
#include "ioport.h"

struct debugports;

/* Claim 0xf4-0xf7 and 0x80 on io; a debug exit goes to stop (*stop is copied). NULL on
 * failure. */
struct debugports *debugports_create(struct iobus *io, const struct board_stop_hook *stop,
				     bool trace);
void debugports_destroy(struct debugports *d);

#endif
