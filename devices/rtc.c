/*
 * rtc.c - MC146818A real-time clock and CMOS RAM (register names and bits from the
 * Motorola MC146818A datasheet, "Registers" and "Interrupts").
 *
 * Nothing runs per second. While the clock runs, the guest's time is
 *   base_s + (vclock now - base_ns) / 1 s
 * where base_ns is the instant a second began on the chip's divider chain; every
 * read of a time register converts that to calendar bytes. Setting the time (SET in
 * register B, a time-register write, a divider restart) only moves base_s/base_ns.
 * While the clock is frozen (SET, or a divider other than 010) the time bytes are
 * plain RAM the guest writes, and unfreezing parses them back into base_s.
 *
 * The flags in register C are brought up to date lazily, from last_ns to now, when
 * the guest reads C or writes a register that changes them, and when the board
 * calls rtc_update() at the deadline rtc_next_deadline() reported. Periodic edges
 * come from the 32.768 kHz divider count since base_ns, so they stay in phase with
 * the seconds as on the chip.
 */
#include "rtc.h"

#include <stdbool.h>
#include <stdlib.h>

#define RTC_INDEX 0x70

enum {
	R_SEC, R_SEC_ALARM, R_MIN, R_MIN_ALARM, R_HOUR, R_HOUR_ALARM,
	R_WDAY, R_MDAY, R_MONTH, R_YEAR, R_A, R_B, R_C, R_D,
	R_CENTURY = 0x32,       /* IBM PC/AT convention, not part of the chip */
};

#define A_UIP   0x80
#define A_DV    0x70
#define A_DV_32K 0x20           /* 010: 32.768 kHz time base, divider running */
#define A_RS    0x0f
#define B_SET   0x80
#define B_PIE   0x40
#define B_AIE   0x20
#define B_UIE   0x10
#define B_DM    0x04            /* binary, not BCD */
#define B_24H   0x02
#define C_IRQF  0x80
#define C_PF    0x40
#define C_AF    0x20
#define C_UF    0x10
#define D_VRT   0x80

#define NS      1000000000ull
#define TICKS   32768ull        /* divider input on a PC */
#define UIP_NS  244000ull       /* "UIP ... will not be for at least 244 us" (Table 6) */
#define NEVER_S INT64_MAX

struct rtc {
	uint8_t cmos[128];      /* clock bytes here are live only while frozen */
	uint8_t index;
	bool nmi_masked;        /* port 0x70 bit 7; nothing here raises NMI */
	int level;              /* what we last drove on irq */
	struct vclock clk;
	struct irq_line irq;
	int64_t base_s;         /* guest time, seconds since 1970 UTC, at base_ns */
	uint64_t base_ns;       /* vclock time a second began; modulo 2^64 */
	uint64_t last_ns;       /* the flags are up to date to here */
	int dow_adj;            /* the guest's day of week minus the calendar's, mod 7 */
};

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b < 0); }
static int64_t floor_mod(int64_t a, int64_t b) { return a - floor_div(a, b) * b; }

/* Days since 1970-01-01 of a proleptic Gregorian date; month 1-12. Counts years from
 * March so the leap day falls at the end of the year. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	if (m <= 2)
		y--;
	int64_t era = floor_div(y, 400);
	int64_t yoe = y - era * 400;                            /* 0-399 */
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;    /* 0-146096 */
	return era * 146097 + doe - 719468;                     /* 719468: 0000-03-01 to 1970 */
}

static void civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
	int64_t z = days + 719468;
	int64_t era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int mp = (int)((5 * doy + 2) / 153);                    /* March = 0 */
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yoe + era * 400 + (*m <= 2);
}

static bool running(const struct rtc *r) { return (r->cmos[R_A] & A_DV) == A_DV_32K; }
static bool frozen(const struct rtc *r) { return !running(r) || (r->cmos[R_B] & B_SET); }
static uint64_t now(const struct rtc *r) { return vclock_now(&r->clk); }
static int64_t sec_at(const struct rtc *r, uint64_t t)
{
	return r->base_s + (int64_t)((t - r->base_ns) / NS);
}

/* Divider ticks since base_ns. */
static uint64_t ticks_at(const struct rtc *r, uint64_t t)
{
	uint64_t e = t - r->base_ns;
	return e / NS * TICKS + e % NS * TICKS / NS;
}

