/*
 * codecache.c - the translation cache (see codecache.h for the vocabulary).
 *
 * Host code is bump-allocated in [CACHE_ADDR, CACHE_END), in two zones: the code that
 * runs (hot) from CACHE_ADDR, what a block needs only now and then (exit stubs, an
 * inline cache's miss path, table stubs: cold) from cold_base. So the code that runs
 * lies close together (a 2 KiB pad between blocks made the shell loop 20% slower).
 * Block records live in the monitor's heap, indexed by id, so ids grow with host
 * addresses in both zones and cc_block_at() is a binary search. The indirect-branch
 * table at LOOKUP_ADDR is direct-mapped by the low 16 bits of the guest EIP; an entry
 * holds -eip and the host address so that the inline lookup can test a hit with
 * LEA + JECXZ, without touching the guest's flags.
 *
 * Callers: the rewriter reserves room, fills a block in and commits it; the dispatcher
 * (monitor/engine_bt.c) looks blocks up and chains them; the shadow MMU invalidates pages and
 * flushes linear mappings. The cache decides what to link; the bytes of a link (a
 * rel32, an inline cache's compare) are patched by the encoder (rewriter/x86emit.h).
 * Guest memory is reached through struct cc_host: which physical page a linear page
 * maps for a fetch, and write-protecting the pages that hold code.
 */
#include "codecache.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../arch/layout.h"
#include "../rewriter/x86emit.h"

#define HASH_BITS 16

_Static_assert(LOOKUP_TABLE_AT(LOOKUP_TABLES) <= IC_COUNT_ADDR, "the lookup tables overlap the counters");

/* An inline cache's first count of lookups in the table before a refill, and the
 * longest: each refill doubles it, so a site whose targets keep changing costs few
 * exits. */
#define IC_COUNT_FIRST_SHIFT 7
#define IC_COUNT_LAST_SHIFT  16

struct lookup_entry {
	uint32_t neg_eip;
	uint32_t host;
};

/* An entry of the local list: the blocks that depend on the same one or two pages
 * (their bytes' one or two, or one and an inlined callee's; a cut block's next page
 * must map nothing), with what those must map, so that a CR3 load checks the pages
 * once for all of them, without reading a block: keys (linear page << 1 | user) and
 * physical pages (~0u: none). A block that depends on more pages has an entry of its
 * own, with key LOCAL_KEY_NONE. Ids of blocks gone since (invalidated) may linger in
 * an entry whose pages still map as they did: a check skips them when it detaches. */
#define LOCAL_KEY_NONE 0xffffffffu
#define LOCAL_INLINE   6
struct local_ent {
	uint32_t n, cap;                /* ids; cap > LOCAL_INLINE: in more */
	uint32_t next;                  /* the next entry in its hash bucket + 1; 0: none */
	uint32_t id[LOCAL_INLINE];
	uint32_t *more;
};
/* An entry's keys and pages, in an array of their own beside the entries: all a CR3
 * load's check reads of an entry whose pages still map as they did (24 bytes, where
 * the entry takes a cache line: the guest evicts the list between two loads, and md5sum
 * through a pipe checks ~48 entries 40,000 times a run). ok_spaces: the address spaces
 * (a bit by index in spaces[]) whose traced tables were found to map the pages so,
 * while the trace epoch is still ok_epoch (see detach_remapped). */
struct local_key {
	uint32_t key, ppn, key2, ppn2;
	uint32_t ok_epoch, ok_spaces;
};
#define LOCAL_HASH_BITS 10

/*
 * The blocks a lookup attached again in an address space (by CR3) since it was last
 * entered: those its processes run first after each switch (the return from the
 * system call that switched, the loop it was in). A CR3 load back to the space
 * attaches them at once if its tables still map their pages as translated, instead
 * of one monitor exit each when they run (cc_switch_space).
 */
#define SPACES       8
#define SPACE_BLOCKS 16
struct space_blocks {
	uint32_t key;           /* CR3 & ~0x1f, with use != 0 */
	uint32_t use;           /* LRU stamp; 0 = free */
	uint32_t loads;         /* CR3 loads into it since it took this slot, up to
				   TRACE_LOADS */
	uint32_t n;
	uint32_t id[SPACE_BLOCKS];
	uint32_t ok[SPACE_BLOCKS];      /* the trace epoch in which id's pages were found
					   mapped as translated by traced tables; 0: not
					   so (a lookup attached it) */
};
/* A space's CR3 checks ask for traced answers (and so trace its tables) from its
 * TRACE_LOADS-th load on: a short-lived process (a fork that execs, an exec that
 * exits) writes its tables too soon after its first loads for tracing to pay. */
#define TRACE_LOADS 8

struct codecache {
	struct cc_host host;            /* the guest's memory, as the monitor sees it */
	uint32_t empty_hit;             /* host address of the shared stub an empty entry holds */
	uint32_t alloc;                 /* next free host address */
	uint32_t cold_base;             /* the cold zone: cold_base .. end */
	uint32_t alloc_cold;            /* ... its next free host address */
	uint32_t end;                   /* end of the usable cache */
	uint32_t reserved;              /* start of the open reservation */
	uint32_t reserved_cold;
	struct block **blocks;          /* by id */
	uint8_t *live;                  /* a bit by id: the block is valid (a CR3 load's
					 * check reads this, not the blocks; bits, not
					 * bytes: a check's ids then share few lines) */
	uint32_t nblocks, capblocks;
	struct { uint32_t host, cold; } *at;    /* by id: where each block's code starts
						 * (cc_block_at searches these, in
						 * ascending order, not the blocks) */
	struct entry *hash[1u << HASH_BITS];
	struct block **page_head;       /* by guest physical page number */
	uint8_t *code_lin;              /* bit per guest linear page that blocks came from */
	uint8_t *code_lin_global;       /* ... and global blocks */
	uint8_t *code_lin_large;        /* ... and blocks from large pages (INVLPG) */
	uint8_t *code_lin_local;        /* ... and blocks on the local list */
	struct local_ent *local;        /* blocks not on global pages (CR3 loads) */
	struct local_key *lkey;         /* ... their keys, by the same index */
	uint32_t nlocal, caplocal;      /* entries */
	uint32_t nlocal_blocks;         /* the ids they hold */
	uint32_t local_hash[1u << LOCAL_HASH_BITS];     /* entry + 1 by pages; 0: none */
	struct { uint32_t *ids, cap; } spare[64];       /* id arrays of entries gone, to
							 * reuse (the monitor's malloc
							 * saves the guest's FPU state) */
	uint32_t nspare;
	bool local_lost;
	struct space_blocks spaces[SPACES];     /* cc_switch_space */
	struct space_blocks *space;             /* the current address space's, or NULL */
	uint32_t space_clock;
	uint32_t trace_high;            /* the trace epoch's high half the dates are of */
	struct meta_chunk *meta, *meta_cur;     /* the blocks' records (meta_alloc) */
	struct block scratch;           /* the block being translated */
	uint32_t npages;
	uint32_t generation;
	uint32_t global_epoch;          /* flushes of global translations (INVLPG of a
					   global code page, CR4.PGE, CR3 loads without it) */
	uint32_t ncounters;             /* inline-cache counters handed out (IC_COUNT_ADDR) */
	struct cc_stats stats;
	/* One lookup table per privilege class (layout.h), each serving one key. */
	struct table_key {
		uint32_t cs_base, mode, cs_limit;
	} key[LOOKUP_TABLES];
};

static void unlink_incoming(struct block *b, int slot);
static void unchain_slot(struct codecache *cc, struct block *b, int slot);
static struct lookup_entry *table_entry(struct codecache *cc, const struct block *b, uint32_t eip);

