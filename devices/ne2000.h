/*
 * ne2000.h - an NE2000 ISA network card (a DP8390 behind a data port and a reset
 * port), as QEMU's `-device ne2k_isa,iobase=0x300,irq=9` emulates it. pc.c puts it at
 * 0x300-0x31f on IRQ 9 when the VM has a network back end (--net).
 *
 * Frames go out and come in through a struct netdev (netdev.h) the caller keeps open
 * while the card lives. The card takes received frames when the board updates it,
 * when the guest reads ISR, and in ne2000_wait_fd().
 */
#ifndef TRAPEZE_NE2000_H
#define TRAPEZE_NE2000_H

#include <stdint.h>

#include "ioport.h"

struct ne2000;
struct netdev;

/* The card at base..base+0x1f on io, interrupting on irq, on the back end net.
 * NULL on failure (ports taken, no memory). */
struct ne2000 *ne2000_create(struct iobus *io, uint16_t base, struct irq_line irq,
			     struct netdev *net);
/* Free the card (not the back end); its ports stay claimed, so destroy the bus with it. */
void ne2000_destroy(struct ne2000 *n);
/* Take the frames the back end holds while the receive ring has room. */
void ne2000_poll(struct ne2000 *n);
/* Take what is waiting, then the back end's descriptor if the card wants more frames,
 * or -1 (stopped, or the ring full: the frames wait in the host socket). */
int ne2000_wait_fd(struct ne2000 *n);

#endif
