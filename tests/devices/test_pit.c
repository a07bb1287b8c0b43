/*
 * test_pit.c - the 8254 PIT through the real I/O bus: mode 2 rate and deadlines,
 * lost ticks, mode 3 square wave and its count, mode 0 one-shot, modes 4/5 strobes,
 * counter latch and read-back, the LSB/MSB flip-flops, count 0 = 65536, a count
 * changed mid-period, BCD, counter 2's gate and OUT through port 0x61, and the
 * refresh toggle.
 *
 * Time is a fake vclock the tests set; goto_tick(t) puts it at the start of PIT input
 * tick t. A count written during tick t is loaded on the next CLK, so its epoch
 * begins at t + 1: a mode 2 count N first pulls OUT low at t + N and raises it at
 * t + 1 + N. irq0 is a fake line that records its level and 0->1 transitions.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../devices/clock.h"
#include "../../devices/ioport.h"
#include "../../devices/pit8254.h"

#define PIT_HZ 1193182ull
#define T0     (10 * PIT_HZ)    /* tests start 10 s into the clock */

static uint64_t now_ns;
static int irq_level, irq_rises;
static struct iobus *io;
static struct pit *pit;

static uint64_t fake_now(void *opaque)
{
	(void)opaque;
	return now_ns;
}

static void fake_irq(void *opaque, int irq, int level)
{
	(void)opaque;
	ck_assert_int_eq(irq, 0);
	if (level && !irq_level)
		irq_rises++;
	irq_level = level;
}

static const struct vclock clk = { fake_now, NULL };

static uint64_t tick_ns(uint64_t t)
{
	return (uint64_t)(((unsigned __int128)t * 1000000000u + PIT_HZ - 1) / PIT_HZ);
}
static uint64_t cur_tick(void)
{
	return (uint64_t)((unsigned __int128)now_ns * PIT_HZ / 1000000000u);
}
static void goto_tick(uint64_t t) { now_ns = tick_ns(t); }
static void advance(uint64_t ticks) { goto_tick(cur_tick() + ticks); }

static void outb(uint16_t port, uint8_t v) { io_out(io, port, 1, v); }
static uint8_t inb(uint16_t port) { return (uint8_t)io_in(io, port, 1); }

/* Control word for channel ch, LSB-then-MSB, binary, then the count's two bytes. */
static void program(int ch, int mode, uint32_t count)
{
	outb(0x43, (uint8_t)(ch << 6 | 0x30 | mode << 1));
	outb((uint16_t)(0x40 + ch), count & 0xff);
	outb((uint16_t)(0x40 + ch), count >> 8 & 0xff);
}

/* Counter Latch Command, then LSB and MSB. */
static unsigned latched_count(int ch)
{
	outb(0x43, (uint8_t)(ch << 6));
	unsigned lo = inb((uint16_t)(0x40 + ch));
	return lo | (unsigned)inb((uint16_t)(0x40 + ch)) << 8;
}

/* Read-back command latching only the status of channel ch. */
static uint8_t status(int ch)
{
	outb(0x43, (uint8_t)(0xe0 | 2 << ch));
	return inb((uint16_t)(0x40 + ch));
}
static int out(int ch) { return status(ch) >> 7; }
static int out2(void) { return !!(inb(0x61) & 0x20); }

static void setup(void)
{
	now_ns = tick_ns(T0);
	irq_level = irq_rises = 0;
	io = io_create();
	ck_assert_ptr_nonnull(io);
	pit = pit_create(io, &clk, (struct irq_line){ fake_irq, NULL, 0 });
	ck_assert_ptr_nonnull(pit);
}

static void teardown(void)
{
	pit_destroy(pit);
	io_destroy(io);
}

START_TEST(unprogrammed_is_quiet)
{
	ck_assert_uint_eq(pit_next_deadline(pit), VCLOCK_NEVER);
	advance(10 * PIT_HZ);
	pit_update(pit, now_ns);
	ck_assert_int_eq(irq_rises, 0);
}
END_TEST

