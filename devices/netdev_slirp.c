/*
 * netdev_slirp.c - the "user" back end of netdev.h: user-mode networking through
 * libslirp, the TCP/IP stack QEMU's `-netdev user` uses, so no root and no tap device.
 *
 * libslirp plays the other end of the guest's Ethernet: the host 10.0.2.2 (the host's
 * own loopback, reached from the guest), a DHCP server that offers 10.0.2.15, a DNS
 * forwarder at 10.0.2.3 (to the servers of the host's /etc/resolv.conf) and, for every
 * other destination, a host socket that carries the guest's TCP or UDP. IPv6 as in
 * QEMU too (fec0::/64). QEMU's `-netdev user` defaults throughout, so a guest sees
 * the same network under both.
 *
 * libslirp runs inside the monitor's own loop, with no thread:
 * - frames from the guest go to slirp_input() at once (netdev_send); what libslirp
 *   answers at once (ARP, DHCP) or later (data from host sockets) it hands to
 *   send_packet(), which queues it here for the card (netdev_recv; an eventfd is
 *   readable while frames wait);
 * - the host sockets libslirp wants polled (slirp_pollfds_fill) are kept in an epoll
 *   set with the events it asked for: that one descriptor is what the board waits on
 *   (netdev_service's wait_fd), and its ready list is what slirp_pollfds_poll is told;
 * - libslirp's timers and its TCP timeouts are deadlines of the board device, so the
 *   monitor's host timer, or HLT's sleep, ends when they are due.
 * A full queue drops the frame, as a wire would: TCP resends.
 *
 * libslirp and glib are built with vector instructions (memcpy), and the guest's
 * x87/SSE state may be live in the registers: every call into them first calls the
 * hook the monitor set (netdev_set_vector_hook), which saves it.
 */
#define _GNU_SOURCE
#include "netdev_backend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libslirp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define RXQ_FRAMES 128          /* frames waiting for the card: ~190 KB */
#define GUEST_ERRORS_SHOWN 8    /* libslirp's complaints about guest frames, then quiet */
#define TIMERS_PER_UPDATE 16

struct user_timer {
	struct user_timer *next;
	SlirpTimerId id;
	void *cb_opaque;
	uint64_t due;           /* CLOCK_MONOTONIC ns, or VCLOCK_NEVER while not armed */
};

struct rx_frame {
	uint16_t len;
	uint8_t data[NETDEV_MTU_FRAME];
};

struct user_netdev {
	struct netdev d;
	Slirp *slirp;
	int epfd;               /* the host sockets of the last fill, with their events */
	int rx_event;           /* eventfd: readable while rxq holds frames */
	struct rx_frame rxq[RXQ_FRAMES];
	unsigned rx_head, rx_count;
	uint64_t rx_dropped;
	/* The last slirp_pollfds_fill: its descriptors and events by index, and the
	 * revents epoll reported for them; the descriptors registered before it. */
	struct { int fd, events, revents; } *poll;
	int npoll, cap_poll;
	int *registered;
	int nregistered, cap_registered;
	bool filled;            /* slirp_pollfds_poll must follow the last fill */
	bool dirty;             /* the guest sent: libslirp may have new sockets or timers */
	uint64_t poll_due;      /* the timeout the last fill asked for */
	struct user_timer *timers;
	unsigned guest_errors;
};

static struct user_netdev *user(struct netdev *d) { return (struct user_netdev *)d; }

static uint64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- libslirp's callbacks ---- */

/* A frame for the guest: queued for the card, or dropped when the queue is full. */
static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct user_netdev *u = opaque;
	if (len > NETDEV_MTU_FRAME || u->rx_count == RXQ_FRAMES) {
		u->rx_dropped++;
		return (ssize_t)len;
	}
	struct rx_frame *f = &u->rxq[(u->rx_head + u->rx_count) % RXQ_FRAMES];
	memcpy(f->data, buf, len);
	f->len = (uint16_t)len;
	if (u->rx_count++ == 0) {
		uint64_t one = 1;
		(void)!write(u->rx_event, &one, sizeof(one));
	}
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	struct user_netdev *u = opaque;
	if (u->guest_errors++ < GUEST_ERRORS_SHOWN)
		fprintf(stderr, "trapeze: --net user: a guest frame: %s\n", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
	(void)opaque;
	return (int64_t)monotonic_ns();
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct user_netdev *u = opaque;
	struct user_timer *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	*t = (struct user_timer){ .next = u->timers, .id = id, .cb_opaque = cb_opaque,
				  .due = VCLOCK_NEVER };
	u->timers = t;
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct user_netdev *u = opaque;
	for (struct user_timer **p = &u->timers; *p; p = &(*p)->next)
		if (*p == timer) {
			*p = ((struct user_timer *)timer)->next;
			free(timer);
			return;
		}
}

