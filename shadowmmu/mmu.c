/*
 * mmu.c - the shadow MMU (see mmu.h): host mappings of guest pages, made on host
 * faults from walks of the guest's tables (walk.c), dropped as the guest's TLB would
 * be; and the monitor's own TLB for its accesses on the guest's behalf.
 *
 * Book-keeping per guest linear page (1 Mi entries, allocated when paging first turns
 * on): what it is mapped to, where it sits in the list of mapped pages (for flushes
 * and the budget), and the next linear page mapping the same physical page (so that
 * translated code can be write-protected through every alias). Large guest pages (4
 * MiB, or 2 MiB under PAE) are mapped 4 KiB at a time like the others, marked so that
 * an INVLPG anywhere in one drops all of it.
 */
#define _GNU_SOURCE
#include "mmu.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mem.h"
#include "ptsnap.h"
#include "walk.h"
#include "../arch/vcpu.h"

#define NPAGES    (1u << 20)
#define NONE      0xffffffffu
#define FOUR_GIB  (1ull << 32)

/* map[] entry: physical page << 12 | flags; 0 = not mapped. */
#define M_MAPPED  0x001u
#define M_WRITE   0x002u        /* the host mapping is writable */
#define M_USER    0x004u        /* the guest lets CPL 3 use it */
#define M_GLOBAL  0x008u        /* a global page (kept by CR3 loads with CR4.PGE) */
#define M_LARGE   0x010u        /* part of a large page (4 MiB, or 2 MiB under PAE) */

/* Large-page book-keeping goes by 2 MiB region, the smaller of the two sizes; a
 * change of CR4.PAE drops every mapping, so those present all have the current size. */
#define LARGE_RUN 16             /* pages mapped at once out of a large page */
#define AROUND    8              /* at most this many 4 KiB pages mapped per fault */
#define SYNC_MAX  256            /* non-global pages a TLB flush checks one by one */
#define REMAP_MAX 16             /* changed pages a TLB flush maps again at once */
#define REGION_SHIFT 9          /* 4 KiB pages per 2 MiB region: 1 << 9 */
#define NREGIONS  (NPAGES >> REGION_SHIFT)

/*
 * The monitor's own TLB: the translations its accesses on the guest's behalf (callout
 * operands, instruction fetches, dispatcher lookups) walked last, so that each need
 * not walk again. It caches what the CPU's TLB may cache and goes with it: CR3 loads
 * (global entries stay under CR4.PGE), INVLPG, and changes of the paging mode. An
 * entry exists only after a walk set A on the way; a write hits only once a walk set D.
 */
#define MTLB_SIZE 256
struct mtlb {
	uint32_t lpn1;          /* linear page + 1; 0 = empty */
	uint32_t ppn;
	uint32_t epoch;         /* valid while the mmu's (global entries: global) epoch */
	bool user, rw, dirty, nx, global;
	bool large;             /* a 4 KiB piece of a 4 MiB or 2 MiB page */
};

/*
 * The monitor TLB's large pages: a walk that found a 4 MiB (2 MiB) page fills one 4
 * KiB entry of the TLB above, and the page whole here, so that the other 4 KiB pieces
 * of it need no walk of their own (a kernel's text in large pages that are not
 * global, as under page-table isolation: a CR3 load's check of the code cache asks
 * for hundreds of them). Flushed with the TLB (the same epochs), and by INVLPG of any
 * address in the page.
 */
#define MLARGE 4
struct mlarge {
	uint32_t first1;        /* the large page's first linear page + 1; 0 = empty */
	uint32_t npg;
	struct mtlb t;          /* t.ppn: the first physical page */
};

/*
 * The working set of an address space (a page directory, named by CR3): the linear
 * pages host faults mapped while it was current, the last ASPACE_PAGES of them, each
 * with the number of times a fault mapped it. When a CR3 load comes back to it, those
 * faulted in more than once (pages each turn of the process uses again, such as its
 * stack: a page a stream went through once, such as a pipe's writer's buffer, is not
 * wanted back) that its tables still map as a fault would (remappable) are mapped at
 * once, in runs where frames follow each other: processes that take turns (a pipe, a
 * shell and its child) find their pages where they left them for an mmap each instead
 * of a host fault each (a signal and the same mmap).
 */
#define ASPACES       8
#define ASPACE_PAGES  32
struct aspace {
	uint32_t cr3;           /* bits 31:5 of CR3 (PAE: 31:5 too), with use != 0 */
	uint32_t use;           /* LRU stamp; 0 = free */
	uint32_t next;          /* where the next page goes in lpn[] (a ring) */
	uint32_t lpn[ASPACE_PAGES];     /* linear page + 1; 0 = empty */
	uint8_t faults[ASPACE_PAGES];   /* host faults that mapped it (saturating) */
};
#define ASPACE_AGAIN  2                 /* faults that make a page wanted back */

/*
 * What a page's walk read when it was mapped: its directory and table entries and
 * where they were. While a walk would read the same again (same CR0/CR4/EFER: a
 * change drops everything; same PDPTE registers under PAE), it would map the page the
 * same way, and a TLB flush keeps the mapping without walking (rec_holds).
 */
struct maprec {
	uint32_t pde_pa, pte_pa;        /* pde_pa NONE: none; a large page: its PDE twice */
	uint64_t pde, pte;
};

/*
 * The host mappings of one process (a slot: see "Address spaces in processes" below
 * and mmu.h), and their book-keeping: what each linear page is mapped to, where it
 * sits in the list of mapped pages (for flushes and the budget), and the next linear
 * page mapping the same physical page (so that translated code can be write-protected
 * through every alias). The running process's is struct mmu's hm; the others wait in
 * slots[].
 */
struct hostmap {
	uint32_t *map;
	uint32_t *pos;          /* index in list[] of a mapped page */
	uint32_t *alias;        /* next linear page with the same physical page */
	uint32_t *alias_head;   /* per physical page: first linear page mapping it */
	uint32_t *list;         /* the mapped linear pages */
	struct maprec *rec;     /* per list[] entry: the entries its walk read */
	uint32_t *ng_list;      /* the mapped pages that are not global (a TLB flush's) */
	uint32_t *ng_pos;       /* index in ng_list[] of such a page */
	uint32_t n, nng;
	uint32_t vmas;          /* a bound on the host mappings (VMAs) made since the last
				 * drop_all: each host call counts what it can add, 2 (a
				 * mapping amid others splits one in three) */
	uint32_t sup_low;       /* lowest linear page mapped for the supervisor only */
	uint32_t user_high;     /* highest linear page mapped for CPL 3 too, + 1 */
	uint8_t *large;         /* per 2 MiB region: some page mapped from a large page */
	struct ptsnap *snap;    /* the entries of the non-global pages' walks (ptsnap.h) */
	bool stale;             /* its process's low 4 GiB is as it was forked: drop all */
	/* Parked pages: host mappings of a frame left in place with no access (PROT_NONE)
	 * when the guest's mapping went, so that mapping the same frame there again is an
	 * mprotect, with the host's page-table entry still there (see park_run). */
	uint32_t *parked;       /* per linear page: the frame + 1 parked there; 0: none */
	uint32_t *park_list, *park_pos, npark;
};

/* What another slot's mappings must undergo before its process runs the guest again:
 * entries of a page or frame number with one of these in bits 28-31. */
#define P_DROP     (1u << 28)   /* a global page INVLPG took */
#define P_LARGE    (2u << 28)   /* the large page around this page: INVLPG took it */
#define P_PROTECT  (3u << 28)   /* a frame now holds translated code: read-only */
#define P_ARG      0x0fffffffu
#define SLOT_PENDING 256
struct pending {
	uint32_t n;
	bool drop_all;          /* a paging change, a watch, or too many entries */
	uint32_t e[SLOT_PENDING];
};

/* Traced page tables (mmu_peek_fetch, below): a table written this many times within
 * one window of TRACE_WINDOW CR3 loads is traced no more in that window. */
#define TRACE_GIVE_UP 3
#define TRACE_WINDOW  4096

struct mmu {
	struct cpu *cpu;        /* the guest's paging registers and CPL */
	struct guest_mem *mem;
	struct mmu_hooks h;
	struct mtlb tlb[MTLB_SIZE];
	struct mlarge large_tlb[MLARGE];
	unsigned large_next;
	uint32_t tlb_epoch, tlb_gepoch; /* a flush starts a new one instead of clearing */
	struct hostmap hm;      /* the running process's mappings */
	uint32_t *scratch;      /* room for as many pages as are mapped (mmu_flush_tlb) */
	bool paging;
	bool retry;             /* a host fault became a guest #PF (mmu_retry) */
	bool retry_write;
	int retry_cpl;
	uint32_t retry_lin, retry_eip;
	struct aspace spaces[ASPACES];  /* the working sets of recent address spaces */
	struct aspace *cur;     /* the current one's, or NULL */
	uint32_t clock;         /* for the LRU of spaces */
	uint32_t watch[MMU_WATCH_MAX];  /* linear pages kept unmapped (mmu_watch) */
	int nwatch;
	uint32_t wopen[MMU_WATCH_MAX];  /* of those, opened for one instruction */
	int nwopen;
	/* Slots: one process each (mmu_set_slots); the running one's mappings are hm. */
	int nslots, slot, want;         /* want: the slot a CR3 load asked for, or -1 */
	struct hostmap slots[MMU_SLOTS];
	uint32_t slot_cr3[MMU_SLOTS];   /* the address space each serves (CR3 & ~0x1f) */
	uint32_t slot_use[MMU_SLOTS];   /* LRU stamps */
	struct pending pend[MMU_SLOTS];
	uint16_t *table_writes; /* per physical page: writes that ended its tracing, in
				   the low byte, within the window in the high byte */
	uint32_t trace_loads;   /* CR3 loads: the window is trace_loads / TRACE_WINDOW */
	struct mmu_stats stats;
};

