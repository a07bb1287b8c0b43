/*
 * netdev.c - the UDP back end of netdev.h: one datagram per frame on the loopback.
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

struct netdev {
	int fd;
	uint8_t mac[6];
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

struct netdev *netdev_open(const char *spec, char *err, size_t n)
{
	char *end;
	int lport, rport;
	if (strncmp(spec, "udp:", 4) || (lport = parse_port(spec + 4, &end)) < 0 || *end != ':' ||
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
	struct netdev *d = calloc(1, sizeof(*d));
	if (!d) {
		close(fd);
		snprintf(err, n, "out of memory");
		return NULL;
	}
	d->fd = fd;
	memcpy(d->mac, (const uint8_t[6]){ 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }, 6);
	return d;
}

void netdev_close(struct netdev *d)
{
	if (!d)
		return;
	close(d->fd);
	free(d);
}

int netdev_send(struct netdev *d, const void *frame, size_t len)
{
	if (len < 14 || len > NETDEV_MTU_FRAME)
		return -EINVAL;
	return write(d->fd, frame, len) == (ssize_t)len ? 0 : -errno;
}

ssize_t netdev_recv(struct netdev *d, void *buf, size_t cap)
{
	ssize_t r = read(d->fd, buf, cap);
	return r < 0 ? 0 : r;   /* EAGAIN: nothing waiting; ECONNREFUSED: the peer is not up */
}

int netdev_fd(const struct netdev *d) { return d->fd; }

void netdev_mac(const struct netdev *d, uint8_t mac[6]) { memcpy(mac, d->mac, 6); }
