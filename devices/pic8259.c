/*
 * pic8259.c - two 8259A PICs in the PC's cascade, and the ELCR.
 *
 * Owns both chips' registers (IRR, ISR, IMR, the ICW/OCW modes) and the level of every
 * input line. Everything changes through three doors: a device moving a line
 * (pic_set_irq), the guest touching a port, and the CPU's acknowledge (pic_ack). Each
 * ends in update(), which moves the slave's INT output onto the master's IR2 and caches
 * the master's INT output, so pic_intr() is one load.
 *
 * Register and command bits are from the Intel 8259A datasheet (231468), section
 * "Programming the 8259A": ICW1-ICW4, OCW1-OCW3. What a PC chipset changes (ELCR
 * replaces ICW1 LTIM, reserved ELCR bits) is from the Intel ICH/PIIX datasheets'
 * 8259 and ELCR register descriptions. Only 8086 mode is modelled: the MCS-80 CALL
 * sequence (ICW4 uPM = 0) has no use on an x86 and is answered like 8086 mode.
 */
#include "pic8259.h"

#include <assert.h>
#include <stdlib.h>

#define MASTER_BASE 0x20
#define SLAVE_BASE  0xa0
#define ELCR_BASE   0x4d0
#define CASCADE_IR  2

#define ICW1_IC4    0x01        /* ICW4 follows */
#define ICW1_SNGL   0x02        /* single 8259A: no ICW3 */
#define ICW1_INIT   0x10        /* with A0 = 0: this is ICW1 */
#define ICW4_AEOI   0x02
#define ICW4_SFNM   0x10
#define OCW3_SEL    0x08        /* with A0 = 0 and bit 4 clear: OCW3, else OCW2 */
#define OCW3_RIS    0x01
#define OCW3_RR     0x02
#define OCW3_P      0x04
#define OCW3_SMM    0x20
#define OCW3_ESMM   0x40
#define POLL_I      0x80        /* poll word: a request was pending */

/* OCW2 R/SL/EOI (bits 7-5). */
enum {
	OCW2_AEOI_ROT_CLEAR = 0, OCW2_EOI = 1, OCW2_NOP = 2, OCW2_SEOI = 3,
	OCW2_AEOI_ROT_SET = 4, OCW2_ROT_EOI = 5, OCW2_SET_PRIO = 6, OCW2_ROT_SEOI = 7,
};

/* Which ICW the odd port takes next; READY means it takes OCW1 (the IMR). */
enum { READY, WANT_ICW2, WANT_ICW3, WANT_ICW4 };

struct chip {
	uint8_t irr, isr, imr;
	uint8_t lines;          /* input levels, for edge detection and level-triggered IRR */
	uint8_t elcr, elcr_mask;
	uint8_t base;           /* ICW2 T7-T3: vector of IR0 */
	uint8_t icw3;           /* master: a slave on each set bit; slave: its ID */
	uint8_t lowest;         /* IR with the lowest priority; rotation moves it */
	uint8_t want;           /* READY or the next ICW */
	bool master;
	bool single, icw4, aeoi, rotate_aeoi, sfnm, smm, read_isr, poll;
};

struct pic {
	struct chip c[2];       /* master, slave */
	bool intr;              /* the master's INT output, kept by update() */
};

/* The highest-priority IR set in mask, or -1: priority runs from lowest + 1 round to lowest. */
static int highest(const struct chip *c, uint8_t mask)
{
	for (int i = 1; i <= 8; i++) {
		int ir = (c->lowest + i) & 7;
		if (mask & (1u << ir))
			return ir;
	}
	return -1;
}

static int rank(const struct chip *c, int ir) { return (ir - c->lowest - 1) & 7; }

static bool cascaded(const struct chip *m) { return !m->single && (m->icw3 & (1u << CASCADE_IR)); }

/* The IR this chip would interrupt for now, or -1: its INT output. */
static int request(const struct chip *c)
{
	int ir = highest(c, c->irr & ~c->imr);
	if (ir < 0)
		return -1;
	/* Special mask mode: a masked level in service no longer holds off lower ones. */
	int cur = highest(c, c->smm ? c->isr & ~c->imr : c->isr);
	if (cur < 0 || rank(c, ir) < rank(c, cur))
		return ir;
	/* Special fully nested mode (ICW4 SFNM): the slave in service may interrupt again,
	 * for a request the slave ranks higher; the slave's own ISR decides that. */
	if (c->master && c->sfnm && ir == cur && ir == CASCADE_IR && cascaded(c))
		return ir;
	return -1;
}

/* An input pin moves. Edge mode latches IRR on the rising edge; a latched request
 * stays when the line falls, although the datasheet wants IR held until the first INTA:
 * devices here may pulse their line (as KVM's PIT does) and must not lose the tick. */
