/*
 * pit8254.c - Intel 8254/82C54 programmable interval timer and the timer bits of port
 * 0x61. Register formats, modes and the read-back command follow the Intel 82C54
 * datasheet ("Control Word Format", "Read-Back Command", "Mode Definitions"); port
 * 0x61 is the chipset's NMI_SC register (Intel ICH/PCH datasheets).
 *
 * Nothing counts per tick. Each counter runs "epochs": a count n the counting element
 * (CE) works through, from tick `start` on, with `phase` ticks already behind it, so
 *   elapsed = phase + (now - start)          (frozen at phase while the gate stops it)
 * and the count read back, OUT, and the number of OUT rising edges are functions of
 * (mode, n, elapsed). Loading the CE (a count written, a gate trigger, a periodic
 * reload with a new count) begins a new epoch; the rising edges of the old one are
 * added to `edges` first, so edges + edges-in-epoch only grows, and pit_update()
 * compares it with what irq0 has been shown.
 *
 * Time: tick k of the 1193182 Hz input is [k, k+1) * 1e9 / 1193182 ns of the vclock.
 * A count written during tick t is loaded into the CE on the next CLK pulse, so its
 * epoch starts at t + 1 (datasheet: "for an initial count of N, OUT does not go high
 * until N + 1 CLK pulses after the initial count is written").
 *
 * Where the chip is undefined, or the model is simpler than the chip:
 * - At power-on mode, count and OUT are undefined; here every counter idles in mode 3
 *   with OUT high and no count, so nothing interrupts until the guest programs it.
 * - Until the load CLK pulse the count already reads N, and in mode 1 OUT already low.
 * - Modes 1 and 5 wait for a rising GATE, so on counters 0 and 1 (GATE tied high)
 *   they never start, as on the board.
 * - Counts of 1 in modes 2 and 3 (below the datasheet's minimum of 2) run as 2.
 * - BCD counting is supported in full; a written count with a nibble above 9 is taken
 *   modulo 10000.
 * - A control word also drops any latched count or status ("all Control Logic is
 *   immediately reset").
 * - Mode 0: the first byte of a two-byte count stops counting and sets OUT low, as the
 *   8254 sheet says; the 82C54's extra case (an LSB written after the count rolled
 *   over to FFFFh does not stop it) is not modelled.
 */
#include "pit8254.h"

#include <stdbool.h>
#include <stdlib.h>

#define PIT_HZ          1193182u
#define NS_PER_S        1000000000u
/* The BIOS programs counter 1 for a 15.085 us DRAM refresh (count 18); NMI_SC's
 * REF_TOGGLE flips once per refresh cycle. */
#define REFRESH_TICKS   18

#define PIT_BASE        0x40
#define PIT_CONTROL     0x43
#define NMI_SC          0x61
#define NMI_SC_GATE2    0x01    /* TIM_CNT2_EN: counter 2's GATE */
#define NMI_SC_RW       0x0f    /* GATE2, SPKR_DAT_EN, PCI_SERR_EN, IOCHK_NMI_EN */
#define NMI_SC_REF      0x10    /* REF_TOGGLE */
#define NMI_SC_OUT2     0x20    /* TMR2_OUT_STS */

/* Control word RW1:RW0 */
enum { RW_LATCH, RW_LSB, RW_MSB, RW_WORD };
/* Read-back command: D5 = /COUNT, D4 = /STATUS, D3-D1 = CNT2..CNT0 */
#define RB_NO_COUNT     0x20
#define RB_NO_STATUS    0x10
/* Status byte */
#define ST_OUT          0x80
#define ST_NULL         0x40

struct pit_chan {
	uint8_t rw, raw_mode, mode, bcd;        /* mode: raw_mode with 6,7 folded to 2,3 */
	bool gate;
	bool wmsb, rmsb;                /* write/read flip-flops: next byte is the MSB */
	uint8_t wlsb;                   /* LSB written, waiting for its MSB */
	bool count_latched, status_latched;
	uint16_t latch;
	uint8_t status;

	uint32_t cr;                    /* last count written, 1..65536 (1..10000 BCD) */
	bool cr_valid;                  /* a count was written since the control word */
	bool null_count;                /* CR not yet moved to the CE */
	bool counting;                  /* the CE holds a count: an epoch is on */
	bool running;                   /* ... and its elapsed time advances */
	uint32_t n;
	uint64_t start, phase;
	uint16_t hold;                  /* what reads return while not counting */
	bool pend, pend_low;            /* modes 2/3: new count due at pend_at, */
	uint64_t pend_at;               /* entering its low half if pend_low */
	uint64_t edges;                 /* OUT rising edges of finished epochs */
};