/* Periodic interrupt period in divider ticks (Table 5), 0 for none. RS 1 and 2 give
 * 256 and 128 Hz on a 32.768 kHz base, not 32768 and 16384. */
static uint64_t period_ticks(const struct rtc *r)
{
	int rs = r->cmos[R_A] & A_RS;
	if (rs == 0)
		return 0;
	return rs <= 2 ? 1ull << (rs + 6) : 1ull << (rs - 1);
}

static uint8_t enc(const struct rtc *r, int v)
{
	if (r->cmos[R_B] & B_DM)
		return (uint8_t)v;
	v %= 100;
	return (uint8_t)((v / 10) << 4 | v % 10);
}

static int dec(const struct rtc *r, uint8_t b)
{
	return (r->cmos[R_B] & B_DM) ? b : (b >> 4) * 10 + (b & 15);
}

/* In 12-hour mode the hours byte is 1-12 with bit 7 = PM. */
static uint8_t enc_hour(const struct rtc *r, int h)
{
	if (r->cmos[R_B] & B_24H)
		return enc(r, h);
	return (uint8_t)(enc(r, h % 12 ? h % 12 : 12) | (h >= 12 ? 0x80 : 0));
}

static int dec_hour(const struct rtc *r, uint8_t b)
{
	if (r->cmos[R_B] & B_24H)
		return dec(r, b);
	return dec(r, b & 0x7f) % 12 + (b & 0x80 ? 12 : 0);
}

/* Write guest second s into the time bytes, in the current DM and 24/12 modes. */
static void store_time(struct rtc *r, int64_t s)
{
	int64_t days = floor_div(s, 86400), sod = s - days * 86400, y;
	int m, d;
	civil_from_days(days, &y, &m, &d);
	r->cmos[R_SEC] = enc(r, (int)(sod % 60));
	r->cmos[R_MIN] = enc(r, (int)(sod / 60 % 60));
	r->cmos[R_HOUR] = enc_hour(r, (int)(sod / 3600));
	/* 1970-01-01 was a Thursday; the chip counts Sunday as 1. */
	r->cmos[R_WDAY] = enc(r, (int)floor_mod(days + 4 + r->dow_adj, 7) + 1);
	r->cmos[R_MDAY] = enc(r, d);
	r->cmos[R_MONTH] = enc(r, m);
	r->cmos[R_YEAR] = enc(r, (int)floor_mod(y, 100));
	r->cmos[R_CENTURY] = enc(r, (int)floor_div(y, 100));
}

/* The guest second the time bytes say. The chip only counts the day of week, so a
 * guest-written one that disagrees with the date is kept as an offset. */
static int64_t load_time(struct rtc *r)
{
	int mon = dec(r, r->cmos[R_MONTH]);
	if (mon < 1 || mon > 12)
		mon = 1;
	int64_t y = dec(r, r->cmos[R_CENTURY]) * 100 + dec(r, r->cmos[R_YEAR]);
	int64_t days = days_from_civil(y, mon, 1) + dec(r, r->cmos[R_MDAY]) - 1;
	r->dow_adj = (int)floor_mod(dec(r, r->cmos[R_WDAY]) - 1 - (days + 4), 7);
	return days * 86400 + dec_hour(r, r->cmos[R_HOUR]) * 3600 +
	       dec(r, r->cmos[R_MIN]) * 60 + dec(r, r->cmos[R_SEC]);
}

/* Make the current second s, keeping the divider's phase within the second. */
static void set_time(struct rtc *r, int64_t s, uint64_t t)
{
	r->base_ns = t - (t - r->base_ns) % NS;
	r->base_s = s;
	r->last_ns = t;
}

/* Alarm byte idx as a value, or -1 for "don't care" (codes 0xC0-0xFF). */
static int alarm_field(const struct rtc *r, int idx)
{
	uint8_t b = r->cmos[idx];
	if ((b & 0xc0) == 0xc0)
		return -1;
	return idx == R_HOUR_ALARM ? dec_hour(r, b) : dec(r, b);
}

static bool match(int want, int v) { return want < 0 || want == v; }

