/*
 * test_uart.c - the 16550A's receive side through its real ports: host input read
 * from a pipe reaches the guest in order; input keeps being read (and passed through
 * the console's filter) while the guest reads nothing or the UART is in loopback, so
 * the console's Ctrl-A commands always get through; loopback returns what is sent.
 */
#include <check.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../devices/ioport.h"
#include "../../devices/uart16550.h"

#define COM1 0x3f8
#define LSR  (COM1 + 5)
#define MCR  (COM1 + 4)

static struct iobus *io;
static struct uart *uart;
static int in[2], out[2];
static int seen_escape, irq_level;
static unsigned filtered;

static void set_irq(void *opaque, int line, int level) { (void)opaque; (void)line; irq_level = level; }

/* The console's part: count bytes, drop Ctrl-A and note it. */
static bool filter(void *opaque, uint8_t c)
{
	(void)opaque;
	filtered++;
	if (c == 0x01) {
		seen_escape++;
		return false;
	}
	return true;
}

static void setup(void)
{
	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_eq(pipe(out), 0);
	fcntl(in[0], F_SETFL, O_NONBLOCK);
	io = io_create();
	uart = uart_create(io, COM1, (struct irq_line){ set_irq, NULL, 4 }, in[0], out[1]);
	ck_assert_ptr_nonnull(uart);
	uart_set_rx_filter(uart, filter, NULL);
	seen_escape = 0;
	filtered = 0;
}

static void teardown(void)
{
	uart_destroy(uart);
	io_destroy(io);
	close(in[0]);
	close(in[1]);
	close(out[0]);
	close(out[1]);
}

static void type(const void *s, size_t n) { ck_assert_int_eq(write(in[1], s, n), (ssize_t)n); }
static uint8_t inb(uint16_t port) { return (uint8_t)io_in(io, port, 1); }

/* Read what the guest can get now, up to max bytes. */
static size_t guest_read(uint8_t *buf, size_t max)
{
	size_t n = 0;
	while (n < max && (inb(LSR) & 1))
		buf[n++] = inb(COM1);
	return n;
}

START_TEST(input_in_order)
{
	type("hello", 5);
	uart_poll(uart);
	uint8_t b[16];
	ck_assert_uint_eq(guest_read(b, sizeof(b)), 5);
	ck_assert_mem_eq(b, "hello", 5);
	ck_assert_uint_eq(inb(LSR) & 1, 0);
}
END_TEST

/* The guest reads nothing while far more than the FIFO holds is typed: every byte is
 * still read from the host and seen by the filter, and none is lost up to the UART's
 * host-side queue. */
START_TEST(input_while_guest_idle)
{
	uint8_t big[1000];
	for (size_t k = 0; k < sizeof(big); k++)
		big[k] = (uint8_t)('a' + k % 26);
	type(big, sizeof(big));
	type("\x01x", 2);
	for (int k = 0; k < 20; k++)
		uart_poll(uart);
	ck_assert_int_eq(seen_escape, 1);
	ck_assert_uint_eq(filtered, sizeof(big) + 2);
	uint8_t got[1100];
	size_t n = 0;
	for (int k = 0; k < 50 && n < sizeof(got); k++) {
		n += guest_read(got + n, sizeof(got) - n);
		uart_poll(uart);
	}
	ck_assert_uint_eq(n, sizeof(big) + 1);          /* the 'x' after the escape too */
	ck_assert_mem_eq(got, big, sizeof(big));
	ck_assert_uint_eq(got[sizeof(big)], 'x');
}
END_TEST

/* In loopback the serial input is disconnected: typed bytes wait, the escape is
 * still seen, and sent bytes come back. */
START_TEST(input_during_loopback)
{
	io_out(io, MCR, 1, 0x10);
	type("ab\x01", 3);
	uart_poll(uart);
	ck_assert_int_eq(seen_escape, 1);
	ck_assert_uint_eq(inb(LSR) & 1, 0);
	io_out(io, COM1, 1, 0x5a);
	ck_assert_uint_eq(inb(LSR) & 1, 1);
	ck_assert_uint_eq(inb(COM1), 0x5a);
	io_out(io, MCR, 1, 0x00);
	uart_poll(uart);
	uint8_t b[4];
	ck_assert_uint_eq(guest_read(b, sizeof(b)), 2);
	ck_assert_mem_eq(b, "ab", 2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("uart16550");
	TCase *tc = tcase_create("input");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, input_in_order);
	tcase_add_test(tc, input_while_guest_idle);
	tcase_add_test(tc, input_during_loopback);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
