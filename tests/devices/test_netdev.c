/*
 * test_netdev.c - the network back ends (devices/netdev.c, netdev_slirp.c) through the
 * seam every card uses, with no card: the user back end answers an ARP request through
 * its queue and its descriptor, bounds the queue (frames past 128 are dropped), has a
 * deadline and a wait descriptor as a board device, and accepts a forwarded host
 * connection before the guest sent anything (a SYN to the guest's port comes out); the
 * UDP back end is no board device and opens no sockets later.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../devices/board.h"
#include "../../devices/clock.h"
#include "../../devices/netdev.h"

static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t my_ip[4] = { 10, 0, 2, 15 }, host_ip[4] = { 10, 0, 2, 2 };
static uint8_t frame[NETDEV_MTU_FRAME];

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct netdev *open_net(const char *spec)
{
	char err[256] = "";
	struct netdev *d = netdev_open(spec, err, sizeof(err));
	ck_assert_msg(d != NULL, "netdev_open(%s): %s", spec, err);
	return d;
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

/* An ARP request from the guest (10.0.2.15) for target. */
static void send_arp_request(struct netdev *d, const uint8_t *target)
{
	uint8_t f[42] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	memcpy(f + 6, mac, 6);
	f[12] = 0x08, f[13] = 0x06, f[15] = 1, f[16] = 0x08, f[18] = 6, f[19] = 4, f[21] = 1;
	memcpy(f + 22, mac, 6);
	memcpy(f + 28, my_ip, 4);
	memcpy(f + 38, target, 4);
	ck_assert_int_eq(netdev_send(d, f, sizeof(f)), 0);
}

