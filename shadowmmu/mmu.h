/*
 * mmu.h - the shadow MMU: the guest's virtual memory on host mappings of its RAM.
 *
 * With paging off the guest's linear space is its RAM, mapped once at host = linear.
 * With CR0.PG set, the range [GUEST_LOW, GUEST_TOP) starts empty (PROT_NONE) and each
 * guest page is mapped at host = linear when the guest first touches it (a host
 * fault, then a walk of the guest's page tables): the memfd page of its physical
 * address, read-only until the guest's dirty bit is set or while the page holds
 * translated code or a traced page table. The mappings play the part of the TLB:
 * INVLPG drops one, a CR3 load the non-global ones (the page tables are traced only
 * for the code cache's CR3 check: mmu_peek_fetch), and a budget below
 * vm.max_map_count is kept by dropping everything when it runs out.
 *
 * User/supervisor: the mappings do not know the CPL. At CPL 3 the guest's data
 * segment shadows are cut below the lowest supervisor page mapped (mmu_user_top()),
 * so a user access to a supervisor page faults in the host and is checked by the
 * monitor; user pages above that line are reached through emulation. A guest that
 * keeps its kernel at the top of the address space (Linux) pays nothing for this.
 *
 * The shadow MMU owns its book-keeping (struct mmu) and the host mappings of the
 * guest's linear space; it reads the guest's paging registers from the struct cpu
 * and the RAM (struct guest_mem) handed to mmu_create(), and reports to the monitor
 * through struct mmu_hooks: #PF to raise, translations to drop when mappings change,
 * segment shadows to recompute, a host failure that stops the VM. It never calls the
 * monitor or the code cache directly. The code cache tells it which physical pages
 * hold translated code (mmu_protect_code()).
 *
 * Interface: mmu_create() at VM creation (the monitor's mmuhost.c wires the hooks);
 * mmu_paging_changed() after a write to CR0, CR4 or EFER that changes how paging
 * translates; mmu_load_cr3() for a CR3 load (or mmu_flush_tlb() after one);
 * mmu_invlpg(); mmu_fault() for a host page fault at a guest address, mmu_retry() at
 * an IRET; mmu_translate() and mmu_peek() for the monitor's own accesses;
 * mmu_enter_user() and mmu_user_top() for the segment shadows of CPL 3.
 */
#ifndef TRAPEZE_MMU_H
#define TRAPEZE_MMU_H

#include <stdbool.h>
#include <stdint.h>

struct cpu;
struct guest_mem;
struct mmu;

/* What the shadow MMU asks of its owner; opaque is handed back to each. The fault
 * path calls none of them unless the guest gets a #PF or a supervisor page is
 * mapped below the lowest one so far. */
struct mmu_hooks {
	void *opaque;
	/* Guest linear mappings changed: the translations that depend on them go (with
	 * keep_global, those from global pages stay: a CR3 load under CR4.PGE). */
	void (*flush_linear)(void *opaque, bool keep_global);
	/* INVLPG of linear page lpn, which holds code: its translations go. */
	void (*flush_linear_page)(void *opaque, uint32_t lpn);
	/* Is there code translated from linear page lpn? */
	bool (*linear_has_code)(void *opaque, uint32_t lpn);
	/* Is there non-global code (any the code cache's CR3 check asks about) translated
	 * from linear pages [first, first + npg)? */
	bool (*local_code_in)(void *opaque, uint32_t first, uint32_t npg);
	/* Is there code translated from a large page in linear pages [first, first + npg)? */
	bool (*region_has_large_code)(void *opaque, uint32_t first, uint32_t npg);
	/* Raise #PF with CR2 = lin and error code err (SDM Vol. 3, 4.7). */
	void (*page_fault)(void *opaque, uint32_t lin, uint32_t err);
	/* The segment shadows must be computed again (mmu_user_top() or paging moved). */
	void (*segs_stale)(void *opaque);
	/* A host mapping failed: the VM cannot go on (msg says why). */
	void (*fail)(void *opaque, const char *msg);
};

