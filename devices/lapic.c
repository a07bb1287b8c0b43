/*
 * lapic.c - the local APIC (see lapic.h), after the Intel SDM Vol. 3A chapter 11
 * ("Advanced Programmable Interrupt Controller (APIC)"; section numbers below are that
 * chapter's): the register map of Table 11-1, interrupt acceptance and priority
 * (11.8.3-11.8.5), the LVT (11.5.1), the timer (11.5.4) and IA32_APIC_BASE (11.4.4).
 *
 * Owns every register and the timer's state. Time is read from the vclock when the
 * guest looks (current count) and when the board brings the device up to date; the
 * timer's next expiry is its deadline on the board. Where the SDM leaves a choice the
 * answer is QEMU's: version 0x14 with six LVT entries, a 1 GHz bus clock for the timer.
 */
#include "lapic.h"

#include <stdlib.h>

#include "mmio.h"

#define APIC_VERSION    0x14
#define APIC_MAX_LVT    5               /* six entries: timer .. error (no CMCI) */
#define APIC_PAGE       0x1000

/* Register offsets (Table 11-1). */
enum {
	REG_ID = 0x20, REG_VERSION = 0x30, REG_TPR = 0x80, REG_APR = 0x90, REG_PPR = 0xa0,
	REG_EOI = 0xb0, REG_RRD = 0xc0, REG_LDR = 0xd0, REG_DFR = 0xe0, REG_SVR = 0xf0,
	REG_ISR = 0x100, REG_TMR = 0x180, REG_IRR = 0x200, REG_ESR = 0x280,
	REG_ICR_LO = 0x300, REG_ICR_HI = 0x310, REG_LVT = 0x320, REG_TIMER_INIT = 0x380,
	REG_TIMER_CUR = 0x390, REG_TIMER_DIV = 0x3e0,
};

/* The LVT entries in register order from 0x320. */
enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, LVT_N };

#define LVT_MASKED      (1u << 16)
#define LVT_LEVEL       (1u << 15)
#define LVT_REMOTE_IRR  (1u << 14)
#define LVT_DELIVERY(v) (((v) >> 8) & 7)
#define TIMER_MODE(v)   (((v) >> 17) & 3)
enum { TIMER_ONESHOT, TIMER_PERIODIC, TIMER_TSC_DEADLINE };
enum { DM_FIXED = 0, DM_LOWEST = 1, DM_SMI = 2, DM_NMI = 4, DM_INIT = 5, DM_SIPI = 6, DM_EXTINT = 7 };

/* The bits of each LVT entry software may write (Figure 11-8); delivery status and
 * remote IRR are the APIC's. */
static const uint32_t lvt_writable[LVT_N] = {
	[LVT_TIMER] = 0xff | LVT_MASKED | 3u << 17,  /* mode 2: TSC deadline */
	[LVT_THERMAL] = 0x7ff | LVT_MASKED,
	[LVT_PERF] = 0x7ff | LVT_MASKED,
	[LVT_LINT0] = 0x7ff | 1u << 13 | LVT_LEVEL | LVT_MASKED,
	[LVT_LINT1] = 0x7ff | 1u << 13 | LVT_LEVEL | LVT_MASKED,
	[LVT_ERROR] = 0xff | LVT_MASKED,
};

#define SVR_ENABLE      (1u << 8)
#define SVR_WRITABLE    0x3ffu          /* vector, APIC enable, focus check */
#define DFR_FLAT        0xf0000000u

/* ESR bits (Figure 11-9). */
#define ESR_SEND_ILLEGAL    (1u << 5)
#define ESR_RECV_ILLEGAL    (1u << 6)
#define ESR_ILLEGAL_REG     (1u << 7)

/* IA32_APIC_BASE (Figure 11-5). */
#define BASE_BSP        (1u << 8)
#define BASE_X2APIC     (1u << 10)
#define BASE_ENABLE     (1u << 11)
#define BASE_ADDR_MASK  0xffffff000ull  /* MAXPHYADDR 36 (cpuid.c) */