const struct mmu_stats *mmu_stats(const struct mmu *m)
{
	return &m->stats;
}

static void *host_of(uint32_t lpn) { return (void *)(uintptr_t)((uint64_t)lpn << 12); }

/* The VM cannot go on: tell the monitor why. */
static void __attribute__((format(printf, 2, 3))) fail(struct mmu *m, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	m->h.fail(m->h.opaque, msg);
}

/* The guest's linear pages that have a host address (the rest is the top hole). */
static bool mappable(uint32_t lpn)
{
	return lpn >= GUEST_LOW >> 12 && lpn < GUEST_TOP >> 12;
}

static bool in_list(const uint32_t *l, int n, uint32_t lpn)
{
	for (int k = 0; k < n; k++)
		if (l[k] == lpn)
			return true;
	return false;
}

/* Is lpn watched and not open: never to be mapped by the host? */
static bool held(const struct mmu *m, uint32_t lpn)
{
	return m->nwatch && in_list(m->watch, m->nwatch, lpn) && !in_list(m->wopen, m->nwopen, lpn);
}

static bool run_held(const struct mmu *m, uint32_t lpn, uint32_t npg)
{
	for (uint32_t k = 0; m->nwatch && k < npg; k++)
		if (held(m, lpn + k))
			return true;
	return false;
}

/* A CR3 load's flush is a new epoch (256 entries cleared took ~400 cycles of each
 * address-space switch); only when an epoch wraps are the entries cleared. */
static void mtlb_flush(struct mmu *m, bool keep_global)
{
	bool wrap = ++m->tlb_epoch == 0;
	if (!keep_global)
		wrap |= ++m->tlb_gepoch == 0;
	if (wrap) {
		for (int k = 0; k < MTLB_SIZE; k++)
			if (!(keep_global && m->tlb[k].global))
				m->tlb[k].lpn1 = 0;
		for (int k = 0; k < MLARGE; k++)
			if (!(keep_global && m->large_tlb[k].t.global))
				m->large_tlb[k].first1 = 0;
	}
}

/* The cached translation of lin's page if it allows the access acc (a write also
 * needs D set), or NULL. */
static const struct mtlb *mtlb_hit(const struct mmu *m, uint32_t lin, unsigned acc,
				   bool need_dirty)
{
	const struct mtlb *t = &m->tlb[(lin >> 12) & (MTLB_SIZE - 1)];
	if (t->lpn1 != (lin >> 12) + 1 || t->epoch != (t->global ? m->tlb_gepoch : m->tlb_epoch))
		return NULL;
	if ((acc & PF_ACC_USER) && !t->user)
		return NULL;
	if ((acc & PF_ACC_FETCH) && t->nx)
		return NULL;
	if (acc & PF_ACC_WRITE) {
		bool w = t->rw || (!(acc & PF_ACC_USER) && !(m->cpu->cr0 & CR0_WP));
		if (!w || (need_dirty && !t->dirty))
			return NULL;
	}
	return t;
}

static void trace_bump(struct mmu *m);
static bool trace_walk(struct mmu *m, const struct walk_entries *e);
static void trace_none(struct mmu *m);

static void mtlb_fill(struct mmu *m, uint32_t lin, const struct walk *w)
{
	if (!w->accessed || !w->dir_accessed)
		return;
	bool global = w->global && (m->cpu->cr4 & CR4_PGE);
	/* A global translation answers fetch peeks (mmu_peek_fetch) before the tables:
	 * where non-global code was translated, what traced tables said may no longer be
	 * the answer. */
	if (global && m->h.local_code_in(m->h.opaque, (lin & ~(w->size - 1)) >> 12, w->size >> 12)) {
		m->stats.trace_global_fills++;
		trace_bump(m);
	}
	struct mtlb *t = &m->tlb[(lin >> 12) & (MTLB_SIZE - 1)];
	*t = (struct mtlb){
		.lpn1 = (lin >> 12) + 1, .ppn = (uint32_t)(w->pa >> 12),
		.epoch = global ? m->tlb_gepoch : m->tlb_epoch, .user = w->user,
		.rw = w->rw, .dirty = w->dirty, .nx = w->nx, .global = global,
		.large = w->size > 4096,
	};
	if (t->large) {
		struct mlarge *l = &m->large_tlb[m->large_next++ % MLARGE];
		l->first1 = (uint32_t)((lin & ~(w->size - 1)) >> 12) + 1;
		l->npg = w->size >> 12;
		l->t = *t;
		l->t.ppn = (uint32_t)(w->page >> 12);
	}
}

/* A 4 KiB piece of a large page the monitor TLB holds, as a TLB entry of its own
 * allowing acc; NULL if none. */
static const struct mtlb *mlarge_hit(struct mmu *m, uint32_t lin, unsigned acc, bool need_dirty)
{
	uint32_t lpn = lin >> 12;
	for (int k = 0; k < MLARGE; k++) {
		const struct mlarge *l = &m->large_tlb[k];
		if (!l->first1 || lpn - (l->first1 - 1) >= l->npg ||
		    l->t.epoch != (l->t.global ? m->tlb_gepoch : m->tlb_epoch))
			continue;
		struct mtlb *t = &m->tlb[lpn & (MTLB_SIZE - 1)];
		*t = l->t;
		t->lpn1 = lpn + 1;
		t->ppn = l->t.ppn + (lpn - (l->first1 - 1));
		return mtlb_hit(m, lin, acc, need_dirty);
	}
	return NULL;
}

struct mmu *mmu_create(struct cpu *c, struct guest_mem *mem, const struct mmu_hooks *hooks)
{
	struct mmu *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->cpu = c;
	m->mem = mem;
	m->h = *hooks;
	m->nslots = 1;
	m->want = -1;
	m->table_writes = calloc(mem->size >> 12, sizeof(*m->table_writes));
	if (!m->table_writes) {
		free(m);
		return NULL;
	}
	if (!(uint32_t)mem->trace_epoch)
		mem->trace_epoch++;
	return m;
}

static void free_hostmap(struct hostmap *hm)
{
	free(hm->map);
	free(hm->pos);
	free(hm->alias);
	free(hm->alias_head);
	free(hm->list);
	free(hm->rec);
	free(hm->ng_list);
	free(hm->ng_pos);
	free(hm->large);
	ptsnap_free(hm->snap);
	free(hm->parked);
	free(hm->park_list);
	free(hm->park_pos);
}

void mmu_destroy(struct mmu *m)
{
	if (!m)
		return;
	free_hostmap(&m->hm);
	for (int k = 0; k < m->nslots; k++)
		if (k != m->slot)
			free_hostmap(&m->slots[k]);
	free(m->scratch);
	free(m->table_writes);
	free(m);
}

static int alloc_hostmap(struct mmu *m, struct hostmap *hm)
{
	if (hm->map)
		return 0;
	uint32_t nppn = (uint32_t)(m->mem->size >> 12);
	hm->map = calloc(NPAGES, sizeof(uint32_t));
	hm->pos = calloc(NPAGES, sizeof(uint32_t));
	hm->alias = calloc(NPAGES, sizeof(uint32_t));
	hm->alias_head = malloc(nppn * sizeof(uint32_t));
	hm->list = calloc(NPAGES, sizeof(uint32_t));
	hm->rec = calloc(NPAGES, sizeof(struct maprec));
	hm->ng_list = calloc(NPAGES, sizeof(uint32_t));
	hm->ng_pos = calloc(NPAGES, sizeof(uint32_t));
	hm->large = calloc(NREGIONS, 1);
	hm->snap = ptsnap_new();
	hm->parked = calloc(NPAGES, sizeof(uint32_t));
	hm->park_list = calloc(NPAGES, sizeof(uint32_t));
	hm->park_pos = calloc(NPAGES, sizeof(uint32_t));
	if (!hm->map || !hm->pos || !hm->alias || !hm->alias_head || !hm->list || !hm->rec ||
	    !hm->ng_list || !hm->ng_pos || !hm->large || !hm->snap || !hm->parked ||
	    !hm->park_list || !hm->park_pos)
		return -ENOMEM;
	memset(hm->alias_head, 0xff, nppn * sizeof(uint32_t));
	hm->sup_low = NPAGES;
	return 0;
}

static int alloc_tables(struct mmu *m)
{
	if (!m->scratch && !(m->scratch = malloc(NPAGES * sizeof(uint32_t))))
		return -ENOMEM;
	return alloc_hostmap(m, &m->hm);
}

