/*
 * test_ne2000.c - the NE2000 (devices/ne2000.c) through its real ports, on a real UDP
 * back end (netdev.c) whose peer is a socket of the test's own, on 127.0.0.1 ports
 * chosen at random: transmit (the peer gets the bytes; bad lengths and addresses send
 * nothing), receive into the ring (header, padding, filter), a ring short of room for
 * a full frame leaving frames in the socket (no OVW, nothing missed) and its wait
 * descriptor -1, PRX reported again for a ring left full with PRX acknowledged, a
 * stopped receiver leaving frames in the socket, Send Packet, the
 * read-only PROM, the reset port, and random register and data-port traffic against
 * random frames.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../devices/ioport.h"
#include "../../devices/ne2000.h"
#include "../../devices/netdev.h"

#define NE 0x300
#define CR (NE + 0)
#define DATA (NE + 0x10)
#define RESET (NE + 0x1f)
#define ISR (NE + 7)

static struct iobus *io;
static struct ne2000 *ne;
static struct netdev *net;
static int peer = -1;
static int irq_level;

static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static void set_irq(void *opaque, int line, int level) { (void)opaque; (void)line; irq_level = level; }

static struct sockaddr_in lo(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* The card on a back end udp:L:R and the peer socket bound to R, connected to L. */
static void setup(void)
{
	srand((unsigned)getpid());
	for (int tries = 0; tries < 50 && !net; tries++) {
		int l = 20000 + rand() % 40000, r = l + 1;
		char spec[32], err[128];
		snprintf(spec, sizeof(spec), "udp:%d:%d", l, r);
		peer = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		struct sockaddr_in pa = lo(r), la = lo(l);
		if (bind(peer, (struct sockaddr *)&pa, sizeof(pa)) < 0 ||
		    connect(peer, (struct sockaddr *)&la, sizeof(la)) < 0 ||
		    !(net = netdev_open(spec, err, sizeof(err)))) {
			close(peer);
			peer = -1;
		}
	}
	ck_assert_ptr_nonnull(net);
	io = io_create();
	ne = ne2000_create(io, NE, (struct irq_line){ set_irq, NULL, 9 }, net);
	ck_assert_ptr_nonnull(ne);
	irq_level = 0;
}

static void teardown(void)
{
	ne2000_destroy(ne);
	io_destroy(io);
	netdev_close(net);
	close(peer);
}

static uint8_t inb(uint16_t p) { return (uint8_t)io_in(io, p, 1); }
static void outb(uint16_t p, uint8_t v) { io_out(io, p, 1, v); }

static void page(int p) { outb(CR, (uint8_t)(p << 6 | 0x22)); }

/* Ring [start, stop), BNRY one behind CURR = start, PAR = mac, RCR rcr, running. */
static void ring(uint8_t start, uint8_t stop, uint8_t rcr)
{
	outb(CR, 0x21);
	outb(NE + 0x0e, 0x49);
	outb(NE + 1, start);
	outb(NE + 2, stop);
	outb(NE + 3, (uint8_t)(stop - 1));
	outb(NE + 0x0c, rcr);
	outb(CR, 0x61);
	for (int i = 0; i < 6; i++)
		outb((uint16_t)(NE + 1 + i), mac[i]);
	outb(NE + 7, start);
	outb(CR, 0x21);
	outb(ISR, 0xff);
	outb(CR, 0x22);
}

static void dma_setup(uint16_t a, uint16_t n, uint8_t cmd)
{
	outb(NE + 0x0a, (uint8_t)n);
	outb(NE + 0x0b, (uint8_t)(n >> 8));
	outb(NE + 8, (uint8_t)a);
	outb(NE + 9, (uint8_t)(a >> 8));
	outb(CR, cmd);
}

static void mem_write(uint16_t a, const uint8_t *b, uint16_t n)
{
	dma_setup(a, n, 0x12);
	for (uint16_t i = 0; i < n; i += 2)
		io_out(io, DATA, 2, (uint32_t)(b[i] | (i + 1 < n ? b[i + 1] : 0) << 8));
}

static void mem_read(uint16_t a, uint8_t *b, uint16_t n)
{
	dma_setup(a, n, 0x0a);
	for (uint16_t i = 0; i < n; i += 2) {
		uint16_t w = (uint16_t)io_in(io, DATA, 2);
		b[i] = (uint8_t)w;
		if (i + 1 < n)
			b[i + 1] = (uint8_t)(w >> 8);
	}
}

static void transmit(uint8_t tpsr, uint16_t len)
{
	outb(NE + 4, tpsr);
	outb(NE + 5, (uint8_t)len);
	outb(NE + 6, (uint8_t)(len >> 8));
	outb(CR, 0x26);
}

