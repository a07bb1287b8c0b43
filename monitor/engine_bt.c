/*
 * engine_bt.c - the binary-translation engine: guest code runs as translated blocks in
 * the code cache, in 32-bit compatibility mode (DynamoRIO's shape: every exit carries a
 * reason, one switch over them).
 *
 * One run looks up or translates the block at CS:EIP, chains the block that exited
 * last to it when that exit was a direct branch, prepares the host state the block
 * runs under (segment shadows, the 16-bit stack's entry page, the native FS) and enters
 * it. Translated code comes back with an exit word (layout.h); the engine handles its
 * own exits (chains, lookup misses, inline-cache fills and refills) and hands callouts
 * and host faults to the machine (engine.h). A host signal in translated code comes
 * back as EXIT_FAULT with vm->rt.fault filled in.
 */
#include <sys/mman.h>
#include <stdio.h>

#include "debug.h"
#include "engine.h"
#include "exceptions.h"
#include "fpu.h"
#include "kentry.h"
#include "segments.h"
#include "stubs.h"
#include "vm.h"
#include "../codecache/codecache.h"
#include "../rewriter/rewriter.h"
#include "../shadowmmu/mmu.h"

/* An indirect branch in a limited code segment left for a target past the limit:
 * #GP(0) at the branch, ESP as before it (the site noted both: rewriter/mangle_branch.c). */
static bool branch_past_limit(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	if (c->sh->eip <= c->seg[SR_CS].limit)
		return false;
	uint32_t esp = c->sh->regs[R_ESP] - (uint32_t)c->sh->br_delta;
	if (!(c->seg[SR_SS].attr & SEG_DB))     /* a 16-bit stack moved SP only */
		esp = (c->sh->regs[R_ESP] & 0xffff0000u) | (esp & 0xffff);
	c->sh->regs[R_ESP] = esp;
	c->sh->eip = c->sh->br_eip;
	exc_raise(vm, VEC_GP, true, 0);
	return true;
}

/*
 * The IRETQ frame's place for a 16-bit guest stack whose ESP[31:16] is hi: on a page
 * at ESPFIX_BASE + hi * 64 KiB, so that RSP[31:16] = hi there (enter.S). One such page
 * is mapped at a time. 0 if it cannot be mapped (the VM is stopped).
 */
#define ESPFIX_BASE 0x600000000000ull
static __thread uint64_t espfix_page;   /* each process of the VM maps its own */

void bt_espfix_release(void)
{
	if (espfix_page)
		munmap((void *)(uintptr_t)espfix_page, 4096);
	espfix_page = 0;
}

static uint64_t espfix_frame(struct vm *vm, uint32_t hi)
{
	uint64_t page = ESPFIX_BASE + ((uint64_t)hi << 16);
	if (espfix_page != page) {
		bt_espfix_release();
		void *p = mmap((void *)(uintptr_t)page, 4096, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p != (void *)(uintptr_t)page) {
			vm_stop(vm, STOP_MONITOR_ERROR, 6, "cannot map the 16-bit stack's entry page "
				"at %#llx", (unsigned long long)page);
			return 0;
		}
		espfix_page = page;
	}
	return page + 0x800;
}

/* TRAPEZE_CHECK_FPU: the guest's state, still live, as it was at the last exit. */
static void check_fpu(struct vm *vm)
{
	uint8_t now[512] __attribute__((aligned(16)));
	if (!vm->fpu_at_exit_valid || vm->cpu.sh->fpu_saved)
		return;
	fpu_snapshot(now);
	if (!fpu_same(now, vm->fpu_at_exit))
		vm_stop(vm, STOP_MONITOR_ERROR, 6, "the monitor changed the guest's x87/SSE "
			"registers while handling an exit of reason %u (eip %#x)",
			vm->fpu_exit_reason, vm->cpu.sh->eip);
}

/* Remember a direct exit (block, slot, in cache generation gen) to chain to wherever
 * the guest goes next. */
static void link_from(struct vm *vm, struct block *from, int slot, uint32_t gen)
{
	vm->bt_link.from = from;
	vm->bt_link.slot = slot;
	vm->bt_link.gen = gen;
}

static void bt_redirected(struct vm *vm)
{
	vm->bt_link.from = NULL;
	vm->bt_link.guard = 0;
}

/* The entry to run at CS:EIP and its block (*bp): found, or translated (one
 * instruction alone with vm->one_step); the last direct exit is chained to it. NULL if
 * translating raised a guest exception or stopped the VM. */
