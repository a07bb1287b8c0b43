/*
 * uart16550.c - 16550A UART: divisor latch, IER/IIR priorities, FIFO control, line
 * and modem status, loopback (which Linux's 8250 driver uses to probe the port) and
 * the scratch register. Register map and bits from the 16550D datasheet (TI/National).
 */
#include "uart16550.h"

#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#define RX_SIZE 256
#define PEND_SIZE 4096          /* typed, not yet in the receive FIFO */

enum { R_DATA, R_IER, R_IIR, R_LCR, R_MCR, R_LSR, R_MSR, R_SCR };

#define IER_RDA  0x01
#define IER_THRE 0x02
#define IER_RLS  0x04
#define IER_MSI  0x08
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define MCR_OUT2 0x08
#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define FCR_EN   0x01

struct uart {
	uint8_t ier, lcr, mcr, lsr, msr, scr, fcr;
	uint16_t divisor;
	int thre_pending;               /* THR-empty interrupt not yet acknowledged */
	uint8_t rx[RX_SIZE];
	int rx_head, rx_count;
	uint8_t pend[PEND_SIZE];
	int pend_head, pend_count;
	int in_fd, out_fd;
	struct irq_line irq;
	bool (*rx_filter)(void *opaque, uint8_t c);
	void *rx_filter_opaque;
};

static void rx_push(struct uart *u, uint8_t c)
{
	if (u->rx_count == RX_SIZE) {
		u->lsr |= LSR_OE;
		return;
	}
	u->rx[(u->rx_head + u->rx_count++) % RX_SIZE] = c;
}

/* Move typed bytes into the receive buffer while it has room (none reach it in
 * loopback, where the serial input is disconnected). */
static void rx_fill(struct uart *u)
{
	while (u->pend_count && !(u->mcr & MCR_LOOP) && u->rx_count <= RX_SIZE / 2) {
		rx_push(u, u->pend[u->pend_head]);
		u->pend_head = (u->pend_head + 1) % PEND_SIZE;
		u->pend_count--;
	}
}

/* Take whatever the host has typed, without blocking. Input is always read and passed
 * through the filter (the console's Ctrl-A commands must work while the guest reads
 * nothing); it waits in pend for the guest, and what overflows that is dropped. */
static void rx_poll(struct uart *u)
{
	rx_fill(u);
	if (u->in_fd < 0)
		return;
	struct pollfd p = { .fd = u->in_fd, .events = POLLIN };
	if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN)) {
		if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
			u->in_fd = -1;
		return;
	}
	uint8_t buf[256];
	ssize_t n = read(u->in_fd, buf, sizeof(buf));
	if (n <= 0) {
		u->in_fd = -1;
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (u->rx_filter && !u->rx_filter(u->rx_filter_opaque, buf[i]))
			continue;
		if (u->pend_count < PEND_SIZE)
			u->pend[(u->pend_head + u->pend_count++) % PEND_SIZE] = buf[i];
	}
	rx_fill(u);
}

/* The highest-priority pending interrupt's IIR code, or 1 for none. */
static uint8_t iir_code(struct uart *u)
{
	if ((u->ier & IER_RLS) && (u->lsr & LSR_OE))
		return 0x06;
	if ((u->ier & IER_RDA) && u->rx_count)
		return 0x04;
	if ((u->ier & IER_THRE) && u->thre_pending)
		return 0x02;
	if ((u->ier & IER_MSI) && (u->msr & 0x0f))
		return 0x00;
	return 0x01;
}

static void update_irq(struct uart *u)
{
	irq_set(&u->irq, (u->mcr & MCR_OUT2) && iir_code(u) != 0x01);
}

static uint8_t modem_status(struct uart *u)
{
	if (!(u->mcr & MCR_LOOP))
		return (uint8_t)(0xb0 | (u->msr & 0x0f));   /* DCD, DSR, CTS asserted */
	uint8_t m = u->mcr;
	return (uint8_t)((m & 0x02) << 3 | (m & 0x01) << 5 | (m & 0x04) << 4 | (m & 0x08) << 4 |
			 (u->msr & 0x0f));
}

