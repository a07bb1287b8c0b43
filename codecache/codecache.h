/*
 * codecache.h - translated blocks: allocation, lookup, chaining, invalidation, flush.
 *
 * A block is the translation of one guest basic block, keyed by its guest EIP, the
 * guest CS base, the CS limit and the mode word it was translated for (rw_mode: CPL,
 * code size, ...). Its host code lives in the code cache inside the monitor window.
 * Each block has up to MAX_EXITS direct exits (slots: branches, and the entries of its
 * inline caches); a slot starts unchained (its jump leads to an exit stub that returns
 * to the dispatcher) and is chained by patching the jump to the target's host code.
 * Blocks are listed per guest physical page so a write to a page finds them.
 *
 * Invalidation has one routine and one order: mark invalid, unhash (and drop from the
 * lookup table), unlink from the page lists, unchain incoming jumps. A full cache is
 * flushed whole.
 *
 * A change of mapping (a CR3 load, INVLPG) detaches the blocks whose pages no longer
 * map as translated: their lookup entries go and the chains into them are parked
 * (jumping to their exit stubs, but remembered); a lookup that finds such a block valid
 * again attaches it, and its parked chains jump to it again.
 *
 * The cache decides what to link; the bytes are patched by the encoder
 * (rewriter/x86emit.h). It knows the guest's memory only through struct cc_host,
 * which the monitor wires at cc_create (monitor/rwhost.c).
 */
#ifndef TRAPEZE_CODECACHE_H
#define TRAPEZE_CODECACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "../arch/layout.h"

/* One entry of the side table: the guest instruction that starts at host offset hoff. */
struct side_entry {
	uint32_t eip;
	uint16_t hoff;
	uint8_t flags;
};
/* The instruction's emitted code keeps guest EAX/ECX in VC_SAVE_EAX/ECX. */
#define SIDE_SCRATCH    0x01
/* ... keeps guest register (flags >> 4) & 7 in VC_SAVE_EAX. */
#define SIDE_SAVED_REG  0x02
/* ... accesses memory on the CPU's own behalf before it changes anything (INT n and
 * IRET in line, rewriter/mangle_kentry.c): a host fault there runs it as a callout. */
#define SIDE_CALLOUT    0x04

struct exit_slot {
	uint32_t target;                /* guest EIP */
	uint32_t field;                 /* host address of the jump's rel32 */
	uint32_t stub;                  /* host address of the slot's exit stub */
	/* An inline cache of an indirect branch (mangle_branch.c, emit_ic): the slot's target
	 * is the one guest EIP the site remembers, set at its first run. */
	uint32_t ic_imm;                /* host address of the compare's -target, or 0 */
	uint32_t ic_route;              /* rel32 that leads misses to the fill exit, then
					   to ic_table */
	uint32_t ic_table;              /* where misses go after this slot's fill: the
					   second slot's fill, then the lookup table */
	bool ic_second;                 /* the second entry of a two-entry inline cache: its
					   compare follows the first's (exit[slot - 1]) */
	/* The first entry's: the window word that counts the site's lookups in the table
	 * down to a refill (0: none), how long the next count is, how many refills. */
	uint32_t ic_count;
	uint8_t ic_level;
	uint8_t ic_refills;
	uint32_t stub_eip;              /* host address of the stub's EIP immediate */
	struct block *to;               /* chained target, or NULL */
	uint32_t to_host;               /* ... the host address of its entry */
	bool parked;                    /* 'to' is detached (its pages do not map as
					   translated): the jump leads to the exit stub until
					   'to' is attached again */
	uintptr_t in_next;              /* next (block | slot) jumping into 'to' */
};

/*
 * Where translated code may be entered: the block's start, and the instruction after
 * each direct call in it (the call's return lands there).
 */
struct entry {
	uint32_t eip;
	uint32_t host;
	uint32_t thost;                 /* its table prologue: restores EAX/ECX, then host */
	uint32_t guard_exit;            /* the exit a closed guard at host jumps to; 0: no
					   guard (a block translated from global pages) */
	struct block *block;
	struct entry *hash_next;
};

