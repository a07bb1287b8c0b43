/*
 * pit8254.h - the PC's Intel 8254 programmable interval timer: counters 0-2 at
 * 0x40-0x42, control word at 0x43, and the bits of port 0x61 (NMI status and control)
 * that belong to it: counter 2's gate, the speaker enable, OUT2 and the refresh toggle.
 *
 * Counter 0's OUT is IRQ 0, counter 1 is the old DRAM refresh timer (its OUT goes
 * nowhere), counter 2 feeds the speaker and is what guests calibrate delay loops on.
 * Nothing is ticked: counts and OUT levels are worked out from the vclock when the
 * guest looks, so the board (pc.c, board.h) only calls pit_update() when
 * pit_next_deadline() comes due. It asks for the deadline again after guest access to
 * these ports, which may have reprogrammed counter 0.
 */
#ifndef TRAPEZE_PIT8254_H
#define TRAPEZE_PIT8254_H

#include <stdint.h>

#include "clock.h"
#include "ioport.h"

struct pit;

/* Channels 0-2 at 0x40-0x43 and port 0x61 on io; channel 0's OUT drives irq0.
 * NULL on failure. The input clock is 1193182 Hz, derived from clk (*clk is copied). */
struct pit *pit_create(struct iobus *io, const struct vclock *clk, struct irq_line irq0);
/* Free p; the ports stay claimed, so destroy the iobus with it. */
void pit_destroy(struct pit *p);
/* Bring channel 0's OUT up to now, the vclock's present (raising/lowering irq0 for
 * every edge due: a rising edge of OUT is an interrupt request; if several periods
 * passed, one edge is enough — the guest lost ticks, as on a real machine with
 * interrupts off). */
void pit_update(struct pit *p, uint64_t now);
/* When channel 0's OUT next rises, in vclock nanoseconds; VCLOCK_NEVER if it won't
 * without the guest's help. The monitor arms its host timer for it. An edge already
 * due but not yet passed to irq0 by pit_update() gives a time not after now. */
uint64_t pit_next_deadline(struct pit *p);

#endif
