/*
 * ioapic.c - the I/O APIC (see ioapic.h), after the Intel 82093AA I/O APIC datasheet
 * (290566): IOREGSEL/IOWIN indirect access, IOAPICID, IOAPICVER, IOAPICARB and the
 * redirection table (section 3.2.4), and the EOI register of later chipsets (ICH
 * datasheets, "I/O APIC EOI register", version 0x20).
 *
 * Owns the pins' levels and the table. A pin's entry is the rule: edge-triggered,
 * a rising edge on an unmasked pin sends one message (edges on a masked pin are lost,
 * as the datasheet says); level-triggered, an asserted unmasked line sends a message
 * and sets remote IRR, and no other goes until the local APIC's EOI clears it. The
 * polarity bit is stored but levels here are logical (1 asserted): a guest that
 * programs the polarity the board's tables describe gets the right behaviour.
 */
#include "ioapic.h"

#include <stdbool.h>
#include <stdlib.h>

#include "lapic.h"
#include "mmio.h"

#define REG_SEL   0x00
#define REG_WIN   0x10
#define REG_EOI   0x40

#define IOAPICID  0x00
#define IOAPICVER 0x01
#define IOAPICARB 0x02
#define IOREDTBL  0x10
#define VERSION   0x20

/* Redirection entry bits (82093AA 3.2.4). */
#define RTE_VECTOR(e)   ((int)((e) & 0xff))
#define RTE_MODE(e)     ((int)(((e) >> 8) & 7))
#define RTE_LOGICAL     (1ull << 11)
#define RTE_PENDING     (1ull << 12)    /* delivery status: read-only */
#define RTE_REMOTE_IRR  (1ull << 14)    /* read-only */
#define RTE_LEVEL       (1ull << 15)
#define RTE_MASKED      (1ull << 16)
#define RTE_DEST(e)     ((uint8_t)((e) >> 56))
#define RTE_WRITABLE    (0xff000000000000ffull | 0x7ull << 8 | RTE_LOGICAL | 1ull << 13 | \
			 RTE_LEVEL | RTE_MASKED)
enum { DM_FIXED = 0, DM_LOWEST = 1 };

struct ioapic {
	struct lapic *lapic;
	uint32_t id;            /* bits 27-24 */
	uint32_t sel;
	uint32_t lines;         /* pin levels */
	uint64_t rte[IOAPIC_PINS];
};

/* Send pin's message to the local APIC. Fixed and lowest priority (one CPU: the same)
 * are delivered; SMI, NMI, INIT and ExtINT through the I/O APIC are not modelled. */
static void deliver(struct ioapic *io, int pin)
{
	uint64_t e = io->rte[pin];
	if (RTE_MODE(e) != DM_FIXED && RTE_MODE(e) != DM_LOWEST)
		return;
	if (!lapic_match(io->lapic, RTE_DEST(e), e & RTE_LOGICAL))
		return;
	bool level = e & RTE_LEVEL;
	if (level)
		io->rte[pin] |= RTE_REMOTE_IRR;
	lapic_deliver(io->lapic, RTE_VECTOR(e), level);
}

/* A level-triggered pin asks again while its line is up and nothing is in flight. */
static void service_level(struct ioapic *io, int pin)
{
	uint64_t e = io->rte[pin];
	if ((e & RTE_LEVEL) && !(e & (RTE_MASKED | RTE_REMOTE_IRR)) && (io->lines >> pin & 1))
		deliver(io, pin);
}

void ioapic_set_irq(void *opaque, int irq, int level)
{
	struct ioapic *io = opaque;
	if (irq < 0 || irq >= IOAPIC_PINS)
		return;
	uint32_t bit = 1u << irq;
	bool rising = level && !(io->lines & bit);
	io->lines = level ? io->lines | bit : io->lines & ~bit;
	uint64_t e = io->rte[irq];
	if (e & RTE_MASKED)
		return;
	if (e & RTE_LEVEL)
		service_level(io, irq);
	else if (rising)
		deliver(io, irq);
}

void ioapic_eoi(struct ioapic *io, int vector)
{
	for (int pin = 0; pin < IOAPIC_PINS; pin++) {
		uint64_t e = io->rte[pin];
		if (!(e & RTE_LEVEL) || RTE_VECTOR(e) != vector || !(e & RTE_REMOTE_IRR))
			continue;
		io->rte[pin] &= ~RTE_REMOTE_IRR;
		service_level(io, pin);
	}
}

static uint32_t reg_read(const struct ioapic *io, uint32_t r)
{
	switch (r) {
	case IOAPICID:
		return io->id;
	case IOAPICVER:
		return VERSION | (IOAPIC_PINS - 1) << 16;
	case IOAPICARB:
		return io->id;          /* the arbitration ID is loaded from the ID */
	}
	if (r >= IOREDTBL && r < IOREDTBL + 2 * IOAPIC_PINS) {
		uint64_t e = io->rte[(r - IOREDTBL) / 2];
		return (r & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
	}
	return 0;
}

static void reg_write(struct ioapic *io, uint32_t r, uint32_t v)
{
	if (r == IOAPICID) {
		io->id = v & 0x0f000000u;
		return;
	}
	if (r < IOREDTBL || r >= IOREDTBL + 2 * IOAPIC_PINS)
		return;                 /* version, arbitration: read-only */
	int pin = (int)(r - IOREDTBL) / 2;
	uint64_t e = io->rte[pin];
	uint64_t w = (r & 1) ? (uint64_t)v << 32 | (uint32_t)e : (e & 0xffffffff00000000ull) | v;
	io->rte[pin] = (e & ~RTE_WRITABLE) | (w & RTE_WRITABLE);
	/* An edge entry has no remote IRR; a level entry unmasked with its line up asks. */
	if (!(io->rte[pin] & RTE_LEVEL))
		io->rte[pin] &= ~RTE_REMOTE_IRR;
	service_level(io, pin);
}

static uint64_t mmio_rd(void *opaque, uint64_t off, int size)
{
	struct ioapic *io = opaque;
	(void)size;
	switch (off) {
	case REG_SEL:
		return io->sel;
	case REG_WIN:
		return reg_read(io, io->sel);
	}
	return 0;
}

static void mmio_wr(void *opaque, uint64_t off, int size, uint64_t val)
{
	struct ioapic *io = opaque;
	(void)size;
	switch (off) {
	case REG_SEL:
		io->sel = (uint32_t)val & 0xff;
		break;
	case REG_WIN:
		reg_write(io, io->sel, (uint32_t)val);
		break;
	case REG_EOI:
		ioapic_eoi(io, (int)(val & 0xff));
		break;
	}
}

struct ioapic *ioapic_create(struct mmiobus *mmio, struct lapic *lapic, uint8_t id)
{
	struct ioapic *io = calloc(1, sizeof(*io));
	if (!io)
		return NULL;
	io->lapic = lapic;
	io->id = (uint32_t)(id & 0xf) << 24;
	for (int pin = 0; pin < IOAPIC_PINS; pin++)
		io->rte[pin] = RTE_MASKED;
	if (mmio_register(mmio, IOAPIC_BASE, 0x1000, mmio_rd, mmio_wr, io) < 0) {
		free(io);
		return NULL;
	}
	return io;
}

void ioapic_destroy(struct ioapic *io) { free(io); }