START_TEST(mode2_rate)
{
	const uint32_t n = 11932;       /* 100 Hz */
	uint64_t t0 = cur_tick();
	program(0, 2, n);
	ck_assert_uint_eq(pit_next_deadline(pit), tick_ns(t0 + 1 + n));

	/* OUT low during the tick at count 1, the rising edge at the reload. */
	now_ns = tick_ns(t0 + 1 + n) - 1;
	pit_update(pit, now_ns);
	ck_assert_int_eq(out(0), 0);
	ck_assert_int_eq(irq_rises, 0);
	ck_assert_int_eq(irq_level, 0);
	now_ns++;
	pit_update(pit, now_ns);
	ck_assert_int_eq(irq_rises, 1);
	ck_assert_int_eq(irq_level, 1);
	ck_assert_uint_eq(pit_next_deadline(pit), tick_ns(t0 + 1 + 2 * n));

	/* One second in 100 us steps: 100 interrupts. */
	uint64_t end = now_ns + 1000000000u;
	int before = irq_rises;
	while (now_ns < end) {
		now_ns += 100000;
		pit_update(pit, now_ns);
	}
	ck_assert_int_ge(irq_rises - before, 99);
	ck_assert_int_le(irq_rises - before, 101);
	uint64_t d = pit_next_deadline(pit);
	ck_assert_uint_gt(d, now_ns);
	ck_assert_uint_le(d, now_ns + 10000000u);
}
END_TEST

START_TEST(mode2_lost_ticks_one_edge)
{
	const uint32_t n = 1000;
	uint64_t t0 = cur_tick();
	program(0, 2, n);
	goto_tick(t0 + 1 + n + 10);
	pit_update(pit, now_ns);
	ck_assert_int_eq(irq_rises, 1);
	ck_assert_int_eq(irq_level, 1);

	/* 50 periods pass unseen; the line was high and ends high, yet the PIC must
	 * see a 0->1 transition, and only one. */
	goto_tick(t0 + 1 + 51 * n + 10);
	ck_assert_uint_le(pit_next_deadline(pit), now_ns);
	pit_update(pit, now_ns);
	ck_assert_int_eq(irq_rises, 2);
	ck_assert_int_eq(irq_level, 1);
	pit_update(pit, now_ns);
	ck_assert_int_eq(irq_rises, 2);
	ck_assert_uint_eq(pit_next_deadline(pit), tick_ns(t0 + 1 + 52 * n));
}
END_TEST

START_TEST(mode3_square_wave)
{
	uint64_t t0 = cur_tick();
	program(0, 3, 1000);
	/* Even count: high 500 ticks, low 500, the count stepping by two each half. */
	for (unsigned k = 0; k < 500; k += 50) {
		goto_tick(t0 + 1 + k);
		ck_assert_int_eq(out(0), 1);
		ck_assert_uint_eq(latched_count(0), 1000 - 2 * k);
	}
	goto_tick(t0 + 1 + 499);
	ck_assert_int_eq(out(0), 1);
	goto_tick(t0 + 1 + 500);
	pit_update(pit, now_ns);
	ck_assert_int_eq(irq_level, 0);
	ck_assert_int_eq(irq_rises, 0);
	for (unsigned k = 0; k < 500; k += 50) {
		goto_tick(t0 + 1 + 500 + k);
		ck_assert_int_eq(out(0), 0);
		ck_assert_uint_eq(latched_count(0), 1000 - 2 * k);
	}
	goto_tick(t0 + 1 + 999);
	pit_update(pit, now_ns);
	ck_assert_int_eq(irq_level, 0);
	ck_assert_uint_eq(pit_next_deadline(pit), tick_ns(t0 + 1 + 1000));
	goto_tick(t0 + 1 + 1000);
	pit_update(pit, now_ns);
	ck_assert_int_eq(irq_rises, 1);
	ck_assert_int_eq(irq_level, 1);

	/* Plain reads (no latch), LSB then MSB, decrease as time goes on. */
	unsigned prev = 0x10000;
	for (int i = 0; i < 10; i++) {
		advance(20);
		unsigned v = inb(0x40);
		v |= (unsigned)inb(0x40) << 8;
		ck_assert_uint_lt(v, prev);
		prev = v;
	}

	/* Odd count 5: high (5+1)/2 = 3 ticks, low 2. */
	uint64_t t1 = cur_tick();
	program(0, 3, 5);
	static const int wave[] = { 1, 1, 1, 0, 0, 1, 1, 1, 0, 0 };
	for (int k = 0; k < 10; k++) {
		goto_tick(t1 + 1 + (uint64_t)k);
		ck_assert_int_eq(out(0), wave[k]);
	}
}
END_TEST

