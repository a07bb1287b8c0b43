/*
 * irq.h - helpers the interrupt-controller and timer guests (pic.c, timer.c) share: the
 * 8259A pair, the 8254 PIT, the MC146818 RTC behind CMOS ports 0x70/0x71, a tick clock
 * read from a free-running PIT channel, and one IDT hook for vectors 0x20-0x2f that
 * counts each IRQ and runs a per-IRQ handler the test swaps in.
 *
 * Interface: irq_install() after guest_init(); pic_init() programs both chips as
 * Linux's init_8259A does and leaves every IRQ masked; tb_start(ch) makes PIT channel
 * ch the clock tb_now() reads (mode 2, count 65536), so tb_now() must be called at
 * least every 55 ms while a wait is timed. Every multi-access register sequence runs
 * with IF clear, so an interrupt handler that touches the same chip cannot split it.
 * Everything is static: each guest is one translation unit plus lib/.
 */
#ifndef GUESTS_NEXT_IRQ_H
#define GUESTS_NEXT_IRQ_H

#include "guest.h"

/* ---- IF save/restore ---- */
static inline uint32_t irq_save(void)
{
	uint32_t f = read_eflags();
	__asm__ volatile("cli" ::: "memory");
	return f;
}
static inline void irq_restore(uint32_t f)
{
	if (f & EFL_IF)
		__asm__ volatile("sti" ::: "memory");
}
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }

/* PASS when lo <= got <= hi, else FAIL naming the range (rates and intervals). */
static inline void check_range(const char *name, uint32_t got, uint32_t lo, uint32_t hi)
{
	if (got >= lo && got <= hi)
		pass(name);
	else
		fail(name, "got %u want %u..%u", got, lo, hi);
}

/* ---- 8259A pair (Intel 8259A datasheet: ICW1-4, OCW1-3) ---- */
#define PIC_M 0x20              /* master command; +1 data (IMR) */
#define PIC_S 0xa0              /* slave command; +1 data (IMR) */
#define IRQ_BASE 0x20           /* ICW2 master; the slave gets IRQ_BASE + 8 */

/* ICW1 (edge, cascade, ICW4 needed), ICW2 vector base, ICW3 wiring, ICW4 8086 mode
 * (icw4_master 0x03 adds auto-EOI). ICW1 clears the IMR, so this leaves it 0. */
static inline void pic_icw(uint8_t base_m, uint8_t base_s, uint8_t icw4_master)
{
	uint32_t f = irq_save();
	outb(PIC_M, 0x11);
	outb(PIC_M + 1, base_m);
	outb(PIC_M + 1, 0x04);          /* slave on IR2 */
	outb(PIC_M + 1, icw4_master);
	outb(PIC_S, 0x11);
	outb(PIC_S + 1, base_s);
	outb(PIC_S + 1, 0x02);          /* slave identity 2 */
	outb(PIC_S + 1, 0x01);
	irq_restore(f);
}

/* OCW1 on both chips: a set bit masks that IR line. */
static inline void pic_mask(uint8_t m, uint8_t s)
{
	outb(PIC_M + 1, m);
	outb(PIC_S + 1, s);
}

/* Linux's init_8259A: mask, ICW1-4 (vectors 0x20/0x28), mask everything again. */
static inline void pic_init(void)
{
	pic_mask(0xff, 0xff);
	pic_icw(IRQ_BASE, IRQ_BASE + 8, 0x01);
	pic_mask(0xff, 0xff);
}

/* OCW3 0x0a / 0x0b select IRR / ISR for the next reads of the command port. */
static inline uint8_t pic_irr(int slave)
{
	uint16_t p = slave ? PIC_S : PIC_M;
	uint32_t f = irq_save();
	outb(p, 0x0a);
	uint8_t v = inb(p);
	irq_restore(f);
	return v;
}
static inline uint8_t pic_isr(int slave)
{
	uint16_t p = slave ? PIC_S : PIC_M;
	uint32_t f = irq_save();
	outb(p, 0x0b);
	uint8_t v = inb(p);
	outb(p, 0x0a);
	irq_restore(f);
	return v;
}
/* OCW2 non-specific EOI (clears the highest-priority ISR bit) and specific EOI. */
static inline void pic_eoi(int slave) { outb(slave ? PIC_S : PIC_M, 0x20); }
static inline void pic_seoi(int slave, int level) { outb(slave ? PIC_S : PIC_M, 0x60 | level); }