static const struct entry *find_entry(struct vm *vm, struct block **bp)
{
	struct cpu *c = &vm->cpu;
	uint32_t mode = rw_mode(c), base = c->seg[SR_CS].base;
	if (cc_set_table_key(vm->cc, base, c->seg[SR_CS].limit, mode))
		kentry_invalidate(vm);  /* the in-line SYSENTER/SYSEXIT jump through it */
	const struct entry *en = NULL;
	struct block *b;
	uint32_t g = vm->bt_link.guard;         /* taken by this run, whichever way */
	vm->bt_link.guard = 0;
	if (vm->one_step) {
		/* Redo a write into translated code (the write may land in the very block it
		 * belongs to: run it alone with its page writable), or run the instruction
		 * in an interrupt shadow before the interrupt. */
		vm->one_step = false;
		b = rw_translate(vm->rw, c->sh->eip, true);
	} else {
		/* A jump into a block a CR3 load detached, or a chain parked since: that
		 * block, if valid again, is the one (most lookups of a forked or exec'd
		 * process's code). */
		struct block *f = vm->bt_link.from;
		if (g && cc_generation(vm->cc) == vm->bt_link.gen)
			en = cc_guard_exit(vm->cc, (g - 1) >> SLOT_BITS, (int)((g - 1) & (MAX_EXITS - 1)),
					   c->sh->eip, base, c->seg[SR_CS].limit, mode);
		else if (f && cc_generation(vm->cc) == vm->bt_link.gen)
			en = cc_unpark(vm->cc, f, vm->bt_link.slot, c->sh->eip, base,
				       c->seg[SR_CS].limit, mode);
		if (!en)
			en = cc_lookup_entry(vm->cc, c->sh->eip, base, c->seg[SR_CS].limit, mode);
		b = en ? en->block : rw_translate(vm->rw, c->sh->eip, false);
	}
	struct block *from = vm->bt_link.from;
	vm->bt_link.from = NULL;
	if (!b)
		return NULL;
	if (!en)
		en = &b->entries[0];
	*bp = b;
	if (from && cc_generation(vm->cc) == vm->bt_link.gen && from->mode == b->mode &&
	    from->cs_base == b->cs_base)
		cc_chain_entry(vm->cc, from, vm->bt_link.slot, en);
	return en;
}

/* The host state block b runs under. Returns the IRETQ frame's place for a 16-bit
 * stack (0 for the host stack), or false if the VM was stopped. */
static bool prepare_entry(struct vm *vm, const struct block *b, uint64_t *frame_rsp)
{
	struct cpu *c = &vm->cpu;
	*frame_rsp = 0;
	if (!(c->seg[SR_SS].attr & SEG_DB)) {
		*frame_rsp = espfix_frame(vm, c->sh->regs[R_ESP] >> 16);
		if (!*frame_rsp)
			return false;
	}
	/* With paging, a CPL-3 guest's segment shadows stop below its supervisor's pages
	 * (mmu.h): compute them again when the CPL or that line moved. */
	if (c->cpl == 3 && vm->entered_cpl != 3)
		mmu_enter_user(vm->mmu);
	/* A segment loaded by a callout at another CPL (no block entered in between) has a
	 * shadow made for that CPL: each register remembers its own. */
	bool cut = mmu_user_top(vm->mmu) < GUEST_TOP;
	if (vm->segs_stale)
		gs_cache_clear(vm);     /* its CPL-3 shadows were cut for the old top */
	for (int sr = 0; sr < SR_COUNT; sr++)
		if (vm->segs_stale)
			seg_sync(vm, sr);
		else if (cut && vm->shadow_cpl[sr] != c->cpl)
			seg_reshadow(vm, sr);
	vm->segs_stale = false;
	vm->entered_cpl = c->cpl;
	kentry_prepare(vm, b->mode);
	c->sh->hsel_nfs = rw_native_fs(c, b->mode);
	c->sh->eflags = (c->sh->eflags & FL_ARITH) | FL_IF | FL_1;
	return true;
}

/* Enter block b at en and get its exit word; false if a signal came first (nothing
 * ran). */
static bool enter_block(struct vm *vm, struct block *b, const struct entry *en,
			uint64_t frame_rsp, uint32_t *word)
{
	vm->rt.entering = b;
	/* A signal that came after the dispatcher's check found no block to unchain unless
	 * it came after entering was set: look again. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (vm->rt.async_signal || vm->rt.timer_fired) {
		vm->rt.entering = NULL;
		return false;
	}
	if (vm->fpu_check)
		check_fpu(vm);
	*word = tz_enter(entry_inside(en), frame_rsp);  /* found valid: past the guard */
	vm->rt.entering = NULL;
	fs_alt_catch_up(vm);
	gs_cache_catch_up(vm);          /* GS loads run at CPL 0: their shadows are CPL 0's */
	kentry_catch_up(vm);            /* after both: its CPL decides the shadows */
	if (vm->fpu_check) {
		fpu_snapshot(vm->fpu_at_exit);
		vm->fpu_at_exit_valid = true;
		vm->fpu_exit_reason = *word >> EXIT_SHIFT;
	}
	return true;
}