START_TEST(mode0_one_shot)
{
	uint64_t t0 = cur_tick();
	program(0, 0, 100);
	pit_update(pit, now_ns);
	ck_assert_int_eq(out(0), 0);
	ck_assert_int_eq(irq_level, 0);
	ck_assert_uint_eq(pit_next_deadline(pit), tick_ns(t0 + 1 + 100));
	goto_tick(t0 + 100);
	pit_update(pit, now_ns);
	ck_assert_int_eq(irq_level, 0);
	goto_tick(t0 + 101);
	pit_update(pit, now_ns);
	ck_assert_int_eq(irq_level, 1);
	ck_assert_int_eq(irq_rises, 1);
	ck_assert_uint_eq(pit_next_deadline(pit), VCLOCK_NEVER);

	/* OUT stays high; the counter wraps and goes on counting. */
	goto_tick(t0 + 1 + 105);
	ck_assert_uint_eq(latched_count(0), 0xfffb);
	advance(5 * PIT_HZ);
	pit_update(pit, now_ns);
	ck_assert_int_eq(irq_rises, 1);
	ck_assert_int_eq(out(0), 1);

	/* The first byte of a new two-byte count sets OUT low at once. */
	outb(0x40, 10);
	ck_assert_int_eq(out(0), 0);
	ck_assert_int_eq(irq_level, 0);
	uint64_t t1 = cur_tick();
	outb(0x40, 0);
	goto_tick(t1 + 1 + 10);
	pit_update(pit, now_ns);
	ck_assert_int_eq(irq_rises, 2);
}
END_TEST

START_TEST(mode4_mode5_strobes)
{
	uint64_t t0 = cur_tick();
	program(0, 4, 100);
	ck_assert_int_eq(out(0), 1);
	ck_assert_uint_eq(pit_next_deadline(pit), tick_ns(t0 + 1 + 101));
	goto_tick(t0 + 1 + 100);
	pit_update(pit, now_ns);
	ck_assert_int_eq(irq_level, 0);
	goto_tick(t0 + 1 + 101);
	pit_update(pit, now_ns);
	ck_assert_int_eq(irq_level, 1);
	ck_assert_int_eq(irq_rises, 1);
	ck_assert_uint_eq(pit_next_deadline(pit), VCLOCK_NEVER);

	/* Mode 5 waits for a gate trigger on channel 2. */
	outb(0x61, 0);
	program(2, 5, 50);
	advance(1000);
	ck_assert_int_eq(out2(), 1);
	ck_assert_int_eq(status(2) & 0x40, 0x40);      /* null count: not loaded */
	uint64_t tg = cur_tick();
	outb(0x61, 1);
	goto_tick(tg + 1 + 49);
	ck_assert_int_eq(out2(), 1);
	goto_tick(tg + 1 + 50);
	ck_assert_int_eq(out2(), 0);
	goto_tick(tg + 1 + 51);
	ck_assert_int_eq(out2(), 1);
}
END_TEST

START_TEST(latch_freezes_count)
{
	uint64_t t0 = cur_tick();
	program(0, 2, 50000);
	goto_tick(t0 + 1 + 1000);
	outb(0x43, 0x00);
	goto_tick(t0 + 1 + 3000);
	outb(0x43, 0x00);               /* ignored: the first latch is unread */
	unsigned lo = inb(0x40);
	ck_assert_uint_eq(lo | (unsigned)inb(0x40) << 8, 49000);
	ck_assert_uint_eq(latched_count(0), 47000);
	/* Latched once more, read once more: the latch holds through time. */
	outb(0x43, 0x00);
	advance(777);
	lo = inb(0x40);
	advance(777);
	ck_assert_uint_eq(lo | (unsigned)inb(0x40) << 8, 47000);
}
END_TEST

