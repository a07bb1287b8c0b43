/*
 * timer.c - the 8254 PIT and the MC146818 RTC against each other. PIT channel 0 at
 * 100 Hz (mode 2) and 1 kHz (mode 3 square wave) counted over RTC seconds, with HLT
 * waking on IRQ 0; counter latch (a second latch before the read is ignored) and the
 * read-back command; channel 2 behind port 0x61 (gate, OUT on bit 5) in mode 0; the
 * RTC's power-on registers and BCD time, its periodic interrupt at two rates timed on
 * the PIT, PF without PIE, and the update-ended interrupt once a second.
 *
 * Counted rates must be within -30% .. +15%, best of three tries: on a loaded host an
 * emulator loses ticks (QEMU, with two CPU hogs beside it and trapeze on two cores,
 * once delivered 523 of 1000 at 1 kHz) but never gains them, and a wrong divisor or
 * rate select is off by far more (RTC rates step by 2x). Intervals with a start and an end are bracketed (the event lies after the last
 * sample that had not seen it and before the first that had), so a guest descheduled
 * mid-wait widens the bracket instead of failing the check. Waits sleep in HLT where
 * they can: a guest spinning on port I/O starves QEMU's timers.
 */
#include "irq.h"

#define PIT_100HZ 11932
#define PIT_1KHZ 1193
/* Bounds for `n` expected events (see above). */
#define RATE_LO(n) ((n) * 70 / 100)
#define RATE_HI(n) ((n) * 115 / 100)

/* Checks a count measure(arg) expected to be `expect`; a low count (lost ticks) is
 * measured again, up to three times, and the highest kept. */
static void check_rate(const char *name, uint32_t (*measure)(int), int arg, uint32_t expect)
{
	uint32_t best = 0;
	for (int i = 0; i < 3 && best < RATE_LO(expect); i++) {
		uint32_t n = measure(arg);
		printf("info %s: %u (try %d)\n", name, n, i + 1);
		if (n > best)
			best = n;
	}
	check_range(name, best, RATE_LO(expect), RATE_HI(expect));
}

static int bcd_ok(int v, int lo, int hi)
{
	return v >= lo && v <= hi && (v & 0x0f) <= 9 && (v >> 4) <= 9;
}

static int bcd_next_second(int s)
{
	if (s == 0x59)
		return 0;
	return (s & 0x0f) == 9 ? (s & 0xf0) + 0x10 : s + 1;
}

static void test_rtc_registers(void)
{
	uint8_t a = cmos_read(RTC_A), b = cmos_read(RTC_B), d = cmos_read(RTC_D);
	/* What a PC BIOS leaves (SeaBIOS rtc_setup): A = 0x26, B = 24-hour BCD, running. */
	check_eq("rtc-reg-a-divider-rate", a & 0x7f, 0x26);
	check_eq("rtc-reg-b-running-24h-bcd", b & 0x86, 0x02);
	check_eq("rtc-reg-b-interrupts-off", b & 0x70, 0);
	/* MC146818: D bit 7 VRT (valid RAM and time), bits 6-0 read 0. */
	check_eq("rtc-reg-d-vrt", d, 0x80);
	/* Port 0x70 bit 7 is the NMI mask, not part of the index. */
	check_eq("cmos-index-ignores-nmi-bit", cmos_read(0x80 | RTC_D), d);

	int sec = rtc_read_time_reg(RTC_SEC), min = rtc_read_time_reg(RTC_MIN);
	int hour = rtc_read_time_reg(RTC_HOUR), wday = rtc_read_time_reg(RTC_WDAY);
	int mday = rtc_read_time_reg(RTC_MDAY), mon = rtc_read_time_reg(RTC_MON);
	int year = rtc_read_time_reg(RTC_YEAR);
	check(sec >= 0, "rtc-uip-clears");
	check(bcd_ok(sec, 0, 0x59), "rtc-seconds-bcd");
	check(bcd_ok(min, 0, 0x59), "rtc-minutes-bcd");
	check(bcd_ok(hour, 0, 0x23), "rtc-hours-bcd-24h");
	check(bcd_ok(wday, 1, 7), "rtc-weekday-bcd");
	check(bcd_ok(mday, 1, 0x31), "rtc-day-bcd");
	check(bcd_ok(mon, 1, 0x12), "rtc-month-bcd");
	check(bcd_ok(year, 0, 0x99), "rtc-year-bcd");
}