/* A datagram from the peer, then the card polled. */
static void wire(const uint8_t *f, size_t n)
{
	ck_assert_int_eq(send(peer, f, n, 0), (ssize_t)n);
	usleep(2000);
	ne2000_poll(ne);
}

static ssize_t peer_recv(uint8_t *b, size_t n)
{
	usleep(2000);
	return recv(peer, b, n, 0);
}

static uint8_t curr(void)
{
	page(1);
	uint8_t c = inb(NE + 7);
	page(0);
	return c;
}

START_TEST(tx_to_peer)
{
	ring(0x46, 0x60, 0x04);
	uint8_t f[100], g[200];
	for (int i = 0; i < 100; i++)
		f[i] = (uint8_t)(i * 3);
	mem_write(0x4000, f, 100);
	transmit(0x40, 100);
	ck_assert_uint_eq(inb(ISR) & 0x02, 0x02);
	ck_assert_uint_eq(inb(NE + 4), 0x01);
	ck_assert_uint_eq(inb(CR) & 0x04, 0);
	ck_assert_int_eq(peer_recv(g, sizeof(g)), 100);
	ck_assert_mem_eq(f, g, 100);
	/* Nothing on the wire, PTX all the same: 0, 13, 1515 bytes, outside the memory. */
	const struct { uint8_t tpsr; uint16_t len; } bad[] = {
		{ 0x40, 0 }, { 0x40, 13 }, { 0x40, 1515 }, { 0x7f, 257 }, { 0x00, 64 }, { 0x80, 64 },
		{ 0xff, 1514 },
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		outb(ISR, 0x02);
		transmit(bad[k].tpsr, bad[k].len);
		ck_assert_uint_eq(inb(ISR) & 0x02, 0x02);
	}
	ck_assert_int_lt(peer_recv(g, sizeof(g)), 0);
	/* STP in the same write: no transmit. */
	outb(ISR, 0x02);
	outb(CR, 0x25);
	ck_assert_uint_eq(inb(ISR) & 0x02, 0);
}
END_TEST

START_TEST(rx_ring_and_filter)
{
	ring(0x46, 0x60, 0x04);
	outb(NE + 0x0f, 0x01);          /* IMR: PRX */
	uint8_t f[42] = { 0 }, b[80];
	memcpy(f, mac, 6);
	f[6] = 0x02;
	f[41] = 0xaa;
	wire(f, sizeof(f));
	ck_assert_uint_eq(inb(ISR) & 0x01, 0x01);
	ck_assert_int_eq(irq_level, 1);
	ck_assert_uint_eq(curr(), 0x47);
	mem_read(0x4600, b, 68);
	ck_assert_uint_eq(b[0], 0x01);
	ck_assert_uint_eq(b[1], 0x47);
	ck_assert_uint_eq(b[2] | b[3] << 8, 64);          /* padded to 60, + header */
	ck_assert_mem_eq(b + 4, f, 42);
	ck_assert_uint_eq(b[4 + 42], 0);
	ck_assert_uint_eq(inb(NE + 0x0c), 0x01);        /* RSR */
	outb(ISR, 0x01);
	ck_assert_int_eq(irq_level, 0);

	/* Another unicast address, and broadcast without AB: dropped, nothing raised. */
	f[5] ^= 1;
	wire(f, sizeof(f));
	outb(NE + 0x0c, 0);
	memset(f, 0xff, 6);
	wire(f, sizeof(f));
	ck_assert_uint_eq(inb(ISR) & 0x01, 0);
	ck_assert_uint_eq(curr(), 0x47);
	/* ISR's read takes what waits: a broadcast with AB. */
	outb(NE + 0x0c, 0x04);
	ck_assert_int_eq(send(peer, f, sizeof(f), 0), (ssize_t)sizeof(f));
	usleep(2000);
	ck_assert_uint_eq(inb(ISR) & 0x01, 0x01);
	ck_assert_uint_eq(curr(), 0x48);
	mem_read(0x4700, b, 4);
	ck_assert_uint_eq(b[0], 0x21);                  /* PHY: a group address */
}
END_TEST

/* A ring short of room for the largest frame (6 pages) takes none: the frame stays in
 * the socket, the ring is not waited on, nothing is dropped or counted missed; it comes
 * once the guest frees the ring. An invalid ring has no room either. */