START_TEST(read_back)
{
	outb(0x61, 1);
	outb(0x43, 0xb0);               /* channel 2, LSB/MSB, mode 0, binary */
	ck_assert_uint_eq(status(2), 0x70);     /* OUT low, null count, RW=11, mode 0 */
	uint64_t t0 = cur_tick();
	outb(0x42, 10);
	outb(0x42, 0);
	ck_assert_uint_eq(status(2), 0x30);
	goto_tick(t0 + 1 + 10);
	ck_assert_uint_eq(status(2), 0xb0);

	/* Count and status together: status first, then LSB, MSB. */
	goto_tick(t0 + 1 + 12);
	outb(0x43, 0xc8);
	ck_assert_uint_eq(inb(0x42), 0xb0);
	ck_assert_uint_eq(inb(0x42), 0xfe);
	ck_assert_uint_eq(inb(0x42), 0xff);

	/* One command latches the counts of channels 0 and 1. */
	uint64_t t1 = cur_tick();
	program(0, 2, 1000);
	program(1, 2, 2000);
	goto_tick(t1 + 100);
	outb(0x43, 0xd6);
	advance(500);
	unsigned lo = inb(0x40);
	ck_assert_uint_eq(lo | (unsigned)inb(0x40) << 8, 901);
	lo = inb(0x41);
	ck_assert_uint_eq(lo | (unsigned)inb(0x41) << 8, 1901);

	/* Mode, RW and BCD bits as programmed. */
	outb(0x43, 0x75);               /* channel 1, LSB/MSB, mode 2, BCD */
	ck_assert_uint_eq(status(1), 0xf5);
	/* A second status latch before the read is ignored. */
	uint64_t t2 = cur_tick();
	program(2, 0, 5);
	outb(0x43, 0xe8);
	goto_tick(t2 + 1 + 10);
	outb(0x43, 0xe8);
	ck_assert_uint_eq(inb(0x42), 0x30);
	ck_assert_uint_eq(status(2), 0xb0);
}
END_TEST

START_TEST(flip_flops)
{
	outb(0x43, 0x34);               /* channel 0, LSB/MSB, mode 2 */
	outb(0x40, 0x34);
	outb(0x40, 0x12);
	ck_assert_uint_eq(latched_count(0), 0x1234);
	/* Plain reads alternate LSB, MSB, LSB... */
	ck_assert_uint_eq(inb(0x40), 0x34);
	ck_assert_uint_eq(inb(0x40), 0x12);
	ck_assert_uint_eq(inb(0x40), 0x34);
	ck_assert_uint_eq(inb(0x40), 0x12);
	/* A control word resets the write flip-flop left at the MSB. */
	outb(0x43, 0x34);
	outb(0x40, 0xff);
	outb(0x43, 0x34);
	outb(0x40, 0x78);
	outb(0x40, 0x56);
	ck_assert_uint_eq(latched_count(0), 0x5678);
	/* Reads and writes interleave: separate flip-flops (mode 0 loads at once). */
	outb(0x43, 0x30);
	outb(0x40, 0x78);
	outb(0x40, 0x56);
	uint64_t t = cur_tick();
	ck_assert_uint_eq(inb(0x40), 0x78);
	outb(0x40, 0x22);
	ck_assert_uint_eq(inb(0x40), 0x56);
	outb(0x40, 0x11);
	ck_assert_uint_eq(pit_next_deadline(pit), tick_ns(t + 1 + 0x1122));

	/* LSB only: the MSB is zero, one read per value. */
	outb(0x43, 0x14);
	t = cur_tick();
	outb(0x40, 0x56);
	ck_assert_uint_eq(pit_next_deadline(pit), tick_ns(t + 1 + 0x56));
	ck_assert_uint_eq(inb(0x40), 0x56);
	ck_assert_uint_eq(inb(0x40), 0x56);
	/* MSB only: the LSB is zero. */
	outb(0x43, 0x24);
	t = cur_tick();
	outb(0x40, 0x12);
	ck_assert_uint_eq(pit_next_deadline(pit), tick_ns(t + 1 + 0x1200));
	ck_assert_uint_eq(inb(0x40), 0x12);
	ck_assert_uint_eq(inb(0x40), 0x12);
}
END_TEST

START_TEST(count_zero_is_65536)
{
	uint64_t t0 = cur_tick();
	program(0, 2, 0);
	ck_assert_uint_eq(pit_next_deadline(pit), tick_ns(t0 + 1 + 65536));
	goto_tick(t0 + 1);
	ck_assert_uint_eq(latched_count(0), 0);
	goto_tick(t0 + 2);
	ck_assert_uint_eq(latched_count(0), 0xffff);
	goto_tick(t0 + 1 + 65535);
	pit_update(pit, now_ns);
	ck_assert_int_eq(irq_rises, 0);
	goto_tick(t0 + 1 + 65536);
	pit_update(pit, now_ns);
	ck_assert_int_eq(irq_rises, 1);
	ck_assert_uint_eq(pit_next_deadline(pit), tick_ns(t0 + 1 + 2 * 65536));
}
END_TEST