_Static_assert(offsetof(struct block, host) + 4 <= 64,
	       "what lookups and CR3 loads read of a block lies in its first 64 bytes");

const struct cc_stats *cc_stats(const struct codecache *cc)
{
	return &cc->stats;
}

static bool is_live(const struct codecache *cc, uint32_t id)
{
	return cc->live[id >> 3] & (1u << (id & 7));
}

static void live_set(struct codecache *cc, uint32_t id, bool on)
{
	if (on)
		cc->live[id >> 3] |= (uint8_t)(1u << (id & 7));
	else
		cc->live[id >> 3] &= (uint8_t)~(1u << (id & 7));
}

static unsigned hash_key(uint32_t eip, uint32_t cs_base, uint32_t mode)
{
	uint32_t h = eip ^ (cs_base * 0x9e3779b1u) ^ (mode << 24);
	h ^= h >> 16;
	return h & ((1u << HASH_BITS) - 1);
}

static int table_of(uint32_t mode) { return (int)LOOKUP_INDEX(mode); }

/* The linear page of b's page[i]: its bytes' pages, then an inlined callee's. */
static uint32_t block_lpn(const struct block *b, int i)
{
	return i < b->npages ? ((b->cs_base + b->eip) >> 12) + (uint32_t)i : b->xlpn;
}

/* What an empty entry holds: it must match some target, and that target must be one a
 * branch may reach without a check (the hit path notes no branch for the CS-limit
 * check): 0xffffffff in a 4 GiB code segment, 0 in one with a limit. */
static uint32_t empty_neg(uint32_t cs_limit)
{
	return cs_limit == 0xffffffffu ? 1 : 0;
}

static void clear_table(struct codecache *cc, int t, uint32_t cs_limit)
{
	struct lookup_entry *e = (struct lookup_entry *)(uintptr_t)LOOKUP_TABLE_AT(t);
	uint32_t empty = cc->empty_hit, neg = empty_neg(cs_limit);
	for (uint32_t i = 0; i < LOOKUP_ENTRIES; i++) {
		e[i].neg_eip = neg;
		e[i].host = empty;
	}
}

void cc_clear_lookup(struct codecache *cc)
{
	for (int t = 0; t < LOOKUP_TABLES; t++) {
		clear_table(cc, t, 0xffffffffu);    /* again when a key is set */
		cc->key[t].mode = ~0u;
	}
}

bool cc_table_serves(const struct codecache *cc, uint32_t cs_base, uint32_t cs_limit,
		     uint32_t mode)
{
	const struct table_key *k = &cc->key[table_of(mode)];
	return cs_base == k->cs_base && mode == k->mode && cs_limit == k->cs_limit;
}

bool cc_set_table_key(struct codecache *cc, uint32_t cs_base, uint32_t cs_limit, uint32_t mode)
{
	if (cc_table_serves(cc, cs_base, cs_limit, mode))
		return false;
	int t = table_of(mode);
	cc->key[t] = (struct table_key){ cs_base, mode, cs_limit };
	clear_table(cc, t, cs_limit);
	return true;
}

/*
 * The blocks' records (struct block, its entries and its side table, in one piece)
 * live in chunks that a flush empties with the code: blocks are never freed one by
 * one. A block of its own malloc and its side table of another cost 7% of a Debian
 * boot's translating (malloc, free, and the FPU save the monitor's allocator wraps).
 */
#define META_CHUNK      (1u << 20)
struct meta_chunk {
	struct meta_chunk *next;
	size_t used;
	_Alignas(64) uint8_t data[META_CHUNK];
};

/* size bytes, 64-aligned (a block's first line holds what checks read); NULL when
 * memory is short. */
static void *meta_alloc(struct codecache *cc, size_t size)
{
	size = (size + 63) & ~(size_t)63;
	assert(size <= META_CHUNK);
	struct meta_chunk *c = cc->meta_cur;
	while (c && c->used + size > META_CHUNK) {
		c = c->next;
		if (c)
			c->used = 0;
	}
	if (!c) {
		c = aligned_alloc(64, sizeof(*c));
		if (!c)
			return NULL;
		c->next = NULL;
		c->used = 0;
		if (cc->meta_cur)
			cc->meta_cur->next = c;
		else
			cc->meta = c;
	}
	cc->meta_cur = c;
	void *p = c->data + c->used;
	c->used += size;
	return p;
}

struct codecache *cc_create(uint32_t size, uint32_t ram_pages, uint32_t empty_hit,
			     const struct cc_host *host)
{
	struct codecache *cc = calloc(1, sizeof(*cc));
	if (!cc)
		return NULL;
	cc->host = *host;
	cc->empty_hit = empty_hit;
	cc->alloc = CACHE_ADDR;
	cc->end = CACHE_END;
	if (size && size < CACHE_END - CACHE_ADDR)
		cc->end = CACHE_ADDR + size;
	/* Linux's translations are about 30% hot, 70% cold (--stats). */
	uint32_t hot = ((cc->end - CACHE_ADDR) / 10 * 3) & ~0xfffu;
	if (hot < 2 * CC_RESERVE)
		hot = 2 * CC_RESERVE;
	cc->cold_base = CACHE_ADDR + hot;
	assert(cc->end - cc->cold_base >= 2 * CC_RESERVE);
	cc->alloc_cold = cc->cold_base;
	cc->npages = ram_pages;
	cc->page_head = calloc(cc->npages, sizeof(*cc->page_head));
	cc->code_lin = calloc(1u << 17, 1);
	cc->code_lin_global = calloc(1u << 17, 1);
	cc->code_lin_large = calloc(1u << 17, 1);
	cc->code_lin_local = calloc(1u << 17, 1);
	cc->capblocks = 4096;
	cc->blocks = malloc(cc->capblocks * sizeof(*cc->blocks));
	cc->live = malloc(cc->capblocks / 8);
	cc->at = malloc(cc->capblocks * sizeof(*cc->at));
	if (!cc->page_head || !cc->blocks || !cc->live || !cc->at || !cc->code_lin ||
	    !cc->code_lin_global || !cc->code_lin_large || !cc->code_lin_local) {
		free(cc->at);
		free(cc->live);
		free(cc->code_lin);
		free(cc->code_lin_global);
		free(cc->code_lin_large);
		free(cc->code_lin_local);
		free(cc->page_head);
		free(cc->blocks);
		free(cc);
		errno = ENOMEM;
		return NULL;
	}
	cc_clear_lookup(cc);
	return cc;
}

static void free_blocks(struct codecache *cc)
{
	cc->nblocks = 0;
	cc->meta_cur = cc->meta;
	if (cc->meta)
		cc->meta->used = 0;
}

static void local_clear(struct codecache *cc);

void cc_destroy(struct codecache *cc)
{
	if (!cc)
		return;
	while (cc->meta) {
		struct meta_chunk *next = cc->meta->next;
		free(cc->meta);
		cc->meta = next;
	}
	free(cc->blocks);
	free(cc->live);
	free(cc->at);
	free(cc->page_head);
	free(cc->code_lin);
	free(cc->code_lin_global);
	free(cc->code_lin_large);
	free(cc->code_lin_local);
	local_clear(cc);
	free(cc->local);
	free(cc->lkey);
	free(cc);
}

uint32_t cc_generation(struct codecache *cc) { return cc->generation; }

/* ---- the local list ---- */

static uint32_t *local_ids(struct local_ent *l)
{
	return l->cap > LOCAL_INLINE ? l->more : l->id;
}

