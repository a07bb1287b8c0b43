/*
 * test_rtc.c - the MC146818A RTC through its ports on the real I/O bus: the time in
 * BCD, binary and 12-hour modes, rollovers (second, day, leap day, century), UIP,
 * setting the time under SET, the divider reset, the periodic, update-ended and alarm
 * interrupts, register C, CMOS RAM and rtc_next_deadline().
 *
 * The vclock is a variable the tests move; the IRQ 8 line records its level changes.
 * The clock starts at T0 showing 2026-12-01 13:45:59.000 UTC, a Tuesday.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../devices/rtc.h"

#define NS       1000000000ull
#define T0       (5 * NS)
#define EPOCH_S  1796132759ll   /* 2026-12-01 13:45:59 UTC */

enum { SEC, SEC_AL, MIN, MIN_AL, HOUR, HOUR_AL, WDAY, MDAY, MONTH, YEAR, RA, RB, RC, RD,
       CENTURY = 0x32 };

static uint64_t clk_ns;
static int level, rises, changes;
static struct iobus *io;
static struct rtc *rtc;

static uint64_t fake_now(void *opaque) { (void)opaque; return clk_ns; }
static const struct vclock fake_clock = { fake_now, NULL };

/* The PIC takes IRQ 8 on edges: the RTC must never drive the level it already drives. */
static void fake_irq(void *opaque, int irq, int lvl)
{
	(void)opaque;
	ck_assert_int_eq(irq, 8);
	ck_assert_int_ne(lvl, level);
	level = lvl;
	rises += lvl;
	changes++;
}

static void make(int64_t epoch_s)
{
	if (rtc) {
		rtc_destroy(rtc);
		io_destroy(io);
	}
	clk_ns = T0;
	level = rises = changes = 0;
	io = io_create();
	ck_assert_ptr_nonnull(io);
	rtc = rtc_create(io, &fake_clock, epoch_s * (int64_t)NS, (struct irq_line){ fake_irq, NULL, 8 });
	ck_assert_ptr_nonnull(rtc);
}

static void setup(void) { make(EPOCH_S); }
static void teardown(void)
{
	rtc_destroy(rtc);
	io_destroy(io);
	rtc = NULL;
}

static uint8_t rd(int idx)
{
	io_out(io, 0x70, 1, (uint32_t)idx);
	return (uint8_t)io_in(io, 0x71, 1);
}

static void wr(int idx, uint8_t v)
{
	io_out(io, 0x70, 1, (uint32_t)idx);
	io_out(io, 0x71, 1, v);
}

static void at(uint64_t t) { clk_ns = t; }

/* hh:mm:ss as the clock shows it now. */
static void ck_hms(uint8_t h, uint8_t m, uint8_t s)
{
	ck_assert_uint_eq(rd(HOUR), h);
	ck_assert_uint_eq(rd(MIN), m);
	ck_assert_uint_eq(rd(SEC), s);
}

static void ck_date(uint8_t century, uint8_t year, uint8_t month, uint8_t mday, uint8_t wday)
{
	ck_assert_uint_eq(rd(CENTURY), century);
	ck_assert_uint_eq(rd(YEAR), year);
	ck_assert_uint_eq(rd(MONTH), month);
	ck_assert_uint_eq(rd(MDAY), mday);
	ck_assert_uint_eq(rd(WDAY), wday);
}

/* ---- reading the time ---- */

START_TEST(test_reset_state)
{
	ck_assert_uint_eq(rd(RA), 0x26);
	ck_assert_uint_eq(rd(RB), 0x02);
	ck_assert_uint_eq(rd(RC), 0x00);
	ck_assert_uint_eq(rd(RD), 0x80);
	ck_assert_int_eq(level, 0);
}
END_TEST

START_TEST(test_time_bcd)
{
	ck_hms(0x13, 0x45, 0x59);
	ck_date(0x20, 0x26, 0x12, 0x01, 3);     /* Tuesday; Sunday = 1 */
}
END_TEST

START_TEST(test_time_binary)
{
	wr(RB, 0x06);
	ck_hms(13, 45, 59);
	ck_date(20, 26, 12, 1, 3);
	wr(RB, 0x02);
	ck_hms(0x13, 0x45, 0x59);
}
END_TEST