/* ICR (Figure 11-12). */
#define ICR_LOGICAL     (1u << 11)
#define ICR_SHORTHAND(v) (((v) >> 18) & 3)
enum { SH_NONE, SH_SELF, SH_ALL, SH_OTHERS };
#define ICR_WRITABLE    0x000ccfffu     /* vector, mode, dest mode, level, trigger, shorthand */

struct lapic {
	struct mmiobus *mmio;
	struct vclock clk;
	struct intc extint;             /* the 8259 pair on LINT0 */
	struct lapic_eoi_hook eoi;
	uint64_t base;                  /* IA32_APIC_BASE */
	uint32_t id, tpr, ldr, dfr, svr;
	uint32_t irr[8], isr[8], tmr[8];
	uint32_t esr, esr_pending;      /* ESR as last latched; errors since */
	uint32_t icr_lo, icr_hi;
	uint32_t lvt[LVT_N];
	uint32_t timer_init, timer_div;
	uint64_t timer_start;           /* vclock ns when the count was loaded */
	uint64_t timer_due;             /* next expiry, VCLOCK_NEVER when idle */
	uint64_t tsc_deadline;          /* IA32_TSC_DEADLINE as the guest sees it */
	bool nmi;                       /* an NMI message not yet taken by the CPU */
};

/* ---- the 256-bit vector registers ---- */

static bool vec_test(const uint32_t *r, int v) { return r[v >> 5] >> (v & 31) & 1; }
static void vec_set(uint32_t *r, int v) { r[v >> 5] |= 1u << (v & 31); }
static void vec_clear(uint32_t *r, int v) { r[v >> 5] &= ~(1u << (v & 31)); }

/* The highest vector set, or -1. */
static int vec_highest(const uint32_t *r)
{
	for (int w = 7; w >= 0; w--)
		if (r[w])
			return w * 32 + 31 - __builtin_clz(r[w]);
	return -1;
}

/* ---- priority (11.8.3.1) ---- */

static bool sw_enabled(const struct lapic *a) { return a->svr & SVR_ENABLE; }
bool lapic_enabled(const struct lapic *a) { return a->base & BASE_ENABLE; }

/* PPR: the TPR, or the class of the highest vector in service if that is higher. */
static uint32_t ppr(const struct lapic *a)
{
	int isrv = vec_highest(a->isr);
	uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
	return (a->tpr & 0xf0) >= isr_class ? a->tpr & 0xff : isr_class;
}

/* The vector the APIC would hand the CPU now, or -1: the highest in IRR whose class
 * is above the PPR's (11.8.3.1: "only if its priority class is higher"). */
static int deliverable(const struct lapic *a)
{
	if (!lapic_enabled(a))
		return -1;
	int v = vec_highest(a->irr);
	if (v < 0 || ((uint32_t)v & 0xf0) <= (ppr(a) & 0xf0))
		return -1;
	return v;
}

/* The 8259's INTR reaches the CPU: straight when the APIC is globally disabled (the
 * processor has no APIC then, 11.4.3), else through LINT0 set to ExtINT, unmasked. */
static bool extint_open(const struct lapic *a)
{
	if (!lapic_enabled(a))
		return true;
	uint32_t l = a->lvt[LVT_LINT0];
	return !(l & LVT_MASKED) && LVT_DELIVERY(l) == DM_EXTINT;
}

bool lapic_pending(const struct lapic *a)
{
	return deliverable(a) >= 0 || (extint_open(a) && intc_pending(&a->extint));
}

/* The APIC's own interrupts come first, as in QEMU (the 8259's ExtINT is outside the
 * APIC's priority scheme: no IRR or ISR bit). With nothing left, the spurious vector
 * (11.9), which sets no ISR bit. */
int lapic_ack(struct lapic *a)
{
	int v = deliverable(a);
	if (v >= 0) {
		vec_clear(a->irr, v);
		vec_set(a->isr, v);
		return v;
	}
	if (extint_open(a) && intc_pending(&a->extint))
		return intc_ack(&a->extint);
	return (int)(a->svr & 0xff);
}