/* ---- 8254 PIT (Intel 82C54 datasheet); input clock 1.193182 MHz ---- */
#define PIT_HZ 1193182u
#define PIT_CMD 0x43
#define PORT61 0x61             /* bit 0 ch2 gate, bit 1 speaker data, bit 5 ch2 OUT */

/* Control word: counter ch, LSB then MSB, mode, binary; then the count (0 = 65536). */
static inline void pit_set(int ch, int mode, uint16_t count)
{
	uint32_t f = irq_save();
	outb(PIT_CMD, (uint8_t)(ch << 6 | 0x30 | mode << 1));
	outb(0x40 + ch, count & 0xff);
	outb(0x40 + ch, count >> 8);
	irq_restore(f);
}
/* Counter latch command, then LSB and MSB of the latched count. */
static inline uint16_t pit_latch(int ch)
{
	uint32_t f = irq_save();
	outb(PIT_CMD, (uint8_t)(ch << 6));
	uint8_t lo = inb(0x40 + ch);
	uint8_t hi = inb(0x40 + ch);
	irq_restore(f);
	return (uint16_t)(lo | hi << 8);
}
/* Read-back command latching only the status byte: OUT, null count, RW, mode, BCD. */
static inline uint8_t pit_status(int ch)
{
	uint32_t f = irq_save();
	outb(PIT_CMD, (uint8_t)(0xe0 | 2 << ch));
	uint8_t v = inb(0x40 + ch);
	irq_restore(f);
	return v;
}
/* Port 0x61: channel 2 gate on or off, speaker data always off. */
static inline void ch2_gate(int on)
{
	uint32_t f = irq_save();
	outb(PORT61, (uint8_t)((inb(PORT61) & ~0x03) | (on ? 1 : 0)));
	irq_restore(f);
}

/* ---- tick clock: a PIT channel free-running in mode 2 with count 65536 ---- */
/* Microseconds to ticks in 32-bit arithmetic (1193 per ms; 0.02% slow). */
#define TB_US(us) ((uint32_t)(us) / 1000 * 1193u + (uint32_t)(us) % 1000 * 1193u / 1000)
/* Consecutive equal reads after which the channel is taken for dead; even a fast
 * monitor needs far more than a PIT period (838 ns) for 3 port accesses times this. */
#define TB_STUCK_LIMIT 300000u

static struct {
	int ch;
	uint16_t last;
	uint32_t now, stuck;
} tb;

/* Program channel ch (opening its gate for channel 2) as the clock tb_now() reads. */
static inline void tb_start(int ch)
{
	if (ch == 2)
		ch2_gate(1);
	pit_set(ch, 2, 0);
	uint32_t f = irq_save();
	tb.ch = ch;
	tb.last = pit_latch(ch);
	tb.stuck = 0;
	irq_restore(f);
}
/* PIT ticks since tb_start, extended past 16 bits; a dead channel ends the guest. */
static inline uint32_t tb_now(void)
{
	uint32_t f = irq_save();
	uint16_t c = pit_latch(tb.ch);
	uint16_t d = (uint16_t)(tb.last - c);
	tb.last = c;
	tb.now += d;
	tb.stuck = d ? 0 : tb.stuck + 1;
	uint32_t now = tb.now, stuck = tb.stuck;
	irq_restore(f);
	if (stuck > TB_STUCK_LIMIT) {
		fail("pit-clock", "channel %d does not count (reads %x)", tb.ch, c);
		guest_exit(1);
	}
	return now;
}
/* A pause between polls without port I/O: QEMU takes its global lock for every port
 * access, and a guest polling flat out delays the timers that raise its IRQs. */
static inline void poll_relax(void)
{
	for (volatile int i = 0; i < 100; i++)
		;
}
static inline void tb_wait_us(uint32_t us)
{
	uint32_t t0 = tb_now();
	while (tb_now() - t0 < TB_US(us))
		poll_relax();
}
/* Evaluates to whether cond became true within `us` microseconds (cond polled). An
 * emulator raises IRQ lines from host timers that may run late under load, so a
 * check that something happened waits for it with a generous bound (EVENT_US)
 * rather than looking after a fixed delay. */