static void set_line(struct chip *c, int ir, bool level)
{
	uint8_t bit = (uint8_t)(1u << ir);
	if (c->elcr & bit)
		c->irr = level ? c->irr | bit : c->irr & ~bit;
	else if (level && !(c->lines & bit))
		c->irr |= bit;
	c->lines = level ? c->lines | bit : c->lines & ~bit;
}

/* The INTA sequence on one chip: IS bit set (not in AEOI, where the EOI comes at the
 * end of the second INTA), the edge latch cleared; a level input keeps IRR = line. */
static void intack(struct chip *c, int ir)
{
	uint8_t bit = (uint8_t)(1u << ir);
	if (!c->aeoi)
		c->isr |= bit;
	else if (c->rotate_aeoi)
		c->lowest = (uint8_t)ir;
	if (!(c->elcr & bit))
		c->irr &= ~bit;
}

static void update(struct pic *p)
{
	set_line(&p->c[0], CASCADE_IR, request(&p->c[1]) >= 0);
	p->intr = request(&p->c[0]) >= 0;
}

/* ICW1: "the edge sense circuit is reset, IMR cleared, IR7 lowest priority, special mask
 * mode cleared, status read set to IRR, ICW4 functions zero if IC4 = 0". LTIM (bit 3)
 * is ignored: the chipset's ELCR replaces it. The datasheet does not say the ISR is
 * cleared; emulators clear it, and a guest re-initializing expects nothing in service. */
static void icw1(struct chip *c, uint8_t v)
{
	c->want = WANT_ICW2;
	c->single = v & ICW1_SNGL;
	c->icw4 = v & ICW1_IC4;
	c->imr = 0;
	c->isr = 0;
	c->irr = c->lines & c->elcr;    /* a high edge input must fall and rise again */
	c->lowest = 7;
	c->aeoi = c->sfnm = c->rotate_aeoi = false;
	c->smm = c->read_isr = c->poll = false;
}

static void ocw2(struct chip *c, uint8_t v)
{
	int ir = v & 7;
	switch (v >> 5) {
	case OCW2_AEOI_ROT_CLEAR:
	case OCW2_AEOI_ROT_SET:
		c->rotate_aeoi = (v >> 5) == OCW2_AEOI_ROT_SET;
		break;
	case OCW2_EOI:
	case OCW2_ROT_EOI:
		/* "An IS bit that is masked by an IMR bit will not be cleared by a
		 * non-specific EOI if the 8259A is in the Special Mask Mode." */
		ir = highest(c, c->smm ? c->isr & ~c->imr : c->isr);
		if (ir < 0)
			break;
		c->isr &= (uint8_t)~(1u << ir);
		if ((v >> 5) == OCW2_ROT_EOI)
			c->lowest = (uint8_t)ir;
		break;
	case OCW2_SEOI:
		c->isr &= (uint8_t)~(1u << ir);
		break;
	case OCW2_ROT_SEOI:
		c->isr &= (uint8_t)~(1u << ir);
		c->lowest = (uint8_t)ir;
		break;
	case OCW2_SET_PRIO:
		c->lowest = (uint8_t)ir;
		break;
	case OCW2_NOP:
		break;
	}
}

static void ocw3(struct chip *c, uint8_t v)
{
	if (v & OCW3_P)
		c->poll = true;
	if (v & OCW3_RR)
		c->read_isr = v & OCW3_RIS;
	if (v & OCW3_ESMM)
		c->smm = v & OCW3_SMM;
}

/* The odd port: OCW1 once initialized, else the next ICW of the sequence. */
static void write_odd(struct chip *c, uint8_t v)
{
	switch (c->want) {
	case READY:
		c->imr = v;
		break;
	case WANT_ICW2:
		c->base = v & 0xf8;     /* 8086 mode: T7-T3; the IR number fills bits 2-0 */
		c->want = !c->single ? WANT_ICW3 : c->icw4 ? WANT_ICW4 : READY;
		break;
	case WANT_ICW3:
		c->icw3 = v;
		c->want = c->icw4 ? WANT_ICW4 : READY;
		break;
	case WANT_ICW4:
		c->aeoi = v & ICW4_AEOI;
		c->sfnm = v & ICW4_SFNM;
		c->want = READY;
		break;
	}
}

/* OCW3 P: the next read pulse on either port is an acknowledge, and reads the poll
 * word (I in bit 7, the IR in bits 2-0). On the master it takes IR2 for a slave
 * request without touching the slave, which software polls next. */
static uint8_t poll_read(struct pic *p, struct chip *c)
{
	c->poll = false;
	int ir = request(c);
	if (ir < 0)
		return 0;
	intack(c, ir);
	update(p);
	return (uint8_t)(POLL_I | ir);
}