bool lapic_nmi_pending(const struct lapic *a) { return a->nmi; }
void lapic_nmi_ack(struct lapic *a) { a->nmi = false; }

/* ---- acceptance ---- */

/* A new error: latched into the ESR by the next ESR write (11.5.3), and signalled
 * through the error LVT. */
static void error(struct lapic *a, uint32_t bits);

void lapic_deliver(struct lapic *a, int vector, bool level)
{
	if (!lapic_enabled(a) || !sw_enabled(a))
		return;         /* a software-disabled APIC takes no fixed interrupts (11.4.7.2) */
	if (vector < 16) {
		error(a, ESR_RECV_ILLEGAL);
		return;
	}
	vec_set(a->irr, vector);
	if (level)
		vec_set(a->tmr, vector);
	else
		vec_clear(a->tmr, vector);
}

static void error(struct lapic *a, uint32_t bits)
{
	bool first = !(a->esr_pending & bits);
	a->esr_pending |= bits;
	uint32_t l = a->lvt[LVT_ERROR];
	if (first && !(l & LVT_MASKED) && (l & 0xff) >= 16)
		lapic_deliver(a, (int)(l & 0xff), false);
}

/* An LVT entry's interrupt (timer, error): fixed delivery of its vector unless masked. */
static void lvt_fire(struct lapic *a, int lvt)
{
	uint32_t l = a->lvt[lvt];
	if (!(l & LVT_MASKED))
		lapic_deliver(a, (int)(l & 0xff), false);
}

bool lapic_match(const struct lapic *a, uint8_t dest, bool logical)
{
	if (!logical)
		return dest == 0xff || dest == (a->id >> 24);
	uint8_t ldr = (uint8_t)(a->ldr >> 24);
	if ((a->dfr & DFR_FLAT) == DFR_FLAT)
		return (ldr & dest) != 0;
	/* Cluster model (11.6.2.2): the high nibble a cluster (15: all), the low one its members. */
	return ((dest >> 4) == 15 || (dest >> 4) == (ldr >> 4)) && (ldr & dest & 0xf) != 0;
}

/* EOI (11.8.5): the highest vector in service is done; a level-triggered one is
 * broadcast to the I/O APICs so they take the line's next interrupt. */
static void eoi(struct lapic *a)
{
	int v = vec_highest(a->isr);
	if (v < 0)
		return;
	vec_clear(a->isr, v);
	if (vec_test(a->tmr, v) && a->eoi.eoi)
		a->eoi.eoi(a->eoi.opaque, v);
}

/* A write of ICR's low half sends the IPI (11.6.1). One CPU: fixed and lowest-priority
 * messages that address this APIC land in its IRR, an NMI message makes an NMI wait
 * (the vector is ignored); INIT and SIPI address no other processor; SMI is not
 * modelled. The send is immediate: delivery status (bit 12) always reads idle. */
static void send_ipi(struct lapic *a)
{
	uint32_t lo = a->icr_lo;
	int mode = (int)LVT_DELIVERY(lo), vector = (int)(lo & 0xff);
	bool self;
	switch (ICR_SHORTHAND(lo)) {
	case SH_SELF:
	case SH_ALL:
		self = true;
		break;
	case SH_OTHERS:
		self = false;
		break;
	default:
		self = lapic_match(a, (uint8_t)(a->icr_hi >> 24), lo & ICR_LOGICAL);
		break;
	}
	if (mode == DM_NMI) {
		a->nmi |= self;
		return;
	}
	if (mode != DM_FIXED && mode != DM_LOWEST)
		return;
	if (vector < 16) {
		error(a, ESR_SEND_ILLEGAL);
		return;
	}
	if (self)
		lapic_deliver(a, vector, false);
}

/* ---- the timer (11.5.4) ---- */

/* The count runs at the bus clock (1 GHz, as QEMU's) divided by 2^shift. */
static unsigned timer_shift(const struct lapic *a)
{
	uint32_t d = a->timer_div;
	return (((d & 3) | ((d >> 1) & 4)) + 1) & 7;
}