/* Where an entry's code starts: past its guard. */
static inline uint32_t entry_inside(const struct entry *en)
{
	return en->guard_exit ? en->host + GUARD_LEN : en->host;
}
#define MAX_EXITS       8       /* direct exits per block; exit info is id << 3 | slot */
#define SLOT_BITS       3

struct block {
	/* The first 64 bytes: what lookups, CR3 loads' checks, detaching and attaching
	 * read. */
	uint32_t eip, cs_base, cs_limit, mode;
	uint32_t page[3];               /* guest physical page numbers of the bytes, then of
					   an inlined callee's (xpage) */
	uint8_t npages;                 /* consecutive linear pages of the bytes: 1 or 2 */
	bool xpage;                     /* page[npages] is an inlined callee's page ... */
	uint8_t nentries;
	uint8_t nexits;
	uint32_t xlpn;                  /* ... at this linear page */
	bool valid;
	bool cut;                       /* its last instruction ran into an absent page */
	bool global;                    /* its pages are global (CR4.PGE): CR3 loads keep it */
	bool large;                     /* a page of it is part of a 4 MiB or 2 MiB page */
	uint32_t global_epoch;          /* ... as seen when global translations last went */
	bool in_local;                  /* attached: on the list of non-global blocks with
					   links; not: detached (guarded, or chains parked) */
	bool guarded;                   /* its entries' guards are closed (detached) */
	bool has_parked;                /* chains into it were parked (a guard exit found
					   it not mapped as translated) */
	bool callout_first;             /* starts with a callout: emulate without entering */
	struct entry *entries;          /* [0] is the start; then call continuations (in
					   the block's allocation, after it) */
	uint32_t id;
	uint32_t host;                  /* host address of the code */

	uint32_t host_len;
	uint16_t guest_len;
	uint16_t ninsn;
	uint32_t callout_info;          /* a callout_first block's exit info (EXIT_CALLOUT) */
	uint32_t cold;                  /* host address of its out-of-line code (exit stubs, */
	uint32_t cold_len;              /* inline caches' misses, table stubs), or 0 */
	struct exit_slot exit[MAX_EXITS];
	uintptr_t incoming;             /* list of (block | slot) chained into this one */
	struct block *page_next[3];
	uint16_t nside;
	struct side_entry *side;
};

struct codecache;

/* What the cache counts (--stats). */
struct cc_stats {
	uint64_t blocks;
	uint64_t guest_insns;
	uint64_t guest_bytes;
	uint64_t host_bytes;
	uint64_t cold_bytes;            /* ... of them out of line */
	uint64_t chained, unchained;
	uint64_t lookups;               /* dispatcher lookups */
	uint64_t linear_flushes;        /* translations unchained for a changed mapping */
	uint64_t cr3_detached;          /* blocks unchained by CR3 loads (their pages moved) */
	uint64_t cr3_checked;           /* attached blocks whose pages CR3 loads checked */
	uint64_t cr3_kept_traced;       /* ... local entries kept by traced tables, unasked */
	uint64_t space_kept_traced;     /* blocks attached by a CR3 load back, so */
	uint64_t space_attached;        /* attached again by a CR3 load back (cc_switch_space) */
	uint64_t attached;              /* detached blocks a lookup attached again */
	uint64_t unparked;              /* ... of them, found by the parked chain taken */
	uint64_t chains_unparked;       /* parked chains whose jump was restored */
	uint64_t guards_opened;         /* ... found by a jump through a closed guard */
	uint64_t guards_parked;         /* closed guards taken into a block that did not map:
					   its incoming chains parked */
	uint64_t globals_demoted;       /* global blocks found on pages no longer global */
	uint64_t page_flushes;          /* INVLPGs that detached one page's blocks */
	uint64_t ic_refills;            /* inline-cache entries given another target */
	uint64_t invalidated_blocks;
	uint64_t flushes;
};
const struct cc_stats *cc_stats(const struct codecache *cc);

