/*
 * pic.c - the 8259A pair as Linux programs it (ICW1 0x11, ICW2 0x20/0x28, ICW3 4/2,
 * ICW4 1) and how the CPU takes its interrupts. IMR read-back; a masked request is
 * latched in IRR but not delivered; IRQ 0 is edge-triggered (one request per rising
 * edge of PIT OUT, however long OUT stays high); ISR while in service, non-specific
 * and specific EOI; fully nested priority between IRQ 0 (PIT) and IRQ 8 (RTC periodic
 * interrupt, slave IR0 cascaded on master IR2) both ways; a slave IRQ needs an EOI on
 * each chip; auto-EOI and ICW2 rebasing. Then the CPU side: CLI holds a pending
 * request, STI delays it by one instruction, POPF and IRET setting IF do not, HLT
 * resumes after itself and sleeps until the interrupt, and an absent gate faults
 * with EXT set after the 8259 acknowledged the request.
 *
 * PIT channel 2 (gate on, mode 2) is the clock every wait is measured on; channel 0
 * drives IRQ 0, in mode 0 as a one-shot whose OUT then stays high, or mode 2 at 1 kHz.
 * A check that a request arrives waits for it (EVENT_US); fixed delays only bound
 * checks that nothing happens, so a late emulated timer cannot fail a check.
 */
#include "irq.h"

#define M_ALL 0xff                      /* IMR with every line masked */
#define M_IR0 0xfe                      /* master: only IR0 (PIT) open */
#define M_IR2 0xfb                      /* master: only IR2 (cascade) open */
#define M_IR02 0xfa                     /* master: IR0 and IR2 open */
#define S_IR0 0xfe                      /* slave: only IR0 (RTC) open */
#define PIT_1KHZ 1193

/* What the IRQ 0 handlers saw. */
static volatile uint32_t h0_isr, h0_eip, h0_eax, h0_eflags, h0_handler_if;

static void h0_record(struct frame *f)
{
	h0_isr = pic_isr(0);
	h0_eip = f->eip;
	h0_eax = f->eax;
	h0_eflags = f->eflags;
	h0_handler_if = read_eflags() & EFL_IF;
}

static void h0_eoi(struct frame *f)
{
	h0_record(f);
	pic_eoi(0);
}

static void h0_no_eoi(struct frame *f)
{
	h0_record(f);
}

/* Mode 0 drives OUT low at once and high after `count` ticks, where it stays: exactly
 * one rising edge reaches IR0. Returns whether it shows in IRR (IR0 masked or IF
 * clear, and IRR bit 0 clear before) within EVENT_US. */
static int pit_fire(uint16_t count)
{
	pit_set(0, 0, count);
	return WAIT_UNTIL(pic_irr(0) & 1, EVENT_US);
}

/* Clears a request left in IR0's IRR (by delivering it) with OUT held low for 55 ms;
 * leaves every IRQ masked. */
static void irq0_flush(void)
{
	irq_handler_t h = irq_handler[0];
	irq_handler[0] = 0;
	pit_set(0, 0, 0xffff);
	pic_mask(M_IR0, M_ALL);
	sti();
	tb_wait_us(1000);
	cli();
	pic_mask(M_ALL, M_ALL);
	irq_handler[0] = h;
}

/* A one-shot IRQ 0 request latched in IRR behind a masked IR0. */
static int pit_one_shot(uint16_t count)
{
	irq0_flush();
	return pit_fire(count);
}

static void rtc_periodic(int on)
{
	cmos_write(RTC_A, 0x26);        /* 32.768 kHz time base, rate 6: 1024 Hz */
	rtc_enable(on ? RTC_B_PIE : 0);
}

static void test_init(void)
{
	pic_mask(M_ALL, M_ALL);
	pic_icw(IRQ_BASE, IRQ_BASE + 8, 0x01);
	/* 8259A datasheet, "Initialization Command Words": ICW1 clears the IMR. */
	check_eq("icw1-clears-imr-master", inb(PIC_M + 1), 0);
	check_eq("icw1-clears-imr-slave", inb(PIC_S + 1), 0);
	pic_mask(0xa5, 0x5a);
	check_eq("imr-readback-master-a5", inb(PIC_M + 1), 0xa5);
	check_eq("imr-readback-slave-5a", inb(PIC_S + 1), 0x5a);
	pic_mask(0x5a, 0xa5);
	check_eq("imr-readback-master-5a", inb(PIC_M + 1), 0x5a);
	check_eq("imr-readback-slave-a5", inb(PIC_S + 1), 0xa5);
	pic_mask(M_ALL, M_ALL);
}