/* The smallest v in [from, lim) that want accepts, or -1. */
static int first(int want, int from, int lim)
{
	if (want < 0)
		return from < lim ? from : -1;
	return want >= from && want < lim ? want : -1;
}

/* The first guest second after s whose time of day matches the alarm bytes. */
static int64_t next_alarm(const struct rtc *r, int64_t s)
{
	int ah = alarm_field(r, R_HOUR_ALARM), am = alarm_field(r, R_MIN_ALARM);
	int as = alarm_field(r, R_SEC_ALARM);
	int64_t day = s - floor_mod(s, 86400);
	int sod = (int)(s - day), H = sod / 3600, M = sod / 60 % 60, S = sod % 60;
	int h, m, sec;
#define AT(dd, hh, mm, ss) ((day) + (dd) * 86400 + (hh) * 3600 + (mm) * 60 + (ss))
	if (match(ah, H) && match(am, M) && (sec = first(as, S + 1, 60)) >= 0)
		return AT(0, H, M, sec);
	if (match(ah, H) && (m = first(am, M + 1, 60)) >= 0 && (sec = first(as, 0, 60)) >= 0)
		return AT(0, H, m, sec);
	m = first(am, 0, 60);
	sec = first(as, 0, 60);
	if (m < 0 || sec < 0)
		return NEVER_S;
	if ((h = first(ah, H + 1, 24)) >= 0)
		return AT(0, h, m, sec);
	if ((h = first(ah, 0, 24)) >= 0)
		return AT(1, h, m, sec);
#undef AT
	return NEVER_S;
}

/* IRQF = PF.PIE + AF.AIE + UF.UIE, and the IRQ pin follows it. */
static void update_irq(struct rtc *r)
{
	int level = (r->cmos[R_C] & r->cmos[R_B] & (C_PF | C_AF | C_UF)) != 0;
	if (level != r->level) {
		r->level = level;
		irq_set(&r->irq, level);
	}
}

/* Raise the flags due between last_ns and t. */
static void update_at(struct rtc *r, uint64_t t)
{
	uint64_t p = period_ticks(r);
	if (running(r)) {
		/* PF is set whatever PIE says; only the interrupt needs PIE. */
		if (p && ticks_at(r, t) / p != ticks_at(r, r->last_ns) / p)
			r->cmos[R_C] |= C_PF;
		int64_t s0 = sec_at(r, r->last_ns), s1 = sec_at(r, t);
		if (!(r->cmos[R_B] & B_SET) && s1 != s0) {
			r->cmos[R_C] |= C_UF;
			if (next_alarm(r, s0) <= s1)
				r->cmos[R_C] |= C_AF;
		}
	}
	r->last_ns = t;
	update_irq(r);
}

void rtc_update(struct rtc *r, uint64_t now) { update_at(r, now); }

uint64_t rtc_next_deadline(struct rtc *r)
{
	if (!running(r))
		return VCLOCK_NEVER;
	uint64_t t = now(r), p = period_ticks(r), best = VCLOCK_NEVER;
	uint8_t b = r->cmos[R_B];
	if ((b & B_PIE) && p) {
		uint64_t e = (ticks_at(r, t) / p + 1) * p;
		uint64_t d = r->base_ns + e / TICKS * NS + (e % TICKS * NS + TICKS - 1) / TICKS;
		best = d;
	}
	if (b & B_SET)
		return best;
	int64_t s = sec_at(r, t), due = NEVER_S;
	if (b & B_UIE)
		due = s + 1;
	if (b & B_AIE) {
		int64_t a = next_alarm(r, s);
		due = a < due ? a : due;
	}
	if (due != NEVER_S) {
		uint64_t d = r->base_ns + (uint64_t)(due - r->base_s) * NS;
		best = d < best ? d : best;
	}
	return best;
}

static bool is_time_reg(int idx)
{
	return idx == R_SEC || idx == R_MIN || idx == R_HOUR || (idx >= R_WDAY && idx <= R_YEAR) ||
	       idx == R_CENTURY;
}