START_TEST(short_ring_holds)
{
	ring(0x46, 0x50, 0x04);                         /* 9 pages free */
	uint8_t f[600] = { 0 }, b[8];
	memset(f, 0xff, 6);
	wire(f, sizeof(f));
	ck_assert_uint_eq(curr(), 0x49);                /* 3 pages: 6 left, one too few */
	ck_assert_int_eq(ne2000_wait_fd(ne), -1);
	wire(f, sizeof(f));
	ck_assert_uint_eq(curr(), 0x49);
	ck_assert_uint_eq(inb(ISR) & 0x15, 0x01);        /* PRX; no RXE, no OVW */
	ck_assert_uint_eq(inb(NE + 0x0f), 0);           /* CNTR2: nothing missed */
	outb(NE + 3, 0x48);             /* the guest read the first frame: the second comes */
	ne2000_poll(ne);
	ck_assert_uint_eq(curr(), 0x4c);
	mem_read(0x4900, b, 4);
	ck_assert_uint_eq(b[2] | b[3] << 8, 604);
	/* PSTART >= PSTOP, CURR outside: no room. */
	outb(CR, 0x21);
	outb(NE + 1, 0x50);
	outb(NE + 2, 0x50);
	outb(CR, 0x22);
	ck_assert_int_eq(ne2000_wait_fd(ne), -1);
	outb(NE + 2, 0x60);
	ck_assert_int_eq(ne2000_wait_fd(ne), -1);       /* CURR 0x4c below PSTART */
}
END_TEST

/* Linux's race (ne2000.c, rx_remind()): the driver acknowledges PRX after frames it did
 * not see filled the ring. Nothing more can be stored, so the card reports PRX again,
 * and raises the line, at its next poll or ISR read; the driver reads the ring and the
 * waiting frame comes. A ring with room, an empty one above all, gets no such PRX. */
START_TEST(full_ring_reminds)
{
	ring(0x46, 0x50, 0x04);                         /* 9 pages free */
	outb(NE + 0x0f, 0x01);                          /* IMR: PRX */
	uint8_t f[600] = { 0 };
	memset(f, 0xff, 6);
	wire(f, sizeof(f));                             /* 3 pages: 6 left, short */
	ck_assert_int_eq(irq_level, 1);
	wire(f, sizeof(f));                             /* waits in the socket */
	outb(ISR, 0x01);                /* acknowledged unseen: the line drops */
	ck_assert_int_eq(irq_level, 0);
	ne2000_poll(ne);
	ck_assert_int_eq(irq_level, 1);                 /* told again */
	ck_assert_uint_eq(inb(ISR) & 0x15, 0x01);        /* PRX; no RXE, no OVW */
	outb(ISR, 0x01);
	ck_assert_uint_eq(inb(ISR) & 0x01, 0x01);        /* the ISR read polls too */
	outb(NE + 3, 0x48);             /* the guest read the frame: the second comes */
	outb(ISR, 0x01);
	ne2000_poll(ne);
	ck_assert_uint_eq(curr(), 0x4c);
	ck_assert_uint_eq(inb(ISR) & 0x01, 0x01);
	outb(NE + 3, 0x4b);             /* read too: the ring is empty, PRX stays clear */
	outb(ISR, 0x01);
	ne2000_poll(ne);
	ck_assert_uint_eq(inb(ISR) & 0x01, 0);
	ck_assert_int_eq(irq_level, 0);
	/* A stopped card reports nothing. */
	wire(f, sizeof(f));
	ck_assert_uint_eq(curr(), 0x4f);                /* 3 pages again: 6 left */
	outb(CR, 0x21);
	outb(ISR, 0x01);
	ne2000_poll(ne);
	ck_assert_uint_eq(inb(ISR) & 0x01, 0);
	/* A ring smaller than the largest frame is short of room even empty: it holds
	 * nothing unread, so nothing to tell (a reminder there raised PRX at every poll
	 * and ISR read, with the ring empty). */
	ring(0x46, 0x4a, 0x04);                         /* 4 pages, empty */
	outb(NE + 0x0f, 0x01);
	ne2000_poll(ne);
	ck_assert_uint_eq(inb(ISR) & 0x01, 0);
	ck_assert_int_eq(irq_level, 0);
}
END_TEST

/* A stopped card takes nothing from the back end (QEMU does not receive while stopped;
 * a para-x86 guest's network device may be using the same back end): the frame waits
 * in the socket and arrives once the card is started. */
START_TEST(stopped_holds)
{
	ring(0x46, 0x60, 0x04);
	outb(CR, 0x21);
	ck_assert_uint_eq(inb(ISR) & 0x80, 0x80);       /* STP sets RST */
	ck_assert_int_eq(ne2000_wait_fd(ne), -1);
	uint8_t f[60];
	memset(f, 0xff, sizeof(f));
	wire(f, sizeof(f));
	ck_assert_uint_eq(curr(), 0x46);                /* nothing taken while stopped */
	outb(CR, 0x22);
	ne2000_poll(ne);
	ck_assert_uint_eq(inb(ISR) & 0x81, 0x01);       /* START clears RST; the frame came */
	ck_assert_uint_eq(curr(), 0x47);
}
END_TEST