/* The exits translated code takes for the engine itself; callouts and faults go on to
 * the machine. */
static enum run_exit handle_exit(struct vm *vm, uint32_t word, const struct entry *en,
				 const struct block *b)
{
	struct cpu *c = &vm->cpu;
	uint32_t reason = word >> EXIT_SHIFT, info = word & EXIT_INFO_MASK;
	struct block *from;
	int slot = (int)(info & (MAX_EXITS - 1));
	uint32_t gen;                   /* the cache's generation, before a fill can change it */
	vm->stats.exits[reason & (EXIT_REASONS - 1)]++;
	if (vm->cfg.trace)
		fprintf(stderr, "trapeze: exit %u info %#x eip %#x (entered %#x at %#x)\n", reason,
			info, c->sh->eip, en->eip, en->host);
	switch (reason) {
	case EXIT_CHAIN:
		gen = cc_generation(vm->cc);
		link_from(vm, cc_block(vm->cc, info >> SLOT_BITS), slot, gen);
		return RUN_AGAIN;
	case EXIT_LOOKUP:
		vm->stats.lookup_misses++;
		branch_past_limit(vm);
		return RUN_AGAIN;
	case EXIT_IC_FILL:
		/* An indirect branch's first run (or a request to leave at one): it remembers
		 * this target, chained at the next run like a direct branch. */
		if (branch_past_limit(vm))
			return RUN_AGAIN;
		gen = cc_generation(vm->cc);
		from = cc_block(vm->cc, info >> SLOT_BITS);
		if (from)
			cc_fill_ic(vm->cc, from, slot, c->sh->eip);
		if (from && from->exit[slot].target == c->sh->eip)
			link_from(vm, from, slot, gen);
		return RUN_AGAIN;
	case EXIT_IC_REFILL: {
		/* An inline cache counted its misses down: it counts again, and one entry
		 * takes this target (chained at the next run) unless it lies past the CS
		 * limit (then the branch faults). */
		bool past = branch_past_limit(vm);
		gen = cc_generation(vm->cc);
		from = cc_block(vm->cc, info >> SLOT_BITS);
		int to = from ? cc_refill_ic(vm->cc, from, slot, c->sh->eip, !past) : -1;
		if (to >= 0)
			link_from(vm, from, to, gen);
		return RUN_AGAIN;
	}
	case EXIT_CALLOUT:
		vm->callout_info = info;
		return RUN_CALLOUT;
	case EXIT_GUARD:
		/* A jump into a detached block: the next run asks whether it maps here. */
		vm->bt_link.guard = info + 1;
		vm->bt_link.gen = cc_generation(vm->cc);
		return RUN_AGAIN;
	case EXIT_BREAK:
		dbg_at_break(vm);
		return RUN_AGAIN;
	case EXIT_FAULT:
		return RUN_FAULT;
	}
	vm_stop(vm, STOP_MONITOR_ERROR, 6, "bad exit word %#x from host %#x", word,
		b->host);
	return RUN_STOP;
}

static enum run_exit bt_run(struct vm *vm)
{
	struct block *b;
	const struct entry *en = find_entry(vm, &b);
	vm->callout_info = 0;
	if (!en)
		return RUN_AGAIN;
	if (b->callout_first && en == &b->entries[0]) {
		/* Nothing to run before the callout: skip the round trip. */
		vm->stats.direct_callouts++;
		vm->callout_info = b->callout_info;
		return RUN_CALLOUT;
	}
	uint64_t frame_rsp;
	if (!prepare_entry(vm, b, &frame_rsp))
		return RUN_STOP;
	uint32_t word;
	if (!enter_block(vm, b, en, frame_rsp, &word))
		return RUN_AGAIN;
	vm->cut_retry = 0;      /* a block ran since the last stale cut (emulate.c) */
	return handle_exit(vm, word, en, b);
}

static void bt_attach(struct vm *vm)
{
	vm->bt_link.from = NULL;        /* a link left by an earlier run leads nowhere now */
	vm->bt_link.guard = 0;
	fpu_attach(vm->cpu.sh);
	vm->fpu_check = fpu_check_enabled();
}

static void bt_detach(struct vm *vm)
{
	(void)vm;
	fpu_save();             /* the state goes back into the vCPU block with the VM */
	fpu_attach(NULL);
}

const struct engine_ops engine_bt = {
	.name = "binary translation",
	.attach = bt_attach,
	.detach = bt_detach,
	.run = bt_run,
	.redirected = bt_redirected,
};