struct pit {
	struct pit_chan ch[3];
	uint8_t nmi_sc;
	struct vclock clk;
	struct irq_line irq0;
	int irq_level;                  /* what irq0 was last driven to */
	uint64_t delivered;             /* counter 0 rising edges passed on to irq0 */
};

/* The tick vclock time ns falls in. */
static uint64_t tick_at(uint64_t ns) { return (uint64_t)((unsigned __int128)ns * PIT_HZ / NS_PER_S); }

static uint64_t now_tick(const struct pit *p) { return tick_at(vclock_now(&p->clk)); }

/* The first vclock ns of tick t. */
static uint64_t tick_ns(uint64_t t)
{
	unsigned __int128 ns = ((unsigned __int128)t * NS_PER_S + PIT_HZ - 1) / PIT_HZ;
	return ns >= VCLOCK_NEVER ? VCLOCK_NEVER - 1 : (uint64_t)ns;
}

static uint32_t modulus(const struct pit_chan *c) { return c->bcd ? 10000 : 65536; }
static uint32_t high_len(uint32_t n) { return (n + 1) / 2; }   /* mode 3: (N+1)/2 high */

static uint16_t to_bcd(uint32_t v)
{
	return (uint16_t)(v % 10 | (v / 10 % 10) << 4 | (v / 100 % 10) << 8 | (v / 1000 % 10) << 12);
}

static uint64_t elapsed(const struct pit_chan *c, uint64_t t)
{
	if (!c->running || t <= c->start)
		return c->phase;
	return c->phase + (t - c->start);
}

/* The tick at which the running epoch reaches elapsed e (>= the present elapsed). */
static uint64_t tick_of(const struct pit_chan *c, uint64_t e) { return c->start + (e - c->phase); }

/* Does the gate stop counting? Modes 1 and 5 use it only as a trigger. */
static bool gate_counts(const struct pit_chan *c) { return c->mode != 1 && c->mode != 5; }

static bool out_at(const struct pit_chan *c, uint64_t e)
{
	if (!c->counting)
		return c->mode != 0;    /* "OUT is initially low" only in mode 0 */
	switch (c->mode) {
	case 0:
	case 1:
		return e >= c->n;
	case 2:                         /* low for the CLK at count 1; gate low forces high */
		return !c->gate || e % c->n != c->n - 1;
	case 3:
		return !c->gate || e % c->n < high_len(c->n);
	default:                        /* 4, 5: strobe low for the CLK at count 0 */
		return e != c->n;
	}
}

/* Rising edges of OUT in the current epoch up to elapsed e. */
static uint64_t epoch_edges(const struct pit_chan *c, uint64_t e)
{
	if (!c->counting)
		return 0;
	switch (c->mode) {
	case 0:
	case 1:
		return e >= c->n;
	case 2:
	case 3:
		return e / c->n;
	default:
		return e > c->n;
	}
}

/* Elapsed value of the first rising edge after e in this epoch; UINT64_MAX if none. */
static uint64_t next_edge(const struct pit_chan *c, uint64_t e)
{
	if (!c->counting || !c->running)
		return UINT64_MAX;
	switch (c->mode) {
	case 0:
	case 1:
		return e < c->n ? c->n : UINT64_MAX;
	case 2:
	case 3:
		return (e / c->n + 1) * c->n;
	default:
		return e <= c->n ? c->n + 1 : UINT64_MAX;
	}
}

/* The CE as the guest reads it, in the counter's number format. */
static uint16_t count_at(const struct pit_chan *c, uint64_t e)
{
	if (!c->counting)
		return c->hold;
	uint32_t m = modulus(c), v;
	if (c->mode == 2) {
		v = c->n - (uint32_t)(e % c->n);                /* N down to 1, reload */
	} else if (c->mode == 3) {
		/* Each half loads N (odd: N-1) and steps by two; datasheet "Mode 3". */
		uint32_t k = (uint32_t)(e % c->n);
		if (k >= high_len(c->n))
			k -= high_len(c->n);
		v = (c->n & ~1u) - 2 * k;
	} else {
		v = c->n + m - (uint32_t)(e % m);               /* wraps to FFFF/9999 */
	}
	v %= m;
	return c->bcd ? to_bcd(v) : (uint16_t)v;
}

static void end_epoch(struct pit_chan *c, uint64_t t)
{
	c->edges += epoch_edges(c, elapsed(c, t));
	c->hold = count_at(c, elapsed(c, t));
	c->counting = c->running = c->pend = false;
}

/* Move CR into the CE, beginning an epoch at tick `at` with `phase` ticks done. */
static void load(struct pit_chan *c, uint64_t t, uint64_t at, uint64_t phase)
{
	end_epoch(c, t);
	c->n = (c->mode == 2 || c->mode == 3) && c->cr < 2 ? 2 : c->cr;
	c->counting = true;
	c->running = c->gate || !gate_counts(c);
	c->start = at;
	c->phase = phase;
	c->null_count = false;
}