START_TEST(test_time_12h)
{
	wr(RB, 0x00);                           /* 12-hour BCD */
	ck_hms(0x81, 0x45, 0x59);               /* 1 PM */
	at(T0 + (10 * 3600 + 14 * 60 + 1) * NS);  /* 2026-12-02 00:00:00 */
	ck_hms(0x12, 0x00, 0x00);               /* 12 AM */
	ck_date(0x20, 0x26, 0x12, 0x02, 4);
	at(clk_ns + 12 * 3600 * NS);
	ck_hms(0x92, 0x00, 0x00);               /* 12 PM */
	at(clk_ns + 11 * 3600 * NS);
	ck_hms(0x91, 0x00, 0x00);               /* 11 PM, BCD */
	wr(RB, 0x04);
	ck_hms(0x8b, 0, 0);                     /* 11 PM, binary */
}
END_TEST

START_TEST(test_second_rolls_over)
{
	at(T0 + NS - 1);
	ck_hms(0x13, 0x45, 0x59);
	at(T0 + NS);
	ck_hms(0x13, 0x46, 0x00);
	at(T0 + 62 * NS + NS / 2);
	ck_hms(0x13, 0x47, 0x01);
}
END_TEST

START_TEST(test_century_rolls_over)
{
	make(4102444799);                       /* 2099-12-31 23:59:59, Thursday */
	ck_hms(0x23, 0x59, 0x59);
	ck_date(0x20, 0x99, 0x12, 0x31, 5);
	at(T0 + NS);
	ck_hms(0x00, 0x00, 0x00);
	ck_date(0x21, 0x00, 0x01, 0x01, 6);
	wr(RB, 0x06);
	ck_date(21, 0, 1, 1, 6);
}
END_TEST

START_TEST(test_leap_day)
{
	make(1835395199);                       /* 2028-02-28 23:59:59, Monday */
	at(T0 + NS);
	ck_date(0x20, 0x28, 0x02, 0x29, 3);
	at(T0 + NS + 86400 * NS);
	ck_date(0x20, 0x28, 0x03, 0x01, 4);
}
END_TEST

START_TEST(test_uip_window)
{
	at(T0 + NS / 2);
	ck_assert_uint_eq(rd(RA), 0x26);
	at(T0 + NS - 244000 - 1);
	ck_assert_uint_eq(rd(RA), 0x26);
	at(T0 + NS - 244000);
	ck_assert_uint_eq(rd(RA), 0xa6);
	ck_assert_uint_eq(rd(SEC), 0x59);       /* the update has not happened yet */
	at(T0 + NS - 1);
	ck_assert_uint_eq(rd(RA), 0xa6);
	at(T0 + NS);
	ck_assert_uint_eq(rd(RA), 0x26);
	ck_assert_uint_eq(rd(SEC), 0x00);
	wr(RA, 0xa6);                           /* UIP is read-only */
	ck_assert_uint_eq(rd(RA), 0x26);
}
END_TEST

/* ---- setting the time ---- */

START_TEST(test_set_freezes_and_sets)
{
	wr(RB, 0x82);
	ck_assert_uint_eq(rd(RB), 0x82);
	at(T0 + 2 * NS - 1000);                 /* in the UIP window, but no update under SET */
	ck_assert_uint_eq(rd(RA), 0x26);
	ck_hms(0x13, 0x45, 0x59);               /* frozen */
	ck_assert_uint_eq(rd(RC) & 0x10, 0);    /* and no update, so no UF */

	/* 2030-06-15 08:30:00, a Saturday */
	wr(SEC, 0x00);
	wr(MIN, 0x30);
	wr(HOUR, 0x08);
	wr(WDAY, 7);
	wr(MDAY, 0x15);
	wr(MONTH, 0x06);
	wr(YEAR, 0x30);
	wr(CENTURY, 0x20);
	at(T0 + 2 * NS + NS / 4);
	ck_hms(0x08, 0x30, 0x00);

	wr(RB, 0x02);                           /* runs on from here, a quarter into a second */
	ck_hms(0x08, 0x30, 0x00);
	ck_date(0x20, 0x30, 0x06, 0x15, 7);
	at(T0 + 3 * NS - 1);
	ck_assert_uint_eq(rd(SEC), 0x00);
	at(T0 + 3 * NS);
	ck_assert_uint_eq(rd(SEC), 0x01);
	at(T0 + 3 * NS + 86400 * NS);
	ck_hms(0x08, 0x30, 0x01);
	ck_date(0x20, 0x30, 0x06, 0x16, 1);     /* Sunday */
}
END_TEST