/* The RTC seconds register, sleeping in HLT (woken by IRQ 0) between reads, until it
 * differs from `from`; -1 after `limit` IRQ 0 ticks. */
static int next_second_hlt(int from, uint32_t limit)
{
	uint32_t t0 = irq_count[0];
	for (;;) {
		int s = rtc_read_time_reg(RTC_SEC);
		if (s != from)
			return s;
		if (irq_count[0] - t0 > limit)
			return -1;
		__asm__ volatile("sti\n\thlt\n\tcli" ::: "memory");
	}
}

/* IRQ 0 ticks between two RTC second changes `secs` apart, sleeping in HLT; 0 if the
 * seconds stay put for 3 s of ticks at the expected rate `hz`. */
static uint32_t ticks_per_rtc_seconds(int secs, uint32_t hz)
{
	int s = next_second_hlt(rtc_read_time_reg(RTC_SEC), 3 * hz);
	uint32_t t1 = irq_count[0];
	for (int k = 0; k < secs && s >= 0; k++)
		s = next_second_hlt(s, 3 * hz);
	return s < 0 ? 0 : irq_count[0] - t1;
}

static uint32_t measure_100hz(int arg) { return ticks_per_rtc_seconds(arg, 100); }
static uint32_t measure_1khz(int arg) { return ticks_per_rtc_seconds(arg, 1000); }

static int pit_running;

static void test_pit_100hz(void)
{
	irq_handler[0] = 0;
	pit_set(0, 2, PIT_100HZ);
	pic_mask(0xfe, 0xff);
	sti();
	int ok = WAIT_UNTIL(irq_count[0] >= 2, EVENT_US);
	cli();
	check(ok, "pit-irq0-delivered");
	if (!ok)
		return;
	pit_running = 1;
	uint32_t n = irq_count[0];
	__asm__ volatile("sti\n\thlt\n\tcli" ::: "memory");
	check(irq_count[0] > n, "hlt-wakes-on-irq0");

	int s0 = rtc_read_time_reg(RTC_SEC);
	if (next_second_hlt(s0, 300) < 0) {
		fail("rtc-seconds-advance", "seconds %x stayed for 300 PIT ticks", s0);
		pit_running = 0;
		return;
	}
	pass("rtc-seconds-advance");
	check_rate("pit-100hz-ticks-per-2-rtc-seconds", measure_100hz, 2, 200);
}

static void test_pit_mode3(void)
{
	if (!pit_running)
		return;
	pit_set(0, 3, PIT_1KHZ);
	/* Status: OUT, null count, then RW 11 (LSB, MSB), mode 3, binary. */
	check_eq("pit-readback-status-mode3", pit_status(0) & 0x3f, 0x36);
	check_rate("pit-mode3-1khz-ticks-per-rtc-second", measure_1khz, 1, 1000);
}

static void test_pit_latch(void)
{
	pic_mask(0xff, 0xff);
	pit_set(0, 2, PIT_100HZ);
	uint16_t c1 = 0, c2 = 0;
	int ok = 0;
	/* Two latches microseconds apart straddle a reload at most once in three tries. */
	for (int i = 0; i < 3 && !ok; i++) {
		c1 = pit_latch(0);
		c2 = pit_latch(0);
		ok = c2 < c1;
	}
	if (ok)
		pass("pit-latch-count-decreases");
	else
		fail("pit-latch-count-decreases", "%u then %u", c1, c2);
	check(c1 >= 1 && c1 <= PIT_100HZ && c2 >= 1 && c2 <= PIT_100HZ, "pit-latch-mode2-in-1-to-n");

	/* Read-back latching count and status: the first read is the status. */
	outb(PIT_CMD, 0xc2);
	uint8_t st = inb(0x40), lo = inb(0x40), hi = inb(0x40);
	uint16_t c = (uint16_t)(lo | hi << 8);
	check_eq("pit-readback-status-mode2", st & 0x7f, 0x34);
	check(c >= 1 && c <= PIT_100HZ, "pit-readback-count-in-range");

	/* 82C54: a counter latched again before it is read keeps the first latched count. */
	pit_set(0, 2, 0);
	tb_wait_us(100);                /* the count loads on the next CLK */
	outb(PIT_CMD, 0x00);
	tb_wait_us(5000);
	outb(PIT_CMD, 0x00);
	uint8_t v1lo = inb(0x40), v1hi = inb(0x40);
	uint16_t v1 = (uint16_t)(v1lo | v1hi << 8);
	uint16_t v2 = pit_latch(0);
	check_range("pit-second-latch-ignored", (uint16_t)(v1 - v2), TB_US(2500), 40000);
}

