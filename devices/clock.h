/*
 * clock.h - virtual time for devices that count it (PIT, RTC).
 *
 * A device is handed a vclock at creation and reads the time from it whenever the
 * guest touches it; the monitor's clock is the host's CLOCK_MONOTONIC, tests use a
 * clock they move by hand. Devices that raise interrupts on time also report when
 * their next one is due, so the monitor can arm one host timer for the earliest.
 */
#ifndef TRAPEZE_CLOCK_H
#define TRAPEZE_CLOCK_H

#include <stdint.h>

/* No deadline: the device raises nothing on time until the guest programs it. */
#define VCLOCK_NEVER UINT64_MAX

struct vclock {
	uint64_t (*now_ns)(void *opaque);       /* monotonic nanoseconds */
	void *opaque;
};

static inline uint64_t vclock_now(const struct vclock *c) { return c->now_ns(c->opaque); }

#endif
