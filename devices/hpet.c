/*
 * hpet.c - the HPET (see hpet.h), after the IA-PC HPET specification 1.0a, 2.3
 * ("Register Definition and Address Space") and 2.3.9 ("Timer N Configuration and
 * Capabilities"). Where the specification leaves a choice the answer is QEMU's: a
 * comparator write in periodic mode sets the period, and the comparator itself only
 * after Tn_VAL_SET_CNF; a periodic timer late by several periods interrupts once and
 * goes on from the next match; the status bit of a level-triggered timer is set only
 * when it interrupts.
 */
#include "hpet.h"

#include <stdbool.h>
#include <stdlib.h>

#include "mmio.h"

#define HPET_LEN        0x400
#define NTIMERS         3
#define PERIOD_FS       10000000ull     /* 10 ns */
#define NS_PER_TICK     10u

enum { REG_CAP = 0x000, REG_CONF = 0x010, REG_ISR = 0x020, REG_COUNTER = 0x0f0, REG_TIMER0 = 0x100 };
enum { T_CONF = 0x00, T_CMP = 0x08, T_FSB = 0x10 };

/* General capabilities: REV_ID 1, NUM_TIM_CAP 2 (three timers), COUNT_SIZE_CAP (64
 * bits), vendor 8086, no legacy replacement; the period above. */
#define CAP_LOW         (0x01u | (NTIMERS - 1u) << 8 | 1u << 13 | 0x8086u << 16)
#define CONF_ENABLE     0x1ull

/* Timer configuration (2.3.9.1). */
#define TN_LEVEL        (1ull << 1)
#define TN_INT_ENB      (1ull << 2)
#define TN_PERIODIC     (1ull << 3)
#define TN_PER_CAP      (1ull << 4)
#define TN_SIZE_CAP     (1ull << 5)
#define TN_VAL_SET      (1ull << 6)
#define TN_32BIT        (1ull << 8)
#define TN_ROUTE(c)     ((int)(((c) >> 9) & 31))
#define TN_WRITABLE     (TN_LEVEL | TN_INT_ENB | TN_PERIODIC | TN_VAL_SET | TN_32BIT | 31ull << 9)
/* The I/O APIC inputs a timer may use: 20-23, which nothing else on the board drives. */
#define ROUTE_CAP       0x00f00000ull

struct timer {
	uint64_t conf, cmp, period;
	uint64_t due;                   /* vclock ns of the next match, VCLOCK_NEVER */
	bool line;                      /* the level driven on its input */
};

struct hpet {
	struct vclock clk;
	struct irq_line gsi;
	uint64_t conf, isr;
	uint64_t base_count, base_ns;   /* the counter was base_count at base_ns (or stands
					   at base_count while disabled) */
	struct timer t[NTIMERS];
};

static bool enabled(const struct hpet *h) { return h->conf & CONF_ENABLE; }

static uint64_t counter_at(const struct hpet *h, uint64_t now)
{
	if (!enabled(h))
		return h->base_count;
	return h->base_count + (now - h->base_ns) / NS_PER_TICK;
}

static uint64_t width_mask(const struct timer *t) { return (t->conf & TN_32BIT) ? 0xffffffffull : ~0ull; }

/* When the counter next equals the comparator, from the counter at now: in 32-bit
 * mode the counter's low half matches again every 2^32 ticks. */
static uint64_t next_match(const struct hpet *h, const struct timer *t, uint64_t now)
{
	if (!enabled(h) || !(t->conf & TN_INT_ENB))
		return VCLOCK_NEVER;
	uint64_t c = counter_at(h, now), m = width_mask(t);
	uint64_t ticks = (t->cmp - c) & m;
	if (!ticks)
		ticks = m == ~0ull ? 0 : m + 1;
	if (ticks > (VCLOCK_NEVER - now) / NS_PER_TICK)
		return VCLOCK_NEVER;
	/* The tick the counter reaches the value, on the counter's own grid. */
	uint64_t elapsed = (now - h->base_ns) % NS_PER_TICK;
	return now - elapsed + ticks * NS_PER_TICK;
}