static void test_masked(void)
{
	irq_handler[0] = h0_eoi;
	pit_set(0, 2, PIT_1KHZ);
	sti();
	int ok = WAIT_UNTIL(pic_irr(0) & 1, EVENT_US);
	tb_wait_us(10000);              /* ~10 more PIT periods with IF set */
	cli();
	check(ok, "masked-irq0-latched-in-irr");
	check_eq("masked-irq0-not-delivered", irq_count[0], 0);
	check_eq("masked-irq0-not-in-service", pic_isr(0), 0);
}

/* The request latched while masked is delivered once when unmasked; OUT then stays high
 * without another edge, so an edge-triggered IR0 raises nothing more. */
static void test_edge_once(void)
{
	int ok = pit_one_shot(PIT_1KHZ);
	check(ok, "one-shot-latched-in-irr");
	irq_count[0] = 0;
	irq_handler[0] = h0_eoi;
	pic_mask(M_IR0, M_ALL);
	sti();
	ok = WAIT_UNTIL(irq_count[0] >= 1, 2000);  /* pending: no timer involved */
	tb_wait_us(20000);
	cli();
	check(ok, "unmask-delivers-pending-irq0");
	check_eq("edge-request-delivered-once", irq_count[0], 1);
	check_eq("irr-clear-while-out-stays-high", pic_irr(0) & 1, 0);
	check_eq("isr0-set-in-handler", h0_isr, 0x01);
	check_eq("isr-clear-after-nonspecific-eoi", pic_isr(0), 0);
	check(h0_eflags & EFL_IF, "irq-frame-eflags-has-if");
	check(!h0_handler_if, "irq-interrupt-gate-clears-if");
}

/* Without an EOI, IR0 stays in service and blocks its own later requests. */
static void test_no_eoi(void)
{
	irq_count[0] = 0;
	irq_handler[0] = h0_no_eoi;
	pit_set(0, 2, PIT_1KHZ);
	sti();
	int ok = WAIT_UNTIL(irq_count[0] >= 1, EVENT_US);
	int next = WAIT_UNTIL(pic_irr(0) & 1, EVENT_US);
	tb_wait_us(5000);
	cli();
	check(ok, "periodic-irq0-delivered");
	check(next, "no-eoi-next-request-in-irr");
	check_eq("no-eoi-blocks-irq0", irq_count[0], 1);
	check_eq("no-eoi-isr0-stays-set", pic_isr(0), 0x01);

	/* OCW3 selects the register the command port reads until the next OCW3. */
	outb(PIC_M, 0x0b);
	uint8_t r1 = inb(PIC_M), r2 = inb(PIC_M);
	outb(PIC_M, 0x0a);
	check(r1 == 0x01 && r2 == 0x01, "ocw3-isr-select-sticks");

	pic_seoi(0, 3);                 /* IR3 is not in service: nothing changes */
	check_eq("specific-eoi-other-level-keeps-isr0", pic_isr(0), 0x01);
	sti();
	tb_wait_us(3000);
	cli();
	check_eq("specific-eoi-other-level-still-blocks", irq_count[0], 1);
	pic_seoi(0, 0);
	check_eq("specific-eoi-clears-isr0", pic_isr(0), 0);
	irq_handler[0] = h0_eoi;
	sti();
	ok = WAIT_UNTIL(irq_count[0] >= 2, 2000);  /* pending in IRR */
	cli();
	check(ok, "irq0-resumes-after-eoi");
	pic_mask(M_ALL, M_ALL);
}

/* ---- priority: IRQ 0 (highest) against IRQ 8 (master IR2) ---- */
static volatile struct {
	int done, got, pending;
	uint32_t during;
	uint8_t isr_m, isr_s, isr_nested, isr_after;
	char log[8];
	int nlog;
} nest;

static void nest_log(char c)
{
	if (nest.nlog < 7)
		nest.log[nest.nlog++] = c;
}

/* First IRQ 0: keeps IR0 in service with IF set, opens IR2, and watches IRQ 8 wait;
 * then EOIs and watches it come. Later IRQ 0s take the default handler. */