/* expire_ms is on cb_clock_get_ns's clock, in ms. */
static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	(void)opaque;
	struct user_timer *t = timer;
	t->due = expire_ms < 0 ? 0 : (uint64_t)expire_ms * 1000000u;
}

/* Sockets come and go through pollfds_fill; nothing to do when libslirp makes one. */
static void cb_register_poll_fd(int fd, void *opaque) { (void)fd; (void)opaque; }
static void cb_unregister_poll_fd(int fd, void *opaque) { (void)fd; (void)opaque; }
/* Only guest forwarding to a callback (not used) waits for this. */
static void cb_notify(void *opaque) { (void)opaque; }

static const SlirpCb callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_unregister_poll_fd,
	.notify = cb_notify,
	.timer_new_opaque = cb_timer_new_opaque,
};

/* ---- the poll set ---- */

static int cb_add_poll(int fd, int events, void *opaque)
{
	struct user_netdev *u = opaque;
	if (u->npoll == u->cap_poll) {
		int cap = u->cap_poll ? 2 * u->cap_poll : 16;
		void *p = realloc(u->poll, (size_t)cap * sizeof(*u->poll));
		if (!p)
			return -1;      /* not polled this round: libslirp copes with -1 */
		u->poll = p;
		u->cap_poll = cap;
	}
	u->poll[u->npoll].fd = fd;
	u->poll[u->npoll].events = events;
	u->poll[u->npoll].revents = 0;
	return u->npoll++;
}

static int cb_get_revents(int idx, void *opaque)
{
	struct user_netdev *u = opaque;
	return idx >= 0 && idx < u->npoll ? u->poll[idx].revents : 0;
}

static uint32_t to_epoll(int slirp_events)
{
	return (slirp_events & SLIRP_POLL_IN ? EPOLLIN : 0) |
	       (slirp_events & SLIRP_POLL_OUT ? EPOLLOUT : 0) |
	       (slirp_events & SLIRP_POLL_PRI ? EPOLLPRI : 0);
}

static int from_epoll(uint32_t ev)
{
	return (ev & EPOLLIN ? SLIRP_POLL_IN : 0) | (ev & EPOLLOUT ? SLIRP_POLL_OUT : 0) |
	       (ev & EPOLLPRI ? SLIRP_POLL_PRI : 0) | (ev & EPOLLERR ? SLIRP_POLL_ERR : 0) |
	       (ev & EPOLLHUP ? SLIRP_POLL_HUP : 0);
}

static bool in_poll_set(const struct user_netdev *u, int fd)
{
	for (int i = 0; i < u->npoll; i++)
		if (u->poll[i].fd == fd)
			return true;
	return false;
}

/* Make the epoll set the last fill's: each descriptor with its events and its index.
 * MOD first: a descriptor libslirp closed left the set by itself (its number may be
 * a new socket's now), and MOD then fails with ENOENT. */