static void set_line(struct hpet *h, struct timer *t, bool level)
{
	if (t->line == level)
		return;
	t->line = level;
	if (h->gsi.set)
		h->gsi.set(h->gsi.opaque, TN_ROUTE(t->conf), level);
}

/* A match: level-triggered, the status bit and the line stay up until software writes
 * the bit; edge-triggered, a pulse. */
static void fire(struct hpet *h, int n)
{
	struct timer *t = &h->t[n];
	if (t->conf & TN_LEVEL) {
		h->isr |= 1ull << n;
		set_line(h, t, true);
	} else {
		set_line(h, t, true);
		set_line(h, t, false);
	}
}

static void reschedule(struct hpet *h, uint64_t now)
{
	for (int n = 0; n < NTIMERS; n++)
		h->t[n].due = next_match(h, &h->t[n], now);
}

void hpet_update(struct hpet *h, uint64_t now)
{
	for (int n = 0; n < NTIMERS; n++) {
		struct timer *t = &h->t[n];
		if (t->due == VCLOCK_NEVER || now < t->due)
			continue;
		fire(h, n);
		uint64_t m = width_mask(t);
		if ((t->conf & TN_PERIODIC) && (t->period & m)) {
			/* The next match after now, whole periods on. */
			uint64_t c = counter_at(h, now), p = t->period & m;
			uint64_t behind = (c - t->cmp) & m;
			t->cmp = (t->cmp + (behind / p + 1) * p) & m;
			t->due = next_match(h, t, now);
		} else {
			/* One-shot: the next match is a full counter wrap away. */
			t->due = m == ~0ull ? VCLOCK_NEVER : t->due + (m + 1) * NS_PER_TICK;
		}
	}
}

uint64_t hpet_next_deadline(const struct hpet *h)
{
	uint64_t d = VCLOCK_NEVER;
	for (int n = 0; n < NTIMERS; n++)
		if (h->t[n].due < d)
			d = h->t[n].due;
	return d;
}

static uint64_t now_ns(const struct hpet *h) { return vclock_now(&h->clk); }

static uint64_t reg_read(struct hpet *h, uint32_t off)
{
	switch (off) {
	case REG_CAP:
		return PERIOD_FS << 32 | CAP_LOW;
	case REG_CONF:
		return h->conf;
	case REG_ISR:
		return h->isr;
	case REG_COUNTER:
		return counter_at(h, now_ns(h));
	}
	if (off >= REG_TIMER0 && off < REG_TIMER0 + NTIMERS * 0x20) {
		const struct timer *t = &h->t[(off - REG_TIMER0) / 0x20];
		switch ((off - REG_TIMER0) % 0x20) {
		case T_CONF:
			return t->conf;
		case T_CMP:
			return t->cmp & width_mask(t);
		}
	}
	return 0;
}

static void general_conf_write(struct hpet *h, uint64_t v, uint64_t now)
{
	uint64_t c = counter_at(h, now);
	h->conf = v & CONF_ENABLE;
	h->base_count = c;
	h->base_ns = now;
	if (!enabled(h))
		for (int n = 0; n < NTIMERS; n++)
			set_line(h, &h->t[n], false);
}

static void timer_conf_write(struct hpet *h, int n, uint64_t v)
{
	struct timer *t = &h->t[n];
	uint64_t old = t->conf;
	uint64_t route_ok = ROUTE_CAP >> TN_ROUTE(v) & 1;
	if (!route_ok)
		v = (v & ~(31ull << 9)) | (old & (31ull << 9));    /* a route it cannot take */
	if (t->line && (TN_ROUTE(v) != TN_ROUTE(old) || !(v & TN_LEVEL) || !(v & TN_INT_ENB)))
		set_line(h, t, false);
	t->conf = (old & ~TN_WRITABLE) | (v & TN_WRITABLE);
	if (t->conf & TN_32BIT) {
		t->cmp &= 0xffffffffull;
		t->period &= 0xffffffffull;
	}
}