static void h0_hold(struct frame *f)
{
	(void)f;
	irq_handler[0] = 0;
	pic_mask(M_IR02, S_IR0);
	uint32_t n8 = irq_count[8];
	sti();
	nest.pending = WAIT_UNTIL((pic_irr(1) & 1) && (pic_irr(0) & 4), EVENT_US);
	tb_wait_us(5000);               /* ~5 RTC periods more */
	nest.during = irq_count[8] - n8;
	nest.isr_m = pic_isr(0);
	pic_eoi(0);
	nest.got = WAIT_UNTIL(irq_count[8] > n8, 2000);  /* pending: no timer involved */
	cli();
	nest.done = 1;
}

static void test_irq8_waits_for_irq0(void)
{
	memset((void *)&nest, 0, sizeof(nest));
	irq_count[8] = 0;
	irq_handler[0] = h0_hold;
	irq_handler[8] = 0;
	rtc_periodic(1);
	pit_set(0, 2, PIT_1KHZ);
	pic_mask(M_IR0, S_IR0);
	sti();
	int ok = WAIT_UNTIL(nest.done, 4 * EVENT_US);
	cli();
	check(ok, "irq0-handler-ran");
	check(nest.pending, "irq8-pending-at-slave-ir0-and-master-ir2");
	check_eq("irq0-in-service-while-held", nest.isr_m, 0x01);
	check_eq("lower-irq8-blocked-by-irq0-in-service", nest.during, 0);
	check(nest.got, "irq8-delivered-after-irq0-eoi");
	pic_mask(M_ALL, M_ALL);
	rtc_periodic(0);
}

static void h0_log(struct frame *f)
{
	(void)f;
	irq_handler[0] = 0;
	nest_log('0');
	nest.isr_nested = pic_isr(0);
	pic_eoi(0);                     /* non-specific: the highest level in service, IR0 */
}

/* First IRQ 8: opens IR0 with IF set and IR2 in service; IRQ 0 must nest. */
static void h8_hold(struct frame *f)
{
	(void)f;
	irq_handler[8] = 0;
	nest_log('8');
	cmos_read(RTC_C);
	nest.isr_m = pic_isr(0);
	nest.isr_s = pic_isr(1);
	uint32_t n0 = irq_count[0];
	pic_mask(M_IR02, S_IR0);
	sti();
	nest.got = WAIT_UNTIL(irq_count[0] > n0, EVENT_US);
	cli();
	nest.isr_after = pic_isr(0);
	pic_mask(M_IR2, S_IR0);
	nest_log('e');
	pic_eoi(1);
	pic_eoi(0);
	nest.done = 1;
}

static void test_irq0_nests_in_irq8(void)
{
	memset((void *)&nest, 0, sizeof(nest));
	irq_handler[0] = h0_log;
	irq_handler[8] = h8_hold;
	pit_set(0, 2, PIT_1KHZ);        /* IR0 masked: its requests wait in IRR */
	rtc_periodic(1);
	pic_mask(M_IR2, S_IR0);
	sti();
	int ok = WAIT_UNTIL(nest.done, 4 * EVENT_US);
	cli();
	nest.log[nest.nlog] = 0;
	check(ok, "irq8-handler-ran");
	check_eq("irq8-master-isr-ir2", nest.isr_m, 0x04);
	check_eq("irq8-slave-isr-ir0", nest.isr_s, 0x01);
	check(nest.got, "higher-irq0-nests-in-irq8");
	if (memcmp((const void *)nest.log, "80e", 4))
		fail("nesting-order", "log %s want 80e", (const char *)nest.log);
	else
		pass("nesting-order");
	check_eq("nested-isr-ir0-and-ir2", nest.isr_nested, 0x05);
	check_eq("nonspecific-eoi-clears-highest-level", nest.isr_after, 0x04);
	pic_mask(M_ALL, M_ALL);
	rtc_periodic(0);
}

/* ---- a slave IRQ needs an EOI on each chip ---- */
static void h8_slave_eoi(struct frame *f)
{
	(void)f;
	cmos_read(RTC_C);
	pic_eoi(1);
}

static void h8_master_eoi(struct frame *f)
{
	(void)f;
	cmos_read(RTC_C);
	pic_eoi(0);
}

