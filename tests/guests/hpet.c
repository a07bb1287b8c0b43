/*
 * hpet.c - the HPET at 0xfed00000 (IA-PC HPET 1.0a): the capabilities (10 ns period,
 * 64-bit counter, three timers, vendor 8086), the main counter halted and writable
 * while disabled and counting at 100 MHz against the PIT when enabled, and timer 0
 * through the I/O APIC input its capabilities offer (QEMU's pc offers pin 2, trapeze
 * 20-23): one-shot edge (one interrupt), periodic with Tn_VAL_SET (a count in range),
 * level-triggered (the status bit set until written, one interrupt per clear).
 */
#include "irq.h"

#define HPET 0xfed00000u
#define APIC 0xfee00000u
#define IOAPIC 0xfec00000u

static uint32_t rd32(uint32_t off) { return *(volatile uint32_t *)(HPET + off); }
static void wr32(uint32_t off, uint32_t v) { *(volatile uint32_t *)(HPET + off) = v; }
static uint32_t counter(void) { return rd32(0xf0); }
static void io_wr(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)IOAPIC = reg;
	*(volatile uint32_t *)(IOAPIC + 0x10) = v;
}

#define T0_CONF 0x100
#define T0_CMP 0x108
#define TN_LEVEL (1u << 1)
#define TN_INT_ENB (1u << 2)
#define TN_PERIODIC (1u << 3)
#define TN_VAL_SET (1u << 6)

static volatile uint32_t n_int, isr_at_int;
static int pin;

static void on_hpet(struct frame *f)
{
	(void)f;
	n_int++;
	isr_at_int = rd32(0x20);
	wr32(0x20, 1);                          /* a level timer's status: cleared */
	*(volatile uint32_t *)(APIC + 0xb0) = 0;
}

static void test_counter(void)
{
	uint32_t lo = rd32(0), period = rd32(4);
	check_eq("hpet-period-10ns", period, 10000000);
	/* Bit 15 (legacy replacement) is QEMU's, not trapeze's. */
	check_eq("hpet-capabilities", lo & ~0x8000u & ~0x1f00u, 0x80862001);
	check(((lo >> 8) & 0x1f) >= 2, "hpet-three-timers");
	wr32(0x10, 0);
	wr32(0xf0, 0x12345678);
	wr32(0xf4, 0);
	check_eq("hpet-counter-writable-halted", counter(), 0x12345678);
	check_eq("hpet-counter-halted", counter(), 0x12345678);
	wr32(0x10, 1);
	uint32_t r = 0;
	for (int i = 0; i < 5 && (r < 80 || r > 86); i++) {
		uint32_t t0 = tb_now(), a = counter();
		tb_wait_us(10000);
		uint32_t b = counter(), t1 = tb_now();
		r = (b - a) / (t1 - t0);        /* 100 MHz / 1.193 MHz: 83.8 */
	}
	check_range("hpet-counts-100mhz", r, 80, 86);
}

static void arm_pin(uint32_t flags)
{
	io_wr(0x11 + 2 * pin, 0);
	io_wr(0x10 + 2 * pin, flags | 0x72);
}

static void test_timers(void)
{
	uint32_t cap = rd32(T0_CONF + 4);
	pin = cap ? __builtin_ctz(cap) : -1;
	check(pin >= 0, "hpet-timer0-route-cap");
	if (pin < 0)
		return;
	idt_set(0x72, isr_stubs[0x72], SEL_CODE, 0x8e);
	exc_set_hook(0x72, on_hpet);

	arm_pin(0);
	n_int = 0;
	wr32(T0_CONF, TN_INT_ENB | (uint32_t)pin << 9);
	wr32(T0_CMP + 4, 0);
	wr32(T0_CMP, counter() + 1000000);      /* 10 ms */
	sti();
	int ok = WAIT_UNTIL(n_int > 0, EVENT_US);
	/* Quiet after it fired (QEMU under load sometimes delivers a second interrupt
	 * right after the first, so the count is taken from a later window; the unit
	 * test tests/devices/test_apic.c holds trapeze to exactly one). */
	tb_wait_us(20000);
	n_int = 0;
	tb_wait_us(30000);
	cli();
	check(ok, "hpet-oneshot-fires");
	check_eq("hpet-oneshot-then-quiet", n_int, 0);

	n_int = 0;
	wr32(T0_CONF, TN_INT_ENB | TN_PERIODIC | TN_VAL_SET | (uint32_t)pin << 9);
	wr32(T0_CMP, counter() + 100000);       /* first match in 1 ms */
	wr32(T0_CMP, 100000);                   /* then every 1 ms */
	/* At least 10 periods, however long the host takes to run them (QEMU's, under
	 * load, ran one in 50 ms), and not more than the main counter allows. */
	uint32_t t0 = counter();
	sti();
	WAIT_UNTIL(n_int >= 10, 4 * EVENT_US);
	cli();
	uint32_t ms = (counter() - t0) / 100000;
	wr32(T0_CONF, 0);
	printf("info hpet periodic 1 ms over %u ms: %u\n", ms, n_int);
	/* QEMU TCG, on a loaded host, has delivered a single period in the 2 s allowed
	 * (seen in parallel ctest runs): its timers, not the guest, decide that. */
	if (n_int < 10 && under_qemu())
		printf("SKIP hpet-periodic QEMU ran %u periods in %u ms (host load)\n", n_int, ms);
	else
		check_range("hpet-periodic", n_int, 10, ms + 8);

	sti();
	tb_wait_us(2000);                       /* one in flight */
	cli();
	n_int = 0;
	arm_pin(1u << 15);                      /* level */
	wr32(T0_CONF, TN_LEVEL | TN_INT_ENB | (uint32_t)pin << 9);
	wr32(T0_CMP, counter() + 100000);
	sti();
	ok = WAIT_UNTIL(n_int > 0, EVENT_US);
	tb_wait_us(20000);
	n_int = 0;
	tb_wait_us(20000);
	cli();
	check(ok, "hpet-level-fires");
	check_eq("hpet-level-status-set", isr_at_int & 1, 1);
	check_eq("hpet-level-status-cleared", rd32(0x20) & 1, 0);
	check_eq("hpet-level-then-quiet", n_int, 0);
	wr32(T0_CONF, 0);
	io_wr(0x10 + 2 * pin, 1u << 16);
}

void test_main(void)
{
	guest_init();
	idt_init();
	irq_install();
	tb_start(2);
	/* The PIT shares pin 2 in QEMU: mode 0 with count 1 raises OUT once and then
	 * leaves it high; its edge is long gone when the timers run. */
	pit_set(0, 0, 1);
	test_counter();
	test_timers();
	guest_finish();
}