static int timer_mode(const struct lapic *a) { return (int)TIMER_MODE(a->lvt[LVT_TIMER]); }

static uint64_t timer_period(const struct lapic *a) { return (uint64_t)a->timer_init << timer_shift(a); }

static uint64_t now_ns(const struct lapic *a) { return vclock_now(&a->clk); }

/* The current-count register: counts down from the initial count; 0 once a one-shot
 * count ran out, reloaded in periodic mode; 0 in TSC-deadline mode. */
static uint32_t timer_current(const struct lapic *a)
{
	if (!a->timer_init || timer_mode(a) == TIMER_TSC_DEADLINE)
		return 0;
	uint64_t ticks = (now_ns(a) - a->timer_start) >> timer_shift(a);
	if (timer_mode(a) == TIMER_PERIODIC)
		return a->timer_init - (uint32_t)(ticks % a->timer_init);
	return ticks >= a->timer_init ? 0 : a->timer_init - (uint32_t)ticks;
}

/* A write of the initial count starts the count again; 0 stops the timer. */
static void timer_load(struct lapic *a, uint32_t count)
{
	a->timer_init = count;
	if (timer_mode(a) == TIMER_TSC_DEADLINE)
		return;         /* the initial count is ignored in TSC-deadline mode */
	a->timer_start = now_ns(a);
	a->timer_due = count ? a->timer_start + timer_period(a) : VCLOCK_NEVER;
}

void lapic_update(struct lapic *a, uint64_t now)
{
	if (a->timer_due == VCLOCK_NEVER || now < a->timer_due)
		return;
	lvt_fire(a, LVT_TIMER);
	if (timer_mode(a) == TIMER_PERIODIC && a->timer_init) {
		/* Several periods may have gone by (the host was late): one interrupt, as
		 * a CPU with interrupts off would see, and the next on the period's grid. */
		uint64_t p = timer_period(a);
		a->timer_due += p;
		if (a->timer_due <= now)
			a->timer_due = now + p - (now - a->timer_start) % p;
	} else {
		a->timer_due = VCLOCK_NEVER;
		if (timer_mode(a) == TIMER_TSC_DEADLINE)
			a->tsc_deadline = 0;    /* 11.5.4.1: "the timer ... disarms" and reads 0 */
	}
}

uint64_t lapic_next_deadline(const struct lapic *a)
{
	return (a->lvt[LVT_TIMER] & LVT_MASKED) ? VCLOCK_NEVER : a->timer_due;
}

uint64_t lapic_tsc_deadline(const struct lapic *a)
{
	return timer_mode(a) == TIMER_TSC_DEADLINE ? a->tsc_deadline : 0;
}

void lapic_set_tsc_deadline(struct lapic *a, uint64_t tsc, uint64_t ns)
{
	/* 11.5.4.1: writes in other modes are ignored; writing 0 disarms. */
	if (timer_mode(a) != TIMER_TSC_DEADLINE)
		return;
	a->tsc_deadline = tsc;
	a->timer_due = tsc ? ns : VCLOCK_NEVER;
}

/* A write of the timer's LVT entry. Going into or out of TSC-deadline mode disarms the
 * timer (11.5.4.1); between one-shot and periodic the count goes on. */
static void timer_lvt_write(struct lapic *a, uint32_t v)
{
	uint32_t old = a->lvt[LVT_TIMER];
	a->lvt[LVT_TIMER] = v;
	bool was_tsc = TIMER_MODE(old) == TIMER_TSC_DEADLINE, is_tsc = TIMER_MODE(v) == TIMER_TSC_DEADLINE;
	if (was_tsc == is_tsc)
		return;
	a->timer_due = VCLOCK_NEVER;
	a->tsc_deadline = 0;
	a->timer_init = 0;
}