/* Channel 2 in mode 0 on port 0x61, with channel 0 as the clock. */
static void test_ch2(void)
{
	tb_start(0);
	ch2_gate(0);
	check_eq("port61-gate-and-speaker-off", inb(PORT61) & 3, 0);
	pit_set(2, 0, 1000);
	tb_wait_us(3000);
	uint8_t out = inb(PORT61) & 0x20;
	uint16_t held = pit_latch(2);
	/* 82C54 mode 0: GATE low disables counting; the count is still loaded. */
	if (under_qemu()) {
		printf("SKIP pit-ch2-gate-low-out-stays-low qemu-i8254-ignores-gate-in-mode-0\n");
		printf("SKIP pit-ch2-gate-low-holds-count qemu-i8254-ignores-gate-in-mode-0\n");
	} else {
		check_eq("pit-ch2-gate-low-out-stays-low", out, 0);
		check_eq("pit-ch2-gate-low-holds-count", held, 1000);
	}

	ch2_gate(1);
	check_eq("port61-gate-on", inb(PORT61) & 3, 1);
	const uint32_t n = 35795;       /* 30 ms */
	uint32_t a = tb_now();
	pit_set(2, 0, (uint16_t)n);
	uint32_t b = tb_now();
	uint32_t last_low = b, first_high = 0;
	int first_low = -1;
	for (;;) {
		uint32_t before = tb_now();
		int high = inb(PORT61) & 0x20;
		uint32_t after = tb_now();
		if (first_low < 0)
			first_low = !high;
		if (high) {
			first_high = after;
			break;
		}
		last_low = before;
		if (after - a > TB_US(200000))
			break;
	}
	printf("info channel 2 OUT low at +%u, high at +%u ticks (count %u)\n",
	       last_low - b, first_high ? first_high - a : 0, n);
	check(first_low == 1, "pit-ch2-mode0-out-low-after-count");
	/* OUT rose at S + n with S in [a, b]: after last_low, before first_high. */
	if (first_high && last_low - b < n * 115 / 100 && first_high - a > n * 85 / 100)
		pass("pit-ch2-mode0-out-rises-after-count");
	else
		fail("pit-ch2-mode0-out-rises-after-count", "low at +%u high at +%u ticks, want %u +-15%%",
		     last_low - b, first_high ? first_high - a : 0, n);
	tb_wait_us(5000);
	check_eq("pit-ch2-mode0-out-stays-high", inb(PORT61) & 0x20, 0x20);
	/* Read-back status of channel 2: OUT 1, RW 11, mode 0, binary (null count masked). */
	check_eq("pit-readback-ch2-out-mode0", pit_status(2) & 0xbf, 0xb0);
	ch2_gate(0);
}

/* ---- RTC interrupts on IRQ 8 ---- */
static volatile uint32_t rtc_pf, rtc_uf, first_c, uf_tick[2], uf_sec[2], uf_irq8[2];

static void h8_rtc(struct frame *f)
{
	(void)f;
	uint8_t c = cmos_read(RTC_C);
	if (!first_c)
		first_c = c;
	if (c & 0x40)
		rtc_pf++;
	if ((c & 0x10) && rtc_uf < 2) {
		/* Just after an update: the time registers are stable for ~1 s. */
		uf_tick[rtc_uf] = irq_count[0];
		uf_sec[rtc_uf] = cmos_read(RTC_SEC);
		uf_irq8[rtc_uf] = irq_count[8];
		rtc_uf++;
	}
	pic_eoi(1);
	pic_eoi(0);
}

