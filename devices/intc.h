/*
 * intc.h - the interrupt-controller seam: all that devices and the CPU see of the
 * controller a board wires (the 8259 pair today, pic8259.c; a local APIC and I/O APIC
 * may follow).
 *
 * The controller fills a struct intc when it is created and keeps it valid while it
 * lives. Devices get their input lines from intc_line() as struct irq_line (ioport.h),
 * so a device never knows which controller it is wired to. The CPU side asks
 * intc_pending() at every dispatcher turn (the value goes into the vCPU block's irq
 * word) and, when it delivers, takes the vector from intc_ack().
 */
#ifndef TRAPEZE_INTC_H
#define TRAPEZE_INTC_H

#include <stdbool.h>

#include "ioport.h"

struct intc {
	void (*set_irq)(void *opaque, int irq, int level);      /* an input line moved */
	bool (*pending)(const void *opaque);    /* INTR to the CPU asserted; cheap */
	int (*ack)(void *opaque);               /* the acknowledge cycle: the vector */
	void *opaque;                           /* the controller's state */
	/* An NMI message waits (the local APIC's); taken by nmi_ack. NULL: none ever. */
	bool (*nmi_pending)(const void *opaque);
	void (*nmi_ack)(void *opaque);
};

/* Input line irq of controller c, for a device's constructor. */
static inline struct irq_line intc_line(const struct intc *c, int irq)
{
	return (struct irq_line){ c->set_irq, c->opaque, irq };
}

/* Does the controller ask the CPU for an interrupt? */
static inline bool intc_pending(const struct intc *c) { return c->pending(c->opaque); }

/* Acknowledge: the vector to deliver (a spurious one if the request went away). */
static inline int intc_ack(const struct intc *c) { return c->ack(c->opaque); }

/* Does an NMI wait for the CPU, and its delivery (vector 2, whatever EFLAGS.IF says). */
static inline bool intc_nmi_pending(const struct intc *c)
{
	return c->nmi_pending && c->nmi_pending(c->opaque);
}
static inline void intc_nmi_ack(const struct intc *c)
{
	if (c->nmi_ack)
		c->nmi_ack(c->opaque);
}

#endif