START_TEST(test_set_in_binary)
{
	wr(RB, 0x86);                           /* SET, binary, 24h */
	ck_hms(13, 45, 59);                     /* shown in the new mode */
	wr(HOUR, 22);
	wr(MIN, 1);
	wr(SEC, 2);
	wr(YEAR, 99);
	wr(CENTURY, 19);
	wr(RB, 0x06);
	ck_hms(22, 1, 2);
	ck_date(19, 99, 12, 1, 3);
	wr(RB, 0x02);
	ck_hms(0x22, 0x01, 0x02);
	ck_date(0x19, 0x99, 0x12, 0x01, 3);     /* a Wednesday, but the chip keeps the day it had */
}
END_TEST

START_TEST(test_write_time_while_running)
{
	at(T0 + NS / 2);
	wr(MIN, 0x10);
	ck_hms(0x13, 0x10, 0x59);
	at(T0 + NS);
	ck_hms(0x13, 0x11, 0x00);
}
END_TEST

START_TEST(test_set_clears_uie)
{
	wr(RB, 0x12);
	ck_assert_uint_eq(rd(RB), 0x12);
	wr(RB, 0x92);
	ck_assert_uint_eq(rd(RB), 0x82);
}
END_TEST

START_TEST(test_divider_reset)
{
	wr(RA, 0x66);                           /* 11x: divider held in reset */
	at(T0 + 5 * NS - 1000);
	ck_assert_uint_eq(rd(RA), 0x66);        /* no UIP */
	ck_hms(0x13, 0x45, 0x59);
	ck_assert_uint_eq(rtc_next_deadline(rtc), VCLOCK_NEVER);
	wr(RB, 0x52);
	ck_assert_uint_eq(rtc_next_deadline(rtc), VCLOCK_NEVER);
	wr(RB, 0x02);
	wr(MIN, 0x00);
	at(T0 + 5 * NS);
	wr(RA, 0x26);                           /* first update half a second later */
	ck_hms(0x13, 0x00, 0x59);
	at(T0 + 5 * NS + NS / 2 - 1);
	ck_assert_uint_eq(rd(SEC), 0x59);
	at(T0 + 5 * NS + NS / 2);
	ck_hms(0x13, 0x01, 0x00);
}
END_TEST

/* ---- interrupts ---- */

START_TEST(test_periodic_1024hz)
{
	wr(RB, 0x42);                           /* PIE; RS = 6 from reset */
	uint64_t prev = clk_ns;
	int n = 0;
	for (;;) {
		uint64_t d = rtc_next_deadline(rtc);
		ck_assert_uint_gt(d, clk_ns);
		if (d > T0 + NS)
			break;
		at(d - 1);
		rtc_update(rtc, clk_ns);
		ck_assert_int_eq(level, 0);
		at(d);
		rtc_update(rtc, clk_ns);
		ck_assert_int_eq(level, 1);
		ck_assert_uint_eq(rd(RC) & 0xc0, 0xc0);
		ck_assert_int_eq(level, 0);
		if (n++)
			ck_assert(d - prev == 976562 || d - prev == 976563);
		prev = d;
	}
	ck_assert_int_eq(n, 1024);
	ck_assert_int_eq(rises, 1024);
}
END_TEST

START_TEST(test_periodic_rates)
{
	static const struct { uint8_t rs; uint64_t ns; } rates[] = {
		{ 1, 3906250 }, { 2, 7812500 }, { 3, 122071 }, { 6, 976563 },
		{ 13, 125000000 }, { 15, 500000000 },
	};
	wr(RB, 0x42);
	for (unsigned i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		wr(RA, (uint8_t)(0x20 | rates[i].rs));
		ck_assert_uint_eq(rtc_next_deadline(rtc), T0 + rates[i].ns);
	}
	wr(RA, 0x20);
	ck_assert_uint_eq(rtc_next_deadline(rtc), VCLOCK_NEVER);
	at(T0 + NS);
	rtc_update(rtc, clk_ns);
	ck_assert_uint_eq(rd(RC), 0x10);        /* UF only: no periodic flag with RS = 0 */
}
END_TEST

START_TEST(test_pf_without_pie)
{
	at(T0 + 1000000);
	rtc_update(rtc, clk_ns);
	ck_assert_int_eq(changes, 0);
	ck_assert_uint_eq(rd(RC), 0x40);        /* PF, no IRQF */
	ck_assert_uint_eq(rd(RC), 0x00);
	at(T0 + 2000000);
	wr(RB, 0x42);                           /* enabling over a pending PF interrupts */
	ck_assert_int_eq(level, 1);
	ck_assert_uint_eq(rd(RC), 0xc0);
	ck_assert_int_eq(level, 0);
}
END_TEST