static void test_cascade_eoi(void)
{
	irq_handler[0] = 0;
	irq_handler[8] = h8_slave_eoi;
	irq_count[8] = 0;
	rtc_periodic(1);
	pic_mask(M_IR2, S_IR0);
	sti();
	int ok = WAIT_UNTIL(irq_count[8] >= 1, EVENT_US);
	int next = WAIT_UNTIL(pic_irr(0) & 4, EVENT_US);
	tb_wait_us(5000);
	cli();
	check(ok, "rtc-irq8-delivered");
	check(next, "slave-request-latched-at-master-ir2");
	check_eq("slave-eoi-alone-blocks-irq8", irq_count[8], 1);
	check_eq("slave-eoi-clears-slave-isr", pic_isr(1), 0);
	check_eq("master-ir2-stays-in-service", pic_isr(0), 0x04);
	irq_handler[8] = 0;
	pic_eoi(0);
	sti();
	ok = WAIT_UNTIL(irq_count[8] >= 2, 2000);
	cli();
	check(ok, "irq8-after-master-eoi");

	irq_handler[8] = h8_master_eoi;
	irq_count[8] = 0;
	sti();
	ok = WAIT_UNTIL(irq_count[8] >= 1, EVENT_US);
	next = WAIT_UNTIL(pic_irr(1) & 1, EVENT_US);
	tb_wait_us(5000);
	cli();
	check(ok && next, "rtc-request-latched-at-slave");
	check_eq("master-eoi-alone-blocks-irq8", irq_count[8], 1);
	check_eq("master-eoi-clears-ir2", pic_isr(0), 0);
	check_eq("slave-ir0-stays-in-service", pic_isr(1), 0x01);
	/* The slave raises INT only for a request above its highest in-service level. */
	check_eq("slave-holds-int-while-in-service", pic_irr(0) & 4, 0);
	irq_handler[8] = 0;
	pic_eoi(1);
	sti();
	ok = WAIT_UNTIL(irq_count[8] >= 2, 2000);
	cli();
	check(ok, "irq8-after-slave-eoi");
	pic_mask(M_ALL, M_ALL);
	rtc_periodic(0);
}

/* ---- ICW2 moves the vectors; ICW4 AEOI clears ISR at the acknowledge ---- */
#define REBASE 0x50
static volatile uint32_t rebased_count, rebased_isr;

static void h_rebased(struct frame *f)
{
	(void)f;
	rebased_count++;
	rebased_isr = pic_isr(0);       /* auto-EOI: no EOI is sent */
}

static void test_rebase_aeoi(void)
{
	irq0_flush();
	idt_set(REBASE, isr_stubs[REBASE], SEL_CODE, 0x8e);
	exc_set_hook(REBASE, h_rebased);
	pic_icw(REBASE, IRQ_BASE + 8, 0x03);
	pic_mask(M_ALL, M_ALL);
	uint32_t n0 = irq_count[0];
	int ok = pit_fire(119);
	pic_mask(M_IR0, M_ALL);
	sti();
	ok = ok && WAIT_UNTIL(rebased_count >= 1, 2000);
	cli();
	check(ok && irq_count[0] == n0, "icw2-rebases-irq0-vector");
	check_eq("auto-eoi-isr-clear-in-handler", rebased_isr, 0);
	ok = pit_fire(119);             /* IR0 open, IF clear: the request waits in IRR */
	sti();
	ok = ok && WAIT_UNTIL(rebased_count >= 2, 2000);
	cli();
	check(ok, "auto-eoi-next-irq-without-eoi");
	check_eq("auto-eoi-isr-clear-after", pic_isr(0), 0);
	pic_init();
	exc_set_hook(REBASE, 0);
	idt[REBASE] = 0;
}

/* ---- when the CPU takes a pending request ---- */

/* Leaves a one-shot request asserted to the CPU with IF clear: the next instruction
 * boundary with IF set takes it. */
static int arm_pending_irq0(void)
{
	int ok = pit_one_shot(119);
	pic_mask(M_IR0, M_ALL);
	irq_handler[0] = h0_eoi;
	h0_eip = h0_eax = 0;
	return ok;
}

extern char sti_after[], popf_after[], iret_after[], hlt_after[], hlt2_after[], np_irq_at[];

static void set_if_hook(struct frame *f)
{
	f->eflags |= EFL_IF;
}