/* The chip behind a command or data port, or NULL for the ELCR's two ports. */
static struct chip *chip_at(struct pic *p, uint16_t port)
{
	if ((port & ~1) == MASTER_BASE)
		return &p->c[0];
	if ((port & ~1) == SLAVE_BASE)
		return &p->c[1];
	return NULL;
}

static uint8_t read_byte(struct pic *p, uint16_t port)
{
	struct chip *c = chip_at(p, port);
	if (!c)
		return (port & ~1) == ELCR_BASE ? p->c[port & 1].elcr : 0xff;
	if (c->poll)
		return poll_read(p, c);
	if (port & 1)
		return c->imr;
	return c->read_isr ? c->isr : c->irr;
}

static void write_byte(struct pic *p, uint16_t port, uint8_t v)
{
	struct chip *c = chip_at(p, port);
	if (!c) {
		if ((port & ~1) != ELCR_BASE)
			return;
		c = &p->c[port & 1];
		c->elcr = v & c->elcr_mask;
		c->irr = (uint8_t)((c->irr & ~c->elcr) | (c->lines & c->elcr));
	} else if (port & 1) {
		write_odd(c, v);
	} else if (v & ICW1_INIT) {
		icw1(c, v);
	} else if (v & OCW3_SEL) {
		ocw3(c, v);
	} else {
		ocw2(c, v);
	}
	update(p);
}

/* The registers are bytes; a wider access reaches the following ports, as the bus
 * splits it for an 8-bit device. */
static uint32_t pic_io_read(void *opaque, uint16_t port, int size)
{
	uint32_t v = 0;
	for (int i = 0; i < size; i++)
		v |= (uint32_t)read_byte(opaque, (uint16_t)(port + i)) << (8 * i);
	return v;
}

static void pic_io_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	for (int i = 0; i < size; i++)
		write_byte(opaque, (uint16_t)(port + i), (uint8_t)(val >> (8 * i)));
}

void pic_set_irq(void *opaque, int irq, int level)
{
	struct pic *p = opaque;
	assert(irq >= 0 && irq < 16);
	if (irq == CASCADE_IR)
		irq = 9;
	set_line(&p->c[irq >> 3], irq & 7, level != 0);
	update(p);
}

bool pic_intr(const struct pic *p) { return p->intr; }

static bool as_intc_pending(const void *opaque) { return ((const struct pic *)opaque)->intr; }
static int as_intc_ack(void *opaque) { return pic_ack(opaque); }

struct intc pic_intc(struct pic *p)
{
	return (struct intc){ pic_set_irq, as_intc_pending, as_intc_ack, p, NULL, NULL };
}

/* With no request left when INTA comes, a chip answers with its IR7 vector and sets no
 * IS bit ("default IR7"). Through the cascade the master has already taken IR2 into
 * service, so the guest sees IRQ 15 and must still EOI the master. */
int pic_ack(struct pic *p)
{
	struct chip *m = &p->c[0], *s = &p->c[1];
	int ir = request(m), vec;
	if (ir < 0)
		return m->base | 7;
	intack(m, ir);
	if (ir == CASCADE_IR && cascaded(m)) {
		int sir = request(s);
		if (sir >= 0)
			intack(s, sir);
		vec = s->base | (sir >= 0 ? sir : 7);
		/* The slave's INT falls during its acknowledge; if a request remains (AEOI,
		 * special mask mode) it rises again, a new edge on IR2 rather than a lost one. */
		m->lines &= (uint8_t)~(1u << CASCADE_IR);
	} else {
		vec = m->base | ir;
	}
	update(p);
	return vec;
}

/* Power-on, before any BIOS: nothing masked (as QEMU resets it), vectors at 0, the
 * slave wired to IR2, IR0 (IR8) first. ELCR bits for IRQ 0, 1, 2, 8 and 13 are
 * reserved (edge only) on the chipset. */
struct pic *pic_create(struct iobus *io)
{
	struct pic *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	for (int i = 0; i < 2; i++) {
		p->c[i].master = i == 0;
		p->c[i].lowest = 7;
		p->c[i].icw3 = i == 0 ? 1u << CASCADE_IR : CASCADE_IR;
		p->c[i].elcr_mask = i == 0 ? 0xf8 : 0xde;
	}
	static const struct io_ports ports[] = {
		{ MASTER_BASE, 2, pic_io_read, pic_io_write }, { SLAVE_BASE, 2, pic_io_read, pic_io_write },
		{ ELCR_BASE, 2, pic_io_read, pic_io_write },
	};
	if (io_claim(io, ports, 3, p) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

void pic_destroy(struct pic *p) { free(p); }