static unsigned local_hash_of(uint32_t key, uint32_t ppn, uint32_t key2, uint32_t ppn2)
{
	uint32_t h = key * 0x9e3779b1u ^ ppn * 0x85ebca6bu ^ key2 * 0xc2b2ae35u ^ ppn2;
	return (h * 0x9e3779b1u) >> (32 - LOCAL_HASH_BITS);
}

/* The link in the hash that leads to entry k (which has a key). */
static uint32_t *local_link(struct codecache *cc, uint32_t k)
{
	const struct local_key *l = &cc->lkey[k];
	uint32_t *p = &cc->local_hash[local_hash_of(l->key, l->ppn, l->key2, l->ppn2)];
	while (*p != k + 1)
		p = &cc->local[*p - 1].next;
	return p;
}

/* An id array no entry uses now: kept for the next (or freed past 64). */
static void local_release(struct codecache *cc, uint32_t *ids, uint32_t cap)
{
	if (cc->nspare < sizeof(cc->spare) / sizeof(cc->spare[0])) {
		cc->spare[cc->nspare].ids = ids;
		cc->spare[cc->nspare++].cap = cap;
	} else {
		free(ids);
	}
}

/* Entry k goes (its ids are no longer on the list): the last takes its place. */
static void local_remove(struct codecache *cc, uint32_t k)
{
	struct local_ent *l = &cc->local[k];
	uint32_t last = cc->nlocal - 1;
	cc->nlocal_blocks -= l->n;
	if (l->cap > LOCAL_INLINE)
		local_release(cc, l->more, l->cap);
	if (cc->lkey[k].key != LOCAL_KEY_NONE) {
		uint32_t *p = local_link(cc, k);
		*p = l->next;
	}
	if (k != last) {
		if (cc->lkey[last].key != LOCAL_KEY_NONE)
			*local_link(cc, last) = k + 1;
		cc->local[k] = cc->local[last];
		cc->lkey[k] = cc->lkey[last];
	}
	cc->nlocal = last;
}

static void local_clear(struct codecache *cc)
{
	while (cc->nlocal)
		local_remove(cc, cc->nlocal - 1);
	memset(cc->local_hash, 0, sizeof(cc->local_hash));
	while (cc->nspare)
		free(cc->spare[--cc->nspare].ids);
}

/* Room for at least cap ids: a spare array, or a new one. */
static uint32_t *local_alloc(struct codecache *cc, uint32_t *cap)
{
	for (uint32_t i = cc->nspare; i-- > 0;)
		if (cc->spare[i].cap >= *cap) {
			uint32_t *ids = cc->spare[i].ids;
			*cap = cc->spare[i].cap;
			cc->spare[i] = cc->spare[--cc->nspare];
			return ids;
		}
	return malloc(*cap * sizeof(uint32_t));
}

static void local_add(struct codecache *cc, struct block *b);
static void attach(struct codecache *cc, struct block *b);
static bool pages_within(const struct block *b, const struct block *f);

/* A lookup attached b again in the current address space: the next entry attaches it. */
static void space_note(struct codecache *cc, const struct block *b)
{
	struct space_blocks *sp = cc->space;
	if (!sp || sp->n == SPACE_BLOCKS)
		return;
	for (uint32_t k = 0; k < sp->n; k++)
		if (sp->id[k] == b->id)
			return;
	sp->ok[sp->n] = 0;              /* found by a lookup, not by traced tables */
	sp->id[sp->n++] = b->id;
}

/* A lookup found detached b valid again: attached, and noted for the space's next turn. */
static void reattach(struct codecache *cc, struct block *b)
{
	attach(cc, b);
	cc->stats.attached++;
	space_note(cc, b);
}

/*
 * Whether global block b still lies on global pages. A block is global when it is
 * translated from global pages; once global translations have been flushed (INVLPG
 * of its page, a toggle of CR4.PGE), the page may be mapped otherwise (not global,
 * or another frame in each address space), and every way into the block is unchained:
 * the lookup that finds it again asks, and a block on pages no longer global joins
 * the local list, which CR3 loads check.
 */
static bool still_global(struct codecache *cc, struct block *b)
{
	if (b->global_epoch == cc->global_epoch)
		return true;
	for (int i = 0; i < b->npages + b->xpage; i++)
		if (!cc->host.global(cc->host.opaque, block_lpn(b, i) << 12)) {
			b->global = false;
			cc->stats.globals_demoted++;
			return false;
		}
	b->global_epoch = cc->global_epoch;
	return true;
}

/* The guest physical page a fetch at linear lin maps now (at CPL 3 if user), or ~0ull
 * if none; without side effects on the guest's page tables. */
static uint64_t fetch_ppn(struct codecache *cc, uint32_t lin, bool user)
{
	uint64_t pa;
	return cc->host.peek(cc->host.opaque, lin, user, &pa) < 0 ? ~0ull : pa >> 12;
}

const struct entry *cc_lookup_entry(struct codecache *cc, uint32_t eip, uint32_t cs_base,
				    uint32_t cs_limit, uint32_t mode)
{
	cc->stats.lookups++;
	/* A block is the one for eip only while eip's page (and the next, for a block
	 * that runs into it) map the physical pages it was translated from. */
	uint32_t lin = cs_base + eip, ppn1 = ~0u;
	bool user = (mode & 3) == 3;
	uint64_t ppn = fetch_ppn(cc, lin, user);
	if (ppn == ~0ull)
		return NULL;
	bool have_next = false;
	for (struct entry *e = cc->hash[hash_key(eip, cs_base, mode)]; e; e = e->hash_next)
		if (e->eip == eip && e->block->cs_base == cs_base && e->block->mode == mode &&
		    e->block->cs_limit == cs_limit && e->block->page[0] == ppn) {
			if (e->block->npages > 1 || e->block->cut) {
				if (!have_next) {
					uint64_t p1 = fetch_ppn(cc, (lin & ~0xfffu) + 0x1000, user);
					if (p1 != ~0ull)
						ppn1 = (uint32_t)p1;
					have_next = true;
				}
				if (e->block->cut ? ppn1 != ~0u : e->block->page[1] != ppn1)
					continue;
			}
			if (e->block->xpage &&
			    fetch_ppn(cc, e->block->xlpn << 12, user) != e->block->page[e->block->npages])
				continue;
			/* Refill the lookup table: it may have been emptied since. */
			struct lookup_entry *t = table_entry(cc, e->block, eip);
			if (t) {
				t->neg_eip = -eip;
				t->host = e->thost;
			}
			/* Detached by a change of mapping, and valid again: its parked
			 * chains with it, not one exit for each when next taken. */
			if (e->block->global && !still_global(cc, e->block))
				local_add(cc, e->block);
			else if (!e->block->in_local && !e->block->global)
				reattach(cc, e->block);
			return e;
		}
	return NULL;
}

static bool maps_now(struct codecache *cc, const struct block *b);

const struct entry *cc_unpark(struct codecache *cc, struct block *from, int slot, uint32_t eip,
			      uint32_t cs_base, uint32_t cs_limit, uint32_t mode)
{
	const struct exit_slot *x = &from->exit[slot];
	struct block *b = x->to;
	if (!x->parked || !b || !is_live(cc, b->id) || b->cs_base != cs_base ||
	    b->cs_limit != cs_limit || b->mode != mode)
		return NULL;
	const struct entry *en = NULL;
	for (int i = 0; i < b->nentries && !en; i++)
		if ((x->to_host == b->entries[i].host || x->to_host == entry_inside(&b->entries[i])) &&
		    b->entries[i].eip == eip)
			en = &b->entries[i];
	if (!en || !maps_now(cc, b))
		return NULL;
	cc->stats.lookups++;
	cc->stats.unparked++;
	reattach(cc, b);
	return en;
}