#define EVENT_US 500000u
#define WAIT_UNTIL(cond, us) ({                                          \
	uint32_t t0_ = tb_now();                                         \
	int ok_;                                                         \
	while (!(ok_ = !!(cond)) && tb_now() - t0_ < TB_US(us))          \
		poll_relax();                                            \
	ok_; })

/* ---- MC146818 RTC through CMOS index 0x70 / data 0x71 ---- */
#define RTC_SEC 0x00
#define RTC_MIN 0x02
#define RTC_HOUR 0x04
#define RTC_WDAY 0x06
#define RTC_MDAY 0x07
#define RTC_MON 0x08
#define RTC_YEAR 0x09
#define RTC_A 0x0a              /* UIP, divider, rate select */
#define RTC_B 0x0b              /* SET, PIE, AIE, UIE, SQWE, DM, 24/12, DSE */
#define RTC_C 0x0c              /* IRQF, PF, AF, UF; reading clears them and the IRQ */
#define RTC_D 0x0d              /* VRT */
#define RTC_B_PIE 0x40
#define RTC_B_UIE 0x10

static inline uint8_t cmos_read(uint8_t reg)
{
	uint32_t f = irq_save();
	outb(0x70, reg);
	uint8_t v = inb(0x71);
	irq_restore(f);
	return v;
}
static inline void cmos_write(uint8_t reg, uint8_t v)
{
	uint32_t f = irq_save();
	outb(0x70, reg);
	outb(0x71, v);
	irq_restore(f);
}
/* A time register read outside an update: UIP (register A bit 7) clear guarantees
 * 244 us before the next update starts. -1 if UIP never clears. */
static inline int rtc_read_time_reg(uint8_t reg)
{
	for (uint32_t i = 0; i < 1000000; i++) {
		uint32_t f = irq_save();
		if (!(cmos_read(RTC_A) & 0x80)) {
			uint8_t v = cmos_read(reg);
			irq_restore(f);
			return v;
		}
		irq_restore(f);
	}
	return -1;
}
/* Register B with PIE/AIE/UIE replaced by `enables`; then register C read to drop
 * any flag (and the IRQ line) left from before. */
static inline void rtc_enable(uint8_t enables)
{
	cmos_write(RTC_B, (uint8_t)((cmos_read(RTC_B) & ~0x70) | enables));
	cmos_read(RTC_C);
}

/* ---- IRQ dispatch for vectors IRQ_BASE..IRQ_BASE+15 ---- */
typedef void (*irq_handler_t)(struct frame *f);
static irq_handler_t irq_handler[16];           /* 0: irq_default */
static volatile uint32_t irq_count[16];         /* real (not spurious) deliveries */
static volatile uint32_t irq_spurious;

/* What a driver does by default: acknowledge the RTC, EOI the slave then the master. */
static inline void irq_default(int irq)
{
	if (irq == 8)
		cmos_read(RTC_C);
	if (irq >= 8)
		pic_eoi(1);
	pic_eoi(0);
}

static void irq_entry(struct frame *f)
{
	int irq = (int)f->vector - IRQ_BASE;
	/* IR7 with no ISR bit is the 8259A's default (spurious) vector: no EOI for it,
	 * though a spurious IRQ 15 still took the master's IR2 in service. */
	if ((irq & 7) == 7 && !(pic_isr(irq >> 3) & 0x80)) {
		irq_spurious++;
		if (irq == 15)
			pic_eoi(0);
		return;
	}
	irq_count[irq]++;
	if (irq_handler[irq])
		irq_handler[irq](f);
	else
		irq_default(irq);
}

/* Interrupt gates for the 16 IRQ vectors, all through irq_entry. */
static inline void irq_install(void)
{
	for (int i = 0; i < 16; i++) {
		idt_set(IRQ_BASE + i, isr_stubs[IRQ_BASE + i], SEL_CODE, 0x8e);
		exc_set_hook(IRQ_BASE + i, irq_entry);
	}
}

/* IRQs other than those in `expected` (a bit per IRQ) delivered since start. */
static inline uint32_t irq_stray(uint16_t expected)
{
	uint32_t n = 0;
	for (int i = 0; i < 16; i++)
		if (!(expected & (1u << i)))
			n += irq_count[i];
	return n;
}

#endif
