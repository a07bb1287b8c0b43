/*
 * cpu.c - the dispatcher: one loop, one switch over exit reasons (DynamoRIO's shape).
 *
 * Each turn delivers a pending exception, finds or translates the block at the
 * guest's EIP, chains the block that exited to it when that exit was a direct branch,
 * and enters it. Translated code comes back with an exit word (layout.h); a host
 * signal in translated code comes back as EXIT_FAULT with vm->rt.fault filled in.
 */
#include "cpu.h"

#include <signal.h>
#include <sys/mman.h>
#include <stdio.h>

#include "emulate.h"
#include "exceptions.h"
#include "fpu.h"
#include "interrupts.h"
#include "memop.h"
#include "segments.h"
#include "stubs.h"
#include "vm.h"
#include "../codecache/codecache.h"
#include "../rewriter/rewriter.h"
#include "../shadowmmu/mmu.h"

/* A host fault in translated code: a guest exception, a write to translated code,
 * or an access the monitor cannot serve yet. */
/* Is the guest instruction at EIP a segment load translated in line (its fast path
 * reads guest memory: rewriter.c, emit_sreg_load)? Only in 32-bit code. */
static bool sreg_load_at(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	uint8_t b[15];
	uint32_t lin = c->seg[SR_CS].base + c->sh->eip;
	int n = 4096 - (int)(lin & 0xfff);
	if (n > (int)sizeof(b))
		n = sizeof(b);
	return (c->seg[SR_CS].attr & SEG_DB) && lin_read(vm, lin, b, (uint32_t)n) == 0 &&
	       rw_is_sreg_load(b, n);
}

static void handle_fault(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	const typeof(vm->rt.fault) *f = &vm->rt.fault;
	vm->stats.faults[f->trapno & 31]++;
	if (vm->cfg.trace)
		fprintf(stderr, "trapeze: host signal %d trap %d err %#x addr %#llx at eip %#x\n",
			f->sig, f->trapno, f->err, (unsigned long long)f->addr, c->sh->eip);
	switch (f->trapno) {
	case -1:
		vm_stop(vm, STOP_MONITOR_ERROR, 6,
			"this host cannot enter 32-bit compatibility mode (signal %d at the entry); "
			"trapeze needs IA32 emulation in the kernel", f->sig);
		return;
	case 14: {
		/* Host address = guest linear address (layout.h). */
		uint64_t a = f->addr;
		if (a >= GUEST_TOP)
			break;
		uint32_t lin = (uint32_t)a;
		int r = 2;
		if (mmu_paging(vm)) {
			r = mmu_fault(vm, lin, f->err & 2);
		} else if (lin >= GUEST_LOW && lin < vm->ram_size) {
			uint32_t ppn = lin >> 12;
			if (!(f->err & 2) || !cc_page_has_code(vm->cc, ppn))
				break;
			/* Self-modifying code: drop the page's blocks and redo the write. */
			vm->stats.smc_invalidations++;
			cc_invalidate_page(vm->cc, ppn);
			vm->one_step = true;
			return;
		}
		/* No RAM there (device memory), or memory the host cannot map (the lowest
		 * 64 KiB): the instruction is emulated (devices/mmio.h, monitor/memop.h).
		 * A segment load whose in-line fast path read its selector or descriptor
		 * there goes to the emulator it would have gone to as a callout. */
		if (r == 2 && memop_emulate(vm) == 0) {
			if (sreg_load_at(vm)) {
				emulate_callout(vm);
				return;
			}
			vm_stop(vm, STOP_MONITOR_ERROR, 6, "eip %#x: guest access to linear %#x, "
				"which the host cannot map (device memory, or the lowest 64 KiB): "
				"this instruction is not emulated yet", c->sh->eip, lin);
		}
		return;
	}
	case 13:
		emulate_host_gp(vm, VEC_GP);
		return;
	case 12:
		emulate_host_gp(vm, VEC_SS);
		return;
	case 0:
		exc_raise(vm, VEC_DE, false, 0);
		return;
	case 1:
		exc_raise(vm, VEC_DB, false, 0);
		return;
	case 5:
		exc_raise(vm, VEC_BR, false, 0);
		return;
	case 6:
		exc_raise(vm, VEC_UD, false, 0);
		return;
	case 16:
		exc_raise(vm, VEC_MF, false, 0);
		return;
	case 17:
		exc_raise(vm, VEC_AC, true, 0);
		return;
	case 19:
		exc_raise(vm, VEC_XM, false, 0);
		return;
	}
	vm_stop(vm, STOP_MONITOR_ERROR, 6,
		"unexpected host signal %d (trap %d, error %#x, address %#llx) at guest eip %#x",
		f->sig, f->trapno, f->err, (unsigned long long)f->addr, c->sh->eip);
}