static void park(struct codecache *cc, struct block *b);

const struct entry *cc_guard_exit(struct codecache *cc, uint32_t id, int idx, uint32_t eip,
				  uint32_t cs_base, uint32_t cs_limit, uint32_t mode)
{
	if (id >= cc->nblocks || !is_live(cc, id))
		return NULL;
	struct block *b = cc->blocks[id];
	if (!b->guarded || idx >= b->nentries || b->entries[idx].eip != eip ||
	    b->cs_base != cs_base || b->cs_limit != cs_limit || b->mode != mode)
		return NULL;
	if (!maps_now(cc, b)) {
		park(cc, b);
		cc->stats.guards_parked++;
		return NULL;
	}
	cc->stats.lookups++;
	cc->stats.guards_opened++;
	reattach(cc, b);
	return &b->entries[idx];
}

struct block *cc_lookup(struct codecache *cc, uint32_t eip, uint32_t cs_base, uint32_t cs_limit,
		       uint32_t mode)
{
	for (struct entry *e = cc->hash[hash_key(eip, cs_base, mode)]; e; e = e->hash_next)
		if (e->eip == eip && e == &e->block->entries[0] && e->block->cs_base == cs_base &&
		    e->block->mode == mode && e->block->cs_limit == cs_limit)
			return e->block;
	return NULL;
}

uint8_t *cc_reserve(struct codecache *cc, uint8_t **cold)
{
	if (cc->alloc + CC_RESERVE > cc->cold_base || cc->alloc_cold + CC_RESERVE > cc->end ||
	    cc->nblocks == (1u << 27))
		return NULL;
	cc->reserved = cc->alloc;
	cc->reserved_cold = cc->alloc_cold;
	*cold = (uint8_t *)(uintptr_t)cc->alloc_cold;
	return (uint8_t *)(uintptr_t)cc->alloc;
}

struct block *cc_new_block(struct codecache *cc)
{
	if (cc->nblocks == cc->capblocks) {
		struct block **n = realloc(cc->blocks, 2 * cc->capblocks * sizeof(*n));
		if (!n)
			return NULL;
		cc->blocks = n;
		uint8_t *l = realloc(cc->live, 2 * cc->capblocks / 8);
		if (!l)
			return NULL;
		cc->live = l;
		void *at = realloc(cc->at, 2 * cc->capblocks * sizeof(*cc->at));
		if (!at)
			return NULL;
		cc->at = at;
		cc->capblocks *= 2;
	}
	struct block *b = &cc->scratch;
	memset(b, 0, sizeof(*b));
	b->id = cc->nblocks;
	live_set(cc, b->id, false);
	b->host = cc->reserved;
	b->cold = cc->reserved_cold;
	return b;
}

struct block *cc_set_entries(struct codecache *cc, struct block *b, const struct entry *en,
			     int n, const struct side_entry *side, int nside)
{
	size_t esize = (size_t)n * sizeof(*en), ssize = (size_t)nside * sizeof(*side);
	struct block *nb = meta_alloc(cc, sizeof(*b) + esize + ssize);
	if (!nb)
		return NULL;
	memcpy(nb, b, sizeof(*b));
	nb->nentries = (uint8_t)n;
	nb->entries = (struct entry *)(nb + 1);
	memcpy(nb->entries, en, esize);
	nb->nside = (uint16_t)nside;
	nb->side = (struct side_entry *)(nb->entries + n);
	memcpy(nb->side, side, ssize);
	return nb;
}

/* The table entry for eip of block b, if a table serves b's key; else NULL. */
static struct lookup_entry *table_entry(struct codecache *cc, const struct block *b, uint32_t eip)
{
	int t = table_of(b->mode);
	const struct table_key *k = &cc->key[t];
	if (b->cs_base != k->cs_base || b->mode != k->mode || b->cs_limit != k->cs_limit)
		return NULL;
	struct lookup_entry *e = (struct lookup_entry *)(uintptr_t)LOOKUP_TABLE(b->mode);
	return &e[eip & (LOOKUP_ENTRIES - 1)];
}

/* The bitmaps by guest linear page (code_lin and its kin). */
static void lin_set(uint8_t *map, uint32_t lpn)
{
	lpn &= 0xfffff;
	map[lpn >> 3] |= (uint8_t)(1u << (lpn & 7));
}

static bool lin_has(const uint8_t *map, uint32_t lpn)
{
	lpn &= 0xfffff;
	return map[lpn >> 3] & (1u << (lpn & 7));
}

/*
 * The local list: the non-global blocks that may have links (chains in or out, lookup
 * table entries), which a CR3 load must check. A block leaves it when a CR3 load
 * detaches it (a block of a page no longer mapped, such as boot code run with paging
 * off, would otherwise be checked at every CR3 load for good) and comes back when it is
 * linked again.
 */
static void local_add(struct codecache *cc, struct block *b)
{
	if (b->global || b->in_local)
		return;
	for (int i = 0; i < b->npages + b->xpage; i++)
		lin_set(cc->code_lin_local, block_lpn(b, i));
	if (b->cut)
		lin_set(cc->code_lin_local, block_lpn(b, 0) + 1);
	uint32_t user = (b->mode & 3) == 3;
	uint32_t key = LOCAL_KEY_NONE, ppn = 0, key2 = LOCAL_KEY_NONE, ppn2 = 0;
	if (b->npages + b->xpage + b->cut <= 2) {
		key = (block_lpn(b, 0) & 0xfffff) << 1 | user;
		ppn = b->page[0];
		if (b->cut) {
			key2 = ((block_lpn(b, 0) + 1) & 0xfffff) << 1 | user;
			ppn2 = ~0u;
		} else if (b->npages + b->xpage == 2) {
			key2 = (block_lpn(b, 1) & 0xfffff) << 1 | user;
			ppn2 = b->page[1];
		}
	}
	struct local_ent *l = NULL;
	unsigned h = local_hash_of(key, ppn, key2, ppn2);
	if (key != LOCAL_KEY_NONE)
		for (uint32_t k = cc->local_hash[h]; k; k = cc->local[k - 1].next) {
			const struct local_key *e = &cc->lkey[k - 1];
			if (e->key == key && e->ppn == ppn && e->key2 == key2 && e->ppn2 == ppn2) {
				l = &cc->local[k - 1];
				break;
			}
		}
	if (!l) {
		if (cc->nlocal == cc->caplocal) {
			uint32_t cap = cc->caplocal ? cc->caplocal * 2 : 1024;
			struct local_ent *n = realloc(cc->local, cap * sizeof(*n));
			if (n)
				cc->local = n;
			struct local_key *nk = n ? realloc(cc->lkey, cap * sizeof(*nk)) : NULL;
			if (!nk) {
				cc->local_lost = true;  /* flush_linear looks at every block */
				return;
			}
			cc->lkey = nk;
			cc->caplocal = cap;
		}
		cc->lkey[cc->nlocal] = (struct local_key){ key, ppn, key2, ppn2, 0, 0 };
		l = &cc->local[cc->nlocal++];
		*l = (struct local_ent){ .cap = LOCAL_INLINE };
		if (key != LOCAL_KEY_NONE) {
			l->next = cc->local_hash[h];
			cc->local_hash[h] = cc->nlocal;
		}
	}
	if (l->n == l->cap) {
		uint32_t cap = l->cap * 2;
		uint32_t *more = local_alloc(cc, &cap);
		if (!more) {
			cc->local_lost = true;
			return;
		}
		memcpy(more, local_ids(l), l->n * sizeof(*more));
		if (l->cap > LOCAL_INLINE)
			local_release(cc, l->more, l->cap);
		l->more = more;
		l->cap = cap;
	}
	local_ids(l)[l->n++] = b->id;
	cc->nlocal_blocks++;
	b->in_local = true;
}