START_TEST(send_packet)
{
	ring(0x46, 0x60, 0x04);
	uint8_t f[300], b[304];
	memset(f, 0xff, 6);
	for (int i = 6; i < 300; i++)
		f[i] = (uint8_t)i;
	wire(f, sizeof(f));
	ck_assert_uint_eq(curr(), 0x48);
	outb(NE + 3, 0x46);             /* Send Packet reads the frame at BNRY */
	outb(ISR, 0x40);
	outb(CR, 0x1a);
	ck_assert_uint_eq(inb(NE + 8) | inb(NE + 9) << 8, 0x4600);
	for (int i = 0; i < 304; i += 2) {
		uint16_t w = (uint16_t)io_in(io, DATA, 2);
		b[i] = (uint8_t)w;
		b[i + 1] = (uint8_t)(w >> 8);
	}
	ck_assert_uint_eq(b[2] | b[3] << 8, 304);
	ck_assert_mem_eq(b + 4, f, 300);
	ck_assert_uint_eq(inb(ISR) & 0x40, 0x40);
	ck_assert_uint_eq(inb(NE + 3), 0x48);           /* BNRY moved to the next frame */
}
END_TEST

START_TEST(prom_and_reset)
{
	uint8_t junk[32], p[32];
	memset(junk, 0xee, sizeof(junk));
	mem_write(0, junk, 32);         /* the PROM is read only */
	outb(NE + 0x0e, 0x48);
	dma_setup(0, 32, 0x0a);
	for (int i = 0; i < 32; i++)
		p[i] = (uint8_t)io_in(io, DATA, 1);
	for (int i = 0; i < 6; i++) {
		ck_assert_uint_eq(p[2 * i], mac[i]);
		ck_assert_uint_eq(p[2 * i + 1], mac[i]);
	}
	ck_assert_uint_eq(p[28] & p[29] & p[30] & p[31], 0x57);
	/* Past the buffer memory and between PROM and memory: ones, and no store. */
	dma_setup(0x7ffe, 4, 0x0a);
	ck_assert_uint_eq(io_in(io, DATA, 1), 0);
	ck_assert_uint_eq(io_in(io, DATA, 1), 0);
	ck_assert_uint_eq(io_in(io, DATA, 1), 0xff);
	dma_setup(0x2000, 2, 0x0a);
	ck_assert_uint_eq(io_in(io, DATA, 1), 0xff);
	outb(CR, 0x22);
	ck_assert_uint_eq(inb(RESET), 0);
	ck_assert_uint_eq(inb(CR), 0x21);
	ck_assert_uint_eq(inb(ISR), 0x80);
	ck_assert_uint_eq(io_in(io, NE + 3, 2), 0xffff); /* registers are bytes */
}
END_TEST

/* Random register values, data-port traffic and frames: the card never reaches outside
 * its buffers (run under the sanitizers) and keeps answering. */
START_TEST(random_traffic)
{
	uint8_t f[1600];
	unsigned seed = 12345;
	for (int round = 0; round < 20000; round++) {
		seed = seed * 1103515245u + 12345u;
		unsigned r = seed >> 8;
		uint16_t port = (uint16_t)(NE + (r & 0x1f));
		int size = 1 << ((r >> 5) % 3);
		if ((r >> 7) & 1)
			io_out(io, port, size, r >> 9);
		else
			io_in(io, port, size);
		if (round % 500 == 0) {
			size_t n = 1 + (r >> 11) % sizeof(f);
			for (size_t i = 0; i < n; i++)
				f[i] = (uint8_t)(seed >> (i % 24));
			if (round % 1000 == 0)
				memset(f, 0xff, 6);
			send(peer, f, n, 0);
			ne2000_wait_fd(ne);
		}
	}
	outb(CR, 0x21);
	ck_assert_uint_eq(inb(CR), 0x21);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ne2000");
	TCase *t = tcase_create("card");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, tx_to_peer);
	tcase_add_test(t, rx_ring_and_filter);
	tcase_add_test(t, short_ring_holds);
	tcase_add_test(t, full_ring_reminds);
	tcase_add_test(t, stopped_holds);
	tcase_add_test(t, send_packet);
	tcase_add_test(t, prom_and_reset);
	tcase_add_test(t, random_traffic);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