/* An indirect branch in a limited code segment left for a target past the limit:
 * #GP(0) at the branch, ESP as before it (the site noted both: rewriter.c). */
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
 * Single-stepping (EFLAGS.TF; SDM Vol. 3, 17.3.1.4): the dispatcher runs one
 * instruction at a time while TF is set, and after one that began with TF set and
 * completed (EIP moved on), raises the #DB trap with DR6.BS, unless the instruction
 * itself delivered an event (INT n, an exception, whose handler starts with TF clear).
 * POPF and IRET that set TF thus trap after the instruction that follows them.
 */
struct step {
	bool on;
	uint32_t eip, cs, deliveries;
};

static struct step step_begin(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	struct step s = { .on = c->sh->vflags & FL_TF, .eip = c->sh->eip,
			  .cs = c->seg[SR_CS].sel, .deliveries = c->deliveries };
	if (s.on)
		vm->one_step = true;
	return s;
}

static void step_end(struct vm *vm, const struct step *s)
{
	struct cpu *c = &vm->cpu;
	if (!s->on || c->exc.pending || vm->stop != STOP_NONE || c->deliveries != s->deliveries ||
	    (c->sh->eip == s->eip && c->seg[SR_CS].sel == s->cs))
		return;
	c->dr[6] |= 0x4000;             /* BS */
	exc_raise(vm, VEC_DB, false, 0);
}

/*
 * The IRETQ frame's place for a 16-bit guest stack whose ESP[31:16] is hi: on a page
 * at ESPFIX_BASE + hi * 64 KiB, so that RSP[31:16] = hi there (enter.S). One such page
 * is mapped at a time. 0 if it cannot be mapped (the VM is stopped).
 */