/* What the shadow MMU counts (--stats). */
struct mmu_stats {
	uint64_t shadow_faults;         /* host page faults served by mapping a guest page */
	uint64_t guest_page_faults;     /* #PF delivered to the guest */
	uint64_t pages_mapped;
	uint64_t tlb_flushes;           /* CR3 loads and paging changes that dropped mappings */
	uint64_t user_unmaps;           /* supervisor pages dropped on the way to CPL 3 */
	uint64_t pages_around;          /* pages mapped ahead of a fault */
	uint64_t pages_kept;            /* mappings a TLB flush found unchanged */
	uint64_t snap_flushes;          /* TLB flushes that kept them all by comparing entries */
	uint64_t retry_maps;            /* pages mapped at the IRET after a #PF */
	uint64_t prefaults;             /* pages mapped as their entry was written (mmu_prefault) */
	uint64_t remaps;                /* pages mapped again at once by INVLPG or a TLB flush */
	uint64_t ws_maps;               /* pages of a working set mapped as its CR3 came back */
	uint64_t host_calls;            /* mmap, munmap and mprotect calls */
	uint64_t unparked;              /* pages mapped again by an mprotect (park_run) */
	uint64_t tables_traced;         /* page tables made read-only to trace them */
	uint64_t tables_written;        /* ... whose tracing a write ended */
	uint64_t trace_global_fills;    /* global TLB fills over local code (the same) */
};
const struct mmu_stats *mmu_stats(const struct mmu *m);

/* What the host mappings may take before everything is dropped, in VMAs: each host
 * call that makes or changes one counts 2, what it can add (a 4 KiB mapping amid
 * others splits one in three), so that the count bounds the VMAs, under
 * vm.max_map_count = 65530 with room for the monitor's own. Before 2026-12-07 a
 * mapping counted 1, and a guest touching every other page of 256 MiB ran the host
 * out of VMAs and stopped the VM. */
#define MMU_BUDGET 60000

/* The shadow MMU of the guest CPU c over the RAM mem (both outlive it), with paging
 * off; NULL if out of memory. */
struct mmu *mmu_create(struct cpu *c, struct guest_mem *mem, const struct mmu_hooks *hooks);
void mmu_destroy(struct mmu *m);

/*
 * Address spaces in processes (monitor/aspaces.c): up to MMU_SLOTS host processes,
 * each with its own mappings of the guest's linear space, each serving one recent
 * address space. mmu_set_slots(n) before the guest runs (1: one process, the
 * default). After a CR3 load, mmu_slot_wanted() names the slot whose process must run
 * the guest next (-1: this one); that process calls mmu_slot_enter(slot) once it has
 * the vCPU, before any guest code runs.
 */
#define MMU_SLOTS 8
void mmu_set_slots(struct mmu *m, int n);
int mmu_slot_wanted(const struct mmu *m);
void mmu_slot_enter(struct mmu *m, int slot);

/* CR0.PG, CR0.WP, CR4.PSE, CR4.PAE, CR4.PGE or EFER.NXE changed: start over from the
 * guest's tables. */
void mmu_paging_changed(struct mmu *m);
/* A CR3 load: drop every mapping but global ones (CR4.PGE). */
void mmu_flush_tlb(struct mmu *m);
/* Load CR3 (MOV to CR3, a task switch) and flush as above. Under PAE paging the
 * PDPTEs come first: -1, nothing changed, if one is invalid (the caller raises
 * #GP(0)); else 0. */
int mmu_load_cr3(struct mmu *m, uint32_t cr3);
/* INVLPG lin (all of a large page if lin lies in one). */
void mmu_invlpg(struct mmu *m, uint32_t lin);

/* A host page fault at guest linear lin (write: a write access) in translated code.
 * Returns 1 if the page is now mapped and the access can be retried, 0 if the guest
 * gets a #PF (hooks.page_fault), 2 if the caller must emulate the instruction (device
 * memory, or a supervisor's write under CR0.WP = 0 to a user page that CPL 3 may only
 * read), 3 if the page is watched (mmu_watch), -1 if the monitor cannot serve it (VM
 * stopped). */
int mmu_fault(struct mmu *m, uint32_t lin, bool write);

/* Map lin now, as its next access would be (the walk sets A, and D for a write;
 * writable only if D is set), if the guest's tables allow a supervisor read (write)
 * and it is not mapped so yet: for a page-table entry the monitor is told of as it is
 * written (para-x86's mmu_update), or a page translated code read or wrote on the
 * CPU's own behalf (kentry.c). Nothing is raised; 1 if it mapped the page. */