static void sync_epoll(struct user_netdev *u)
{
	for (int i = 0; i < u->nregistered; i++)
		if (!in_poll_set(u, u->registered[i]))
			epoll_ctl(u->epfd, EPOLL_CTL_DEL, u->registered[i], NULL);
	u->nregistered = 0;
	for (int i = 0; i < u->npoll; i++) {
		struct epoll_event ev = { .events = to_epoll(u->poll[i].events), .data.u32 = (uint32_t)i };
		int fd = u->poll[i].fd;
		if (epoll_ctl(u->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 &&
		    (errno != ENOENT || epoll_ctl(u->epfd, EPOLL_CTL_ADD, fd, &ev) < 0))
			continue;
		if (u->nregistered == u->cap_registered) {
			int cap = u->cap_registered ? 2 * u->cap_registered : 16;
			int *p = realloc(u->registered, (size_t)cap * sizeof(int));
			if (!p) {
				epoll_ctl(u->epfd, EPOLL_CTL_DEL, fd, NULL);
				continue;
			}
			u->registered = p;
			u->cap_registered = cap;
		}
		u->registered[u->nregistered++] = fd;
	}
}

/* The revents of the last fill's descriptors, without waiting: how many are ready,
 * or -1 if epoll failed. */
static int take_revents(struct user_netdev *u)
{
	struct epoll_event ev[64];
	int n = epoll_wait(u->epfd, ev, 64, 0);
	for (int k = 0; k < n; k++) {
		uint32_t i = ev[k].data.u32;
		if (i < (uint32_t)u->npoll)
			u->poll[i].revents = from_epoll(ev[k].events);
	}
	return n;
}

/* Ask libslirp what to wait for next, and until when. */
static void fill(struct user_netdev *u, uint64_t now)
{
	uint32_t timeout_ms = UINT32_MAX;
	u->npoll = 0;
	slirp_pollfds_fill(u->slirp, &timeout_ms, cb_add_poll, u);
	u->poll_due = timeout_ms == UINT32_MAX ? VCLOCK_NEVER : now + (uint64_t)timeout_ms * 1000000u;
	u->filled = true;
	sync_epoll(u);
}

static uint64_t user_next_deadline(struct netdev *d)
{
	struct user_netdev *u = user(d);
	uint64_t soonest = u->poll_due;
	for (struct user_timer *t = u->timers; t; t = t->next)
		if (t->due < soonest)
			soonest = t->due;
	return soonest;
}

static struct user_timer *first_due(struct user_netdev *u, uint64_t now)
{
	for (struct user_timer *t = u->timers; t; t = t->next)
		if (t->due <= now)
			return t;
	return NULL;
}

/* The timers that are due, each once; a handler may free or arm timers, so the list
 * is searched anew after each, and a timer armed again for the past waits for the
 * next update rather than holding this one. */
static void run_due_timers(struct user_netdev *u, uint64_t now)
{
	for (int n = 0; n < TIMERS_PER_UPDATE; n++) {
		struct user_timer *t = first_due(u, now);
		if (!t)
			return;
		t->due = VCLOCK_NEVER;
		slirp_handle_timer(u->slirp, t->id, t->cb_opaque);
	}
}

/* The board's update: nothing unless a socket is ready, a deadline passed or the
 * guest sent since (one epoll_wait in the common case, and the guest's vector state
 * stays in the registers). The first update fills the poll set: the port forwards'
 * listening sockets wait there before the guest sends anything. */
static void user_service(struct netdev *d, uint64_t now)
{
	struct user_netdev *u = user(d);
	int ready = u->filled ? take_revents(u) : 0;
	if (u->filled && ready == 0 && !u->dirty && now < user_next_deadline(d))
		return;
	netdev_save_vector_state(d);
	u->dirty = false;
	run_due_timers(u, now);
	if (u->filled)
		slirp_pollfds_poll(u->slirp, ready < 0, cb_get_revents, u);
	fill(u, now);
}

static int user_service_fd(struct netdev *d) { return user(d)->epfd; }

/* ---- the card's side ---- */

static int user_send(struct netdev *d, const void *frame, size_t len)
{
	struct user_netdev *u = user(d);
	netdev_save_vector_state(d);
	slirp_input(u->slirp, frame, (int)len);
	u->dirty = true;
	return 0;
}

static ssize_t user_recv(struct netdev *d, void *buf, size_t cap)
{
	struct user_netdev *u = user(d);
	if (u->rx_count == 0)
		return 0;
	const struct rx_frame *f = &u->rxq[u->rx_head];
	size_t len = f->len < cap ? f->len : cap;
	memcpy(buf, f->data, len);
	u->rx_head = (u->rx_head + 1) % RXQ_FRAMES;
	if (--u->rx_count == 0) {
		uint64_t v;
		(void)!read(u->rx_event, &v, sizeof(v));
	}
	return (ssize_t)len;
}

static int user_fd(const struct netdev *d) { return ((const struct user_netdev *)d)->rx_event; }

static void user_close(struct netdev *d)
{
	struct user_netdev *u = user(d);
	if (u->slirp) {
		netdev_save_vector_state(d);
		slirp_cleanup(u->slirp);
	}
	while (u->timers)
		cb_timer_free(u->timers, u);
	if (u->epfd >= 0)
		close(u->epfd);
	if (u->rx_event >= 0)
		close(u->rx_event);
	free(u->poll);
	free(u->registered);
	free(u);
}

static const struct netdev_ops user_ops = {
	.send = user_send, .recv = user_recv, .fd = user_fd, .close = user_close,
	.service = user_service, .next_deadline = user_next_deadline,
	.service_fd = user_service_fd, .opens_sockets = true,
};

/* ---- configuration ---- */

/* QEMU's -netdev user defaults (net/slirp.c). */
static void default_config(SlirpConfig *c)
{
	memset(c, 0, sizeof(*c));
	c->version = 4;
	c->in_enabled = true;
	inet_pton(AF_INET, "10.0.2.0", &c->vnetwork);
	inet_pton(AF_INET, "255.255.255.0", &c->vnetmask);
	inet_pton(AF_INET, "10.0.2.2", &c->vhost);
	inet_pton(AF_INET, "10.0.2.15", &c->vdhcp_start);
	inet_pton(AF_INET, "10.0.2.3", &c->vnameserver);
	c->in6_enabled = true;
	inet_pton(AF_INET6, "fec0::", &c->vprefix_addr6);
	c->vprefix_len = 64;
	inet_pton(AF_INET6, "fec0::2", &c->vhost6);
	inet_pton(AF_INET6, "fec0::3", &c->vnameserver6);
}

struct hostfwd {
	int udp;
	char host[16], guest[16];       /* dotted quads, or empty */
	unsigned hport, gport;
};

/* "[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT", QEMU's hostfwd= syntax. */
static bool parse_hostfwd(const char *spec, struct hostfwd *f)
{
	char proto[4] = "";
	int used = -1;
	const char *p = spec;
	if (*p != ':' && sscanf(p, "%3[a-z]", proto) != 1)
		return false;
	p += strlen(proto);
	f->udp = strcmp(proto, "udp") == 0;
	if (!f->udp && proto[0] && strcmp(proto, "tcp") != 0)
		return false;
	f->host[0] = f->guest[0] = 0;
	/* Empty addresses: the conversions after them find ':' or '-' and match nothing. */
	if (sscanf(p, ":%15[0-9.]", f->host) < 0)
		return false;
	p += 1 + strlen(f->host);
	if (sscanf(p, ":%5u-%n", &f->hport, &used) != 1 || used < 0)
		return false;
	p += used;
	if (sscanf(p, "%15[0-9.]", f->guest) < 0)
		return false;
	p += strlen(f->guest);
	used = -1;
	if (sscanf(p, ":%5u%n", &f->gport, &used) != 1 || used < 0 || p[used])
		return false;
	return f->hport > 0 && f->hport < 65536 && f->gport > 0 && f->gport < 65536;
}

/* One hostfwd= option. QEMU's empty host address means every interface; here it is
 * the loopback, as 127.0.0.1 is: the guest's ports are never opened to the network. */
static int add_hostfwd(struct user_netdev *u, const char *spec, char *err, size_t n)
{
	struct hostfwd f;
	struct in_addr h, g;
	inet_pton(AF_INET, "127.0.0.1", &h);
	inet_pton(AF_INET, "10.0.2.15", &g);
	if (!parse_hostfwd(spec, &f) || (f.guest[0] && inet_pton(AF_INET, f.guest, &g) != 1)) {
		snprintf(err, n, "--net user,hostfwd=%s: want hostfwd=tcp:127.0.0.1:HOSTPORT-:GUESTPORT "
			 "(or udp:, an empty host address, a guest address)", spec);
		return -1;
	}
	if (f.host[0] && strcmp(f.host, "127.0.0.1") != 0) {
		snprintf(err, n, "--net user,hostfwd=%s: the host address can only be the loopback, "
			 "127.0.0.1 (or empty)", spec);
		return -1;
	}
	errno = 0;
	if (slirp_add_hostfwd(u->slirp, f.udp, h, (int)f.hport, g, (int)f.gport) < 0) {
		snprintf(err, n, "--net user,hostfwd=%s: cannot listen on 127.0.0.1:%u%s%s", spec,
			 f.hport, errno ? ": " : "", errno ? strerror(errno) : "");
		return -1;
	}
	return 0;
}

/* ",hostfwd=...,hostfwd=..." */
static int parse_options(struct user_netdev *u, const char *opts, char *err, size_t n)
{
	while (*opts == ',') {
		opts++;
		size_t len = strcspn(opts, ",");
		char item[160];
		if (len >= sizeof(item)) {
			snprintf(err, n, "--net user: option too long: %.40s...", opts);
			return -1;
		}
		memcpy(item, opts, len);
		item[len] = 0;
		opts += len;
		if (strncmp(item, "hostfwd=", 8) != 0) {
			snprintf(err, n, "--net user: unknown option '%s' (hostfwd= is the only one)",
				 item);
			return -1;
		}
		if (add_hostfwd(u, item + 8, err, n) < 0)
			return -1;
	}
	return 0;
}

struct netdev *netdev_user_open(const char *opts, char *err, size_t n)
{
	struct user_netdev *u = calloc(1, sizeof(*u));
	if (!u) {
		snprintf(err, n, "out of memory");
		return NULL;
	}
	u->d.ops = &user_ops;
	u->poll_due = VCLOCK_NEVER;
	u->epfd = epoll_create1(EPOLL_CLOEXEC);
	u->rx_event = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->epfd < 0 || u->rx_event < 0) {
		snprintf(err, n, "--net user: %s", strerror(errno));
		goto fail;
	}
	SlirpConfig cfg;
	default_config(&cfg);
	u->slirp = slirp_new(&cfg, &callbacks, u);
	if (!u->slirp) {
		snprintf(err, n, "--net user: libslirp did not start");
		goto fail;
	}
	if (parse_options(u, opts, err, n) < 0)
		goto fail;
	return &u->d;
fail:
	user_close(&u->d);
	return NULL;
}