#define ESPFIX_BASE 0x600000000000ull
static uint64_t espfix_frame(struct vm *vm, uint32_t hi)
{
	uint64_t page = ESPFIX_BASE + ((uint64_t)hi << 16);
	if (vm->espfix_page != page) {
		if (vm->espfix_page)
			munmap((void *)(uintptr_t)vm->espfix_page, 4096);
		vm->espfix_page = 0;
		void *p = mmap((void *)(uintptr_t)page, 4096, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p != (void *)(uintptr_t)page) {
			vm_stop(vm, STOP_MONITOR_ERROR, 6, "cannot map the 16-bit stack's entry page "
				"at %#llx", (unsigned long long)page);
			return 0;
		}
		vm->espfix_page = page;
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

void cpu_run(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	struct block *from = NULL;
	int from_slot = 0;
	uint32_t from_gen = 0;

	fpu_attach(c->sh);
	vm->fpu_check = fpu_check_enabled();
	while (vm->stop == STOP_NONE) {
		c->sh->run = 1;
		if (vm->rt.async_signal) {
			vm_stop(vm, STOP_SIGNAL, 128 + vm->rt.async_signal, "stopped by signal %d at eip %#x",
				vm->rt.async_signal, c->sh->eip);
			break;
		}
		if (c->exc.pending) {
			exc_deliver(vm);
			from = NULL;
			if (vm->stop != STOP_NONE)
				break;
		}
		switch (intr_check(vm)) {
		case INTR_NONE:
			break;
		case INTR_STEP:
			vm->one_step = true;
			break;
		case INTR_DELIVERED:
			from = NULL;
			if (vm->stop != STOP_NONE)
				continue;
			break;
		}
		if (c->halted) {
			intr_halt(vm);
			from = NULL;
			continue;
		}
		struct step step = step_begin(vm);
		uint32_t mode = rw_mode(c), base = c->seg[SR_CS].base;
		cc_set_table_key(vm->cc, base, c->seg[SR_CS].limit, mode);
		const struct entry *en = NULL;
		struct block *b;
		if (vm->one_step) {
			/* Redo a write into translated code (the write may land in the very
			 * block it belongs to: run it alone with its page writable), or run
			 * the instruction in an interrupt shadow before the interrupt. */
			vm->one_step = false;
			b = rw_translate(vm->rw, c->sh->eip, true);
			if (!b) {
				from = NULL;
				continue;
			}
		} else {
			en = cc_lookup_entry(vm->cc, c->sh->eip, base, c->seg[SR_CS].limit, mode);
			b = en ? en->block : rw_translate(vm->rw, c->sh->eip, false);
			if (!b) {
				from = NULL;
				continue;
			}
		}
		if (!en)
			en = &b->entries[0];
		if (from && cc_generation(vm->cc) == from_gen && from->mode == b->mode &&
		    from->cs_base == b->cs_base)
			cc_chain_entry(vm->cc, from, from_slot, en);
		from = NULL;
		if (b->callout_first && en == &b->entries[0]) {
			/* Nothing to run before the callout: skip the round trip. */
			vm->stats.direct_callouts++;
			emulate_callout(vm);
			step_end(vm, &step);
			continue;
		}

		uint64_t frame_rsp = 0;
		if (!(c->seg[SR_SS].attr & SEG_DB)) {
			frame_rsp = espfix_frame(vm, c->sh->regs[R_ESP] >> 16);
			if (!frame_rsp)
				break;
		}
		/* With paging, a CPL-3 guest's segment shadows stop below its supervisor's
		 * pages (mmu.h): compute them again when the CPL or that line moved. */
		if (c->cpl == 3 && vm->entered_cpl != 3)
			mmu_enter_user(vm);
		/* A segment loaded by a callout at another CPL (no block entered in between)
		 * has a shadow made for that CPL: each register remembers its own. */
		bool cut = mmu_user_top(vm) < GUEST_TOP;
		for (int sr = 0; sr < SR_COUNT; sr++)
			if (vm->segs_stale || (cut && vm->shadow_cpl[sr] != c->cpl))
				seg_sync(vm, sr);
		vm->segs_stale = false;
		vm->entered_cpl = c->cpl;
		c->sh->hsel_nfs = rw_native_fs(c, b->mode);
		c->sh->eflags = (c->sh->eflags & FL_ARITH) | FL_IF | FL_1;
		vm->rt.entering = b;
		/* A signal that came after the check at the top found no block to unchain
		 * unless it came after entering was set: look again. */
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		if (vm->rt.async_signal || vm->rt.timer_fired) {
			vm->rt.entering = NULL;
			continue;
		}
		if (vm->fpu_check)
			check_fpu(vm);
		uint32_t word = tz_enter(en->host, frame_rsp);
		vm->rt.entering = NULL;
		fs_alt_catch_up(vm);
		uint32_t reason = word >> EXIT_SHIFT, info = word & EXIT_INFO_MASK;
		if (vm->fpu_check) {
			fpu_snapshot(vm->fpu_at_exit);
			vm->fpu_at_exit_valid = true;
			vm->fpu_exit_reason = reason;
		}
		vm->stats.exits[reason & 7]++;
		if (vm->cfg.trace)
			fprintf(stderr, "trapeze: exit %u info %#x eip %#x (entered %#x at %#x)\n", reason,
				info, c->sh->eip, en->eip, en->host);
		switch (reason) {
		case EXIT_CHAIN:
			from = cc_block(vm->cc, info >> SLOT_BITS);
			from_slot = (int)(info & (MAX_EXITS - 1));
			from_gen = cc_generation(vm->cc);
			break;
		case EXIT_LOOKUP:
			vm->stats.lookup_misses++;
			branch_past_limit(vm);
			break;
		case EXIT_IC_FILL:
			/* An indirect branch's first run (or a request to leave at one): it
			 * remembers this target, chained below like a direct branch. */
			if (branch_past_limit(vm))
				break;
			from = cc_block(vm->cc, info >> SLOT_BITS);
			from_slot = (int)(info & (MAX_EXITS - 1));
			from_gen = cc_generation(vm->cc);
			if (from)
				cc_fill_ic(vm->cc, from, from_slot, c->sh->eip);
			if (from && from->exit[from_slot].target != c->sh->eip)
				from = NULL;
			break;
		case EXIT_IC_REFILL: {
			/* An inline cache counted its misses down: it counts again, and one
			 * entry takes this target (chained below) unless it lies past the
			 * CS limit (then the branch faults). */
			bool past = branch_past_limit(vm);
			from = cc_block(vm->cc, info >> SLOT_BITS);
			from_gen = cc_generation(vm->cc);
			from_slot = from ? cc_refill_ic(vm->cc, from, (int)(info & (MAX_EXITS - 1)),
							c->sh->eip, !past) : -1;
			if (from_slot < 0)
				from = NULL;
			break;
		}
		case EXIT_CALLOUT:
			emulate_callout(vm);
			break;
		case EXIT_FAULT:
			handle_fault(vm);
			break;
		default:
			vm_stop(vm, STOP_MONITOR_ERROR, 6, "bad exit word %#x from host %#x", word,
				b->host);
		}
		step_end(vm, &step);
	}
	fpu_save();             /* the state goes back into the vCPU block with the VM */
	fpu_attach(NULL);
}
