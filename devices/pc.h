/*
 * pc.h - the PC board trapeze emulates: which devices, on which ports and lines (pc.c).
 */
#ifndef TRAPEZE_PC_H
#define TRAPEZE_PC_H

#include <stdbool.h>
#include <stdint.h>

#include "board.h"
#include "clock.h"

struct blockdev;
struct netdev;
struct uart;

struct pc_config {
	const struct vclock *clock;     /* the timed devices' time (copied by each) */
	int64_t epoch_ns;               /* host realtime at creation: the RTC's wall clock */
	uint64_t ram_size;              /* for the CMOS memory-size bytes */
	int serial_in, serial_out;      /* COM1's host descriptors; serial_in -1 for none */
	bool trace;                     /* log POST codes */
	struct blockdev *disk;          /* the primary ATA disk, or NULL (stays the caller's) */
	struct netdev *net;             /* the NE2000's back end, or NULL: no card (the caller's) */
	struct board_stop_hook stop;    /* reset and debug-exit (copied by each device) */
};

/* Put the PC's devices on b and set its interrupt controller; *com1 gets the console
 * UART. 0 or negative errno; on failure the devices added so far go with the board. */
int pc_build(struct board *b, const struct pc_config *cfg, struct uart **com1);

#endif