void cc_commit(struct codecache *cc, struct block *b)
{
	assert(b->host == cc->reserved && b->host_len > 0 && b->nentries > 0);
	assert(b->cold == cc->reserved_cold);
	cc->alloc = (b->host + b->host_len + 15) & ~15u;
	cc->alloc_cold = (b->cold + b->cold_len + 15) & ~15u;
	cc->at[cc->nblocks].host = b->host;
	cc->at[cc->nblocks].cold = b->cold;
	cc->blocks[cc->nblocks++] = b;
	b->valid = true;
	b->global_epoch = cc->global_epoch;
	live_set(cc, b->id, true);
	for (int i = 0; i < b->npages + b->xpage; i++) {
		uint32_t lpn = block_lpn(b, i);
		lin_set(cc->code_lin, lpn);
		if (b->global)
			lin_set(cc->code_lin_global, lpn);
		if (b->large)
			lin_set(cc->code_lin_large, lpn);
	}
	local_add(cc, b);
	for (int i = 0; i < b->nentries; i++) {
		struct entry *e = &b->entries[i];
		unsigned h = hash_key(e->eip, b->cs_base, b->mode);
		e->block = b;
		e->hash_next = cc->hash[h];
		cc->hash[h] = e;
	}
	for (int i = 0; i < b->npages + b->xpage; i++) {
		uint32_t p = b->page[i];
		assert(p < cc->npages);
		if (!cc->page_head[p])
			cc->host.protect_code(cc->host.opaque, p, true);
		b->page_next[i] = cc->page_head[p];
		cc->page_head[p] = b;
	}
	for (int i = b->nentries - 1; i >= 0; i--) {
		struct lookup_entry *e = table_entry(cc, b, b->entries[i].eip);
		if (e) {
			e->neg_eip = -b->entries[i].eip;
			e->host = b->entries[i].thost;
		}
	}
	cc->stats.blocks++;
	cc->stats.host_bytes += b->host_len;
	cc->stats.cold_bytes += b->cold_len;
	cc->stats.guest_bytes += b->guest_len;
	cc->stats.guest_insns += b->ninsn;
}

void cc_commit_oneshot(struct codecache *cc, struct block *b)
{
	assert(b->host == cc->reserved && b->host_len > 0 && b->cold == cc->reserved_cold);
	cc->alloc = (b->host + b->host_len + 15) & ~15u;
	cc->alloc_cold = (b->cold + b->cold_len + 15) & ~15u;
	cc->at[cc->nblocks].host = b->host;
	cc->at[cc->nblocks].cold = b->cold;
	cc->blocks[cc->nblocks++] = b;
	b->valid = false;
}

void cc_fill_ic(struct codecache *cc, struct block *from, int slot, uint32_t target)
{
	struct exit_slot *x = &from->exit[slot];
	(void)cc;
	if (!x->ic_imm)
		return;
	if (!x->to) {   /* else already chained to the unfilled compare's target */
		patch_ic_compare(x->ic_imm, x->ic_second ? from->exit[slot - 1].ic_imm : 0, target);
		patch_imm32(x->stub_eip, target);
		x->target = target;
	}
	patch_rel32(x->ic_route, x->ic_table);  /* later misses: the lookup table */
}

uint32_t cc_ic_counter(struct codecache *cc)
{
	if (cc->ncounters == IC_COUNT_MAX)
		return 0;
	uint32_t at = IC_COUNT_ADDR + 4 * cc->ncounters++;
	*(volatile uint32_t *)(uintptr_t)at = 1u << IC_COUNT_FIRST_SHIFT;
	return at;
}

int cc_refill_ic(struct codecache *cc, struct block *from, int slot, uint32_t target, bool take)
{
	struct exit_slot *x1 = &from->exit[slot], *x2 = x1 + 1;
	if (!x1->ic_count || x1->ic_second || !x2->ic_second)
		return -1;
	if (x1->ic_level < IC_COUNT_LAST_SHIFT - IC_COUNT_FIRST_SHIFT)
		x1->ic_level++;
	*(volatile uint32_t *)(uintptr_t)x1->ic_count = 1u << (IC_COUNT_FIRST_SHIFT + x1->ic_level);
	if (!take || x1->target == target || x2->target == target)
		return -1;
	/* The second entry goes, and every fourth time the first: the first may hold a
	 * target the site took long ago (malloc's RET, a caller from init's start-up),
	 * but taking the two in turn evicted a hot first one where two of three targets
	 * are hot (`calls` 7% slower). */
	int v = (++x1->ic_refills & 3) == 0 ? slot : slot + 1;
	struct exit_slot *x = &from->exit[v];
	unchain_slot(cc, from, v);
	x->target = target;
	patch_imm32(x->stub_eip, target);
	patch_ic_pair(x1->ic_imm, x2->ic_imm, x1->target, x2->target);
	cc->stats.ic_refills++;
	return v;
}

void cc_chain(struct codecache *cc, struct block *from, int slot, struct block *to)
{
	cc_chain_entry(cc, from, slot, &to->entries[0]);
}

/* b runs in the current space: attached, if it was not (guards closed, chains parked),
 * and on the local list. */
static void attached_here(struct codecache *cc, struct block *b)
{
	if (b->guarded || b->has_parked)
		attach(cc, b);
	else
		local_add(cc, b);
}

void cc_chain_entry(struct codecache *cc, struct block *from, int slot, const struct entry *en)
{
	struct exit_slot *x = &from->exit[slot];
	struct block *to = en->block;
	if (!from->valid || !to->valid || (x->to && !x->parked))
		return;
	/* A parked chain leads elsewhere (the same EIP in another address space's code)
	 * or, attached since, to the same entry. */
	unchain_slot(cc, from, slot);
	/* From a block whose pages include all of to's, past to's guard: detaching to
	 * leaves such a chain as it is (detach), so it must not lead to a closed guard. */
	uint32_t dest = en->host;
	if (!from->global && pages_within(to, from))
		dest = entry_inside(en);
	patch_rel32(x->field, dest);
	/* Both ran or are about to in this space: attached (from may have been entered
	 * past its closed guard, from a block of its own pages). */
	attached_here(cc, from);
	attached_here(cc, to);
	x->to = to;
	x->to_host = dest;
	x->in_next = to->incoming;
	to->incoming = (uintptr_t)from | (uintptr_t)slot;
	cc->stats.chained++;
}

void cc_unchain_exits(struct codecache *cc, struct block *b)
{
	for (int s = 0; s < b->nexits; s++)
		unchain_slot(cc, b, s);
}

struct block *cc_block(struct codecache *cc, uint32_t id)
{
	if (id >= cc->nblocks || !cc->blocks[id]->valid)
		return NULL;
	return cc->blocks[id];
}

