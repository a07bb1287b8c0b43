/*
 * netdev.c - netdev.h's calls, dispatched to the back end --net names, and the UDP back
 * end: one datagram per frame on the loopback.
 *
 * The socket is bound to 127.0.0.1:LPORT and connected to 127.0.0.1:RPORT before the
 * sandbox is installed, so the monitor only ever calls read and write on it (both in
 * the sandbox's list). A connected UDP socket drops datagrams from anyone but the peer.
 */
#include "netdev.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "netdev_backend.h"

struct udp_netdev {
	struct netdev d;
	int fd;
};

static int parse_port(const char *s, char **end)
{
	long v = strtol(s, end, 10);
	return *end != s && v > 0 && v < 65536 ? (int)v : -1;
}

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int udp_send(struct netdev *d, const void *frame, size_t len)
{
	int fd = ((struct udp_netdev *)d)->fd;
	return write(fd, frame, len) == (ssize_t)len ? 0 : -errno;
}

static ssize_t udp_recv(struct netdev *d, void *buf, size_t cap)
{
	ssize_t r = read(((struct udp_netdev *)d)->fd, buf, cap);
	return r < 0 ? 0 : r;   /* EAGAIN: nothing waiting; ECONNREFUSED: the peer is not up */
}

static int udp_fd(const struct netdev *d) { return ((const struct udp_netdev *)d)->fd; }

static void udp_close(struct netdev *d)
{
	close(((struct udp_netdev *)d)->fd);
	free(d);
}

static const struct netdev_ops udp_ops = {
	.send = udp_send, .recv = udp_recv, .fd = udp_fd, .close = udp_close,
};

static struct netdev *udp_open(const char *spec, char *err, size_t n)
{
	char *end;
	int lport, rport;
	if ((lport = parse_port(spec + 4, &end)) < 0 || *end != ':' ||
	    (rport = parse_port(end + 1, &end)) < 0 || *end) {
		snprintf(err, n, "--net %s: want udp:LOCALPORT:REMOTEPORT (UDP on 127.0.0.1)", spec);
		return NULL;
	}
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in l = loopback(lport), r = loopback(rport);
	if (fd < 0 || bind(fd, (struct sockaddr *)&l, sizeof(l)) < 0 ||
	    connect(fd, (struct sockaddr *)&r, sizeof(r)) < 0) {
		snprintf(err, n, "--net %s: %s", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	struct udp_netdev *u = calloc(1, sizeof(*u));
	if (!u) {
		close(fd);
		snprintf(err, n, "out of memory");
		return NULL;
	}
	u->d.ops = &udp_ops;
	u->fd = fd;
	return &u->d;
}

struct netdev *netdev_open(const char *spec, char *err, size_t n)
{
	struct netdev *d = NULL;
	if (strncmp(spec, "udp:", 4) == 0)
		d = udp_open(spec, err, n);
	else if (strncmp(spec, "user", 4) == 0 && (spec[4] == 0 || spec[4] == ','))
		d = netdev_user_open(spec + 4, err, n);
	else
		snprintf(err, n, "--net %s: want udp:LOCALPORT:REMOTEPORT or "
			 "user[,hostfwd=tcp:127.0.0.1:HOSTPORT-:GUESTPORT]...", spec);
	if (d)          /* QEMU's default, which its guests' expectations are written for */
		memcpy(d->mac, (const uint8_t[6]){ 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }, 6);
	return d;
}

void netdev_close(struct netdev *d)
{
	if (d)
		d->ops->close(d);
}

int netdev_send(struct netdev *d, const void *frame, size_t len)
{
	if (len < 14 || len > NETDEV_MTU_FRAME)
		return -EINVAL;
	return d->ops->send(d, frame, len);
}

ssize_t netdev_recv(struct netdev *d, void *buf, size_t cap) { return d->ops->recv(d, buf, cap); }

int netdev_fd(const struct netdev *d) { return d->ops->fd(d); }

void netdev_mac(const struct netdev *d, uint8_t mac[6]) { memcpy(mac, d->mac, 6); }

static void service_update(void *opaque, uint64_t now)
{
	struct netdev *d = opaque;
	d->ops->service(d, now);
}

static uint64_t service_deadline(void *opaque)
{
	struct netdev *d = opaque;
	return d->ops->next_deadline(d);
}

static int service_fd(void *opaque)
{
	struct netdev *d = opaque;
	return d->ops->service_fd(d);
}

struct board_dev netdev_service(struct netdev *d)
{
	struct board_dev b = { .name = "network back end", .opaque = d };
	if (d->ops->service) {
		b.update = service_update;
		b.next_deadline = service_deadline;
		b.wait_fd = service_fd;
	}
	return b;
}

void netdev_set_vector_hook(struct netdev *d, void (*save)(void)) { d->save_vector_state = save; }

bool netdev_opens_sockets(const struct netdev *d) { return d->ops->opens_sockets; }
