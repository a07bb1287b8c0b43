/*
 * netdev.h - a host back end for a guest's network device: whole Ethernet frames in
 * and out, without root.
 *
 * Two back ends, chosen by --net's spec:
 * - "udp:LPORT:RPORT" (netdev.c): each frame is one datagram from 127.0.0.1:LPORT to
 *   127.0.0.1:RPORT and back, the format of QEMU's
 *   `-netdev socket,udp=127.0.0.1:RPORT,localaddr=127.0.0.1:LPORT`, so a trapeze guest,
 *   a QEMU guest or a test peer can be at the other end.
 * - "user[,hostfwd=...]" (netdev_slirp.c): user-mode networking through libslirp, with
 *   QEMU's addressing (guest 10.0.2.15 by DHCP, host 10.0.2.2, DNS 10.0.2.3) and port
 *   forwarding from the host's loopback.
 * The NIC models (ne2000.c for full x86, the para-x86 network ring) send through it
 * and poll it for received frames; its descriptor is what HLT and para idle wait on
 * while the card has room. A back end with host-side work of its own (libslirp's
 * sockets and timers) is also a device on the board (netdev_service()), so that work
 * is done whether or not a card takes frames.
 *
 * Interface: netdev_open() at start-up (--net), netdev_service() when the board is
 * built, netdev_set_vector_hook() before the guest runs, netdev_send(), netdev_recv(), netdev_fd(), netdev_mac(), netdev_close().
 */
#ifndef TRAPEZE_NETDEV_H
#define TRAPEZE_NETDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "board.h"

#define NETDEV_MTU_FRAME 1514   /* the largest frame (no FCS) a NIC hands over */

struct netdev;

/* Open the back end spec names; NULL with a one-line reason in err. */
struct netdev *netdev_open(const char *spec, char *err, size_t n);
void netdev_close(struct netdev *d);

/* Send one frame (14 to NETDEV_MTU_FRAME bytes); 0, or a negative errno (the frame is
 * dropped, as a wire would drop it). */
int netdev_send(struct netdev *d, const void *frame, size_t len);
/* One received frame into buf (cap bytes; a longer one is cut): its length, 0 if none
 * is waiting. Never blocks. */
ssize_t netdev_recv(struct netdev *d, void *buf, size_t cap);
/* The descriptor that becomes readable when a frame arrives. */
int netdev_fd(const struct netdev *d);
/* The guest NIC's MAC address: QEMU's default, 52:54:00:12:34:56. */
void netdev_mac(const struct netdev *d, uint8_t mac[6]);

/* The back end's host-side work as a board device (named, opaque d, not owned by the
 * board): update() serves the host sockets that are ready and the timers that are due
 * (times in CLOCK_MONOTONIC ns, the monitor's vclock), next_deadline() when it must
 * run next, wait_fd() a descriptor readable while host sockets are ready. The VM adds
 * it before the board builder runs, so a board update serves it first and the card
 * then takes what it queued. A back end without such work gives a record with no
 * callbacks. */
struct board_dev netdev_service(struct netdev *d);
/* save is called before each call into a library that may use vector registers
 * (libslirp, glib): the monitor saves the guest's x87/SSE state there, which may be
 * live in the registers (monitor/fpu.h). NULL, the default: nothing to save. */
void netdev_set_vector_hook(struct netdev *d, void (*save)(void));
/* Does the back end open and accept host sockets while the VM runs (the sandbox must
 * let it)? The UDP back end's socket is ready before the sandbox. */
bool netdev_opens_sockets(const struct netdev *d);

#endif