static uint8_t reg_read(struct rtc *r, int idx)
{
	uint64_t t = now(r);
	uint8_t v;
	if (is_time_reg(idx) && !frozen(r))
		store_time(r, sec_at(r, t));
	switch (idx) {
	case R_A:
		/* "Writing the SET bit ... clears the UIP status bit". */
		v = r->cmos[R_A];
		if (!frozen(r) && (t - r->base_ns) % NS >= NS - UIP_NS)
			v |= A_UIP;
		return v;
	case R_C:
		update_at(r, t);
		v = r->cmos[R_C] | (r->level ? C_IRQF : 0);
		r->cmos[R_C] = 0;
		update_irq(r);
		return v;
	case R_D:
		return D_VRT;           /* the battery is always good */
	default:
		return r->cmos[idx];
	}
}

/* Register A or B was written at t, when the clock showed second s: freeze it, or
 * restart it from the time bytes. */
static void retime(struct rtc *r, uint64_t t, bool was_running, bool was_frozen, int64_t s)
{
	/* "When the divider reset is removed ... the first update cycle begins one-half
	 * second later." */
	if (!was_running && running(r)) {
		r->base_ns = t - NS / 2;
		r->last_ns = t;
	}
	if (!was_frozen && frozen(r))
		store_time(r, s);       /* in the new modes, so reads during SET make sense */
	else if (was_frozen && !frozen(r))
		set_time(r, load_time(r), t);
}

static void reg_write(struct rtc *r, int idx, uint8_t v)
{
	uint64_t t = now(r);
	bool was_running = running(r), was_frozen = frozen(r);
	int64_t s = sec_at(r, t);
	if (idx <= R_B || idx == R_CENTURY)
		update_at(r, t);        /* flags due under the old settings first */
	if (is_time_reg(idx)) {
		if (!was_frozen)
			store_time(r, s);
		r->cmos[idx] = v;
		if (!was_frozen)
			set_time(r, load_time(r), t);
		return;
	}
	switch (idx) {
	case R_A:
		r->cmos[R_A] = v & ~A_UIP;
		retime(r, t, was_running, was_frozen, s);
		break;
	case R_B:
		if (v & B_SET)
			v &= ~B_UIE;    /* "the SET bit going high clears the UIE bit" */
		r->cmos[R_B] = v;
		retime(r, t, was_running, was_frozen, s);
		update_irq(r);  /* an enable over a pending flag interrupts at once */
		break;
	case R_C:
	case R_D:
		break;                  /* read-only */
	default:
		r->cmos[idx] = v;       /* alarm bytes and RAM */
		break;
	}
}

static uint32_t rtc_read(void *opaque, uint16_t port, int size)
{
	struct rtc *r = opaque;
	uint32_t v = 0;
	for (int i = 0; i < size; i++) {
		uint16_t p = (uint16_t)(port + i);
		/* The index port is write-only: reads float. */
		uint8_t b = p == RTC_INDEX + 1 ? reg_read(r, r->index) : 0xff;
		v |= (uint32_t)b << (8 * i);
	}
	return v;
}

static void rtc_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	struct rtc *r = opaque;
	for (int i = 0; i < size; i++) {
		uint8_t b = (uint8_t)(val >> (8 * i));
		uint16_t p = (uint16_t)(port + i);
		if (p == RTC_INDEX) {
			r->index = b & 0x7f;
			r->nmi_masked = b & 0x80;
		} else if (p == RTC_INDEX + 1) {
			reg_write(r, r->index, b);
		}
	}
}

struct rtc *rtc_create(struct iobus *io, const struct vclock *clk, int64_t epoch_ns, struct irq_line irq8)
{
	struct rtc *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->clk = *clk;
	r->irq = irq8;
	r->cmos[R_A] = A_DV_32K | 0x06;         /* 1024 Hz, as the BIOS leaves it */
	r->cmos[R_B] = B_24H;
	r->cmos[R_D] = D_VRT;
	uint64_t t = now(r);
	int64_t s = floor_div(epoch_ns, (int64_t)NS);
	r->base_s = s;
	r->base_ns = t - (uint64_t)(epoch_ns - s * (int64_t)NS);
	r->last_ns = t;
	if (io_register(io, RTC_INDEX, 2, rtc_read, rtc_write, r) < 0) {
		free(r);
		return NULL;
	}
	return r;
}

void rtc_destroy(struct rtc *r) { free(r); }

void rtc_cmos_set(struct rtc *r, int idx, uint8_t v)
{
	if (idx > R_D && idx < 128 && idx != R_CENTURY)
		r->cmos[idx] = v;
}
