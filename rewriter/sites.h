/*
 * sites.h - what the monitor has learnt about single guest instructions at run time,
 * which changes how the rewriter translates them from then on.
 *
 * A site is a guest linear EIP. SITE_GS_WRAP: a gs: access there reached below GS's
 * base (thread-local storage through a register), so it is translated with GS's wrap
 * view. SITE_EMULATE: an access there had to be emulated (the top of linear space the
 * monitor window hides, the wrap view's other half), so it is translated as a callout
 * that emulates it: one monitor exit instead of a host fault each time it runs. Such a
 * callout counts whether each run still needed the monitor; where most runs do not (a
 * helper like memcpy that touched the top of linear space once), the site goes back to
 * native execution and is marked SITE_NATIVE, never to be learnt again: a callout costs
 * about a tenth of a host fault, so it pays only above that share of needy runs.
 *
 * Interface: the fault path learns (sites_learn) and then invalidates the blocks of the
 * instruction's page; the rewriter asks (sites_get) while translating; a full cache flush
 * forgets everything (sites_clear), so stale sites of exited processes do not pile up.
 * A stale site (other code at that address now: another process, rewritten code) is
 * given back when its callout finds an instruction that memop does not emulate and that
 * needs no monitor (emulate_callout); otherwise both translations are correct for any
 * access, the callout only slower.
 */
#ifndef TRAPEZE_SITES_H
#define TRAPEZE_SITES_H

#include <stdbool.h>
#include <stdint.h>

#define SITE_GS_WRAP    1u
#define SITE_EMULATE    2u
#define SITE_NATIVE     4u

#define SITES           4096    /* open addressing; a full table learns nothing more */

struct sites {
	uint32_t lin[SITES];    /* EIP + 1; 0: free */
	uint8_t flags[SITES];
	uint16_t needy[SITES], idle[SITES];     /* runs of an emulated site: needed or not */
	unsigned count;
};

/* The flags learnt for linear EIP lin (0 if none). */
unsigned sites_get(const struct sites *s, uint32_t lin);

/* Add flag to lin's site. True if that is news (the blocks holding lin must be
 * translated again), false if known already or the table is full. */
bool sites_learn(struct sites *s, uint32_t lin, unsigned flag);

/* Give lin's site back to native execution for good (SITE_NATIVE). */
void sites_give_back(struct sites *s, uint32_t lin);

/* Count one run of an emulated site; needed: did it need the monitor. True when that
 * turned the site back to native (its blocks must be translated again). */
bool sites_count(struct sites *s, uint32_t lin, bool needed);

void sites_clear(struct sites *s);

#endif
