/*
 * pic8259.h - the PC's two cascaded 8259A interrupt controllers: master at 0x20/0x21,
 * slave at 0xa0/0xa1 on the master's IR2, and the chipset's ELCR edge/level registers
 * at 0x4d0/0x4d1. The board hands the pair out as an interrupt controller (intc.h,
 * pic_intc()): devices drive its inputs through struct irq_line (pic_set_irq, the pic,
 * irq = 0..15), the CPU asks whether to interrupt (pic_intr) and takes the vector
 * (pic_ack). Unit tests call the three directly.
 */
#ifndef TRAPEZE_PIC8259_H
#define TRAPEZE_PIC8259_H

#include <stdbool.h>

#include "intc.h"
#include "ioport.h"

struct pic;

/* Create the pair and claim its ports on io; NULL on allocation failure or port clash. */
struct pic *pic_create(struct iobus *io);
/* Free p; its ports stay claimed, so destroy the iobus with it. */
void pic_destroy(struct pic *p);
/* An irq_line set callback: drive input line irq (0..15) to level (0/1). Edge-triggered
 * inputs latch IRR on a 0->1 transition; level-triggered (ELCR) follow the level. IRQ 2
 * is the cascade, so a device on ISA IRQ 2 drives IRQ 9, as the AT bus wires it. */
void pic_set_irq(void *opaque, int irq, int level);
/* Is the INTR output to the CPU asserted (an unmasked request of higher priority than
 * any in service)? Cheap: the monitor calls it at every block boundary with IF=1. */
bool pic_intr(const struct pic *p);
/* The CPU's interrupt acknowledge cycle: the vector to deliver. Updates IRR/ISR as the
 * 8259A does (AEOI included); returns the spurious vector (IRQ 7 or 15 of the base) when
 * the request went away. Call only after pic_intr() returned true (but handle it
 * gracefully otherwise). */
int pic_ack(struct pic *p);
/* The pair as the board's interrupt controller: pic_set_irq, pic_intr, pic_ack on p. */
struct intc pic_intc(struct pic *p);

#endif