/* Apply a count written in mode 2/3 once the period (half period) it waited for ends. */
static void settle(struct pit_chan *c, uint64_t t)
{
	if (!c->pend || t < c->pend_at)
		return;
	uint64_t at = c->pend_at;
	bool low = c->pend_low;
	uint32_t n = c->cr < 2 ? 2 : c->cr;
	load(c, at, at, low ? high_len(n) : 0);
}

/* Counter 0 to irq0: every new rising edge shows as a 0->1 transition. */
static void sync_irq(struct pit *p, uint64_t t)
{
	struct pit_chan *c = &p->ch[0];
	settle(c, t);
	uint64_t e = elapsed(c, t), total = c->edges + epoch_edges(c, e);
	int out = out_at(c, e);
	if (total > p->delivered) {
		p->delivered = total;
		if (p->irq_level)
			irq_set(&p->irq0, 0);
		irq_set(&p->irq0, 1);
		p->irq_level = 1;
	}
	if (p->irq_level != out) {
		irq_set(&p->irq0, out);
		p->irq_level = out;
	}
}

static uint8_t status_byte(const struct pit_chan *c, uint64_t t)
{
	return (uint8_t)((out_at(c, elapsed(c, t)) ? ST_OUT : 0) | (c->null_count ? ST_NULL : 0) |
			 c->rw << 4 | c->raw_mode << 1 | c->bcd);
}

/* Counter Latch Command; a second one before the count is read is ignored. */
static void latch_count(struct pit_chan *c, uint64_t t)
{
	if (c->count_latched)
		return;
	c->latch = count_at(c, elapsed(c, t));
	c->count_latched = true;
}

static void control_write(struct pit *p, uint8_t v, uint64_t t)
{
	int sc = v >> 6, rw = v >> 4 & 3;
	if (sc == 3) {
		for (int i = 0; i < 3; i++) {
			struct pit_chan *c = &p->ch[i];
			if (!(v & 2 << i))
				continue;
			settle(c, t);
			if (!(v & RB_NO_COUNT))
				latch_count(c, t);
			if (!(v & RB_NO_STATUS) && !c->status_latched) {
				c->status = status_byte(c, t);
				c->status_latched = true;
			}
		}
		return;
	}
	struct pit_chan *c = &p->ch[sc];
	settle(c, t);
	if (rw == RW_LATCH) {
		latch_count(c, t);
		return;
	}
	end_epoch(c, t);
	c->rw = (uint8_t)rw;
	c->raw_mode = v >> 1 & 7;
	c->mode = c->raw_mode >= 6 ? c->raw_mode - 4 : c->raw_mode;
	c->bcd = v & 1;
	c->wmsb = c->rmsb = false;
	c->count_latched = c->status_latched = false;
	c->cr_valid = false;
	c->null_count = true;
}

static void count_write(struct pit_chan *c, uint8_t v, uint64_t t)
{
	uint32_t w;
	settle(c, t);
	switch (c->rw) {
	case RW_LSB:
		w = v;
		break;
	case RW_MSB:
		w = (uint32_t)v << 8;
		break;
	default:
		if (!c->wmsb) {
			c->wlsb = v;
			c->wmsb = true;
			/* Mode 0: "Writing the first byte disables counting. OUT is set low
			 * immediately." */
			if (c->mode == 0 && c->counting)
				end_epoch(c, t);
			return;
		}
		c->wmsb = false;
		w = c->wlsb | (uint32_t)v << 8;
		break;
	}
	if (c->bcd)
		w = ((w >> 12 & 15) * 1000 + (w >> 8 & 15) * 100 + (w >> 4 & 15) * 10 + (w & 15)) % 10000;
	c->cr = w ? w : modulus(c);
	c->cr_valid = true;
	c->null_count = true;

	switch (c->mode) {
	case 1:
	case 5:
		return;                 /* waits for a trigger; a running one-shot goes on */
	case 2:
	case 3:
		if (c->counting && !c->gate)
			return;         /* the next trigger loads it */
		if (c->counting) {
			/* Loaded at the end of the current period (mode 2) or half period
			 * (mode 3); the present cycle is not disturbed. */
			uint64_t e = elapsed(c, t), k = e % c->n;
			uint64_t end = e - k + c->n;
			c->pend_low = c->mode == 3 && k < high_len(c->n);
			if (c->pend_low)
				end = e - k + high_len(c->n);
			c->pend = true;
			c->pend_at = tick_of(c, end);
			return;
		}
		break;
	}
	load(c, t, t + 1, 0);
}

/* Counter 2's GATE from NMI_SC; a rising edge is a trigger (datasheet "Mode
 * Definitions"), a low gate stops counting in modes 0, 2, 3, 4. */