struct block *cc_block_at(struct codecache *cc, uint32_t a)
{
	/* The last block starting at or below a (blocks are allocated upwards in both
	 * zones; one with no cold code starts where the next does), then its extent. */
	bool cold = a >= cc->cold_base;
	uint32_t lo = 0, hi = cc->nblocks;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if ((cold ? cc->at[mid].cold : cc->at[mid].host) <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	struct block *b = cc->blocks[lo - 1];
	uint32_t start = cold ? b->cold : b->host, len = cold ? b->cold_len : b->host_len;
	return a - start < len ? b : NULL;
}

const struct side_entry *cc_side_lookup(const struct block *b, uint32_t a)
{
	if (a - b->host >= b->host_len)
		return NULL;            /* out of line: no guest instruction faults there */
	uint32_t off = a - b->host;
	/* The start entry's guard stands for the first instruction; a call continuation's
	 * would stand for the call before it, which has run: none (nothing faults there). */
	for (int i = 1; i < b->nentries; i++)
		if (b->entries[i].guard_exit && a - b->entries[i].host < GUARD_LEN)
			return NULL;
	const struct side_entry *best = b->nside ? &b->side[0] : NULL;
	for (int i = 0; i < b->nside && b->side[i].hoff <= off; i++)
		best = &b->side[i];
	return best;
}

/* Remove b from the incoming list of the block its slot is chained to. */
static void unlink_incoming(struct block *b, int slot)
{
	struct block *to = b->exit[slot].to;
	uintptr_t *pp = &to->incoming;
	uintptr_t me = (uintptr_t)b | (uintptr_t)slot;
	while (*pp) {
		struct block *f = (struct block *)(*pp & ~(uintptr_t)(MAX_EXITS - 1));
		int fs = (int)(*pp & (MAX_EXITS - 1));
		if (*pp == me) {
			*pp = f->exit[fs].in_next;
			return;
		}
		pp = &f->exit[fs].in_next;
	}
	assert(!"chained slot missing from its target's incoming list");
}

/* Point b's slot back at its exit stub, if it was chained. */
static void unchain_slot(struct codecache *cc, struct block *b, int slot)
{
	struct exit_slot *x = &b->exit[slot];
	if (!x->to)
		return;
	unlink_incoming(b, slot);
	if (!x->parked)
		cc->stats.unchained++;
	patch_rel32(x->field, x->stub);
	x->to = NULL;
	x->parked = false;
}

static void invalidate(struct codecache *cc, struct block *b)
{
	/* 1. mark */
	b->valid = false;
	live_set(cc, b->id, false);
	/* 2. unhash, and drop from the lookup table */
	for (int i = 0; i < b->nentries; i++) {
		struct entry *en = &b->entries[i];
		struct entry **pp = &cc->hash[hash_key(en->eip, b->cs_base, b->mode)];
		while (*pp != en)
			pp = &(*pp)->hash_next;
		*pp = en->hash_next;
		struct lookup_entry *e = table_entry(cc, b, en->eip);
		if (e && e->host == en->thost) {
			e->neg_eip = empty_neg(b->cs_limit);
			e->host = cc->empty_hit;
		}
	}
	/* 3. unlink from the page lists */
	for (int i = 0; i < b->npages + b->xpage; i++) {
		struct block **q = &cc->page_head[b->page[i]];
		while (*q != b) {
			int k = 0;
			while ((*q)->page[k] != b->page[i])
				k++;
			q = &(*q)->page_next[k];
		}
		*q = b->page_next[i];
		if (!cc->page_head[b->page[i]])
			cc->host.protect_code(cc->host.opaque, b->page[i], false);
	}
	/* 4. unchain: incoming jumps go back to their exit stubs; our own chains too */
	while (b->incoming) {
		struct block *f = (struct block *)(b->incoming & ~(uintptr_t)(MAX_EXITS - 1));
		int fs = (int)(b->incoming & (MAX_EXITS - 1));
		b->incoming = f->exit[fs].in_next;
		if (!f->exit[fs].parked)
			cc->stats.unchained++;
		patch_rel32(f->exit[fs].field, f->exit[fs].stub);
		f->exit[fs].to = NULL;
		f->exit[fs].parked = false;
	}
	for (int s = 0; s < b->nexits; s++)
		if (b->exit[s].to) {
			unlink_incoming(b, s);
			b->exit[s].to = NULL;
			b->exit[s].parked = false;
		}
	cc->stats.invalidated_blocks++;
}

int cc_invalidate_page(struct codecache *cc, uint32_t ppn)
{
	int n = 0;
	if (ppn >= cc->npages)
		return 0;
	while (cc->page_head[ppn]) {
		invalidate(cc, cc->page_head[ppn]);
		n++;
	}
	return n;
}

bool cc_page_has_code(struct codecache *cc, uint32_t ppn)
{
	return ppn < cc->npages && cc->page_head[ppn];
}

/* Whether every linear page b depends on is one of f's. */
static bool block_has_lpn(const struct block *b, uint32_t lpn)
{
	for (int i = 0; i < b->npages + b->xpage; i++)
		if (block_lpn(b, i) == lpn)
			return true;
	return false;
}

static bool pages_within(const struct block *b, const struct block *f)
{
	for (int i = 0; i < b->npages + b->xpage; i++)
		if (!block_has_lpn(f, block_lpn(b, i)))
			return false;
	return true;
}

/* Close or open b's guards: jumps into its entries from other pages and the lookup
 * table leave for the dispatcher (EXIT_GUARD), or go in. */
static void set_guards(struct block *b, bool closed)
{
	for (int i = 0; i < b->nentries; i++)
		patch_guard(b->entries[i].host, closed, b->entries[i].guard_exit);
	b->guarded = closed;
}

/*
 * Make b unreachable in an address space that does not map its pages as it was
 * translated: close its entries' guards. The chains into it stay as they are, and so do
 * its lookup-table entries: whatever jumps in through a guard leaves for the dispatcher,
 * which attaches b if the space it runs in maps b's pages as translated
 * (cc_guard_exit), and parks the chains otherwise. Sources from non-global blocks whose
 * pages include all of b's jump past the guard: such a source runs only while those
 * pages map as they did when it was translated, so b is valid whenever it is. b keeps
 * its own chains out for the same reason (it is entered only through the dispatcher,
 * which checks its pages, or from such a source).
 *
 * Closing the guards writes 5 bytes at each of b's entries (1.3 on average for Linux's
 * user code); parking, as detaching was before, walked every chain into b (about 3,
 * each a cache miss on the source's exit slot and another on its code) and cleared b's
 * table entries, and attaching walked them back. A block translated from global pages
 * has no guards (no CR3 load detaches it while they stay global): detaching one that
 * no longer is parks it.
 */
static void detach(struct codecache *cc, struct block *b)
{
	if (!b->entries[0].guard_exit)
		park(cc, b);            /* translated from global pages: no guards */
	else if (!b->guarded)
		set_guards(b, true);
}

/*
 * A jump through b's closed guard found b's pages not mapped as translated: another
 * block runs at that EIP in this space. The chains into b are parked (their jumps lead
 * to their exit stubs, and they stay on b's incoming list for attach to restore), but
 * those from blocks of b's own pages (detach says why), and b's entries leave the
 * lookup table; its guards, if it has them, stay closed.
 */
static void park(struct codecache *cc, struct block *b)
{
	for (uintptr_t link = b->incoming; link;) {
		struct block *f = (struct block *)(link & ~(uintptr_t)(MAX_EXITS - 1));
		struct exit_slot *x = &f->exit[link & (MAX_EXITS - 1)];
		link = x->in_next;
		if (x->parked || (!f->global && pages_within(b, f)))
			continue;
		patch_rel32(x->field, x->stub);
		x->parked = true;
		cc->stats.unchained++;
	}
	for (int i = 0; i < b->nentries; i++) {
		struct lookup_entry *e = table_entry(cc, b, b->entries[i].eip);
		if (e && e->host == b->entries[i].thost) {
			e->neg_eip = empty_neg(b->cs_limit);
			e->host = cc->empty_hit;
		}
	}
	b->has_parked = true;
}

/*
 * Make b reachable again, once a lookup has found that the current address space maps
 * its pages as translated: its guards open, its parked chains (if a guard exit parked
 * them) jump to it again (from any source: b is valid wherever they run from, until
 * the next change of mapping checks it), its entries go back into the lookup tables,
 * and it joins the local list that the next CR3 load checks. Only b: attaching every
 * block of its page, or those an address space had when it was last left, touched
 * several times as many blocks as ran before the next CR3 load detached them again,
 * and cost more than the exits it saved (with chains parked at each detach). Again
 * with guards (2026-12-08), in 600 fork+exec: the page's detached blocks attached
 * with b took the guard exits 261,353 -> 178,284 but attached 982,684 blocks more, and
 * CR3 loads then detached 1,171,238 instead of 293,412: twelve blocks touched for each
 * exit saved. What pays is narrower: the blocks lookups attached in a space since it
 * was last entered (cc_switch_space).
 */
static void attach(struct codecache *cc, struct block *b)
{
	if (b->guarded)
		set_guards(b, false);
	if (b->has_parked) {
		for (uintptr_t link = b->incoming; link;) {
			struct block *f = (struct block *)(link & ~(uintptr_t)(MAX_EXITS - 1));
			struct exit_slot *x = &f->exit[link & (MAX_EXITS - 1)];
			link = x->in_next;
			if (!x->parked)
				continue;
			patch_rel32(x->field, x->to_host);
			x->parked = false;
			cc->stats.chains_unparked++;
		}
		b->has_parked = false;
	}
	for (int i = b->nentries - 1; i >= 0; i--) {
		struct lookup_entry *e = table_entry(cc, b, b->entries[i].eip);
		if (e) {
			e->neg_eip = -b->entries[i].eip;
			e->host = b->entries[i].thost;
		}
	}
	local_add(cc, b);
}

/*
 * Detach the blocks of the local list for which gone(cc, b, arg) holds, and take them
 * off the list, compacting it as it goes (a detached block comes back when it is
 * attached again). Returns how many went.
 */
static uint32_t detach_local(struct codecache *cc,
			     bool (*gone)(struct codecache *, const struct block *, void *), void *arg)
{
	uint32_t n = 0;
	for (uint32_t k = 0; k < cc->nlocal;) {
		struct local_ent *l = &cc->local[k];
		uint32_t *ids = local_ids(l), kept = 0;
		for (uint32_t i = 0; i < l->n; i++) {
			uint32_t id = ids[i];
			if (id >= cc->nblocks || !is_live(cc, id))
				continue;
			struct block *b = cc->blocks[id];
			if (gone(cc, b, arg)) {
				detach(cc, b);
				b->in_local = false;
				n++;
				continue;
			}
			ids[kept++] = id;
		}
		cc->nlocal_blocks -= l->n - kept;
		l->n = kept;
		if (kept)
			k++;
		else
			local_remove(cc, k);
	}
	return n;
}

/* Linear page -> physical page for a fetch in the current address space (~0u: none),
 * at CPL 3 or not, for the blocks a change of mapping checks: many share a page. Each
 * is asked once, by the host's shorter walk (peek_once); with trace, for traced
 * answers. */
struct mapping_cache {
	struct { uint32_t key, ppn; } e[64];
	uint64_t traced;                /* a bit by entry: its answer is traced */
	bool trace;
};

static void mapping_cache_init(struct mapping_cache *seen, bool trace)
{
	memset(seen->e, 0xff, sizeof(seen->e));         /* no key: lpn << 1 | user < 2^21 */
	seen->traced = 0;
	seen->trace = trace;
}

/* The answer for (lpn, user); *traced (if not NULL) becomes false unless it is traced. */
static uint32_t cached_ppn(struct codecache *cc, struct mapping_cache *seen, uint32_t lpn,
			   bool user, bool *traced)
{
	uint32_t key = (lpn & 0xfffff) << 1 | user;
	unsigned h = (key * 0x9e3779b1u) >> 26;
	if (seen->e[h].key != key) {
		uint64_t pa;
		bool t = false;
		int r = cc->host.peek_once(cc->host.opaque, lpn << 12, user, &pa,
					   seen->trace ? &t : NULL);
		seen->e[h].key = key;
		seen->e[h].ppn = r < 0 ? ~0u : (uint32_t)(pa >> 12);
		seen->traced = (seen->traced & ~(1ull << h)) | (uint64_t)t << h;
	}
	if (traced && !(seen->traced >> h & 1))
		*traced = false;
	return seen->e[h].ppn;
}

/* Whether the current address space maps each of b's pages to the physical page it
 * was translated from, for a fetch at b's privilege (a supervisor page is no user
 * code, whatever frame it maps), and, for a block cut off by a missing page, still
 * maps no page there: what cc_lookup_entry checks. *traced as cached_ppn's. */
static bool maps_as_translated(struct codecache *cc, const struct block *b,
			       struct mapping_cache *seen, bool *traced)
{
	bool user = (b->mode & 3) == 3;
	for (int i = 0; i < b->npages + b->xpage; i++)
		if (cached_ppn(cc, seen, block_lpn(b, i), user, traced) != b->page[i])
			return false;
	return !b->cut || cached_ppn(cc, seen, block_lpn(b, 0) + 1, user, traced) == ~0u;
}

/* maps_as_translated, for one block now. */
static bool maps_now(struct codecache *cc, const struct block *b)
{
	struct mapping_cache seen;
	mapping_cache_init(&seen, false);
	return maps_as_translated(cc, b, &seen, NULL);
}

/* The trace epoch's low half, by which entries are dated. When the high half moves
 * (2^32 advances), every date goes, or an old one could match again. */
static uint32_t trace_epoch(struct codecache *cc)
{
	uint64_t e = *cc->host.trace_epoch;
	if (e >> 32 != cc->trace_high) {
		cc->trace_high = e >> 32;
		for (uint32_t k = 0; k < cc->nlocal; k++)
			cc->lkey[k].ok_epoch = cc->lkey[k].ok_spaces = 0;
		for (int k = 0; k < SPACES; k++)
			memset(cc->spaces[k].ok, 0, sizeof(cc->spaces[k].ok));
	}
	return (uint32_t)e;
}

/* Whatever was found under traced tables holds no more. */
static void trace_forget(struct codecache *cc)
{
	if ((uint32_t)++*cc->host.trace_epoch == 0)
		++*cc->host.trace_epoch;        /* a low half of 0 dates nothing */
}

/*
 * detach_local for the blocks the current address space does not map as translated.
 * A CR3 load checks a few hundred blocks of a few dozen pages: one that lies in one
 * page is checked by its local entry, without reading the block but for its validity,
 * and a run of entries of one page walks it once.
 *
 * Into address space si (an index in spaces[]; -1: none known), an entry whose pages
 * its traced tables mapped so in the current trace epoch is kept without asking: no
 * write has reached those tables since, so they map them so still (mmu.c, "Traced
 * page tables"). What is asked again and found traced is dated so.
 */
static uint32_t detach_remapped(struct codecache *cc, struct mapping_cache *seen, int si)
{
	uint32_t n = 0, epoch = trace_epoch(cc), bit = si >= 0 ? 1u << si : 0;
	for (uint32_t k = 0; k < cc->nlocal;) {
		struct local_key *lk = &cc->lkey[k];
		bool maps;
		if (lk->key != LOCAL_KEY_NONE) {
			if (lk->ok_epoch == epoch && (lk->ok_spaces & bit)) {
				cc->stats.cr3_kept_traced++;
				k++;
				continue;
			}
			bool traced = true;
			maps = cached_ppn(cc, seen, lk->key >> 1, lk->key & 1, &traced) == lk->ppn &&
			       (lk->key2 == LOCAL_KEY_NONE ||
				cached_ppn(cc, seen, lk->key2 >> 1, lk->key2 & 1, &traced) == lk->ppn2);
			if (maps && traced && bit) {
				if (lk->ok_epoch != epoch)
					lk->ok_spaces = 0;
				lk->ok_epoch = epoch;
				lk->ok_spaces |= bit;
			}
		} else {
			uint32_t id = local_ids(&cc->local[k])[0];
			maps = id < cc->nblocks && is_live(cc, id) &&
			       maps_as_translated(cc, cc->blocks[id], seen, NULL);
		}
		if (maps) {
			k++;
			continue;
		}
		struct local_ent *l = &cc->local[k];
		uint32_t *ids = local_ids(l);
		for (uint32_t i = 0; i < l->n; i++) {
			if (ids[i] >= cc->nblocks || !is_live(cc, ids[i]))
				continue;
			struct block *b = cc->blocks[ids[i]];
			detach(cc, b);
			b->in_local = false;
			n++;
		}
		local_remove(cc, k);
	}
	return n;
}

static bool on_page(struct codecache *cc, const struct block *b, void *arg)
{
	(void)cc;
	return block_has_lpn(b, *(const uint32_t *)arg);
}

/* cc_flush_linear, with the walks of the pages it checks cached in *seen (a CR3 load's
 * switch of space uses them again), into address space si (-1: none known). */
static void flush_linear(struct codecache *cc, bool keep_global, struct mapping_cache *seen,
			 int si)
{
	cc->stats.linear_flushes++;
	if (!keep_global) {
		cc->global_epoch++;
		for (uint32_t i = 0; i < cc->nblocks; i++)
			if (cc->blocks[i]->valid)
				cc_unchain_exits(cc, cc->blocks[i]);
		cc_clear_lookup(cc);
	} else if (cc->local_lost) {
		for (uint32_t i = 0; i < cc->nblocks; i++)
			if (cc->blocks[i]->valid && !cc->blocks[i]->global)
				detach(cc, cc->blocks[i]);
	} else {
		/* Only the blocks of non-global pages (user code, for Linux), and of those
		 * only the ones whose pages the new address space does not map to the same
		 * physical pages (two processes running one binary share its code pages). */
		cc->stats.cr3_checked += cc->nlocal_blocks;
		cc->stats.cr3_detached += detach_remapped(cc, seen, si);
	}
	cc->generation++;
}

void cc_flush_linear(struct codecache *cc, bool keep_global)
{
	struct mapping_cache seen;
	mapping_cache_init(&seen, false);
	flush_linear(cc, keep_global, &seen, -1);
}

/* The address space named by cr3, current now: its entry, taken from the least
 * recently used if it has none (what was dated in that one's index goes). */
static struct space_blocks *space_of(struct codecache *cc, uint32_t cr3)
{
	uint32_t key = cr3 & ~0x1fu;
	struct space_blocks *sp = &cc->spaces[0];
	for (int k = 0; k < SPACES; k++) {
		struct space_blocks *s = &cc->spaces[k];
		if (s->use && s->key == key) {
			sp = s;
			break;
		}
		if (s->use < sp->use)
			sp = s;
	}
	if (!sp->use || sp->key != key) {
		if (sp->loads >= TRACE_LOADS)
			trace_forget(cc);       /* local entries' ok_spaces name its index */
		*sp = (struct space_blocks){ .key = key };
	}
	sp->use = ++cc->space_clock;
	if (sp->loads < TRACE_LOADS)
		sp->loads++;
	cc->space = sp;
	return sp;
}

/* Address space sp is current now (a CR3 load): the blocks lookups attached again in
 * its last turn are attached at once where its tables map them as translated (known
 * without asking where traced tables did in this trace epoch), and the list starts
 * over with what lookups attach this time. */
static void enter_space(struct codecache *cc, struct space_blocks *sp, struct mapping_cache *seen)
{
	if (cc->local_lost)
		return;
	uint32_t n = sp->n, epoch = trace_epoch(cc);
	sp->n = 0;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t id = sp->id[k], ok = sp->ok[k];
		struct block *b = id < cc->nblocks ? cc->blocks[id] : NULL;
		if (!b || !b->valid || b->in_local || b->global)
			continue;
		if (ok == epoch) {
			cc->stats.space_kept_traced++;
		} else {
			bool traced = true;
			if (!maps_as_translated(cc, b, seen, &traced))
				continue;
			ok = traced ? epoch : 0;
		}
		attach(cc, b);
		sp->id[sp->n] = id;
		sp->ok[sp->n++] = ok;
		cc->stats.space_attached++;
	}
}

