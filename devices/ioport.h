/*
 * ioport.h - the I/O port bus.
 *
 * A device registers a port range with a read and a write callback and an opaque
 * pointer (its state). Ports nobody claims read as all ones and ignore writes, as on
 * an ISA bus with nothing behind the address. The board has the bus flag accesses to
 * its timed devices (io_watch), so the monitor knows when their deadlines may move.
 */
#ifndef TRAPEZE_IOPORT_H
#define TRAPEZE_IOPORT_H

#include <stdbool.h>
#include <stdint.h>

struct iobus;

typedef uint32_t (*io_read_fn)(void *opaque, uint16_t port, int size);
typedef void (*io_write_fn)(void *opaque, uint16_t port, int size, uint32_t val);

/* An empty bus; NULL on allocation failure. */
struct iobus *io_create(void);
/* Free the bus (not the devices on it). */
void io_destroy(struct iobus *io);
/* Claim ports [base, base + len); negative errno if they overlap a claimed range. */
int io_register(struct iobus *io, uint16_t base, uint16_t len, io_read_fn rd, io_write_fn wr,
		void *opaque);
/* A device's port range, for io_claim(). */
struct io_ports {
	uint16_t base, len;
	io_read_fn rd;
	io_write_fn wr;
};
/* Claim all n ranges for opaque, or none: negative errno (and nothing claimed by
 * opaque left on the bus) if one overlaps a claimed range. */
int io_claim(struct iobus *io, const struct io_ports *p, int n, void *opaque);
/* Give back every range registered with opaque (a constructor failing halfway). */
void io_release(struct iobus *io, const void *opaque);
/* From now on every access to a range registered with opaque sets *touched (NULL: stop). */
void io_watch(struct iobus *io, const void *opaque, bool *touched);
/* A guest IN of size bytes (1, 2, 4) at port: the range claiming port answers. */
uint32_t io_in(struct iobus *io, uint16_t port, int size);
/* A guest OUT of size bytes at port. */
void io_out(struct iobus *io, uint16_t port, int size, uint32_t val);

/* An interrupt line handed to a device; the device never knows who is behind it
 * (the board's controller hands them out, intc.h). */
struct irq_line {
	void (*set)(void *opaque, int irq, int level);
	void *opaque;
	int irq;
};
/* Drive the line to level (0/1); a line with nothing behind it ignores it. */
static inline void irq_set(const struct irq_line *l, int level)
{
	if (l->set)
		l->set(l->opaque, l->irq, level);
}

#endif
