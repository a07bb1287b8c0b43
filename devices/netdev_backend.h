/*
 * netdev_backend.h - what a back end of netdev.h provides (netdev.c dispatches to it).
 *
 * Each back end embeds struct netdev first in its own state and fills in its ops;
 * netdev.c parses the spec's kind and calls the back end's open.
 */
#ifndef TRAPEZE_NETDEV_BACKEND_H
#define TRAPEZE_NETDEV_BACKEND_H

#include "netdev.h"

struct netdev_ops {
	int (*send)(struct netdev *d, const void *frame, size_t len);
	ssize_t (*recv)(struct netdev *d, void *buf, size_t cap);
	int (*fd)(const struct netdev *d);
	void (*close)(struct netdev *d);
	/* The host-side work of a back end that has some (NULL otherwise): see
	 * netdev_service() for what each means. */
	void (*service)(struct netdev *d, uint64_t now);
	uint64_t (*next_deadline)(struct netdev *d);
	int (*service_fd)(struct netdev *d);
	bool opens_sockets;
};

struct netdev {
	const struct netdev_ops *ops;
	uint8_t mac[6];
	void (*save_vector_state)(void);        /* netdev_set_vector_hook(), or NULL */
};

/* Before a call into code that may use vector registers. */
static inline void netdev_save_vector_state(const struct netdev *d)
{
	if (d->save_vector_state)
		d->save_vector_state();
}

/* "user[,OPTIONS]" (netdev_slirp.c): opts points after "user". */
struct netdev *netdev_user_open(const char *opts, char *err, size_t n);

#endif