/* What the cache asks of the guest's memory (monitor/rwhost.c implements it). */
struct cc_host {
	/* Guest linear lin to physical for a fetch at CPL 3 (user) or not, as the
	 * translation would see it now, without raising #PF or setting accessed bits:
	 * 0, or -1 where nothing is mapped. */
	int (*peek)(void *opaque, uint32_t lin, bool user, uint64_t *pa);
	/* The same for the many pages a CR3 load checks, each once, by a shorter walk;
	 * with traced, whether the answer holds for the current address space while
	 * *trace_epoch stays (asking may start tracing the tables it read). */
	int (*peek_once)(void *opaque, uint32_t lin, bool user, uint64_t *pa, bool *traced);
	/* Whether the current tables map linear lin by a global translation (CR4.PGE). */
	bool (*global)(void *opaque, uint32_t lin);
	/* Guest physical page ppn holds translated code (readonly) or no longer does:
	 * write-protect it, or lift that. */
	void (*protect_code)(void *opaque, uint32_t ppn, bool readonly);
	/* Advances whenever a traced answer of peek_once may have changed; the cache
	 * advances it too (its low half never to 0). */
	uint64_t *trace_epoch;
	void *opaque;
};

/* Create the cache over the window's code area: size bytes of it (0 or more than
 * there is: all), for ram_pages pages of guest RAM; empty_hit: the host address of the
 * shared stub an empty lookup-table entry leads to. NULL with errno on failure. */
struct codecache *cc_create(uint32_t size, uint32_t ram_pages, uint32_t empty_hit,
			     const struct cc_host *host);
void cc_destroy(struct codecache *cc);

/* The block starting at (eip, cs_base, cs_limit, mode), or NULL: cs_limit is the
 * guest's current CS limit (a block serves the limit it was translated under). */
struct block *cc_lookup(struct codecache *cc, uint32_t eip, uint32_t cs_base, uint32_t cs_limit,
			uint32_t mode);
/* The entry a parked chain (from's exit slot) leads to, if it is eip's for (cs_base,
 * cs_limit, mode) and its pages map as translated again: attached as cc_lookup_entry
 * would, without the hash walk. NULL otherwise (then look it up). */
const struct entry *cc_unpark(struct codecache *cc, struct block *from, int slot, uint32_t eip,
			      uint32_t cs_base, uint32_t cs_limit, uint32_t mode);
/* A jump reached entry number idx of block id through its closed guard (EXIT_GUARD):
 * the entry, attached, if it is eip's for (cs_base, cs_limit, mode) and its pages map
 * as translated; NULL otherwise (then look it up: the chains into the block are parked
 * so that their sources find what this space runs there). */
const struct entry *cc_guard_exit(struct codecache *cc, uint32_t id, int idx, uint32_t eip,
				  uint32_t cs_base, uint32_t cs_limit, uint32_t mode);
/* Any entry point for (eip, cs_base, cs_limit, mode): a block start or a call
 * continuation, whose pages the guest still maps as when it was translated. Counts a
 * dispatcher lookup. */
const struct entry *cc_lookup_entry(struct codecache *cc, uint32_t eip, uint32_t cs_base,
				    uint32_t cs_limit, uint32_t mode);

/* Room to emit up to CC_RESERVE bytes of code at the returned host address, and as
 * many out of line at *cold; NULL when the cache is full (flush and retry). Each zone
 * holds at least two reservations (the smallest cache, 16 KiB, holds many blocks). */
#define CC_RESERVE      4096
uint8_t *cc_reserve(struct codecache *cc, uint8_t **cold);
/* A new block whose code was emitted at the reserved address: the cache's scratch
 * record, which the caller fills in and hands to cc_set_entries(); a block not
 * committed is just left. */
struct block *cc_new_block(struct codecache *cc);
/* The block's own record: b with its n entry points (en) and its side table (nside
 * entries) in the same allocation, right after it, where the checks of detaching and
 * attaching it find them (NULL when memory is short). It lives until the next
 * flush; cc_commit() it. */
struct block *cc_set_entries(struct codecache *cc, struct block *b, const struct entry *en,
			     int n, const struct side_entry *side, int nside);
/* Make a filled-in block visible: hash it, list it on its pages (write-protecting
 * them) and enter it in the lookup table. */
void cc_commit(struct codecache *cc, struct block *b);

/* Set the inline cache of from's slot to guest target (its first run). */
void cc_fill_ic(struct codecache *cc, struct block *from, int slot, uint32_t target);
/* A window word for an inline cache to count its table lookups down in, set to the
 * first count; 0 when none is left (until the next flush). */