START_TEST(test_update_ended)
{
	wr(RA, 0x20);                           /* no periodic flags in the way */
	wr(RB, 0x12);
	ck_assert_uint_eq(rtc_next_deadline(rtc), T0 + NS);
	at(T0 + NS - 1);
	rtc_update(rtc, clk_ns);
	ck_assert_int_eq(level, 0);
	at(T0 + NS);
	rtc_update(rtc, clk_ns);
	ck_assert_int_eq(level, 1);
	ck_assert_uint_eq(rd(RC), 0x90);
	ck_assert_int_eq(level, 0);
	ck_assert_uint_eq(rtc_next_deadline(rtc), T0 + 2 * NS);

	/* Once a second, polled every millisecond. */
	for (int ms = 1; ms <= 5000; ms++) {
		at(T0 + NS + ms * 1000000ull);
		rtc_update(rtc, clk_ns);
		if (level)
			ck_assert_uint_eq(rd(RC), 0x90);
	}
	ck_assert_int_eq(rises, 6);

	/* Missed seconds make one flag, not many. */
	at(clk_ns + 10 * NS);
	rtc_update(rtc, clk_ns);
	ck_assert_int_eq(rises, 7);
	ck_assert_uint_eq(rd(RC), 0x90);
}
END_TEST

START_TEST(test_alarm)
{
	wr(SEC_AL, 0x05);
	wr(MIN_AL, 0x46);
	wr(HOUR_AL, 0x13);
	wr(RB, 0x22);
	ck_assert_uint_eq(rtc_next_deadline(rtc), T0 + 6 * NS);
	at(T0 + 6 * NS - 1);
	rtc_update(rtc, clk_ns);
	ck_assert_int_eq(level, 0);
	at(T0 + 6 * NS);
	rtc_update(rtc, clk_ns);
	ck_assert_int_eq(level, 1);
	ck_assert_uint_eq(rd(RC) & 0xb0, 0xb0); /* IRQF, AF, and UF from the same update */
	ck_assert_int_eq(level, 0);
	ck_assert_uint_eq(rtc_next_deadline(rtc), T0 + (6 + 86400) * NS);
	at(T0 + 30 * NS);
	rtc_update(rtc, clk_ns);
	ck_assert_int_eq(level, 0);             /* once a day */
	ck_assert_uint_eq(rd(RC) & 0x20, 0);
	/* Jumping over the alarm second still sets AF. */
	at(T0 + (7 + 86400) * NS);
	rtc_update(rtc, clk_ns);
	ck_assert_int_eq(level, 1);
}
END_TEST

START_TEST(test_alarm_dont_care)
{
	wr(SEC_AL, 0x30);
	wr(MIN_AL, 0xff);
	wr(HOUR_AL, 0xc0);
	wr(RB, 0x22);
	ck_assert_uint_eq(rtc_next_deadline(rtc), T0 + 31 * NS);        /* 13:46:30 */
	at(T0 + 31 * NS);
	rtc_update(rtc, clk_ns);
	ck_assert_int_eq(level, 1);
	rd(RC);
	ck_assert_uint_eq(rtc_next_deadline(rtc), T0 + 91 * NS);        /* 13:47:30 */
	wr(SEC_AL, 0xc0);                       /* every second */
	ck_assert_uint_eq(rtc_next_deadline(rtc), T0 + 32 * NS);
}
END_TEST

START_TEST(test_alarm_12h)
{
	wr(RB, 0x20);                           /* AIE, 12-hour BCD */
	wr(SEC_AL, 0x00);
	wr(MIN_AL, 0x00);
	wr(HOUR_AL, 0x82);                      /* 2 PM */
	ck_assert_uint_eq(rtc_next_deadline(rtc), T0 + (14 * 60 + 1) * NS);
	wr(HOUR_AL, 0x02);                      /* 2 AM tomorrow */
	ck_assert_uint_eq(rtc_next_deadline(rtc), T0 + (12 * 3600 + 14 * 60 + 1) * NS);
}
END_TEST

