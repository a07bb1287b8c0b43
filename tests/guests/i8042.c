/*
 * i8042.c - the PS/2 keyboard controller as Linux's i8042 driver probes it: the command
 * byte read and written, the controller and port self-tests, port enable bits, the
 * keyboard and AUX loop-backs (the AUX byte flagged in the status register), and IRQ 1
 * and IRQ 12 for a waiting byte when the command byte enables them.
 *
 * trapeze's PC has nothing plugged into either port, QEMU's has a keyboard and a
 * mouse: a byte sent to a port must time out at once there (status TIMEOUT, data
 * 0xfe) - checked under trapeze, SKIP under QEMU (whose devices answer).
 */
#include "irq.h"

#define DATA 0x60
#define CMD  0x64
#define STR_OBF     0x01
#define STR_IBF     0x02
#define STR_AUXDATA 0x20
#define STR_TIMEOUT 0x40
#define CTR_KBDINT  0x01
#define CTR_AUXINT  0x02
#define CTR_KBDDIS  0x10
#define CTR_AUXDIS  0x20

/* Status once the output buffer is full, or 0 after a long wait without a byte. */
static uint8_t wait_obf(void)
{
	for (int i = 0; i < 1000000; i++) {
		uint8_t s = inb(CMD);
		if (s & STR_OBF)
			return s;
	}
	return 0;
}

static void wait_ibf_clear(void)
{
	for (int i = 0; i < 1000000 && (inb(CMD) & STR_IBF); i++)
		;
}

static void flush(void)
{
	for (int i = 0; i < 16 && (inb(CMD) & STR_OBF); i++)
		(void)inb(DATA);
}

static void command(uint8_t c)
{
	wait_ibf_clear();
	outb(CMD, c);
}

static void send(uint8_t v)
{
	wait_ibf_clear();
	outb(DATA, v);
}

/* A command with one result byte: the byte, or -1 when none came. */
static int query(uint8_t c)
{
	command(c);
	return wait_obf() ? inb(DATA) : -1;
}

static void write_ctr(uint8_t v)
{
	command(0x60);
	send(v);
}

static volatile int irq_data[16];

static void kbc_irq(struct frame *f)
{
	int irq = (int)f->vector - IRQ_BASE;
	irq_data[irq] = inb(DATA);
	if (irq >= 8)
		pic_eoi(1);
	pic_eoi(0);
}

static void test_commands(uint8_t ctr)
{
	check_eq("i8042-ctr-written-read-back", (uint32_t)query(0x20), ctr);
	check_eq("i8042-controller-self-test-55", (uint32_t)query(0xaa), 0x55);
	check_eq("i8042-keyboard-port-test-ok", (uint32_t)query(0xab), 0x00);
	check_eq("i8042-aux-port-test-ok", (uint32_t)query(0xa9), 0x00);
	command(0xa7);
	check((query(0x20) & CTR_AUXDIS) != 0, "i8042-aux-disable-sets-ctr-bit");
	command(0xa8);
	check((query(0x20) & CTR_AUXDIS) == 0, "i8042-aux-enable-clears-ctr-bit");
	command(0xad);
	check((query(0x20) & CTR_KBDDIS) != 0, "i8042-kbd-disable-sets-ctr-bit");
	command(0xae);
	check((query(0x20) & CTR_KBDDIS) == 0, "i8042-kbd-enable-clears-ctr-bit");
	command(0xd2);
	send(0x5a);
	uint8_t s = wait_obf();
	check((s & (STR_OBF | STR_AUXDATA)) == STR_OBF, "i8042-kbd-loop-status");
	check_eq("i8042-kbd-loop-data", inb(DATA), 0x5a);
	command(0xd3);
	send(0xa5);
	s = wait_obf();
	check((s & (STR_OBF | STR_AUXDATA)) == (STR_OBF | STR_AUXDATA), "i8042-aux-loop-status");
	check_eq("i8042-aux-loop-data", inb(DATA), 0xa5);
	check((inb(CMD) & STR_OBF) == 0, "i8042-empty-after-read");
}

static void test_irqs(uint8_t ctr)
{
	irq_handler[1] = kbc_irq;
	irq_handler[12] = kbc_irq;
	write_ctr((uint8_t)((ctr | CTR_KBDINT | CTR_AUXINT) & ~(CTR_KBDDIS | CTR_AUXDIS)));
	pic_mask(0xff & ~(1u << 1) & ~(1u << 2), 0xff & ~(1u << 4));
	/* An IRQ 1 the 8259 latched while masked (the first CTR reads, with the BIOS's
	 * KBDINT) comes now: let it, then count from here. */
	sti();
	tb_wait_us(20000);
	uint32_t k0 = irq_count[1], a0 = irq_count[12];
	command(0xd2);
	send(0x33);
	WAIT_UNTIL(irq_count[1] > k0, EVENT_US);
	check_eq("i8042-irq1-for-keyboard-byte", irq_count[1] - k0, 1);
	check_eq("i8042-irq1-handler-read-byte", (uint32_t)irq_data[1], 0x33);
	command(0xd3);
	send(0x44);
	WAIT_UNTIL(irq_count[12] > a0, EVENT_US);
	check_eq("i8042-irq12-for-aux-byte", irq_count[12] - a0, 1);
	check_eq("i8042-irq12-handler-read-byte", (uint32_t)irq_data[12], 0x44);
	check_eq("i8042-no-irq1-for-aux-byte", irq_count[1] - k0, 1);
	cli();
	pic_mask(0xff, 0xff);
	write_ctr(ctr & (uint8_t)~(CTR_KBDINT | CTR_AUXINT));
}

static const char *const absent_checks[] = {
	"i8042-keyboard-absent-times-out", "i8042-keyboard-absent-data-fe",
	"i8042-aux-absent-times-out", "i8042-aux-absent-data-fe",
};

static void test_absent_devices(void)
{
	send(0xf2);                                     /* keyboard: identify */
	uint8_t s = wait_obf();
	check((s & (STR_OBF | STR_TIMEOUT | STR_AUXDATA)) == (STR_OBF | STR_TIMEOUT),
	      "i8042-keyboard-absent-times-out");
	check_eq("i8042-keyboard-absent-data-fe", inb(DATA), 0xfe);
	command(0xd4);                                  /* to the AUX device: identify */
	send(0xf2);
	s = wait_obf();
	check((s & (STR_OBF | STR_TIMEOUT | STR_AUXDATA)) ==
	      (STR_OBF | STR_TIMEOUT | STR_AUXDATA), "i8042-aux-absent-times-out");
	check_eq("i8042-aux-absent-data-fe", inb(DATA), 0xfe);
}

void test_main(void)
{
	guest_init();
	idt_init();
	irq_install();
	pic_init();
	tb_start(2);
	flush();
	int c1 = query(0x20), c2 = query(0x20);
	check(c1 >= 0 && c1 == c2, "i8042-ctr-reads-agree");
	/* interrupts off while polling, as Linux sets it up */
	uint8_t ctr = (uint8_t)(c1 & ~(CTR_KBDINT | CTR_AUXINT));
	write_ctr(ctr);
	test_commands(ctr);
	test_irqs(ctr);
	flush();
	if (under_qemu()) {
		for (size_t k = 0; k < sizeof(absent_checks) / sizeof(absent_checks[0]); k++)
			printf("SKIP %s qemu-has-a-keyboard-and-mouse\n", absent_checks[k]);
	} else {
		test_absent_devices();
	}
}