/* Make the whole guest range PROT_NONE again and forget every mapping. */
static void drop_all(struct mmu *m)
{
	m->stats.host_calls++;
	void *p = mmap((void *)(uintptr_t)GUEST_LOW, GUEST_TOP - GUEST_LOW, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED)
		fail(m, "cannot reset the guest mappings: %s", strerror(errno));
	for (uint32_t k = 0; k < m->hm.n; k++) {
		uint32_t lpn = m->hm.list[k];
		m->hm.alias_head[m->hm.map[lpn] >> 12] = NONE;
		m->hm.map[lpn] = 0;
	}
	for (uint32_t k = 0; k < m->hm.npark; k++)
		m->hm.parked[m->hm.park_list[k]] = 0;
	m->hm.npark = 0;
	m->hm.n = 0;
	m->hm.nng = 0;
	m->hm.vmas = 0;
	m->hm.sup_low = NPAGES;
	m->hm.user_high = 0;
	memset(m->hm.large, 0, NREGIONS);
	ptsnap_invalidate(m->hm.snap);  /* (the next flush builds it again, from nothing) */
	m->stats.tlb_flushes++;
}

static void alias_remove(struct mmu *m, uint32_t lpn, uint32_t ppn)
{
	uint32_t *p = &m->hm.alias_head[ppn];
	while (*p != NONE && *p != lpn)
		p = &m->hm.alias[*p];
	if (*p == lpn)
		*p = m->hm.alias[lpn];
}

/* Forget lpn's mapping; the host's goes with unmap_page, or by the caller (a run). */
static void forget_page(struct mmu *m, uint32_t lpn)
{
	uint32_t e = m->hm.map[lpn];
	alias_remove(m, lpn, e >> 12);
	m->hm.vmas += 2;           /* a page out of a run can split it in three */
	uint32_t k = m->hm.pos[lpn], last = m->hm.list[--m->hm.n];
	if (!(e & M_GLOBAL) && m->hm.rec[k].pde_pa != NONE) {
		ptsnap_unref(m->hm.snap, m->hm.rec[k].pde_pa);
		ptsnap_unref(m->hm.snap, m->hm.rec[k].pte_pa);
	}
	m->hm.list[k] = last;
	m->hm.rec[k] = m->hm.rec[m->hm.n];
	m->hm.pos[last] = k;
	if (!(e & M_GLOBAL)) {
		k = m->hm.ng_pos[lpn];
		last = m->hm.ng_list[--m->hm.nng];
		m->hm.ng_list[k] = last;
		m->hm.ng_pos[last] = k;
	}
	m->hm.map[lpn] = 0;
}

static void unpark(struct mmu *m, uint32_t lpn)
{
	if (!m->hm.parked[lpn])
		return;
	m->hm.parked[lpn] = 0;
	uint32_t k = m->hm.park_pos[lpn], last = m->hm.park_list[--m->hm.npark];
	m->hm.park_list[k] = last;
	m->hm.park_pos[last] = k;
}

/*
 * Take the guest's access to npg mapped pages from lpn away, in one host call: their
 * host mappings stay, with no access (PROT_NONE), each parked with its frame. A guest
 * page that comes back to the same frame (a process's text after a fork or an exec, a
 * stack page the guest's allocator hands out again) is then an mprotect again, and no
 * host fault after it: the host's page-table entries stay under PROT_NONE. Replacing
 * the mapping instead (an mmap), then the host fault of the first access, costs about
 * five times that (host-floor: remap against mprotect). Their book-keeping goes with
 * forget_page, after.
 */
static void park_run(struct mmu *m, uint32_t lpn, uint32_t npg)
{
	m->stats.host_calls++;
	if (mprotect(host_of(lpn), (size_t)npg << 12, PROT_NONE) < 0) {
		fail(m, "cannot take guest page %#x away: %s", lpn << 12, strerror(errno));
		return;
	}
	for (uint32_t k = 0; k < npg; k++) {
		uint32_t p = lpn + k;
		if (!m->hm.parked[p]) {
			m->hm.park_pos[p] = m->hm.npark;
			m->hm.park_list[m->hm.npark++] = p;
		}
		m->hm.parked[p] = (m->hm.map[p] >> 12) + 1;
	}
}

static void unmap_page(struct mmu *m, uint32_t lpn)
{
	if (!m->hm.map[lpn])
		return;
	park_run(m, lpn, 1);
	forget_page(m, lpn);
}

/* Whether npg pages from lpn are parked with frames from ppn on. */
static bool run_parked(const struct mmu *m, uint32_t lpn, uint32_t ppn, uint32_t npg)
{
	for (uint32_t k = 0; k < npg; k++)
		if (m->hm.parked[lpn + k] != ppn + k + 1)
			return false;
	return true;
}