int mmu_prefault(struct mmu *m, uint32_t lin, bool write);

/* After an IRET: if it returns to the instruction whose host page fault last became a
 * guest #PF, at the same CPL, and the guest now maps that page, map it before the
 * instruction runs again (a fault saved per demand-paged page). */
void mmu_retry(struct mmu *m);
/* Whether mmu_retry() has a page to map at the next IRET. */
bool mmu_retry_pending(const struct mmu *m);

/* Guest linear to physical for an access by the monitor on the guest's behalf
 * (acc: PF_ACC_* of walk.h, user when the guest is at CPL 3, fetch for code): 0, or
 * -1 with #PF raised. Sets accessed and dirty bits as the CPU would. Under PAE the
 * physical address may lie above 4 GiB (never RAM). */
int mmu_translate(struct mmu *m, uint32_t lin, unsigned acc, uint64_t *pa);

/* As mmu_translate, but neither raising #PF nor setting accessed or dirty bits. */
int mmu_peek(struct mmu *m, uint32_t lin, unsigned acc, uint64_t *pa);

/* mmu_peek for an instruction fetch at CPL 3 (user) or not, by the shorter walk: the
 * monitor's TLB if it holds the page, else the tables (walk_fetch), a 4 KiB page with
 * A set then filling the TLB. For the pages a CR3 load's check of the code cache asks
 * about once each. With traced: whether the answer was read from the tables alone
 * (not the TLB), all of them traced now (made so here if they may be): it then holds
 * for the address space while mem->trace_epoch stays what it is. */
int mmu_peek_fetch(struct mmu *m, uint32_t lin, bool user, uint64_t *pa, bool *traced);

/* A write is about to reach page table ppn (the monitor's page_written hook): if it
 * was traced, it is not any more, and mem->trace_epoch advances. */
void mmu_table_written(struct mmu *m, uint32_t ppn);

/* The guest goes to CPL 3: if supervisor pages are mapped below user pages, drop
 * them (a segment cut cannot hide them). */
void mmu_enter_user(struct mmu *m);
/* Whether every supervisor page mapped lies above every user one (mmu_enter_user()
 * then has nothing to do). */
bool mmu_user_split(const struct mmu *m);

/* The linear address below which a CPL-3 guest's data segment shadows must stay. */
uint64_t mmu_user_top(struct mmu *m);

/* Physical page ppn now holds translated code (readonly): its guest mappings become
 * read-only; or it holds none any more: writable again, at once with paging off, at
 * the next write fault (which checks the guest's rights) with paging on. The code
 * cache calls it when a page's first block comes and when its last goes. */
void mmu_protect_code(struct mmu *m, uint32_t ppn, bool readonly);

/* For tests: how many pages are mapped; is lin mapped; is it mapped writable. */
uint32_t mmu_mapped_count(struct mmu *m);
bool mmu_mapped(struct mmu *m, uint32_t lin);
bool mmu_mapped_writable(struct mmu *m, uint32_t lin);

/* Data breakpoints (monitor/debug.h): the host never maps the n linear pages lpn (at
 * most MMU_WATCH_MAX), so that every access there faults in the host and the monitor
 * can check it; mmu_fault answers 3 for them. With paging off they lose their access
 * rights instead. */
#define MMU_WATCH_MAX 32
void mmu_watch(struct mmu *m, const uint32_t *lpn, int n);
/* Let watched page lpn be mapped for the instruction the monitor runs now (open), or
 * take it away again. */
void mmu_watch_open(struct mmu *m, uint32_t lpn, bool open);
/* Is lin on a watched page? */
bool mmu_watched(const struct mmu *m, uint32_t lin);
/* Is the guest's paging on? (false for m = NULL) */
bool mmu_paging(struct mmu *m);

/* Whether lin lies in a 4 MiB or 2 MiB page of the current tables. */
bool mmu_large(struct mmu *m, uint32_t lin);
/* Is lin mapped by a global page (with CR4.PGE), which CR3 loads leave alone? */
bool mmu_global(struct mmu *m, uint32_t lin);

#endif