/* With RTC interrupts disabled and IRQ 8 open, let a request that reached the slave
 * before they were disabled be delivered (an emulated 8259 may keep it latched in IRR
 * after the line drops), so what follows counts only new interrupts. */
static void drain_irq8(void)
{
	sti();
	tb_wait_us(3000);
	cli();
}

/* Periodic interrupts with rate select rs over 0.5 s of PIT channel 0. */
static uint32_t count_periodic(int rs)
{
	cmos_write(RTC_A, 0x20 | rs);
	rtc_enable(RTC_B_PIE);
	uint32_t p0 = rtc_pf, t0 = tb_now();
	/* Sleep between interrupts: a guest spinning on port I/O can starve the
	 * emulator's timers (QEMU lost a quarter of 1024 Hz that way). */
	while (tb_now() - t0 < TB_US(500000))
		__asm__ volatile("sti\n\thlt\n\tcli" ::: "memory");
	return rtc_pf - p0;
}

static void test_rtc_periodic(void)
{
	irq_handler[8] = h8_rtc;
	first_c = 0;
	/* IRQ 8, and IRQ 0 from the clock channel (18.2 Hz) so HLT always wakes. */
	pic_mask(0xfa, 0xfe);
	check_rate("rtc-periodic-rs6-1024hz-in-half-second", count_periodic, 6, 512);
	check_eq("rtc-regc-irqf-pf", first_c & 0xc0, 0xc0);
	check_rate("rtc-periodic-rs10-64hz-in-half-second", count_periodic, 10, 32);

	/* MC146818: PF is set at the selected rate whether or not PIE enables the IRQ. */
	cmos_write(RTC_A, 0x26);
	rtc_enable(0);
	drain_irq8();
	uint32_t n8 = irq_count[8];
	cmos_read(RTC_C);
	sti();
	uint8_t c = 0;
	WAIT_UNTIL((c |= cmos_read(RTC_C)) & 0x40, EVENT_US);
	tb_wait_us(3000);
	cli();
	c |= cmos_read(RTC_C);
	check_eq("rtc-no-irq8-without-pie", irq_count[8] - n8, 0);
	/* QEMU 7.2 runs its periodic timer only while PIE is set. */
	if (under_qemu())
		printf("SKIP rtc-pf-set-without-pie qemu-sets-pf-only-with-pie\n");
	else
		check_eq("rtc-pf-set-without-pie", c & 0xc0, 0x40);
	drain_irq8();
	pic_mask(0xff, 0xff);
}

static void test_rtc_update(void)
{
	if (!pit_running)
		return;
	rtc_uf = 0;
	irq_count[8] = 0;
	irq_handler[8] = h8_rtc;
	pit_set(0, 2, PIT_100HZ);
	cmos_write(RTC_A, 0x26);
	rtc_enable(RTC_B_UIE);
	pic_mask(0xfa, 0xfe);
	uint32_t t0 = irq_count[0];
	while (rtc_uf < 2 && irq_count[0] - t0 < 300)
		__asm__ volatile("sti\n\thlt\n\tcli" ::: "memory");
	rtc_enable(0);
	pic_mask(0xff, 0xff);
	if (rtc_uf < 2) {
		fail("rtc-update-interrupts", "%u in 3 s", rtc_uf);
		return;
	}
	pass("rtc-update-interrupts");
	printf("info update interrupts %u PIT ticks apart\n", uf_tick[1] - uf_tick[0]);
	check_range("rtc-update-interrupt-period-pit-ticks", uf_tick[1] - uf_tick[0],
		    RATE_LO(100), RATE_HI(100));
	check_eq("rtc-seconds-step-at-update", uf_sec[1], bcd_next_second(uf_sec[0]));
	check_eq("rtc-only-update-irqs-with-uie", uf_irq8[1], 2);
}

void test_main(void)
{
	guest_init();
	pic_init();
	irq_install();
	tb_start(2);
	test_rtc_registers();
	test_pit_100hz();
	test_pit_mode3();
	test_pit_latch();
	test_ch2();
	test_rtc_periodic();
	test_rtc_update();
	check_eq("no-spurious-irqs", irq_spurious, 0);
	check_eq("no-stray-irqs", irq_stray(1u << 0 | 1u << 8), 0);
}