static int cmp_lpn(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * The entries a walk of lpn reads now, taken as they are (no checks: the walk that
 * mapped the page made them), into *r; false if lpn has no translation whose entries
 * lie in RAM. A large page's is its directory entry, twice (as struct walk has it).
 */
static bool entries_now(const struct mmu *m, uint32_t lpn, struct maprec *r)
{
	const struct cpu *c = m->cpu;
	const uint8_t *ram = m->mem->ram;
	uint64_t size = m->mem->size, pde_pa, pte_pa, pde = 0, pte = 0;
	if (c->cr4 & CR4_PAE) {
		uint64_t pdpte = c->pdpte[lpn >> 18];
		if (!(pdpte & PTE_P))
			return false;
		pde_pa = (pdpte & PAE_ADDR) + ((lpn >> 9) & 0x1ff) * 8;
		if (pde_pa + 8 > size)
			return false;
		memcpy(&pde, ram + pde_pa, 8);
		if (!(pde & PTE_P))
			return false;
		if (pde & PTE_PS) {
			*r = (struct maprec){ (uint32_t)pde_pa, (uint32_t)pde_pa, pde, pde };
			return true;
		}
		pte_pa = (pde & PAE_ADDR) + (lpn & 0x1ff) * 8;
		if (pte_pa + 8 > size)
			return false;
		memcpy(&pte, ram + pte_pa, 8);
	} else {
		pde_pa = (c->cr3 & ~0xfffu) + (lpn >> 10) * 4;
		if (pde_pa + 4 > size)
			return false;
		memcpy(&pde, ram + pde_pa, 4);
		if (!(pde & PTE_P))
			return false;
		if ((pde & PTE_PS) && (c->cr4 & CR4_PSE)) {
			*r = (struct maprec){ (uint32_t)pde_pa, (uint32_t)pde_pa, pde, pde };
			return true;
		}
		pte_pa = (pde & ~0xfffull) + (lpn & 0x3ff) * 4;
		if (pte_pa + 4 > size)
			return false;
		memcpy(&pte, ram + pte_pa, 4);
	}
	*r = (struct maprec){ (uint32_t)pde_pa, (uint32_t)pte_pa, pde, pte };
	return true;
}

/* Would a walk of list[k] read what the one that mapped it read? */
static bool rec_holds(const struct mmu *m, uint32_t k, uint32_t lpn)
{
	const struct maprec *r = &m->hm.rec[k];
	struct maprec now;
	return r->pde_pa != NONE && entries_now(m, lpn, &now) && now.pde_pa == r->pde_pa &&
	       now.pde == r->pde && now.pte == r->pte;
}

/* What the entries of the current tables are found under (ptsnap.h). */
static struct ptsnap_key snap_key(const struct mmu *m)
{
	const struct cpu *c = m->cpu;
	struct ptsnap_key k = { .pae = c->cr4 & CR4_PAE };
	if (k.pae)
		memcpy(k.v, c->pdpte, sizeof(k.v));
	else
		k.v[0] = c->cr3 & ~0xfffu;
	return k;
}

/* A non-global mapping's walk read r's entries. */
static void snap_ref(struct mmu *m, const struct maprec *r)
{
	if (r->pde_pa == NONE) {
		ptsnap_invalidate(m->hm.snap);  /* no entries to compare: walk it */
		return;
	}
	unsigned size = (m->cpu->cr4 & CR4_PAE) ? 8 : 4;
	ptsnap_ref(m->hm.snap, m->mem->ram, r->pde_pa, r->pde, size);
	ptsnap_ref(m->hm.snap, m->mem->ram, r->pte_pa, r->pte, size);
}

/* Book-keeping of a page just mapped. */
static void note_mapped(struct mmu *m, uint32_t lpn, uint32_t ppn, uint32_t flags)
{
	m->hm.map[lpn] = ppn << 12 | flags | M_MAPPED;
	m->hm.pos[lpn] = m->hm.n;
	struct maprec *r = &m->hm.rec[m->hm.n];
	if (!entries_now(m, lpn, r))
		r->pde_pa = NONE;
	m->hm.list[m->hm.n++] = lpn;
	if (!(flags & M_GLOBAL)) {
		m->hm.ng_pos[lpn] = m->hm.nng;
		m->hm.ng_list[m->hm.nng++] = lpn;
		snap_ref(m, r);
	}
	m->hm.alias[lpn] = m->hm.alias_head[ppn];
	m->hm.alias_head[ppn] = lpn;
	if (!(flags & M_USER) && lpn < m->hm.sup_low) {
		m->hm.sup_low = lpn;
		m->h.segs_stale(m->h.opaque);   /* a CPL-3 guest's segments must shrink */
	}
	if ((flags & M_USER) && lpn >= m->hm.user_high)
		m->hm.user_high = lpn + 1;
	if (flags & M_LARGE)
		m->hm.large[lpn >> REGION_SHIFT] = 1;
	m->stats.pages_mapped++;
}

/* Map npg linear pages from lpn to physical pages from ppn with flags (M_*), in one
 * host mapping; pages whose writes must be seen (mem->wp: translated code, traced
 * tables) stay read-only. */
static int map_run(struct mmu *m, uint32_t lpn, uint32_t ppn, uint32_t npg, uint32_t flags)
{
	/* The new mapping replaces an old one in the same host call (MAP_FIXED). */
	for (uint32_t k = 0; k < npg; k++)
		if (m->hm.map[lpn + k])
			forget_page(m, lpn + k);
	if (m->hm.vmas >= MMU_BUDGET)
		drop_all(m);
	int prot = PROT_READ | ((flags & M_WRITE) ? PROT_WRITE : 0);
	m->stats.host_calls++;
	if (run_parked(m, lpn, ppn, npg)) {
		/* The frames are mapped there already, with no access (park_run). */
		if (mprotect(host_of(lpn), (size_t)npg << 12, prot) < 0) {
			fail(m, "cannot map guest page %#x: %s", lpn << 12, strerror(errno));
			return -1;
		}
		m->stats.unparked += npg;
	} else {
		void *p = mmap(host_of(lpn), (size_t)npg << 12, prot, MAP_SHARED | MAP_FIXED,
			       m->mem->fd, (off_t)ppn << 12);
		if (p == MAP_FAILED) {
			fail(m, "cannot map guest page %#x: %s", lpn << 12, strerror(errno));
			return -1;
		}
	}
	m->hm.vmas += 2;
	int r = 0;
	for (uint32_t k = 0; k < npg; k++) {
		uint32_t f = flags;
		unpark(m, lpn + k);
		if ((f & M_WRITE) && npg > 1 && mem_page_wp(m->mem, ppn + k)) {
			m->stats.host_calls++;
			m->hm.vmas += 2;
			if (mprotect(host_of(lpn + k), 4096, PROT_READ) < 0 && !r) {
				fail(m, "cannot write-protect guest page %#x: %s", (lpn + k) << 12,
				     strerror(errno));
				r = -1;
			}
			f &= ~M_WRITE;
		}
		note_mapped(m, lpn + k, ppn + k, f);
	}
	return r;
}

static int map_page(struct mmu *m, uint32_t lpn, uint32_t ppn, uint32_t flags)
{
	return map_run(m, lpn, ppn, 1, flags);
}

/* Paging off: physical page ppn at host = physical, read-only while its writes must be
 * seen (mem->wp). */
static void protect_identity(uint32_t ppn, bool readonly)
{
	if (ppn < GUEST_LOW >> 12)
		return;                 /* never mapped: writes there are emulated */
	int r = mprotect(host_of(ppn), 4096, readonly ? PROT_READ : PROT_READ | PROT_WRITE);
	assert(r == 0);
	(void)r;
}

static void identity_map(struct mmu *m)
{
	void *p = mmap((void *)(uintptr_t)GUEST_LOW, m->mem->size - GUEST_LOW,
		       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_NORESERVE, m->mem->fd,
		       GUEST_LOW);
	if (p == MAP_FAILED)
		fail(m, "cannot map guest RAM: %s", strerror(errno));
}

static void identity_hold(struct mmu *m, uint32_t ppn, bool hold);
static void pend_drop_all(struct mmu *m);

void mmu_paging_changed(struct mmu *m)
{
	bool on = m->cpu->cr0 & CR0_PG;
	if (on && alloc_tables(m) < 0) {
		fail(m, "out of memory for the shadow MMU");
		return;
	}
	if (m->hm.map)
		drop_all(m);
	pend_drop_all(m);
	mtlb_flush(m, false);
	trace_none(m);
	m->paging = on;
	m->cur = NULL;          /* the next host fault picks CR3's working set */
	if (!on) {
		identity_map(m);
		/* Translated code keeps its pages read-only in the new mappings too. */
		for (uint32_t p = 0; p < m->mem->size >> 12; p++)
			if (mem_page_wp(m->mem, p))
				protect_identity(p, true);
		for (int k = 0; k < m->nwatch; k++)
			if (held(m, m->watch[k]))
				identity_hold(m, m->watch[k], true);
	}
	m->h.segs_stale(m->h.opaque);
	m->h.flush_linear(m->h.opaque, false);
}

/*
 * Whether a host mapping (map[] entry e) is exactly what a fault would make of it
 * now, given the page's walk w: the guest's tables map it to the same frame with the
 * same rights, the A bits on the way already set and, for a writable mapping, D too.
 * Then a TLB flush needs
 * not drop it: the CPU's walk after the flush would change nothing the guest can see.
 * (The caller keeps no large page: their book-keeping goes by region.)
 */
static bool still_mapped(uint32_t e, const struct walk *w)
{
	if (w->size != 4096 || w->pa >> 12 != e >> 12 || !w->accessed || !w->dir_accessed ||
	    !(e & M_USER) != !w->user || !(e & M_GLOBAL) != !w->global)
		return false;
	/* As mmu_fault decides M_WRITE (a supervisor walk: for a user page the same). */
	return !(e & M_WRITE) || (w->writable && w->dirty && !(w->user && !w->rw));
}

static uint32_t map_flags(struct mmu *m, const struct walk *w, uint32_t ppn);

/*
 * Whether lpn, a page the guest has been using whose translation changed (INVLPG, or a
 * TLB flush that found the mapping stale), can be mapped at once to what its tables say
 * now: when a fault would map exactly that without changing anything the guest can see
 * (a present 4 KiB page in RAM, A already set on the way; writable only once D is).
 * The new mapping then replaces the old in the one host call that dropping it would
 * cost, and the guest's next access runs without a host fault. A clear A is left for
 * that access to set: an OS that clears A to age its pages must not see them all used.
 */
static bool can_remap(struct mmu *m, uint32_t lpn, const struct walk *w)  /* given w */
{
	return mappable(lpn) && !held(m, lpn) && w->size == 4096 && w->accessed &&
	       w->dir_accessed && w->pa < m->mem->size;
}

/* The supervisor-read walk the shadow's decisions start from; false if it faults. */
static bool peek(struct mmu *m, uint32_t lpn, struct walk *w)
{
	return !(walk_peek(m->cpu, m->mem, lpn << 12, 0, w) & PF_FAULT);
}

/* can_remap after the page's walk (into *w), for a page not from a large one. */
static bool remappable(struct mmu *m, uint32_t lpn, struct walk *w)
{
	return !(m->hm.map[lpn] & M_LARGE) && peek(m, lpn, w) && can_remap(m, lpn, w);
}

static void remap(struct mmu *m, uint32_t lpn, const struct walk *w)
{
	uint32_t ppn = (uint32_t)(w->pa >> 12);
	if (map_page(m, lpn, ppn, map_flags(m, w, ppn)) == 0)
		m->stats.remaps++;
}

/* The host side of a TLB flush: the mappings a walk of the tables would not make
 * again go; past sync_max pages checked, the rest go unchecked. */
static void flush_host(struct mmu *m, bool keep_global, uint32_t sync_max)
{
	/* Drop the pages the new tables no longer map as they are mapped (all but global
	 * pages, which stay with CR4.PGE: SDM Vol. 3, 4.10.4.1), in runs of consecutive
	 * pages: one host call each. Linux's CR3 loads between a parent and its forked
	 * child, and its full flushes, find most pages unchanged. */
	uint32_t *gone = m->scratch, n = 0, kept = 0, nslow = 0, nre = 0, again[REMAP_MAX];
	struct walk againw[REMAP_MAX], w;
	uint32_t total = keep_global ? m->hm.nng : m->hm.n;
	/* Every page checked here is non-global and the entries its walk read are as they
	 * were: all stay, as the loop below would find one by one (ptsnap.h). */
	struct ptsnap_key key = snap_key(m);
	if (total == m->hm.nng && ptsnap_holds(m->hm.snap, m->mem->ram, &key)) {
		m->stats.pages_kept += total;
		m->stats.snap_flushes++;
		return;
	}
	ptsnap_invalidate(m->hm.snap);  /* (the loop changes records: built again below) */
	for (uint32_t i = 0; i < total; i++) {
		uint32_t lpn = keep_global ? m->hm.ng_list[i] : m->hm.list[i];
		uint32_t e = m->hm.map[lpn], k = m->hm.pos[lpn];
		/* A walk per page pays while few are mapped (a process's working set);
		 * past SYNC_MAX the rest go, as a drop of all would take them. The first
		 * REMAP_MAX that changed but can be mapped at once are (see can_remap).
		 * A piece of a large page stays while its directory entry does, and is
		 * not mapped again otherwise (their book-keeping goes by region). */
		if (rec_holds(m, k, lpn)) {
			kept++;         /* what a walk would read again: mapped the same */
			continue;
		}
		if (n + nslow++ + nre >= sync_max || (e & M_LARGE) || !peek(m, lpn, &w))
			gone[n++] = lpn;
		else if (still_mapped(e, &w)) {
			kept++;
			if (!entries_now(m, lpn, &m->hm.rec[k]))      /* the next flush's */
				m->hm.rec[k].pde_pa = NONE;
		} else if (nre < REMAP_MAX && can_remap(m, lpn, &w)) {
			againw[nre] = w;
			again[nre++] = lpn;
		} else
			gone[n++] = lpn;
	}
	if (n && n == m->hm.n) {
		drop_all(m);
	} else if (n) {
		if (n > 1)
			qsort(gone, n, sizeof(*gone), cmp_lpn);
		for (uint32_t k = 0; k < n;) {
			uint32_t run = 1;
			while (k + run < n && gone[k + run] == gone[k] + run)
				run++;
			park_run(m, gone[k], run);
			k += run;
		}
		for (uint32_t k = 0; k < n; k++)
			forget_page(m, gone[k]);
		m->stats.tlb_flushes++;
	}
	for (uint32_t k = 0; k < nre; k++)
		remap(m, again[k], &againw[k]);         /* dropping the others changed no walk */
	m->stats.pages_kept += kept;
	/* Every record holds now: the next flush may compare entries instead. */
	ptsnap_rebuild_begin(m->hm.snap, &key);
	for (uint32_t i = 0; i < m->hm.nng && ptsnap_valid(m->hm.snap); i++)
		snap_ref(m, &m->hm.rec[m->hm.pos[m->hm.ng_list[i]]]);
}

void mmu_flush_tlb(struct mmu *m)
{
	if (!m->paging)
		return;
	bool keep_global = m->cpu->cr4 & CR4_PGE;
	mtlb_flush(m, keep_global);
	flush_host(m, keep_global, SYNC_MAX);
	m->h.flush_linear(m->h.opaque, keep_global);
}

/* The working set of the address space at cr3 becomes the current one (a free or the
 * least recently used slot if it has none). */
static struct aspace *ws_select(struct mmu *m, uint32_t cr3)
{
	uint32_t key = cr3 & ~0x1fu;
	struct aspace *a = &m->spaces[0];
	for (int k = 0; k < ASPACES; k++) {
		struct aspace *s = &m->spaces[k];
		if (s->use && s->cr3 == key) {
			a = s;
			break;
		}
		if (s->use < a->use)
			a = s;
	}
	if (!a->use || a->cr3 != key)
		*a = (struct aspace){ .cr3 = key };
	a->use = ++m->clock;
	m->cur = a;
	return a;
}

/* A host fault (or the IRET after a #PF) mapped lpn: it joins the working set. */
static void ws_note(struct mmu *m, uint32_t lpn)
{
	struct aspace *a = m->cur ? m->cur : ws_select(m, m->cpu->cr3);
	for (uint32_t k = 0; k < ASPACE_PAGES; k++)
		if (a->lpn[k] == lpn + 1) {
			a->faults[k] += a->faults[k] < 255;
			return;
		}
	a->lpn[a->next] = lpn + 1;
	a->faults[a->next] = 1;
	a->next = (a->next + 1) % ASPACE_PAGES;
}

/* The working set of the address space at cr3 becomes the current one; its pages that
 * are not mapped and can be (remappable) are, a run of consecutive frames per mmap. */
static void ws_switch(struct mmu *m, uint32_t cr3)
{
	struct aspace *a = ws_select(m, cr3);
	uint32_t want[ASPACE_PAGES], n = 0;
	for (uint32_t k = 0; k < ASPACE_PAGES; k++)
		if (a->lpn[k] && a->faults[k] >= ASPACE_AGAIN && !m->hm.map[a->lpn[k] - 1])
			want[n++] = a->lpn[k] - 1;
	if (n > 1)      /* (not for nothing: the monitor's qsort saves the guest's FPU state) */
		qsort(want, n, sizeof(*want), cmp_lpn);
	for (uint32_t k = 0; k < n;) {
		struct walk w;
		if (!remappable(m, want[k], &w)) {
			k++;
			continue;
		}
		uint32_t ppn = (uint32_t)(w.pa >> 12), flags = map_flags(m, &w, ppn), run = 1;
		for (struct walk v; k + run < n && want[k + run] == want[k] + run &&
		     remappable(m, want[k + run], &v) && v.pa >> 12 == ppn + run &&
		     map_flags(m, &v, ppn + run) == flags;)
			run++;
		if (map_run(m, want[k], ppn, run, flags) < 0)
			return;
		m->stats.ws_maps += run;
		k += run;
	}
}

/*
 * Address spaces in processes. With more than one slot (mmu_set_slots), each slot is
 * a host process of its own with its own mappings of the guest's linear space, serving
 * one recent address space (a page directory, by CR3; the least recently used slot
 * takes a new one). A CR3 load to another slot's address space changes no mapping
 * here: it asks for that slot (mmu_slot_wanted), and its process, once it has the
 * vCPU, takes its own mappings back (mmu_slot_enter): it checks the non-global ones
 * against the tables as a CR3 load must (a walk each; SDM Vol. 3, 4.10.4.1), after
 * undoing what happened to them meanwhile that no walk shows: an INVLPG of a global
 * page, a frame that now holds translated code, a change of paging mode or of the
 * watched pages. Those are noted per slot (pend_*) by whichever process ran.
 */
#define SLOT_SYNC_MAX 4096      /* pages a slot's return checks one by one */

void mmu_set_slots(struct mmu *m, int n)
{
	m->nslots = n < 1 ? 1 : n > MMU_SLOTS ? MMU_SLOTS : n;
	for (int k = 0; k < m->nslots; k++)
		if (k != m->slot)
			m->slots[k].stale = true;       /* its low 4 GiB is the parent's */
}

static void pend_add(struct mmu *m, int k, uint32_t entry)
{
	struct pending *p = &m->pend[k];
	if (p->n == SLOT_PENDING)
		p->drop_all = true;
	else
		p->e[p->n++] = entry;
}

/* The other slots whose process has mappings. */
#define for_other_slots(m, k, hp)                                                  \
	for (int k = 0; k < (m)->nslots; k++)                                        \
		if (k != (m)->slot && (hp = &(m)->slots[k])->map && !(hp)->stale)

static void pend_drop_all(struct mmu *m)
{
	struct hostmap *h;
	for_other_slots(m, k, h)
		m->pend[k].drop_all = true;
}

/* INVLPG of lpn here: a global mapping of it there, or one of a large page around it. */
static void pend_invlpg(struct mmu *m, uint32_t lpn, uint32_t first, uint32_t npg)
{
	struct hostmap *h;
	for_other_slots(m, k, h) {
		bool large = false;
		for (uint32_t r = first >> REGION_SHIFT; r < (first + npg) >> REGION_SHIFT; r++)
			large |= h->large[r];
		if (large)
			pend_add(m, k, P_LARGE | lpn);
		else if (h->map[lpn] & M_GLOBAL)
			pend_add(m, k, P_DROP | lpn);
	}
}

/* Physical page ppn holds translated code now: writable aliases there. */
static void pend_protect(struct mmu *m, uint32_t ppn)
{
	struct hostmap *h;
	for_other_slots(m, k, h)
		for (uint32_t lpn = h->alias_head[ppn]; lpn != NONE; lpn = h->alias[lpn])
			if (h->map[lpn] & M_WRITE) {
				pend_add(m, k, P_PROTECT | ppn);
				break;
			}
}

static void protect_aliases(struct mmu *m, uint32_t ppn);
static void drop_large(struct mmu *m, uint32_t first, uint32_t npg);

static void pend_apply(struct mmu *m)
{
	struct pending *p = &m->pend[m->slot];
	if (m->hm.stale || p->drop_all) {
		drop_all(m);
	} else {
		uint32_t npg = (m->cpu->cr4 & CR4_PAE) ? WALK_2M >> 12 : WALK_4M >> 12;
		for (uint32_t k = 0; k < p->n; k++) {
			uint32_t arg = p->e[k] & P_ARG;
			switch (p->e[k] & ~P_ARG) {
			case P_DROP:
				unmap_page(m, arg);
				break;
			case P_LARGE:
				drop_large(m, arg & ~(npg - 1), npg);
				unmap_page(m, arg);
				break;
			case P_PROTECT:
				protect_aliases(m, arg);
				break;
			}
		}
	}
	m->hm.stale = false;
	p->n = 0;
	p->drop_all = false;
}

static int slot_for(struct mmu *m, uint32_t cr3)
{
	uint32_t key = cr3 & ~0x1fu;
	int s = 0;
	for (int k = 0; k < m->nslots; k++) {
		if (m->slot_use[k] && m->slot_cr3[k] == key) {
			s = k;
			goto found;
		}
		if (m->slot_use[k] < m->slot_use[s])
			s = k;
	}
	m->slot_cr3[s] = key;
found:
	m->slot_use[s] = ++m->clock;
	return s;
}

int mmu_slot_wanted(const struct mmu *m)
{
	return m ? m->want : -1;
}

void mmu_slot_enter(struct mmu *m, int slot)
{
	uint32_t sup_low = m->hm.sup_low;
	m->slots[m->slot] = m->hm;
	m->hm = m->slots[slot];
	m->slot = slot;
	m->want = -1;
	if (alloc_hostmap(m, &m->hm) < 0) {
		fail(m, "out of memory for the shadow MMU");
		return;
	}
	pend_apply(m);
	if (m->paging) {
		flush_host(m, m->cpu->cr4 & CR4_PGE, SLOT_SYNC_MAX);
		/* Not ws_switch: the slot kept its mappings, working set and all (it mapped
		 * 2 pages in 600 fork+exec, and its pass over the set's pages took ~60
		 * cycles of every hand-over). */
		ws_select(m, m->cpu->cr3);
	}
	if (m->hm.sup_low != sup_low)
		m->h.segs_stale(m->h.opaque);   /* CPL 3's segment cut moved */
}

int mmu_load_cr3(struct mmu *m, uint32_t cr3)
{
	struct cpu *c = m->cpu;
	m->trace_loads++;
	if ((c->cr0 & CR0_PG) && (c->cr4 & CR4_PAE) && !walk_load_pdptes(c, m->mem, cr3))
		return -1;
	c->cr3 = cr3;
	if (m->paging && m->nslots > 1) {
		int s = slot_for(m, cr3);
		m->want = s == m->slot ? -1 : s;
		if (m->want >= 0) {
			/* The guest's side of the flush now; the host's is that slot's. */
			bool keep_global = c->cr4 & CR4_PGE;
			mtlb_flush(m, keep_global);
			ws_select(m, cr3);
			m->h.flush_linear(m->h.opaque, keep_global);
			return 0;
		}
	}
	mmu_flush_tlb(m);      /* SDM Vol. 3, 4.10.4.1: all but global pages */
	if (m->paging)
		ws_switch(m, cr3);
	return 0;
}

/* The pages mapped from large pages in [first, first + npg), a whole large page. */
static void drop_large(struct mmu *m, uint32_t first, uint32_t npg)
{
	for (uint32_t p = first; p < first + npg; p++)
		if (m->hm.map[p] & M_LARGE)
			unmap_page(m, p);
	memset(&m->hm.large[first >> REGION_SHIFT], 0, npg >> REGION_SHIFT);
}

void mmu_invlpg(struct mmu *m, uint32_t lin)
{
	if (!m->paging)
		return;
	uint32_t lpn = lin >> 12;
	/* Only code translated from a page depends on its mapping. */
	bool code = m->h.linear_has_code(m->h.opaque, lpn);
	/* The large page lin would lie in: 2 MiB under PAE, 4 MiB otherwise. */
	uint32_t npg = (m->cpu->cr4 & CR4_PAE) ? WALK_2M >> 12 : WALK_4M >> 12;
	uint32_t first = lpn & ~(npg - 1);
	/* The monitor's TLB: the page, and every piece it holds of a large page there
	 * (INVLPG takes the whole translation: SDM Vol. 3, 4.10.4.1). */
	for (int k = 0; k < MTLB_SIZE; k++) {
		struct mtlb *t = &m->tlb[k];
		if (t->lpn1 == lpn + 1 ||
		    (t->large && t->lpn1 > first && t->lpn1 <= first + npg))
			t->lpn1 = 0;
	}
	for (int k = 0; k < MLARGE; k++) {
		struct mlarge *l = &m->large_tlb[k];
		if (l->first1 && lpn - (l->first1 - 1) < l->npg)
			l->first1 = 0;
	}
	bool large = false;
	for (uint32_t r = first >> REGION_SHIFT; r < (first + npg) >> REGION_SHIFT; r++)
		large |= m->hm.large[r];
	/* Code translated from a large page there goes whole, mapped or not. */
	if (m->h.region_has_large_code(m->h.opaque, first, npg)) {
		code = true;
		large = true;
	}
	if (large) {
		mtlb_flush(m, false);
		/* Pages from a large page here: the whole translation goes, whichever of
		 * its addresses INVLPG names (SDM Vol. 3, 4.10.4.1). */
		for (uint32_t p = first; p < first + npg; p++)
			if (m->hm.map[p] & M_LARGE)
				code |= m->h.linear_has_code(m->h.opaque, p);
		drop_large(m, first, npg);
	}
	if (m->nslots > 1)
		pend_invlpg(m, lpn, first, npg);
	/* The page the guest was using maps to its new frame at once (ptemod: INVLPG
	 * after a PTE change costs one host call, and the next access no fault). */
	struct walk w;
	if (m->hm.map[lpn] && remappable(m, lpn, &w))
		remap(m, lpn, &w);
	else
		unmap_page(m, lpn);
	if (code && large)
		m->h.flush_linear(m->h.opaque, false);
	else if (code)
		m->h.flush_linear_page(m->h.opaque, lpn);
}

static void page_fault(struct mmu *m, uint32_t lin, uint32_t err)
{
	m->h.page_fault(m->h.opaque, lin, err & ~PF_FAULT);
}

/* The monitor TLB's entry for lin allowing acc (mtlb_hit, then a large page it
 * holds), or NULL. */
static inline const struct mtlb *tlb_entry(struct mmu *m, uint32_t lin, unsigned acc,
					   bool need_dirty)
{
	const struct mtlb *t = mtlb_hit(m, lin, acc, need_dirty);
	return t ? t : mlarge_hit(m, lin, acc, need_dirty);
}

/* Its translation of lin into *pa; false if it has none. */
static inline bool tlb_read(struct mmu *m, uint32_t lin, unsigned acc, bool need_dirty,
			    uint64_t *pa)
{
	const struct mtlb *t = tlb_entry(m, lin, acc, need_dirty);
	if (!t)
		return false;
	*pa = (uint64_t)t->ppn << 12 | (lin & 0xfff);
	return true;
}

/* mmu_translate (raise: set A/D, raise #PF, a write hits the TLB only once D is set)
 * and mmu_peek (neither). Inlined into each with raise a constant. */
static inline int translate(struct mmu *m, uint32_t lin, unsigned acc, uint64_t *pa,
			    bool raise)
{
	if (!m || !m->paging) {
		*pa = lin;
		return 0;
	}
	if (tlb_read(m, lin, acc, raise, pa))
		return 0;
	struct walk w;
	uint32_t r = raise ? walk(m->cpu, m->mem, lin, acc, &w) :
			     walk_peek(m->cpu, m->mem, lin, acc, &w);
	if (r & PF_FAULT) {
		if (raise)
			page_fault(m, lin, r);
		return -1;
	}
	mtlb_fill(m, lin, &w);
	*pa = w.pa;
	return 0;
}

int mmu_translate(struct mmu *m, uint32_t lin, unsigned acc, uint64_t *pa)
{
	return translate(m, lin, acc, pa, true);
}

int mmu_peek(struct mmu *m, uint32_t lin, unsigned acc, uint64_t *pa)
{
	return translate(m, lin, acc, pa, false);
}

int mmu_peek_fetch(struct mmu *m, uint32_t lin, bool user, uint64_t *pa, bool *traced)
{
	if (traced)
		*traced = false;
	if (!m || !m->paging) {
		*pa = lin;
		return 0;
	}
	/* The TLB as translate() reads it, so that the check and the lookups agree while
	 * the guest changes an entry it has not invalidated. A global entry is no
	 * traced answer; a non-global one was filled since the CR3 load, by this check's
	 * walks of the same tables: walked again for its tracing (its lines are warm). */
	const struct mtlb *t = tlb_entry(m, lin, PF_ACC_FETCH | (user ? PF_ACC_USER : 0), false);
	uint32_t tlb_ppn = t ? t->ppn : 0;
	if (t && (!traced || t->global)) {
		*pa = (uint64_t)tlb_ppn << 12 | (lin & 0xfff);
		return 0;
	}
	struct walk_entries e;
	bool found = walk_fetch(m->cpu, m->mem, lin, user, pa, &e);
	if (t) {
		*traced = found && *pa >> 12 == tlb_ppn && trace_walk(m, &e);
		*pa = (uint64_t)tlb_ppn << 12 | (lin & 0xfff);
		return 0;
	}
	if (traced)
		*traced = trace_walk(m, &e);
	if (!found)
		return -1;
	/* A 4 KiB page goes into the TLB as a walk's would (mtlb_fill: only with A set on
	 * both entries), so the lookup that follows a CR3 load, at the instruction after
	 * it, hits. */
	if (e.size == 4096) {
		uint32_t rights = (uint32_t)(e.pde & e.final);
		const struct walk w = {
			.pa = *pa, .page = *pa & ~0xfffull, .size = 4096,
			.user = rights & PTE_US, .rw = rights & PTE_RW, .global = e.final & PTE_G,
			.dirty = e.final & PTE_D, .accessed = e.final & PTE_A,
			.dir_accessed = e.pde & PTE_A,
			.nx = (m->cpu->cr4 & CR4_PAE) && (m->cpu->efer & EFER_NXE) &&
			      ((e.pde | e.final) & PTE_XD),
		};
		mtlb_fill(m, lin, &w);
	}
	return 0;
}

static int fill(struct mmu *m, uint32_t lin, bool write, const struct walk *wp);

int mmu_fault(struct mmu *m, uint32_t lin, bool write)
{
	struct walk w;
	unsigned acc = (write ? PF_ACC_WRITE : 0) | (m->cpu->cpl == 3 ? PF_ACC_USER : 0);
	uint32_t r = walk(m->cpu, m->mem, lin, acc, &w);
	if (r & PF_FAULT) {
		m->stats.guest_page_faults++;
		m->retry = true;
		m->retry_write = write;
		m->retry_lin = lin;
		m->retry_eip = m->cpu->sh->eip;
		m->retry_cpl = m->cpu->cpl;
		page_fault(m, lin, r);
		return 0;
	}
	int ret = fill(m, lin, write, &w);
	if (ret > 0)
		m->stats.shadow_faults++;
	if (ret == 1)
		ws_note(m, lin >> 12);
	return ret;
}

bool mmu_retry_pending(const struct mmu *m)
{
	return m && m->retry;
}

void mmu_retry(struct mmu *m)
{
	if (!m || !m->retry)
		return;
	m->retry = false;
	uint32_t lpn = m->retry_lin >> 12;
	/* A page the slot maps read-only is mapped again for a write the handler made
	 * possible (Linux reusing a copy-on-write page it now owns alone: writable and
	 * dirty, no flush), or the write would take a host fault to find that out. */
	if (!m->paging || m->cpu->sh->eip != m->retry_eip || m->cpu->cpl != m->retry_cpl ||
	    !mappable(lpn) || (m->hm.map[lpn] && (!m->retry_write || (m->hm.map[lpn] & M_WRITE))))
		return;
	/* Only A is set now (the instruction is about to use the page; the SDM lets A be
	 * set for accesses not yet made): D is left to the write's own fault. A write
	 * whose page the handler left clean would only fault again on a read-only
	 * mapping: that one waits for its own fault, as before. */
	struct walk w;
	unsigned acc = m->cpu->cpl == 3 ? PF_ACC_USER : 0;
	if ((walk_peek(m->cpu, m->mem, m->retry_lin, acc, &w) & PF_FAULT) ||
	    (m->retry_write && !(w.writable && w.dirty)))
		return;
	if (m->hm.map[lpn] && (w.size != 4096 || w.pa >= m->mem->size ||
			       !(map_flags(m, &w, (uint32_t)(w.pa >> 12)) & M_WRITE)))
		return;                 /* it would be read-only again (code, say) */
	if (walk(m->cpu, m->mem, m->retry_lin, acc, &w) & PF_FAULT)
		return;
	if (fill(m, m->retry_lin, false, &w) == 1) {
		m->stats.retry_maps++;
		ws_note(m, lpn);
	}
}

int mmu_prefault(struct mmu *m, uint32_t lin, bool write)
{
	struct walk w;
	uint32_t lpn = lin >> 12;
	unsigned acc = write ? PF_ACC_WRITE : 0;
	if (!m->paging || !mappable(lpn) || (m->hm.map[lpn] && (!write || (m->hm.map[lpn] & M_WRITE))) ||
	    (walk_peek(m->cpu, m->mem, lin, acc, &w) & PF_FAULT) ||
	    (walk(m->cpu, m->mem, lin, acc, &w) & PF_FAULT))
		return 0;
	if (fill(m, lin, write, &w) != 1)
		return 0;
	m->stats.prefaults++;
	return 1;
}

/* The host mapping (M_* flags) for a successful walk w to physical page ppn. */
static uint32_t map_flags(struct mmu *m, const struct walk *w, uint32_t ppn)
{
	uint32_t flags = (w->user ? M_USER : 0) | (w->global ? M_GLOBAL : 0) |
			 (w->size > 4096 ? M_LARGE : 0);
	/* Read-only until the dirty bit is set; code pages stay read-only. One host
	 * mapping serves every CPL: a user page that only a supervisor may write (CR0.WP
	 * clear) stays read-only, and the supervisor's writes to it are emulated. */
	bool sup_only = w->user && !w->rw;
	if (w->writable && w->dirty && !sup_only && !mem_page_wp(m->mem, ppn))
		flags |= M_WRITE;
	return flags;
}

/* Map lin after a successful walk w for an access (write or not): as mmu_fault. */
static int fill(struct mmu *m, uint32_t lin, bool write, const struct walk *wp)
{
	struct walk w = *wp;
	if (w.pa >= m->mem->size)
		return 2;               /* no RAM there: never mapped, the access is emulated */
	uint32_t lpn = lin >> 12, ppn = (uint32_t)(w.pa >> 12);
	if (!mappable(lpn))
		return 2;               /* the host cannot map it: the access is emulated */
	if (held(m, lpn))
		return 3;               /* watched by a data breakpoint: the monitor steps it */
	unsigned watched = write ? mem_page_wp(m->mem, ppn) : 0;
	if (watched) {
		/* Self-modifying code: the page's blocks go, and the dispatcher redoes the
		 * write alone, with the page writable. A traced page table is no longer
		 * traced, and the write is redone at once. */
		m->mem->written(m->mem->opaque, ppn, watched, true);
	}
	uint32_t flags = map_flags(m, &w, ppn);
	/* The supervisor writes a user page that only it may write: map it (read-only)
	 * for the reads to come, and emulate this write. */
	if (write && w.user && !w.rw) {
		if (!(m->hm.map[lpn] & M_MAPPED) && map_page(m, lpn, ppn, flags) < 0)
			return -1;
		return 2;
	}
	/* Within a large page (one translation to the CPU, one set of rights), map an
	 * aligned run of LARGE_RUN pages around the fault in one host mapping: fewer
	 * faults, and book-keeping that stays small when CR3 loads drop it again. */
	if (w.size > 4096) {
		uint32_t first = lpn & ~(LARGE_RUN - 1);
		uint64_t pbase = w.pa & ~(uint64_t)(LARGE_RUN * 4096 - 1);
		if (pbase + LARGE_RUN * 4096 <= m->mem->size && mappable(first + LARGE_RUN - 1) &&
		    !run_held(m, first, LARGE_RUN))
			return map_run(m, first, (uint32_t)(pbase >> 12), LARGE_RUN, flags) < 0 ? -1 : 1;
	}
	/* Fault-around: the next 4 KiB pages that the guest maps to the next frames with
	 * the same rights, already accessed (and dirty, for a writable mapping), join the
	 * mapping: one host call instead of a fault each. Within one page table, whose
	 * directory entry this walk marked accessed. */
	uint32_t npg = 1;
	unsigned racc = m->cpu->cpl == 3 ? PF_ACC_USER : 0;
	while (w.size == 4096 && npg < AROUND && ((lpn + npg) & 511) && mappable(lpn + npg) &&
	       !m->hm.map[lpn + npg] && ppn + npg < m->mem->size >> 12 && !held(m, lpn + npg)) {
		struct walk n;
		if ((walk_peek(m->cpu, m->mem, (lpn + npg) << 12, racc, &n) & PF_FAULT) ||
		    n.size != 4096 || n.pa >> 12 != ppn + npg || n.user != w.user ||
		    n.global != w.global || n.rw != w.rw || !n.accessed ||
		    ((flags & M_WRITE) && (!n.writable || !n.dirty)))
			break;
		npg++;
	}
	if (npg > 1)
		m->stats.pages_around += npg - 1;
	return map_run(m, lpn, ppn, npg, flags) < 0 ? -1 : 1;
}

void mmu_enter_user(struct mmu *m)
{
	if (!m || !m->paging || m->hm.sup_low >= m->hm.user_high)
		return;
	/* Supervisor pages below user ones: no segment cut can hide them, so they go
	 * (the kernel faults them back in). Linux never gets here. */
	for (uint32_t k = m->hm.n; k-- > 0;) {
		uint32_t lpn = m->hm.list[k];
		if (!(m->hm.map[lpn] & M_USER))
			unmap_page(m, lpn);
	}
	m->hm.sup_low = NPAGES;
	m->h.segs_stale(m->h.opaque);
	m->stats.user_unmaps++;
}

bool mmu_user_split(const struct mmu *m)
{
	return !m || !m->paging || m->hm.sup_low >= m->hm.user_high;
}

uint64_t mmu_user_top(struct mmu *m)
{
	return m && m->paging ? (uint64_t)m->hm.sup_low << 12 : FOUR_GIB;
}

/* Physical page ppn is what (MEM_WP_*) now, besides what it was: every writable
 * mapping of it becomes read-only, here and in the other slots. */
static void write_protect(struct mmu *m, uint32_t ppn, unsigned what)
{
	uint8_t *wp = &m->mem->wp[ppn];
	bool was = *wp;
	*wp |= (uint8_t)what;
	if (was)
		return;
	if (!m->paging) {
		if (!held(m, ppn))
			protect_identity(ppn, true);
		return;
	}
	protect_aliases(m, ppn);
	if (m->nslots > 1)
		pend_protect(m, ppn);
}

/* Physical page ppn is no longer what: with nothing else left, writable again, at
 * once with paging off, else at its next write fault in each slot (which checks the
 * guest's rights and dirty bit). */
static void write_release(struct mmu *m, uint32_t ppn, unsigned what)
{
	uint8_t *wp = &m->mem->wp[ppn];
	*wp &= (uint8_t)~what;
	if (!*wp && !m->paging && !held(m, ppn))
		protect_identity(ppn, false);
}

void mmu_protect_code(struct mmu *m, uint32_t ppn, bool readonly)
{
	if (readonly)
		write_protect(m, ppn, MEM_WP_CODE);
	else
		write_release(m, ppn, MEM_WP_CODE);
}

/*
 * Traced page tables. The code cache's check at a CR3 load asks, for each page of
 * code it keeps, where the new tables map it (mmu_peek_fetch); an answer read from
 * page tables that are all traced holds until one of them is written: they are
 * read-only in every slot (as pages of translated code are), and every write to them,
 * by the guest (a host fault), the monitor or a device (mem_write_phys, DMA), ends
 * their tracing and advances mem->trace_epoch, by which the cache dates what it kept
 * (codecache.c, detach_remapped). The walk's own A and D bits change no answer and do
 * not count (mem_write_ad). A table written TRACE_GIVE_UP times within a window of
 * TRACE_WINDOW CR3 loads is traced no more in that window (a shell's tables, which
 * fork's copy-on-write writes at every fork): a few host faults a window at most, and
 * a frame given up is traceable again in the next (the kernel's directories that boot
 * wrote, under PAE; the frames of short-lived processes' tables, which a long-lived
 * one gets next).
 */

static void trace_bump(struct mmu *m)
{
	if ((uint32_t)++m->mem->trace_epoch == 0)
		m->mem->trace_epoch++;          /* low half 0 dates nothing (codecache.c) */
}

static unsigned trace_window(const struct mmu *m)
{
	return (m->trace_loads / TRACE_WINDOW) & 0xff;
}

/* The writes that ended page ppn's tracing in this window. (A window's byte comes back
 * after 256 windows: a count that old only keeps a table untraced for a window.) */
static unsigned table_writes_now(const struct mmu *m, uint32_t ppn)
{
	uint16_t w = m->table_writes[ppn];
	return w >> 8 == trace_window(m) ? w & 0xff : 0;
}

/* Whether the table at guest physical address pa (WALK_NO_ENTRY: none) is traced
 * or may be. */
static bool traceable(const struct mmu *m, uint64_t pa)
{
	if (pa == WALK_NO_ENTRY)
		return true;
	if (pa >= m->mem->size)
		return false;
	uint32_t ppn = (uint32_t)(pa >> 12);
	return (m->mem->wp[ppn] & MEM_WP_TABLE) || table_writes_now(m, ppn) < TRACE_GIVE_UP;
}

/* ... and traced now, if it was not. */
static void trace_table(struct mmu *m, uint64_t pa)
{
	if (pa == WALK_NO_ENTRY || (m->mem->wp[pa >> 12] & MEM_WP_TABLE))
		return;
	m->stats.tables_traced++;
	write_protect(m, (uint32_t)(pa >> 12), MEM_WP_TABLE);
}

/* Whether what a fetch walk read (e) holds while mem->trace_epoch stays: every entry
 * it read lies in a traced table (traced here if it may be), and under PAE the PDPTE
 * registers it started from read as their table, which is traced too (the next load
 * of this CR3 loads them from there again). */
static bool trace_walk(struct mmu *m, const struct walk_entries *e)
{
	const struct cpu *c = m->cpu;
	uint64_t pdpt = WALK_NO_ENTRY;
	if (c->cr4 & CR4_PAE) {
		pdpt = c->cr3 & ~0x1fu;
		const void *p = mem_phys(m->mem, pdpt, sizeof(c->pdpte));
		if (!p || memcmp(p, c->pdpte, sizeof(c->pdpte)))
			return false;
	}
	if (!traceable(m, pdpt) || !traceable(m, e->pde_pa) || !traceable(m, e->pte_pa))
		return false;
	trace_table(m, pdpt);
	trace_table(m, e->pde_pa);
	trace_table(m, e->pte_pa);
	return true;
}

void mmu_table_written(struct mmu *m, uint32_t ppn)
{
	if (!(m->mem->wp[ppn] & MEM_WP_TABLE))
		return;
	write_release(m, ppn, MEM_WP_TABLE);
	trace_bump(m);
	m->stats.tables_written++;
	unsigned n = table_writes_now(m, ppn);
	m->table_writes[ppn] = (uint16_t)(trace_window(m) << 8 | (n < 255 ? n + 1 : n));
}

/* Nothing is traced any more (paging changes how tables translate). */
static void trace_none(struct mmu *m)
{
	for (uint32_t p = 0; p < m->mem->size >> 12; p++)
		m->mem->wp[p] &= (uint8_t)~MEM_WP_TABLE;
	trace_bump(m);
}

/* Every writable mapping of physical page ppn becomes read-only (or, with the budget
 * spent, every mapping goes). A protection that fails stops the VM: the page would
 * stay writable under code translated from it. */
static void protect_aliases(struct mmu *m, uint32_t ppn)
{
	for (uint32_t lpn = m->hm.alias_head[ppn]; lpn != NONE; lpn = m->hm.alias[lpn]) {
		uint32_t *e = &m->hm.map[lpn];
		if (!(*e & M_WRITE))
			continue;
		if (m->hm.vmas >= MMU_BUDGET) {
			drop_all(m);
			return;
		}
		m->stats.host_calls++;
		m->hm.vmas += 2;        /* a page out of a run splits it in three */
		if (mprotect(host_of(lpn), 4096, PROT_READ) < 0) {
			fail(m, "cannot write-protect guest page %#x: %s", lpn << 12,
			     strerror(errno));
			return;
		}
		*e &= ~M_WRITE;
	}
}

/* Paging off: a watched page of RAM gets no access at all, or its normal rights. */
static void identity_hold(struct mmu *m, uint32_t ppn, bool hold)
{
	if (ppn < GUEST_LOW >> 12 || ppn >= m->mem->size >> 12)
		return;                 /* never mapped: the monitor emulates accesses there */
	if (hold)
		mprotect(host_of(ppn), 4096, PROT_NONE);
	else
		protect_identity(ppn, mem_page_wp(m->mem, ppn));
}

/* Take lpn's host mapping away (hold), or let it be mapped as usual again. */
static void hold_page(struct mmu *m, uint32_t lpn, bool hold)
{
	if (!m->paging)
		identity_hold(m, lpn, hold);
	else if (hold && m->hm.map && m->hm.map[lpn])
		unmap_page(m, lpn);
	/* Paging on, released: the next fault maps it. */
}

void mmu_watch(struct mmu *m, const uint32_t *lpn, int n)
{
	if (n > MMU_WATCH_MAX)
		n = MMU_WATCH_MAX;
	uint32_t old[MMU_WATCH_MAX];
	int nold = m->nwatch;
	memcpy(old, m->watch, sizeof(old));
	memcpy(m->watch, lpn, (size_t)n * sizeof(*lpn));
	m->nwatch = n;
	for (int k = 0; k < nold; k++)
		if (!in_list(m->watch, n, old[k]))
			hold_page(m, old[k], false);
	for (int k = 0; k < n; k++)
		if (held(m, m->watch[k]))
			hold_page(m, m->watch[k], true);
	pend_drop_all(m);       /* rare (a debugger's watchpoints): the others start over */
}

void mmu_watch_open(struct mmu *m, uint32_t lpn, bool open)
{
	if (open) {
		if (in_list(m->wopen, m->nwopen, lpn) || m->nwopen == MMU_WATCH_MAX)
			return;
		m->wopen[m->nwopen++] = lpn;
		hold_page(m, lpn, false);
		return;
	}
	for (int k = 0; k < m->nwopen; k++)
		if (m->wopen[k] == lpn) {
			m->wopen[k] = m->wopen[--m->nwopen];
			if (held(m, lpn))
				hold_page(m, lpn, true);
			return;
		}
}

bool mmu_watched(const struct mmu *m, uint32_t lin)
{
	return in_list(m->watch, m->nwatch, lin >> 12);
}

bool mmu_paging(struct mmu *m) { return m && m->paging; }

bool mmu_large(struct mmu *m, uint32_t lin)
{
	struct walk w;
	return mmu_paging(m) && !(walk_peek(m->cpu, m->mem, lin, 0, &w) & PF_FAULT) &&
	       w.size > 4096;
}

bool mmu_global(struct mmu *m, uint32_t lin)
{
	struct walk w;
	if (!mmu_paging(m) || !(m->cpu->cr4 & CR4_PGE))
		return false;
	return !(walk_peek(m->cpu, m->mem, lin, 0, &w) & PF_FAULT) && w.global;
}

uint32_t mmu_mapped_count(struct mmu *m) { return m->hm.n; }
bool mmu_mapped(struct mmu *m, uint32_t lin) { return m->hm.map && m->hm.map[lin >> 12]; }
bool mmu_mapped_writable(struct mmu *m, uint32_t lin)
{
	return m->hm.map && (m->hm.map[lin >> 12] & M_WRITE);
}
