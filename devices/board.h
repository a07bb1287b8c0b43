/*
 * board.h - a machine's device set: the devices on it, the buses their ports and
 * memory ranges are claimed on, which of them count time, and the interrupt
 * controller the CPU talks to.
 *
 * A board owns the I/O port bus, the MMIO bus and a list of device records. A board
 * builder (pc.c) creates each device on the buses and adds its record; from then on
 * the monitor asks the board, never a device by name: board_update() brings every
 * device to the present, board_next_deadline() says when the host timer must bring the
 * CPU back, board_wait_fds() what HLT sleeps on, board_intc() which controller to ask
 * for interrupts. Everything hangs off the struct its VM owns (no singletons), so
 * several boards may live in one process.
 *
 * Devices tell the monitor that the machine ends (reset, power off, an exit status)
 * through a struct board_stop_hook they are given, never through the monitor's types.
 *
 * Interface: board_create(); a builder's device constructors and board_add() calls,
 * board_set_intc(); the monitor's calls above; board_destroy().
 */
#ifndef TRAPEZE_BOARD_H
#define TRAPEZE_BOARD_H

#include <stdbool.h>
#include <stdint.h>

#include "intc.h"

struct board;
struct iobus;
struct mmiobus;

enum board_stop {
	BOARD_RESET,            /* the guest pulsed the reset line */
	BOARD_POWEROFF,         /* the guest turned the machine off */
	BOARD_EXIT,             /* the guest asked to end with a status (debug-exit) */
};

/* How a device stops the machine; msg is a one-line reason. */
struct board_stop_hook {
	void (*stop)(void *opaque, enum board_stop why, int status, const char *msg);
	void *opaque;
};

static inline void board_stop(const struct board_stop_hook *h, enum board_stop why, int status,
			      const char *msg)
{
	if (h->stop)
		h->stop(h->opaque, why, status, msg);
}

/* One device on the board. Only name and opaque are required. */
struct board_dev {
	const char *name;
	void *opaque;                           /* the device's state, passed to each call */
	/* Bring the device to now (vclock ns), raising the interrupts that are due. */
	void (*update)(void *opaque, uint64_t now);
	/* When update() next has an interrupt to raise, in vclock ns, or VCLOCK_NEVER. A
	 * device with one is timed: guest access to its ports may move its deadline. */
	uint64_t (*next_deadline)(void *opaque);
	/* The host descriptor whose input the device waits for, or -1. */
	int (*wait_fd)(void *opaque);
	void (*destroy)(void *opaque);
};

/* How many devices a board holds: the PC has 16 with --net, para-x86 adds two. */
#define BOARD_MAX_DEVICES 32

/* An empty board with its two buses. Each guest access to a timed device's port sets
 * *deadlines_moved, for the monitor to take the deadlines again (it clears it). NULL on
 * allocation failure. */
struct board *board_create(bool *deadlines_moved);
/* Destroy the devices in the reverse order of adding, then the buses. NULL is fine. */
void board_destroy(struct board *b);
struct iobus *board_io(struct board *b);
struct mmiobus *board_mmio(struct board *b);
/* Add a device once it has claimed its ports; the board owns it from then on, and
 * destroys it at once if it cannot be added. 0 or negative errno. */
int board_add(struct board *b, const struct board_dev *d);
/* The controller the CPU asks (copied); devices get their lines from it. */
void board_set_intc(struct board *b, const struct intc *c);
/* NULL until board_set_intc(). */
const struct intc *board_intc(const struct board *b);

/* Bring every device to now (vclock ns: one instant for all), in the order added. */
void board_update(struct board *b, uint64_t now);
/* The earliest deadline over the timed devices, or VCLOCK_NEVER. */
uint64_t board_next_deadline(struct board *b);
/* The descriptors the devices wait on for input (up to max into fds): how many. */
int board_wait_fds(struct board *b, int *fds, int max);

#endif
