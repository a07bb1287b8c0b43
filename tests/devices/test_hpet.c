/*
 * test_hpet.c - the HPET through the real MMIO bus with a fake clock and a fake I/O
 * APIC input: the counter (halted and writable while disabled, 10 ns a tick when
 * enabled), a one-shot edge timer firing exactly once at its match and reporting it
 * as the board's deadline, a 32-bit one-shot matching again after the counter wraps,
 * a periodic timer set with Tn_VAL_SET and late by several periods (one interrupt,
 * the next match on the period's grid), a level timer's status and line held until
 * cleared, routes outside the capability refused, and accesses of odd widths.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../devices/clock.h"
#include "../../devices/hpet.h"
#include "../../devices/mmio.h"

static uint64_t now_ns;
static struct mmiobus *mmio;
static struct hpet *h;
static int rises[24], level[24];

static uint64_t fake_now(void *o) { (void)o; return now_ns; }
static const struct vclock clk = { fake_now, NULL };

static void fake_gsi(void *o, int pin, int l)
{
	(void)o;
	ck_assert(pin >= 0 && pin < 24);
	if (l && !level[pin])
		rises[pin]++;
	level[pin] = l;
}

static uint64_t rd(uint32_t off)
{
	uint64_t v = 0;
	ck_assert(mmio_read(mmio, HPET_BASE + off, 8, &v));
	return v;
}
static void wr(uint32_t off, uint64_t v) { ck_assert(mmio_write(mmio, HPET_BASE + off, 8, v)); }
static void advance(uint64_t ns)
{
	now_ns += ns;
	hpet_update(h, now_ns);
}

static void setup(void)
{
	now_ns = 5000000000ull;
	for (int i = 0; i < 24; i++)
		rises[i] = level[i] = 0;
	mmio = mmio_create();
	h = hpet_create(mmio, &clk, (struct irq_line){ fake_gsi, NULL, 0 });
	ck_assert_ptr_nonnull(h);
}

static void teardown(void)
{
	hpet_destroy(h);
	mmio_destroy(mmio);
}

START_TEST(counter)
{
	ck_assert_uint_eq(rd(0) >> 32, 10000000);
	ck_assert_uint_eq(rd(0xf0), 0);
	wr(0xf0, 1000);
	now_ns += 5000;
	ck_assert_uint_eq(rd(0xf0), 1000);          /* halted */
	wr(0x10, 1);
	now_ns += 5000;
	ck_assert_uint_eq(rd(0xf0), 1500);
	wr(0xf0, 0);                                 /* ignored while running */
	ck_assert_uint_eq(rd(0xf0), 1500);
	uint64_t v;
	ck_assert(mmio_read(mmio, HPET_BASE + 4, 4, &v));
	ck_assert_uint_eq(v, 10000000);
	ck_assert(mmio_read(mmio, HPET_BASE + 0xf0, 2, &v));
	ck_assert_uint_eq(v, 1500);
}
END_TEST

START_TEST(oneshot_and_wrap)
{
	wr(0x10, 1);
	wr(0x100, 1u << 2 | 20u << 9);              /* enabled, edge, route 20 */
	wr(0x108, 100);                              /* the counter is 0: 1 us */
	ck_assert_uint_eq(hpet_next_deadline(h), now_ns + 1000);
	advance(990);
	ck_assert_int_eq(rises[20], 0);
	advance(10);
	ck_assert_int_eq(rises[20], 1);
	ck_assert_int_eq(level[20], 0);
	advance(1000000000);
	ck_assert_int_eq(rises[20], 1);              /* once */
	ck_assert_uint_eq(hpet_next_deadline(h), VCLOCK_NEVER);
	/* 32-bit mode: the match comes again 2^32 ticks later. */
	wr(0x100, 1u << 2 | 1u << 8 | 21u << 9);
	wr(0x108, (rd(0xf0) + 10) & 0xffffffff);
	advance(100);
	ck_assert_int_eq(rises[21], 1);
	ck_assert_uint_eq(hpet_next_deadline(h), now_ns + (1ull << 32) * 10);
	/* A route outside the capability (pin 5) is refused: the old one stays. */
	wr(0x100, 1u << 2 | 5u << 9);
	ck_assert_uint_eq(rd(0x100) >> 9 & 31, 21);
}
END_TEST

START_TEST(periodic_late)
{
	wr(0x10, 1);
	wr(0x120, 1u << 2 | 1u << 3 | 1u << 6 | 22u << 9);     /* timer 1, periodic */
	wr(0x128, 1000);                             /* first match at 1000 (10 us) */
	wr(0x128, 500);                              /* period 500 (5 us) */
	ck_assert_uint_eq(rd(0x128), 1000);
	advance(10000);
	ck_assert_int_eq(rises[22], 1);
	ck_assert_uint_eq(rd(0x128), 1500);
	advance(5000 * 3 + 2000);                    /* 3.4 periods late */
	ck_assert_int_eq(rises[22], 2);
	ck_assert_uint_eq(rd(0x128), 3000);          /* counter 2700: the next on the grid */
	ck_assert_uint_eq(hpet_next_deadline(h), now_ns + 3000);
}
END_TEST

START_TEST(level_timer)
{
	wr(0x10, 1);
	wr(0x140, 1u << 1 | 1u << 2 | 23u << 9);    /* timer 2, level */
	wr(0x148, 10);
	advance(100);
	ck_assert_int_eq(level[23], 1);
	ck_assert_uint_eq(rd(0x20), 4);
	wr(0x20, 1);                                 /* another timer's bit: nothing */
	ck_assert_int_eq(level[23], 1);
	wr(0x20, 4);
	ck_assert_int_eq(level[23], 0);
	ck_assert_uint_eq(rd(0x20), 0);
	/* Disabling the whole HPET drops the line too. */
	wr(0x148, rd(0xf0) + 10);
	advance(100);
	ck_assert_int_eq(level[23], 1);
	wr(0x10, 0);
	ck_assert_int_eq(level[23], 0);
}
END_TEST

static Suite *hpet_suite(void)
{
	Suite *s = suite_create("hpet");
	TCase *tc = tcase_create("hpet");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, counter);
	tcase_add_test(tc, oneshot_and_wrap);
	tcase_add_test(tc, periodic_late);
	tcase_add_test(tc, level_timer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hpet_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