static void set_gate(struct pit_chan *c, bool g, uint64_t t)
{
	if (g == c->gate)
		return;
	settle(c, t);
	if (!g) {
		if (gate_counts(c)) {
			c->phase = elapsed(c, t);
			c->running = false;
			c->pend = false;        /* modes 2/3 reload on the next trigger */
		}
		c->gate = false;
		return;
	}
	c->gate = true;
	if (c->mode == 0 || c->mode == 4) {
		if (c->counting) {
			c->start = t;
			c->running = true;
		}
	} else if (c->cr_valid) {
		load(c, t, t + 1, 0);
	}
}

static uint8_t chan_read(struct pit_chan *c, uint64_t t)
{
	if (c->status_latched) {        /* status first, whichever was latched first */
		c->status_latched = false;
		return c->status;
	}
	settle(c, t);
	bool latched = c->count_latched;
	uint16_t v = latched ? c->latch : count_at(c, elapsed(c, t));
	bool msb = c->rw == RW_MSB || (c->rw == RW_WORD && c->rmsb);
	if (c->rw == RW_WORD)
		c->rmsb = !c->rmsb;
	if (latched && (c->rw != RW_WORD || msb))
		c->count_latched = false;
	return (uint8_t)(msb ? v >> 8 : v);
}

/* A word or dword access on the ISA bus is bytes on consecutive ports. */
static uint32_t pit_read(void *opaque, uint16_t port, int size)
{
	struct pit *p = opaque;
	uint64_t t = now_tick(p);
	uint32_t v = 0;
	sync_irq(p, t);
	for (int i = 0; i < size; i++) {
		int ch = port + i - PIT_BASE;
		uint32_t b = ch < 3 ? chan_read(&p->ch[ch], t) : 0xff;    /* 0x43: write-only */
		v |= b << 8 * i;
	}
	return v;
}

static void pit_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	struct pit *p = opaque;
	uint64_t t = now_tick(p);
	sync_irq(p, t);
	for (int i = 0; i < size; i++) {
		int ch = port + i - PIT_BASE;
		uint8_t b = (uint8_t)(val >> 8 * i);
		if (ch < 3)
			count_write(&p->ch[ch], b, t);
		else if (ch == 3)
			control_write(p, b, t);
	}
	sync_irq(p, t);
}

static uint32_t nmi_sc_read(void *opaque, uint16_t port, int size)
{
	struct pit *p = opaque;
	struct pit_chan *c = &p->ch[2];
	uint64_t t = now_tick(p);
	(void)port;
	(void)size;
	settle(c, t);
	return (uint32_t)(p->nmi_sc | (t / REFRESH_TICKS & 1 ? NMI_SC_REF : 0) |
			  (out_at(c, elapsed(c, t)) ? NMI_SC_OUT2 : 0));
}

static void nmi_sc_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	struct pit *p = opaque;
	(void)port;
	(void)size;
	p->nmi_sc = val & NMI_SC_RW;
	set_gate(&p->ch[2], val & NMI_SC_GATE2, now_tick(p));
}

struct pit *pit_create(struct iobus *io, const struct vclock *clk, struct irq_line irq0)
{
	struct pit *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->clk = *clk;
	p->irq0 = irq0;
	for (int i = 0; i < 3; i++) {
		struct pit_chan *c = &p->ch[i];
		c->rw = RW_WORD;
		c->raw_mode = c->mode = 3;
		c->gate = i != 2;       /* GATE0 and GATE1 are tied high on the board */
		c->null_count = true;
	}
	/* OUT0 idles high; irq0 is not pulsed for it, so creating the PIT is no edge. */
	p->irq_level = 1;
	static const struct io_ports ports[] = {
		{ PIT_BASE, 4, pit_read, pit_write }, { NMI_SC, 1, nmi_sc_read, nmi_sc_write },
	};
	if (io_claim(io, ports, 2, p) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

void pit_destroy(struct pit *p) { free(p); }

void pit_update(struct pit *p, uint64_t now) { sync_irq(p, tick_at(now)); }

uint64_t pit_next_deadline(struct pit *p)
{
	struct pit_chan *c = &p->ch[0];
	uint64_t t = now_tick(p);
	settle(c, t);
	uint64_t e = elapsed(c, t);
	if (c->edges + epoch_edges(c, e) > p->delivered)
		return vclock_now(&p->clk);
	uint64_t ne = next_edge(c, e);
	uint64_t at = ne == UINT64_MAX ? UINT64_MAX : tick_of(c, ne);
	if (c->pend && at > c->pend_at) {
		/* The next edge falls in the epoch of the count waiting to be loaded. */
		uint32_t n = c->cr < 2 ? 2 : c->cr;
		at = c->pend_at + (c->pend_low ? n - high_len(n) : n);
	}
	return at == UINT64_MAX ? VCLOCK_NEVER : tick_ns(at);
}