/* A divide-configuration write: the count goes on from where it is at the new rate. */
static void timer_div_write(struct lapic *a, uint32_t v)
{
	uint32_t cur = timer_current(a);
	bool running = a->timer_due != VCLOCK_NEVER && timer_mode(a) != TIMER_TSC_DEADLINE;
	a->timer_div = v & 0xb;
	if (!running || !cur)
		return;
	uint64_t now = now_ns(a);
	a->timer_due = now + ((uint64_t)cur << timer_shift(a));
	a->timer_start = a->timer_due - timer_period(a);
}

/* ---- registers ---- */

/* What software disabling does (11.4.7.2): every LVT entry masked, and kept so. */
static void mask_all_lvt(struct lapic *a)
{
	for (int i = 0; i < LVT_N; i++)
		a->lvt[i] |= LVT_MASKED;
}

static uint32_t reg_read(struct lapic *a, uint32_t off)
{
	switch (off) {
	case REG_ID:
		return a->id;
	case REG_VERSION:
		return APIC_VERSION | APIC_MAX_LVT << 16;
	case REG_TPR:
		return a->tpr;
	case REG_PPR:
		return ppr(a);
	case REG_LDR:
		return a->ldr;
	case REG_DFR:
		return a->dfr | 0x0fffffffu;
	case REG_SVR:
		return a->svr;
	case REG_ESR:
		return a->esr;
	case REG_ICR_LO:
		return a->icr_lo;
	case REG_ICR_HI:
		return a->icr_hi;
	case REG_TIMER_INIT:
		return a->timer_init;
	case REG_TIMER_CUR:
		return timer_current(a);
	case REG_TIMER_DIV:
		return a->timer_div;
	}
	if (off >= REG_ISR && off < REG_ISR + 0x80)
		return a->isr[(off - REG_ISR) >> 4];
	if (off >= REG_TMR && off < REG_TMR + 0x80)
		return a->tmr[(off - REG_TMR) >> 4];
	if (off >= REG_IRR && off < REG_IRR + 0x80)
		return a->irr[(off - REG_IRR) >> 4];
	if (off >= REG_LVT && off < REG_LVT + LVT_N * 0x10)
		return a->lvt[(off - REG_LVT) >> 4];
	return 0;               /* APR, RRD and reserved offsets */
}

static void reg_write(struct lapic *a, uint32_t off, uint32_t v)
{
	switch (off) {
	case REG_ID:
		a->id = v & 0xff000000u;
		return;
	case REG_TPR:
		a->tpr = v & 0xff;
		return;
	case REG_EOI:
		eoi(a);
		return;
	case REG_LDR:
		a->ldr = v & 0xff000000u;
		return;
	case REG_DFR:
		a->dfr = v & 0xf0000000u;
		return;
	case REG_SVR:
		a->svr = v & SVR_WRITABLE;
		if (!sw_enabled(a))
			mask_all_lvt(a);
		return;
	case REG_ESR:
		/* 11.5.3: a write latches the errors seen since the last one. */
		a->esr = a->esr_pending;
		a->esr_pending = 0;
		return;
	case REG_ICR_LO:
		a->icr_lo = v & ICR_WRITABLE;
		send_ipi(a);
		return;
	case REG_ICR_HI:
		a->icr_hi = v & 0xff000000u;
		return;
	case REG_TIMER_INIT:
		timer_load(a, v);
		return;
	case REG_TIMER_DIV:
		timer_div_write(a, v);
		return;
	}
	if (off >= REG_LVT && off < REG_LVT + LVT_N * 0x10) {
		int i = (int)(off - REG_LVT) >> 4;
		uint32_t nv = (a->lvt[i] & ~lvt_writable[i]) | (v & lvt_writable[i]);
		if (!sw_enabled(a))
			nv |= LVT_MASKED;
		if (i == LVT_TIMER)
			timer_lvt_write(a, nv);
		else
			a->lvt[i] = nv;
		return;
	}
	/* Read-only and reserved registers: writes are ignored (QEMU, KVM); an
	 * "illegal register address" error only for offsets outside the map. */
	if (off >= 0x400)
		error(a, ESR_ILLEGAL_REG);
}