uint32_t cc_ic_counter(struct codecache *cc);
/* The site whose first inline-cache entry is from's slot counted down: the count
 * starts again, longer each time, and if take, its second entry (every fourth time
 * its first) now remembers target, unchained. Returns the slot that changed, or -1. */
int cc_refill_ic(struct codecache *cc, struct block *from, int slot, uint32_t target, bool take);

/* Keep a block that runs once and is never looked up, chained or listed on its
 * pages (so its pages stay writable while it runs). Its side table still serves. */
void cc_commit_oneshot(struct codecache *cc, struct block *b);

/* Patch from's exit slot to jump straight to 'to' (its start). */
void cc_chain(struct codecache *cc, struct block *from, int slot, struct block *to);
/* The same, to any entry point. */
void cc_chain_entry(struct codecache *cc, struct block *from, int slot, const struct entry *to);
/* Point b's chained exits back at their exit stubs, so b leaves the code cache at
 * its next direct branch. Safe in a signal handler that interrupted translated code. */
void cc_unchain_exits(struct codecache *cc, struct block *b);
/* The block with a given id in the current generation, or NULL if invalid. */
struct block *cc_block(struct codecache *cc, uint32_t id);
/* The block whose host code contains host address a, or NULL. */
struct block *cc_block_at(struct codecache *cc, uint32_t a);
/* The side entry of the guest instruction containing host address a in b. */
const struct side_entry *cc_side_lookup(const struct block *b, uint32_t a);

/* Invalidate every block with bytes on guest physical page ppn; returns how many. */
int cc_invalidate_page(struct codecache *cc, uint32_t ppn);
/* True if guest physical page ppn holds translated code. */
bool cc_page_has_code(struct codecache *cc, uint32_t ppn);
/* Drop every block. */
void cc_flush(struct codecache *cc);
/* The guest's linear-to-physical mapping changed (CR3, INVLPG, paging on or off):
 * unchain the blocks and empty the lookup tables, which go by linear address; the
 * blocks stay, found again by the dispatcher, which checks their physical pages.
 * keep_global: only blocks whose pages are not global change (a CR3 load with
 * CR4.PGE), and of those only the ones the new tables do not map as translated: they
 * are detached (their chains parked), until a lookup finds one valid again. */
void cc_flush_linear(struct codecache *cc, bool keep_global);
/* A CR3 load under CR4.PGE: cc_flush_linear(cc, true), and the address space named by
 * cr3 is current: the blocks a lookup attached again the last time it was are
 * attached at once where its tables map their pages as translated (and noted anew as
 * lookups attach others). */
void cc_switch_space(struct codecache *cc, uint32_t cr3);
/* The mapping of guest linear page lpn changed (INVLPG): detach the blocks with bytes
 * there (chains into them, their lookup entries), or do all of cc_flush_linear when
 * global blocks came from it. */
void cc_flush_linear_page(struct codecache *cc, uint32_t lpn);
/* Did blocks come from guest linear page lpn (since the last flush)? */
bool cc_linear_has_code(struct codecache *cc, uint32_t lpn);
/* Whether blocks a CR3 load checks (not global) came from linear pages
 * [first, first + npg), now or since the last flush of the cache. */
bool cc_local_code_in(struct codecache *cc, uint32_t first, uint32_t npg);
/* Whether blocks came from a large page somewhere in linear pages [first, first + npg)
 * (npg a multiple of 8). */
bool cc_region_has_large_code(struct codecache *cc, uint32_t first, uint32_t npg);
/* Generation number; changes at every flush. */
uint32_t cc_generation(struct codecache *cc);
/* Each lookup table (LOOKUP_INDEX(mode)), and lookups, serve one (CS base, CS limit,
 * mode) at a time: switching empties the table (and returns true). Blocks are
 * translated for one CS limit. */
bool cc_set_table_key(struct codecache *cc, uint32_t cs_base, uint32_t cs_limit, uint32_t mode);
/* Whether mode's table serves (CS base, CS limit, mode) now. */
bool cc_table_serves(const struct codecache *cc, uint32_t cs_base, uint32_t cs_limit,
		     uint32_t mode);
/* Empty the lookup table. */
void cc_clear_lookup(struct codecache *cc);

#endif