void cc_switch_space(struct codecache *cc, uint32_t cr3)
{
	struct space_blocks *sp = space_of(cc, cr3);
	struct mapping_cache seen;
	mapping_cache_init(&seen, sp->loads >= TRACE_LOADS);
	flush_linear(cc, true, &seen, (int)(sp - cc->spaces));
	enter_space(cc, sp, &seen);
}

void cc_flush_linear_page(struct codecache *cc, uint32_t lpn)
{
	lpn &= 0xfffff;
	if (cc->local_lost || lin_has(cc->code_lin_global, lpn)) {
		cc_flush_linear(cc, false);
		return;
	}
	cc->stats.page_flushes++;
	detach_local(cc, on_page, &lpn);
	cc->generation++;
}

bool cc_region_has_large_code(struct codecache *cc, uint32_t first, uint32_t npg)
{
	for (uint32_t p = first & 0xfffff; p < (first & 0xfffff) + npg; p += 8)
		if (cc->code_lin_large[p >> 3])
			return true;
	return false;
}

bool cc_local_code_in(struct codecache *cc, uint32_t first, uint32_t npg)
{
	for (uint32_t p = first & 0xfffff, end = p + npg; p < end;) {
		if (!(p & 63) && end - p >= 64) {       /* a large page's: 64 at a time */
			uint64_t w;
			memcpy(&w, cc->code_lin_local + (p >> 3), sizeof(w));
			if (w)
				return true;
			p += 64;
		} else {
			if (lin_has(cc->code_lin_local, p))
				return true;
			p++;
		}
	}
	return false;
}

bool cc_linear_has_code(struct codecache *cc, uint32_t lpn)
{
	return lin_has(cc->code_lin, lpn);
}

void cc_flush(struct codecache *cc)
{
	for (uint32_t p = 0; p < cc->npages; p++)
		if (cc->page_head[p]) {
			cc->page_head[p] = NULL;
			cc->host.protect_code(cc->host.opaque, p, false);
		}
	free_blocks(cc);
	memset(cc->hash, 0, sizeof(cc->hash));
	memset(cc->code_lin, 0, 1u << 17);
	memset(cc->code_lin_global, 0, 1u << 17);
	memset(cc->code_lin_large, 0, 1u << 17);
	memset(cc->code_lin_local, 0, 1u << 17);
	local_clear(cc);
	cc->local_lost = false;
	memset(cc->spaces, 0, sizeof(cc->spaces));      /* their ids name nothing now */
	cc->space = NULL;
	cc_clear_lookup(cc);
	cc->alloc = CACHE_ADDR;
	cc->alloc_cold = cc->cold_base;
	cc->ncounters = 0;
	cc->generation++;
	cc->stats.flushes++;
}
