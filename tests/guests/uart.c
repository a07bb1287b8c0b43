/*
 * uart.c - COM1 both ways: the 16550's registers (divisor latch, LCR, IER, IIR with
 * FIFOs, scratch, loopback through MCR bit 4) and input: the test's driver feeds
 * "trapeze\n" on stdin, which the guest reads by polling LSR.DR and echoes back.
 * Run by tests/cli/test-cli.sh with input; under run-guest.sh (no input) the input
 * check reports that nothing arrived.
 */
#include "guest.h"

#define COM1 0x3f8

static uint64_t tsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* A byte from COM1, or -1 after about a second (2^31 TSC cycles) without one. */
static int getc_timeout(void)
{
	uint64_t start = tsc();
	while (tsc() - start < (1ull << 31))
		if (inb(COM1 + 5) & 1)
			return inb(COM1);
	return -1;
}

void test_main(void)
{
	guest_init();
	/* Input from the host, after telling the driver we are listening. */
	printf("READY\n");
	char line[32];
	int n = 0, c;
	while (n < (int)sizeof(line) - 1 && (c = getc_timeout()) >= 0 && c != '\n')
		line[n++] = (char)c;
	line[n] = 0;
	printf("INPUT %s\n", n ? line : "(none)");

	/* Output goes through the same UART, so results are printed only after the
	 * divisor latch and loopback are switched off again. */
	uint8_t r[12];
	/* Divisor latch: DLAB set, write 0x0c/0x00 (9600 baud), read back. */
	outb(COM1 + 3, 0x80 | 0x03);
	outb(COM1 + 0, 0x0c);
	outb(COM1 + 1, 0x00);
	r[0] = inb(COM1 + 0);
	r[1] = inb(COM1 + 1);
	outb(COM1 + 3, 0x03);
	r[2] = inb(COM1 + 3);
	/* FIFOs on: IIR reports them in bits 6-7 and no interrupt pending with IER 0. */
	outb(COM1 + 1, 0);
	outb(COM1 + 2, 0x07);
	r[3] = inb(COM1 + 2);
	/* THR empty interrupt: enabling it makes IIR say 0x02 (with FIFO bits). */
	outb(COM1 + 1, 0x02);
	r[4] = inb(COM1 + 2) & 0x0f;
	outb(COM1 + 1, 0);
	r[5] = inb(COM1 + 5) & 0x60;
	/* Loopback: a byte sent comes back; modem outputs appear as inputs. */
	outb(COM1 + 4, 0x10 | 0x0f);
	r[6] = inb(COM1 + 6) & 0xf0;
	outb(COM1 + 4, 0x10 | 0x01);
	r[7] = inb(COM1 + 6) & 0xf0;
	outb(COM1 + 0, 0x5a);
	r[8] = inb(COM1 + 5) & 1;
	r[9] = inb(COM1 + 0);
	r[10] = inb(COM1 + 5) & 1;
	outb(COM1 + 4, 0x03);
	check_eq("divisor-low", r[0], 0x0c);
	check_eq("divisor-high", r[1], 0x00);
	check_eq("lcr-readback", r[2], 0x03);
	check_eq("iir-fifo-no-interrupt", r[3], 0xc1);
	check_eq("iir-thre", r[4], 0x02);
	check_eq("lsr-transmitter-empty", r[5], 0x60);
	check_eq("loopback-msr", r[6], 0xf0);
	check_eq("loopback-msr-dtr-only", r[7], 0x20);
	check_eq("loopback-data-ready", r[8], 1);
	check_eq("loopback-byte", r[9], 0x5a);
	check_eq("loopback-drained", r[10], 0);

}
