/*
 * rtc.h - the PC CMOS real-time clock, a Motorola MC146818A: index port 0x70 (bit 7
 * masks NMI), data port 0x71, 128 bytes of CMOS RAM, interrupts on IRQ 8.
 *
 * The clock shows UTC. It is not ticked: the time and the interrupt flags are worked
 * out from the vclock when the guest looks, so the board (pc.c, board.h) only calls
 * rtc_update() when rtc_next_deadline() comes due. It asks for the deadline again after
 * guest access to these ports, which may have enabled an interrupt or moved the time.
 */
#ifndef TRAPEZE_RTC_H
#define TRAPEZE_RTC_H

#include <stdint.h>

#include "clock.h"
#include "ioport.h"

struct rtc;

/* The RTC at 0x70/0x71 on io, interrupts on irq8 (IRQ 8). The wall-clock time it shows
 * is epoch_ns (host realtime, nanoseconds since 1970 UTC, at creation) plus the time
 * clk has advanced since creation (*clk is copied). NULL on failure. */
struct rtc *rtc_create(struct iobus *io, const struct vclock *clk, int64_t epoch_ns, struct irq_line irq8);
/* Free r; the ports stay claimed, so destroy the iobus with it. */
void rtc_destroy(struct rtc *r);
/* Write CMOS RAM byte idx (for the board: memory sizes at 0x15-0x18, 0x30-0x31,
 * 0x34-0x35, 0x5b-0x5d, equipment byte 0x14, etc.). The clock's own bytes (0x00-0x0d
 * and the century at 0x32) and idx outside 0-127 are ignored. */
void rtc_cmos_set(struct rtc *r, int idx, uint8_t v);
/* Bring the interrupt flags up to now, the vclock's present, and raise IRQ 8 if one is
 * due. */
void rtc_update(struct rtc *r, uint64_t now);
/* When the next enabled interrupt (periodic, update-ended, alarm) is due, in vclock ns;
 * VCLOCK_NEVER if none is enabled. A flag already pending does not suppress it. */
uint64_t rtc_next_deadline(struct rtc *r);

#endif
