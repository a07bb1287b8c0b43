/*
 * hpet.h - a High Precision Event Timer (IA-PC HPET specification 1.0a) at 0xfed00000:
 * a 64-bit main counter at 100 MHz (QEMU's period, 10 ns) and three comparators, each
 * one-shot or periodic, 32 or 64 bits wide, edge- or level-triggered, routed to an
 * I/O APIC input. The legacy replacement route (timer 0 on IRQ 0, timer 1 on IRQ 8 in
 * place of the PIT and the RTC) is not offered (LEG_RT_CAP clear), and no firmware
 * table points at the HPET, so an operating system keeps the PIT; guests that know
 * the address use it (kvm-unit-tests' hpet_read_test).
 *
 * The counter is worked out from the vclock when read; each timer's next match is the
 * device's deadline on the board (hpet_update/hpet_next_deadline, as the PIT's).
 */
#ifndef TRAPEZE_HPET_H
#define TRAPEZE_HPET_H

#include <stdint.h>

#include "clock.h"
#include "ioport.h"

struct hpet;
struct mmiobus;

#define HPET_BASE 0xfed00000u

/* The HPET with its registers claimed on mmio; a timer routed to I/O APIC input n
 * drives gsi.set(gsi.opaque, n, level) (gsi.irq unused). NULL on failure. */
struct hpet *hpet_create(struct mmiobus *mmio, const struct vclock *clk, struct irq_line gsi);
void hpet_destroy(struct hpet *h);
/* Raise what is due by now (vclock ns); when the next comparator matches. */
void hpet_update(struct hpet *h, uint64_t now);
uint64_t hpet_next_deadline(const struct hpet *h);

#endif
