/*
 * testdev.c - QEMU's pc-testdev (testdev.h).
 */
#include "testdev.h"

#include <stdlib.h>
#include <string.h>

struct testdev {
	struct iobus *io;
	struct mmiobus *mmio;
	uint32_t data;                  /* the port at 0xe0 */
	struct irq_line irq[TESTDEV_IRQS];
	uint8_t mem[TESTDEV_MEM_LEN];
};

/* The bits of an access of size bytes at byte lane `lane` of the data port. */
static uint32_t lane_mask(int lane, int size)
{
	uint32_t m = size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
	return m << (8 * lane);
}

static uint32_t data_read(void *opaque, uint16_t port, int size)
{
	struct testdev *t = opaque;
	int lane = port & 3;
	return (t->data & lane_mask(lane, size)) >> (8 * lane);
}

static void data_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	struct testdev *t = opaque;
	int lane = port & 3;
	uint32_t m = lane_mask(lane, size);
	t->data = (t->data & ~m) | ((val << (8 * lane)) & m);
}

static void flush_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	(void)opaque, (void)port, (void)size, (void)val;
}

static void irq_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	struct testdev *t = opaque;
	(void)size;
	int n = port - 0x2000;
	if (n >= 0 && n < TESTDEV_IRQS && t->irq[n].set)
		irq_set(&t->irq[n], val != 0);
}

static uint64_t mem_read(void *opaque, uint64_t off, int size)
{
	struct testdev *t = opaque;
	uint64_t v = 0;
	if (off < TESTDEV_MEM_LEN && (uint64_t)size <= TESTDEV_MEM_LEN - off)
		memcpy(&v, &t->mem[off], (size_t)size);        /* little-endian host */
	return v;
}

static void mem_write(void *opaque, uint64_t off, int size, uint64_t val)
{
	struct testdev *t = opaque;
	if (off < TESTDEV_MEM_LEN && (uint64_t)size <= TESTDEV_MEM_LEN - off)
		memcpy(&t->mem[off], &val, (size_t)size);
}

struct testdev *testdev_create(struct iobus *io, struct mmiobus *mmio,
			       const struct irq_line irq[TESTDEV_IRQS])
{
	struct testdev *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->io = io;
	t->mmio = mmio;
	memcpy(t->irq, irq, sizeof(t->irq));
	static const struct io_ports ports[] = {
		{ 0xe0, 4, data_read, data_write },
		{ 0xe4, 4, NULL, flush_write },
		{ 0x2000, TESTDEV_IRQS, NULL, irq_write },
	};
	if (io_claim(io, ports, 3, t) < 0) {
		free(t);
		return NULL;
	}
	if (mmio_register(mmio, TESTDEV_MEM_BASE, TESTDEV_MEM_LEN, mem_read, mem_write, t) < 0) {
		io_release(io, t);
		free(t);
		return NULL;
	}
	return t;
}

void testdev_destroy(struct testdev *t)
{
	free(t);
}