static uint32_t uart_read(void *opaque, uint16_t port, int size)
{
	struct uart *u = opaque;
	uint8_t v = 0;
	(void)size;
	switch (port & 7) {
	case R_DATA:
		if (u->lcr & LCR_DLAB)
			return u->divisor & 0xff;
		rx_poll(u);
		if (u->rx_count) {
			v = u->rx[u->rx_head];
			u->rx_head = (u->rx_head + 1) % RX_SIZE;
			u->rx_count--;
		}
		break;
	case R_IER:
		return (u->lcr & LCR_DLAB) ? u->divisor >> 8 : u->ier;
	case R_IIR:
		rx_poll(u);
		v = iir_code(u);
		if (v == 0x02)
			u->thre_pending = 0;    /* reading IIR acknowledges THRE */
		if (u->fcr & FCR_EN)
			v |= 0xc0;
		break;
	case R_LCR:
		return u->lcr;
	case R_MCR:
		return u->mcr;
	case R_LSR:
		rx_poll(u);
		v = (uint8_t)(u->lsr | LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0));
		u->lsr &= ~LSR_OE;
		break;
	case R_MSR:
		v = modem_status(u);
		u->msr &= 0xf0;
		break;
	case R_SCR:
		return u->scr;
	}
	update_irq(u);
	return v;
}

static void uart_write(void *opaque, uint16_t port, int size, uint32_t val)
{
	struct uart *u = opaque;
	uint8_t v = (uint8_t)val;
	(void)size;
	switch (port & 7) {
	case R_DATA:
		if (u->lcr & LCR_DLAB) {
			u->divisor = (uint16_t)((u->divisor & 0xff00) | v);
			break;
		}
		if (u->mcr & MCR_LOOP)
			rx_push(u, v);
		else if (u->out_fd >= 0 && write(u->out_fd, &v, 1) != 1)
			u->out_fd = -1;
		u->thre_pending = 1;
		break;
	case R_IER:
		if (u->lcr & LCR_DLAB) {
			u->divisor = (uint16_t)((u->divisor & 0xff) | v << 8);
			break;
		}
		/* Enabling THRE with the holder empty raises the interrupt at once. */
		if ((v & IER_THRE) && !(u->ier & IER_THRE))
			u->thre_pending = 1;
		u->ier = v & 0x0f;
		break;
	case R_IIR:
		u->fcr = v & 0xc9;
		if (v & 0x02)
			u->rx_count = 0;
		break;
	case R_LCR:
		u->lcr = v;
		break;
	case R_MCR:
		u->mcr = v & 0x1f;
		break;
	case R_LSR:
	case R_MSR:
		break;
	case R_SCR:
		u->scr = v;
		break;
	}
	update_irq(u);
}

struct uart *uart_create(struct iobus *io, uint16_t base, struct irq_line irq, int in_fd, int out_fd)
{
	struct uart *u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->in_fd = in_fd;
	u->out_fd = out_fd;
	u->irq = irq;
	u->divisor = 12;        /* 9600 baud */
	u->lcr = 0x03;
	if (io_register(io, base, 8, uart_read, uart_write, u) < 0) {
		free(u);
		return NULL;
	}
	return u;
}

void uart_destroy(struct uart *u) { free(u); }

int uart_poll(struct uart *u)
{
	rx_poll(u);
	update_irq(u);
	return u->in_fd;
}

uint32_t uart_take_input(struct uart *u, uint8_t *buf, uint32_t n)
{
	rx_poll(u);
	uint32_t got = 0;
	for (; got < n && u->rx_count; got++) {
		buf[got] = u->rx[u->rx_head];
		u->rx_head = (u->rx_head + 1) % RX_SIZE;
		u->rx_count--;
		rx_fill(u);
	}
	update_irq(u);
	return got;
}

bool uart_has_input(const struct uart *u)
{
	return u->rx_count || u->pend_count;
}

void uart_set_rx_filter(struct uart *u, bool (*fn)(void *opaque, uint8_t c), void *opaque)
{
	u->rx_filter = fn;
	u->rx_filter_opaque = opaque;
}