START_TEST(new_count_at_cycle_end)
{
	uint64_t t0 = cur_tick();
	program(0, 2, 1000);
	goto_tick(t0 + 1 + 300);
	outb(0x40, 500 & 0xff);
	outb(0x40, 500 >> 8);
	/* The current period runs out with the old count. */
	ck_assert_uint_eq(latched_count(0), 700);
	ck_assert_uint_eq(status(0) & 0x40, 0x40);
	ck_assert_uint_eq(pit_next_deadline(pit), tick_ns(t0 + 1 + 1000));
	goto_tick(t0 + 1 + 1000);
	pit_update(pit, now_ns);
	ck_assert_int_eq(irq_rises, 1);
	ck_assert_uint_eq(latched_count(0), 500);
	ck_assert_uint_eq(status(0) & 0x40, 0);
	ck_assert_uint_eq(pit_next_deadline(pit), tick_ns(t0 + 1 + 1500));
	goto_tick(t0 + 1 + 1500);
	pit_update(pit, now_ns);
	ck_assert_int_eq(irq_rises, 2);

	/* Mode 3 takes a new count at the end of the half cycle: written in the high
	 * half of 1000, 600 starts at the falling edge with its own low half (300). */
	uint64_t t1 = cur_tick();
	program(0, 3, 1000);
	goto_tick(t1 + 1 + 100);
	outb(0x40, 600 & 0xff);
	outb(0x40, 600 >> 8);
	ck_assert_uint_eq(pit_next_deadline(pit), tick_ns(t1 + 1 + 800));
	goto_tick(t1 + 1 + 499);
	ck_assert_uint_eq(latched_count(0), 2);
	goto_tick(t1 + 1 + 500);
	ck_assert_int_eq(out(0), 0);
	ck_assert_uint_eq(latched_count(0), 600);
	goto_tick(t1 + 1 + 799);
	ck_assert_int_eq(out(0), 0);
	goto_tick(t1 + 1 + 800);
	ck_assert_int_eq(out(0), 1);
	ck_assert_uint_eq(latched_count(0), 600);
	ck_assert_uint_eq(pit_next_deadline(pit), tick_ns(t1 + 1 + 1400));
}
END_TEST

START_TEST(bcd_counting)
{
	outb(0x61, 1);
	outb(0x43, 0xb1);               /* channel 2, LSB/MSB, mode 0, BCD */
	uint64_t t0 = cur_tick();
	outb(0x42, 0x00);
	outb(0x42, 0x01);               /* 100 decimal */
	goto_tick(t0 + 1);
	ck_assert_uint_eq(latched_count(2), 0x0100);
	goto_tick(t0 + 2);
	ck_assert_uint_eq(latched_count(2), 0x0099);
	goto_tick(t0 + 1 + 99);
	ck_assert_int_eq(out2(), 0);
	goto_tick(t0 + 1 + 100);
	ck_assert_uint_eq(latched_count(2), 0x0000);
	ck_assert_int_eq(out2(), 1);
	goto_tick(t0 + 1 + 101);
	ck_assert_uint_eq(latched_count(2), 0x9999);
}
END_TEST

START_TEST(gate2_calibration_loop)
{
	const unsigned n = 1193;        /* 1 ms */
	outb(0x61, 0x01);               /* gate on, speaker off */
	ck_assert_uint_eq(inb(0x61) & 0x0f, 0x01);
	program(2, 0, n);
	ck_assert_int_eq(out2(), 0);
	/* Poll OUT2 one tick at a time: N + 1 CLKs (the load, then N decrements). */
	unsigned polls = 0;
	while (!out2()) {
		advance(1);
		polls++;
		ck_assert_uint_lt(polls, 2 * n);
	}
	ck_assert_uint_eq(polls, n + 1);
	ck_assert_int_eq(irq_rises, 0);         /* channel 2 is not IRQ 0 */
	outb(0x61, 0x03);
	ck_assert_uint_eq(inb(0x61) & 0x0f, 0x03);
}
END_TEST