static void test_cpu_side(void)
{
	uint32_t n;

	int ok = arm_pending_irq0();
	n = irq_count[0];
	check(ok, "pending-irq0-in-irr");
	tb_wait_us(5000);
	check_eq("cli-holds-pending-irq", irq_count[0], n);

	/* SDM Vol. 2 STI: with IF clear before it, interrupts stay inhibited until the
	 * instruction after STI has run; the frame points past that instruction. */
	__asm__ volatile("sti\n\tmovl $1, %%eax\n" ASM_LABEL(sti_after)
			 "movl $2, %%eax\n\tcli" ::: "eax", "memory");
	check_eq("sti-shadow-frame-eip", h0_eip, (uint32_t)sti_after);
	check_eq("sti-shadow-next-insn-ran", h0_eax, 1);
	check_eq("sti-delivers-once", irq_count[0], n + 1);

	/* POPF has no shadow: the interrupt comes right after it. */
	arm_pending_irq0();
	__asm__ volatile("movl $1, %%eax\n\tpushfl\n\torl $0x200, (%%esp)\n\tpopfl\n"
			 ASM_LABEL(popf_after) "movl $2, %%eax\n\tcli" ::: "eax", "memory", "cc");
	check_eq("popf-if-delivers-after-popf", h0_eip, (uint32_t)popf_after);
	check_eq("popf-if-next-insn-not-run", h0_eax, 1);

	/* IRET restoring IF: taken at the return address, before its instruction. */
	arm_pending_irq0();
	exc_set_hook(0x30, set_if_hook);
	__asm__ volatile("movl $1, %%eax\n\tint $0x30\n" ASM_LABEL(iret_after)
			 "movl $2, %%eax\n\tcli" ::: "eax", "memory");
	exc_set_hook(0x30, 0);
	check_eq("iret-if-delivers-at-return", h0_eip, (uint32_t)iret_after);
	check_eq("iret-if-return-insn-not-run", h0_eax, 1);

	/* STI; HLT with a request pending: HLT runs (the shadow covers it), the request
	 * ends the halt at once and the frame points after HLT. */
	arm_pending_irq0();
	n = irq_count[0];
	__asm__ volatile("sti\n\thlt\n" ASM_LABEL(hlt_after) "cli" ::: "memory");
	check_eq("sti-hlt-frame-eip-after-hlt", h0_eip, (uint32_t)hlt_after);
	check_eq("sti-hlt-delivers-once", irq_count[0], n + 1);

	/* A request whose IDT gate is not present: the 8259 has already acknowledged it
	 * (INTA supplied the vector), and delivery faults with #NP at the interrupted
	 * boundary, error code vector << 3 | IDT | EXT (SDM 6.13: an external event). */
	arm_pending_irq0();
	idt[IRQ_BASE] &= ~(1ull << 47);
	int v = EXC(__asm__ volatile("sti\n\tnop\n" ASM_LABEL(np_irq_at) "cli" ::: "memory"));
	uint32_t err = exc_last.error, eip = exc_last.eip;
	idt[IRQ_BASE] |= 1ull << 47;
	check_eq("irq-absent-gate-np", v, 11);
	check_eq("irq-absent-gate-np-eip", eip, (uint32_t)np_irq_at);
	if (under_qemu())
		printf("SKIP irq-absent-gate-np-error-ext qemu-omits-ext-in-error-codes\n");
	else
		check_eq("irq-absent-gate-np-error-ext", err, IRQ_BASE << 3 | 2 | 1);
	check_eq("irq-absent-gate-acknowledged", pic_isr(0), 0x01);
	pic_eoi(0);

	/* HLT with nothing pending sleeps until the one-shot's edge, ~10 ms later. */
	irq0_flush();
	irq_handler[0] = h0_eoi;
	pit_set(0, 0, 11932);
	pic_mask(M_IR0, M_ALL);
	n = irq_count[0];
	uint32_t t0 = tb_now();
	__asm__ volatile("sti\n\thlt\n" ASM_LABEL(hlt2_after) "cli" ::: "memory");
	uint32_t dt = tb_now() - t0;
	check_eq("hlt-wakes-on-irq0", irq_count[0], n + 1);
	check_eq("hlt-wake-frame-eip", h0_eip, (uint32_t)hlt2_after);
	if (dt >= TB_US(5000))
		pass("hlt-sleeps-until-irq");
	else
		fail("hlt-sleeps-until-irq", "%u us asleep, want >= 5000", dt * 1000 / 1193);
	pic_mask(M_ALL, M_ALL);
}

void test_main(void)
{
	guest_init();
	irq_install();
	tb_start(2);
	test_init();
	test_masked();
	test_edge_once();
	test_no_eoi();
	test_irq8_waits_for_irq0();
	test_irq0_nests_in_irq8();
	test_cascade_eoi();
	test_rebase_aeoi();
	test_cpu_side();
	check_eq("no-spurious-irqs", irq_spurious, 0);
	check_eq("no-stray-irqs", irq_stray(1u << 0 | 1u << 8), 0);
}
