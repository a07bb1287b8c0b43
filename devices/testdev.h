/*
 * testdev.h - QEMU's pc-testdev, the device kvm-unit-tests use to test what a CPU
 * emulator does with I/O: a 32-bit data port at 0xe0 (byte lanes kept apart, so a
 * 1-, 2- or 4-byte access sees and changes its own bytes), a flush-page port at 0xe4
 * (its writes are accepted and change nothing here: trapeze's mappings of RAM need no
 * flush to be seen), 24 interrupt-line ports at 0x2000 (writing v to 0x2000 + n drives
 * line n: v != 0 asserts it) and 64 KiB of memory-mapped RAM at physical 0xff000000,
 * which every access reaches through the monitor's emulation (the emulator test runs
 * instructions against it). The layout is QEMU's hw/misc/pc-testdev.c.
 */
#ifndef TRAPEZE_TESTDEV_H
#define TRAPEZE_TESTDEV_H

#include "ioport.h"
#include "mmio.h"

#define TESTDEV_IRQS     24
#define TESTDEV_MEM_BASE 0xff000000u
#define TESTDEV_MEM_LEN  0x10000u

struct testdev;

/* Claim the ports on io and the memory on mmio; line n of irq[] is what a write to
 * 0x2000 + n drives. NULL on failure (nothing claimed). */
struct testdev *testdev_create(struct iobus *io, struct mmiobus *mmio,
			       const struct irq_line irq[TESTDEV_IRQS]);
void testdev_destroy(struct testdev *t);

#endif