START_TEST(gate2_stops_and_triggers)
{
	/* Mode 0: a low gate holds the count. */
	outb(0x61, 0);
	program(2, 0, 1000);
	advance(50);
	ck_assert_uint_eq(latched_count(2), 1000);
	outb(0x61, 1);
	advance(10);
	ck_assert_uint_eq(latched_count(2), 990);
	outb(0x61, 0);
	advance(5000);
	ck_assert_uint_eq(latched_count(2), 990);
	ck_assert_int_eq(out2(), 0);

	/* Mode 2: a low gate stops it with OUT high, the rising edge reloads. */
	outb(0x61, 1);
	uint64_t t0 = cur_tick();
	program(2, 2, 1000);
	goto_tick(t0 + 1 + 300);
	ck_assert_uint_eq(latched_count(2), 700);
	goto_tick(t0 + 1 + 999);
	ck_assert_int_eq(out2(), 0);
	outb(0x61, 0);
	ck_assert_int_eq(out2(), 1);
	advance(3000);
	ck_assert_int_eq(out2(), 1);
	uint64_t tg = cur_tick();
	outb(0x61, 1);
	goto_tick(tg + 1);
	ck_assert_uint_eq(latched_count(2), 1000);
	goto_tick(tg + 1 + 10);
	ck_assert_uint_eq(latched_count(2), 990);

	/* Mode 3 likewise: gate low in the low half forces OUT high; the rising edge
	 * starts a fresh high half. */
	t0 = cur_tick();
	program(2, 3, 100);
	goto_tick(t0 + 1 + 60);
	ck_assert_int_eq(out2(), 0);
	outb(0x61, 0);
	ck_assert_int_eq(out2(), 1);
	tg = cur_tick();
	outb(0x61, 1);
	goto_tick(tg + 1 + 49);
	ck_assert_int_eq(out2(), 1);
	goto_tick(tg + 1 + 50);
	ck_assert_int_eq(out2(), 0);

	/* Mode 1: nothing until the trigger, then OUT low for N CLKs. */
	outb(0x61, 0);
	program(2, 1, 100);
	ck_assert_int_eq(out2(), 1);
	advance(500);
	ck_assert_int_eq(out2(), 1);
	tg = cur_tick();
	outb(0x61, 1);
	goto_tick(tg + 1);
	ck_assert_int_eq(out2(), 0);
	goto_tick(tg + 100);
	ck_assert_int_eq(out2(), 0);
	goto_tick(tg + 101);
	ck_assert_int_eq(out2(), 1);
	/* Gate low does not stop a one-shot; another rising edge retriggers it. */
	outb(0x61, 0);
	tg = cur_tick();
	outb(0x61, 1);
	goto_tick(tg + 50);
	ck_assert_int_eq(out2(), 0);
}
END_TEST

START_TEST(refresh_toggles)
{
	int bit = inb(0x61) & 0x10, toggles = 0;
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(inb(0x61) & 0x10, bit);        /* only time flips it */
	for (int i = 0; i < 1000; i++) {
		now_ns += 1000;
		int b = inb(0x61) & 0x10;
		toggles += b != bit;
		bit = b;
	}
	/* 1 ms / 15.085 us = 66.3 */
	ck_assert_int_ge(toggles, 64);
	ck_assert_int_le(toggles, 68);
}
END_TEST

static Suite *pit_suite(void)
{
	Suite *s = suite_create("pit8254");
	TCase *tc = tcase_create("pit");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, unprogrammed_is_quiet);
	tcase_add_test(tc, mode2_rate);
	tcase_add_test(tc, mode2_lost_ticks_one_edge);
	tcase_add_test(tc, mode3_square_wave);
	tcase_add_test(tc, mode0_one_shot);
	tcase_add_test(tc, mode4_mode5_strobes);
	tcase_add_test(tc, latch_freezes_count);
	tcase_add_test(tc, read_back);
	tcase_add_test(tc, flip_flops);
	tcase_add_test(tc, count_zero_is_65536);
	tcase_add_test(tc, new_count_at_cycle_end);
	tcase_add_test(tc, bcd_counting);
	tcase_add_test(tc, gate2_calibration_loop);
	tcase_add_test(tc, gate2_stops_and_triggers);
	tcase_add_test(tc, refresh_toggles);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pit_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