START_TEST(test_reg_c_clears)
{
	wr(RB, 0x12);
	at(T0 + NS);
	rtc_update(rtc, clk_ns);
	ck_assert_int_eq(level, 1);
	uint8_t c = rd(RC);
	ck_assert_uint_eq(c & 0x90, 0x90);
	ck_assert_int_eq(level, 0);
	ck_assert_uint_eq(rd(RC), 0x00);
	ck_assert_int_eq(changes, 2);
	wr(RC, 0xff);                           /* read-only */
	ck_assert_uint_eq(rd(RC), 0x00);
	ck_assert_int_eq(level, 0);
	/* The next flag gives a new edge. */
	at(T0 + 2 * NS);
	rtc_update(rtc, clk_ns);
	ck_assert_int_eq(rises, 2);
}
END_TEST

START_TEST(test_deadline)
{
	ck_assert_uint_eq(rtc_next_deadline(rtc), VCLOCK_NEVER);        /* nothing enabled */
	at(T0 + NS / 2);
	wr(RB, 0x12);
	ck_assert_uint_eq(rtc_next_deadline(rtc), T0 + NS);
	wr(RB, 0x52);                           /* the periodic one comes first */
	ck_assert_uint_eq(rtc_next_deadline(rtc), T0 + NS / 2 + 976563);
	wr(RB, 0xa2);                           /* SET: no alarm while the time is being set */
	ck_assert_uint_eq(rtc_next_deadline(rtc), VCLOCK_NEVER);
	wr(RB, 0xe2);                           /* but the divider still runs */
	ck_assert_uint_eq(rtc_next_deadline(rtc), T0 + NS / 2 + 976563);
}
END_TEST

/* ---- ports and CMOS RAM ---- */

START_TEST(test_cmos_ram)
{
	rtc_cmos_set(rtc, 0x15, 0x80);
	rtc_cmos_set(rtc, 0x5b, 0x12);
	rtc_cmos_set(rtc, 0x7f, 0x34);
	rtc_cmos_set(rtc, 0x00, 0x11);          /* the clock's, ignored */
	rtc_cmos_set(rtc, 0x0d, 0x00);
	rtc_cmos_set(rtc, RB, 0x06);
	rtc_cmos_set(rtc, 128, 0x55);
	ck_assert_uint_eq(rd(0x15), 0x80);
	ck_assert_uint_eq(rd(0x5b), 0x12);
	ck_assert_uint_eq(rd(0x7f), 0x34);
	ck_assert_uint_eq(rd(SEC), 0x59);
	ck_assert_uint_eq(rd(RD), 0x80);
	ck_assert_uint_eq(rd(RB), 0x02);
	wr(0x40, 0xab);
	ck_assert_uint_eq(rd(0x40), 0xab);
	wr(RD, 0x00);
	ck_assert_uint_eq(rd(RD), 0x80);
}
END_TEST

START_TEST(test_index_port)
{
	rtc_cmos_set(rtc, 0x15, 0x80);
	io_out(io, 0x70, 1, 0x95);              /* NMI masked, index 0x15 */
	ck_assert_uint_eq(io_in(io, 0x70, 1), 0xff);
	ck_assert_uint_eq(io_in(io, 0x71, 1), 0x80);
	ck_assert_uint_eq(io_in(io, 0x71, 1), 0x80);    /* the index stays */
	io_out(io, 0x70, 1, 0x8d);
	ck_assert_uint_eq(io_in(io, 0x71, 1), 0x80);
	io_out(io, 0x70, 1, 0x80 | 0x32);
	ck_assert_uint_eq(io_in(io, 0x71, 1), 0x20);
}
END_TEST

static Suite *rtc_suite(void)
{
	Suite *s = suite_create("rtc");
	struct { const char *name; const TTest *t[8]; } groups[] = {
		{ "time", { test_reset_state, test_time_bcd, test_time_binary, test_time_12h,
			    test_second_rolls_over, test_century_rolls_over, test_leap_day,
			    test_uip_window } },
		{ "set", { test_set_freezes_and_sets, test_set_in_binary, test_write_time_while_running,
			   test_set_clears_uie, test_divider_reset } },
		{ "interrupts", { test_periodic_1024hz, test_periodic_rates, test_pf_without_pie,
				  test_update_ended, test_alarm, test_alarm_dont_care, test_alarm_12h,
				  test_reg_c_clears } },
		{ "ports", { test_deadline, test_cmos_ram, test_index_port } },
	};
	for (unsigned g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		TCase *tc = tcase_create(groups[g].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		for (int i = 0; i < 8 && groups[g].t[i]; i++)
			tcase_add_test(tc, groups[g].t[i]);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rtc_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
