/*
 * mmio.h - the memory-mapped I/O bus: guest-physical ranges that are not RAM.
 *
 * A device claims [base, base + len) with a read and a write callback and an opaque
 * pointer, as on the port bus (ioport.h). The shadow MMU never maps these ranges; the
 * monitor emulates the instruction that touches them (monitor/memop.c) and its
 * accesses land here. Addresses nobody claims read as all ones and ignore writes.
 */
#ifndef TRAPEZE_MMIO_H
#define TRAPEZE_MMIO_H

#include <stdbool.h>
#include <stdint.h>

struct mmiobus;

/* size is 1, 2, 4 or 8; off is the offset in the device's range. */
typedef uint64_t (*mmio_read_fn)(void *opaque, uint64_t off, int size);
typedef void (*mmio_write_fn)(void *opaque, uint64_t off, int size, uint64_t val);

/* An empty bus; NULL on allocation failure. */
struct mmiobus *mmio_create(void);
/* Free the bus (not the devices on it). */
void mmio_destroy(struct mmiobus *b);
/* Claim [base, base + len); negative errno if it overlaps a claimed range. */
int mmio_register(struct mmiobus *b, uint64_t base, uint64_t len, mmio_read_fn rd,
		  mmio_write_fn wr, void *opaque);
/* Give back every range registered with opaque (a device that could not be added). */
void mmio_release(struct mmiobus *b, const void *opaque);
/* From now on every access to a range registered with opaque sets *touched (NULL: stop):
 * a timed device's registers may move its deadline (board.c, as io_watch). */
void mmio_watch(struct mmiobus *b, const void *opaque, bool *touched);
/* Move opaque's range to new_base (a relocatable register block such as the local
 * APIC's); negative errno, and the range left where it was, if it would overlap. */
int mmio_move(struct mmiobus *b, const void *opaque, uint64_t new_base);
/* One access of size bytes at guest-physical pa; false if no device claims it. */
bool mmio_read(struct mmiobus *b, uint64_t pa, int size, uint64_t *val);
bool mmio_write(struct mmiobus *b, uint64_t pa, int size, uint64_t val);

#endif