/* Comparator (2.3.9.2): in periodic mode a write sets the period, and the comparator
 * too only with Tn_VAL_SET_CNF, which the write clears. */
static void timer_cmp_write(struct hpet *h, int n, uint64_t v, uint64_t keep_mask)
{
	struct timer *t = &h->t[n];
	if (t->conf & TN_32BIT)
		v &= 0xffffffffull;
	if (!(t->conf & TN_PERIODIC) || (t->conf & TN_VAL_SET))
		t->cmp = (t->cmp & keep_mask) | v;
	if (t->conf & TN_PERIODIC)
		t->period = (t->period & keep_mask) | v;
	t->conf &= ~TN_VAL_SET;
}

static void reg_write(struct hpet *h, uint32_t off, uint64_t v, uint64_t keep_mask)
{
	uint64_t now = now_ns(h);
	switch (off) {
	case REG_CONF:
		general_conf_write(h, v, now);
		break;
	case REG_ISR:
		/* Write 1 to clear a level-triggered timer's status, and its line. */
		for (int n = 0; n < NTIMERS; n++)
			if ((v >> n & 1) && (h->isr >> n & 1)) {
				h->isr &= ~(1ull << n);
				set_line(h, &h->t[n], false);
			}
		break;
	case REG_COUNTER:
		/* Software writes the counter only while it is halted (2.3.5). */
		if (!enabled(h))
			h->base_count = (h->base_count & keep_mask) | v;
		break;
	default:
		if (off >= REG_TIMER0 && off < REG_TIMER0 + NTIMERS * 0x20) {
			int n = (int)(off - REG_TIMER0) / 0x20;
			uint32_t r = (off - REG_TIMER0) % 0x20;
			if (r == T_CONF)
				timer_conf_write(h, n, (h->t[n].conf & keep_mask) | v);
			else if (r == T_CMP)
				timer_cmp_write(h, n, v, keep_mask);
		}
	}
	reschedule(h, now);
}

/* 32- and 64-bit accesses; a 32-bit one at +4 is the register's high half. */
static uint64_t mmio_rd(void *opaque, uint64_t off, int size)
{
	uint64_t v = reg_read(opaque, (uint32_t)off & ~7u);
	if (size == 8)
		return v;
	v >>= (off & 4) * 8;
	return size == 4 ? (uint32_t)v : v & ((1ull << (size * 8)) - 1);
}

static void mmio_wr(void *opaque, uint64_t off, int size, uint64_t val)
{
	struct hpet *h = opaque;
	if (size == 8)
		reg_write(h, (uint32_t)off, val, 0);
	else if (size == 4 && (off & 4))
		reg_write(h, (uint32_t)off & ~7u, (uint64_t)(uint32_t)val << 32, 0xffffffffull);
	else if (size == 4)
		reg_write(h, (uint32_t)off, (uint32_t)val, 0xffffffff00000000ull);
}

struct hpet *hpet_create(struct mmiobus *mmio, const struct vclock *clk, struct irq_line gsi)
{
	struct hpet *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->clk = *clk;
	h->gsi = gsi;
	for (int n = 0; n < NTIMERS; n++) {
		h->t[n].conf = TN_PER_CAP | TN_SIZE_CAP | ROUTE_CAP << 32 | 20ull << 9;
		h->t[n].cmp = ~0ull;
		h->t[n].due = VCLOCK_NEVER;
	}
	if (mmio_register(mmio, HPET_BASE, HPET_LEN, mmio_rd, mmio_wr, h) < 0) {
		free(h);
		return NULL;
	}
	return h;
}

void hpet_destroy(struct hpet *h) { free(h); }