/* The registers are 32 bits at 16-byte-aligned offsets; other widths and offsets
 * reach the register the access starts in, as 32-bit accesses would. */
static uint64_t mmio_rd(void *opaque, uint64_t off, int size)
{
	struct lapic *a = opaque;
	if (!lapic_enabled(a))
		return ~0ull;   /* globally disabled: no APIC on the bus (11.4.3) */
	uint32_t v = reg_read(a, (uint32_t)off & 0xff0);
	unsigned shift = (unsigned)(off & 3) * 8;
	uint64_t r = (uint64_t)v >> shift;
	return size >= 4 ? r : r & ((1ull << (size * 8)) - 1);
}

static void mmio_wr(void *opaque, uint64_t off, int size, uint64_t val)
{
	struct lapic *a = opaque;
	(void)size;
	if (!lapic_enabled(a) || (off & 0xf))
		return;
	reg_write(a, (uint32_t)off & 0xff0, (uint32_t)val);
}

/* ---- reset, IA32_APIC_BASE ---- */

/* Power-up and INIT state (11.4.7.1): IRR, ISR, TMR, ICR, LDR, TPR and the timer 0,
 * DFR all ones, LVT entries masked, spurious vector 0xff with the APIC disabled. */
static void reset_registers(struct lapic *a)
{
	a->tpr = a->ldr = 0;
	a->dfr = 0xffffffffu;
	a->svr = 0xff;
	for (int w = 0; w < 8; w++)
		a->irr[w] = a->isr[w] = a->tmr[w] = 0;
	a->esr = a->esr_pending = 0;
	a->icr_lo = a->icr_hi = 0;
	for (int i = 0; i < LVT_N; i++)
		a->lvt[i] = LVT_MASKED;
	a->timer_init = a->timer_div = 0;
	a->timer_due = VCLOCK_NEVER;
	a->tsc_deadline = 0;
	a->nmi = false;
}

uint64_t lapic_base_msr(const struct lapic *a) { return a->base; }

bool lapic_set_base_msr(struct lapic *a, uint64_t v)
{
	if (v & ~(BASE_ADDR_MASK | BASE_ENABLE | BASE_X2APIC | BASE_BSP))
		return false;
	if (v & BASE_X2APIC)
		return false;           /* no x2APIC (CPUID.1:ECX[21] clear) */
	uint64_t addr = v & BASE_ADDR_MASK;
	if (addr != (a->base & BASE_ADDR_MASK) && mmio_move(a->mmio, a, addr) < 0)
		return false;           /* onto another device's range */
	bool was = lapic_enabled(a);
	/* BSP is the processor's to say, not software's. */
	a->base = addr | (v & BASE_ENABLE) | (a->base & BASE_BSP);
	if (was && !lapic_enabled(a))
		reset_registers(a);     /* 11.4.3: disabled, it comes back in its reset state */
	return true;
}

struct lapic *lapic_create(struct mmiobus *mmio, const struct vclock *clk, const struct intc *extint)
{
	struct lapic *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->mmio = mmio;
	a->clk = *clk;
	a->extint = *extint;
	a->base = LAPIC_DEFAULT_BASE | BASE_ENABLE | BASE_BSP;
	a->id = 0;
	reset_registers(a);
	if (mmio_register(mmio, LAPIC_DEFAULT_BASE, APIC_PAGE, mmio_rd, mmio_wr, a) < 0) {
		free(a);
		return NULL;
	}
	return a;
}

void lapic_destroy(struct lapic *a) { free(a); }

void lapic_set_eoi_hook(struct lapic *a, const struct lapic_eoi_hook *h) { a->eoi = *h; }

void lapic_bios_init(struct lapic *a)
{
	reg_write(a, REG_SVR, SVR_ENABLE | 0xff);
	reg_write(a, REG_LVT + LVT_LINT0 * 0x10, LVT_LEVEL | DM_EXTINT << 8);
	reg_write(a, REG_LVT + LVT_LINT1 * 0x10, LVT_LEVEL | DM_NMI << 8);
}