/* The guest's answer to an ARP request in frame (for 10.0.2.15). */
static void send_arp_reply(struct netdev *d)
{
	uint8_t f[42];
	memcpy(f, frame + 6, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x08, f[13] = 0x06, f[14] = 0, f[15] = 1, f[16] = 0x08, f[17] = 0;
	f[18] = 6, f[19] = 4, f[20] = 0, f[21] = 2;
	memcpy(f + 22, mac, 6);
	memcpy(f + 28, my_ip, 4);
	memcpy(f + 32, frame + 22, 10);
	ck_assert_int_eq(netdev_send(d, f, sizeof(f)), 0);
}

static bool is_arp(ssize_t n, int op, const uint8_t *sender_ip)
{
	return n >= 42 && frame[12] == 0x08 && frame[13] == 0x06 && frame[21] == op &&
	       !memcmp(frame + 28, sender_ip, 4);
}

START_TEST(user_arp_reply_through_queue)
{
	struct netdev *d = open_net("user");
	ck_assert(netdev_opens_sockets(d));
	ck_assert(!readable(netdev_fd(d)));
	ck_assert_int_eq(netdev_recv(d, frame, sizeof(frame)), 0);
	send_arp_request(d, host_ip);
	ck_assert(readable(netdev_fd(d)));      /* libslirp answered at once */
	ssize_t n = netdev_recv(d, frame, sizeof(frame));
	ck_assert(is_arp(n, 2, host_ip));
	ck_assert(!memcmp(frame, mac, 6));
	ck_assert(!readable(netdev_fd(d)));     /* the queue is empty again */
	ck_assert_int_eq(netdev_recv(d, frame, sizeof(frame)), 0);
	netdev_close(d);
}
END_TEST

START_TEST(user_queue_bounded)
{
	struct netdev *d = open_net("user");
	for (int k = 0; k < 200; k++)
		send_arp_request(d, host_ip);
	int got = 0;
	while (netdev_recv(d, frame, sizeof(frame)) > 0)
		got++;
	ck_assert_int_eq(got, 128);
	ck_assert(!readable(netdev_fd(d)));
	send_arp_request(d, host_ip);           /* room again */
	ck_assert(is_arp(netdev_recv(d, frame, sizeof(frame)), 2, host_ip));
	netdev_close(d);
}
END_TEST

START_TEST(user_is_a_timed_board_device)
{
	struct netdev *d = open_net("user");
	struct board_dev b = netdev_service(d);
	ck_assert_ptr_nonnull(b.update);
	ck_assert_ptr_nonnull(b.next_deadline);
	ck_assert_ptr_nonnull(b.wait_fd);
	uint64_t t = now_ns();
	b.update(b.opaque, t);
	ck_assert_int_ge(b.wait_fd(b.opaque), 0);
	/* libslirp wants to be asked again within a second at most. */
	uint64_t due = b.next_deadline(b.opaque);
	ck_assert_msg(due > t && due <= t + 1000000000u, "deadline %llu ns after now",
		      (unsigned long long)(due - t));
	netdev_close(d);
}
END_TEST

/* A host connection to the forwarded port, the guest silent until then: libslirp
 * asks who 10.0.2.15 is, and once told, sends the SYN to port 8080. */
START_TEST(user_hostfwd_before_any_guest_frame)
{
	struct netdev *d = NULL;
	int port = 0;
	srand((unsigned)getpid());
	for (int tries = 0; tries < 20 && !d; tries++) {
		char spec[64], err[256];
		port = 20000 + rand() % 40000;
		snprintf(spec, sizeof(spec), "user,hostfwd=tcp::%d-:8080", port);
		d = netdev_open(spec, err, sizeof(err));
	}
	ck_assert_ptr_nonnull(d);
	struct board_dev b = netdev_service(d);
	b.update(b.opaque, now_ns());
	int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert(connect(c, (struct sockaddr *)&a, sizeof(a)) == 0 || errno == EINPROGRESS);
	bool syn = false;
	uint64_t end = now_ns() + 3000000000u;
	while (!syn && now_ns() < end) {
		struct pollfd p[2] = { { .fd = b.wait_fd(b.opaque), .events = POLLIN },
				       { .fd = netdev_fd(d), .events = POLLIN } };
		poll(p, 2, 10);
		b.update(b.opaque, now_ns());
		ssize_t n;
		while (!syn && (n = netdev_recv(d, frame, sizeof(frame))) > 0) {
			if (n >= 42 && frame[12] == 0x08 && frame[13] == 0x06 && frame[21] == 1 &&
			    !memcmp(frame + 38, my_ip, 4))
				send_arp_reply(d);
			syn = n >= 54 && frame[12] == 0x08 && frame[13] == 0 && frame[23] == 6 &&
			      !memcmp(frame + 30, my_ip, 4) && frame[36] == 8080 >> 8 &&
			      frame[37] == (8080 & 0xff) && (frame[47] & 0x12) == 0x02;
		}
	}
	ck_assert_msg(syn, "no SYN to 10.0.2.15:8080 within 3 s");
	close(c);
	netdev_close(d);
}
END_TEST

START_TEST(udp_is_no_board_device)
{
	struct netdev *d = NULL;
	srand((unsigned)getpid() + 1);
	for (int tries = 0; tries < 20 && !d; tries++) {
		char spec[32], err[128];
		int l = 20000 + rand() % 40000;
		snprintf(spec, sizeof(spec), "udp:%d:%d", l, l + 1);
		d = netdev_open(spec, err, sizeof(err));
	}
	ck_assert_ptr_nonnull(d);
	struct board_dev b = netdev_service(d);
	ck_assert_ptr_null(b.update);
	ck_assert_ptr_null(b.next_deadline);
	ck_assert_ptr_null(b.wait_fd);
	ck_assert(!netdev_opens_sockets(d));
	netdev_close(d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("netdev");
	TCase *tc = tcase_create("netdev");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, user_arp_reply_through_queue);
	tcase_add_test(tc, user_queue_bounded);
	tcase_add_test(tc, user_is_a_timed_board_device);
	tcase_add_test(tc, user_hostfwd_before_any_guest_frame);
	tcase_add_test(tc, udp_is_no_board_device);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
