/*
 * kentry.c - SYSENTER and SYSEXIT without a monitor exit (see kentry.h).
 *
 * A system call through SYSENTER changes only CPL, CS, SS, ESP, EIP and EFLAGS.IF
 * (SDM Vol. 2B, SYSENTER; SYSEXIT changes no flag), all known to the monitor ahead of
 * time: the flat segments come from IA32_SYSENTER_CS, ESP and EIP from the MSRs or from
 * ECX and EDX. What differs on the host is the segment shadows: at CPL 3 they stop
 * below the supervisor's pages (shadowmmu/mmu.h) and the host FS holds the guest's GS,
 * at CPL 0 neither. So the monitor prepares, for the segment registers as they are,
 * both sides' host selectors and guest-visible CS/SS values (a kentry_set each, in the
 * vCPU block), and the translated instruction installs the other side's set, loads
 * SS/DS/ES/FS from it and jumps through the lookup table of the target's mode
 * (rewriter/mangle_kentry.c). It first checks a flag the monitor set: the sets hold,
 * no single-stepping or breakpoints, and for SYSEXIT that FS is still the value the
 * sets were made for (the kernel swapped its per-CPU FS in and out in line) and no
 * interrupt waits for the STI before it.
 *
 * The monitor's own copies (struct cpu's CPL, CS and SS; which CPL each shadow was made
 * for) catch up after every return from translated code, by the count of transitions
 * the vCPU block keeps. Anything the sets depend on that only the monitor changes
 * invalidates them (segments, the segment pool, the lookup tables' keys) or is compared
 * at each entry (control registers, IOPL and TF, the TSC offset, the MSRs, breakpoints);
 * they are made again after the guest next runs SYSENTER or SYSEXIT the slow way.
 */
#include <string.h>

#include "kentry.h"
#include "segments.h"
#include "vm.h"
#include "../codecache/codecache.h"
#include "../rewriter/rewriter.h"
#include "../shadowmmu/mmu.h"

/* SDM Vol. 2B, SYSENTER/SYSEXIT: 4 GiB flat, 32-bit, present, accessed; code
 * execute/read, data read/write; DPL 0 and selectors SYSENTER_CS, + 8 for SYSENTER,
 * DPL 3 and SYSENTER_CS + 16, + 24 with RPL 3 for SYSEXIT. */
#define FLAT_CODE(dpl)  (SEG_G | SEG_DB | SEG_P | SEG_S | (dpl) << 5 | 0xb)
#define FLAT_DATA(dpl)  (SEG_G | SEG_DB | SEG_P | SEG_S | (dpl) << 5 | 0x3)

void kentry_flat_segs(uint32_t sysenter_cs, int cpl, struct seg *cs, struct seg *ss)
{
	uint16_t base = (uint16_t)sysenter_cs & SEL_ERR_MASK;
	uint16_t rpl = cpl ? 3 : 0, off = cpl ? 16 : 0;
	*cs = (struct seg){ .sel = (uint16_t)((base + off) | rpl), .attr = FLAT_CODE(rpl),
			    .limit = 0xffffffff };
	*ss = (struct seg){ .sel = (uint16_t)((base + off + 8) | rpl), .attr = FLAT_DATA(rpl),
			    .limit = 0xffffffff };
}

static void clear_flags(struct vm *vm)
{
	struct vcpu_shared *sh = vm->cpu.sh;
	sh->k_enter_ok = 0;
	memset(sh->k_exit_ok, 0, sizeof(sh->k_exit_ok));
	memset(vm->kentry.exit_ok, 0, sizeof(vm->kentry.exit_ok));
}

void kentry_invalidate(struct vm *vm)
{
	vm->kentry.valid = false;
	clear_flags(vm);
}

void kentry_want(struct vm *vm)
{
	vm->kentry.wanted = true;
}

/* What the sets depend on that only the monitor changes and nothing invalidates. */
static void note_key(struct vm *vm)
{
	struct kentry *k = &vm->kentry;
	const struct cpu *c = &vm->cpu;
	k->cr0 = c->cr0;
	k->cr4 = c->cr4;
	k->vflags = c->sh->vflags;
	k->tsc_base = c->tsc_base;
	k->sysenter_cs = c->sysenter_cs;
	k->sysenter_esp = c->sysenter_esp;
	k->sysenter_eip = c->sysenter_eip;
	k->dbg_armed = vm->dbg.armed;
}

static bool key_holds(const struct vm *vm, uint32_t mode)
{
	const struct kentry *k = &vm->kentry;
	const struct cpu *c = &vm->cpu;
	if (c->cpl == 0 && mode != k->mode[0])
		return false;
	if (c->cpl == 3 && mode != k->mode[1])
		return false;
	return k->cr0 == c->cr0 && k->cr4 == c->cr4 && k->vflags == c->sh->vflags &&
	       k->tsc_base == c->tsc_base && k->sysenter_cs == c->sysenter_cs &&
	       k->sysenter_esp == c->sysenter_esp && k->sysenter_eip == c->sysenter_eip &&
	       k->dbg_armed == vm->dbg.armed;
}

/* One side's set: the shadows of the data segments as they are, at cpl, with CS and
 * SS the flat ones; its mode word in *mode. */
static void make_set(struct vm *vm, int cpl, struct kentry_set *s, uint32_t *mode)
{
	struct cpu t = vm->cpu;
	kentry_flat_segs(t.sysenter_cs, cpl, &t.seg[SR_CS], &t.seg[SR_SS]);
	t.cpl = cpl;
	*mode = rw_mode(&t);
	memset(s, 0, sizeof(*s));
	for (int sr = 0; sr < SR_COUNT; sr++)
		s->hsel[sr] = seg_shadow(vm, &t.seg[sr], false, cpl);
	s->hsel[SR_GS] = SEL_MDATA;
	s->hsel[SR_COUNT] = seg_shadow(vm, &t.seg[SR_GS], false, cpl);
	s->hsel[SR_COUNT + 1] = seg_shadow(vm, &t.seg[SR_GS], true, cpl);
	s->gsel_cs = t.seg[SR_CS].sel;
	s->gsel_ss = t.seg[SR_SS].sel;
	s->gsel32_cs = t.seg[SR_CS].sel;
	s->gsel32_ss = t.seg[SR_SS].sel;
	s->nfs = rw_native_fs_sel(*mode, s->hsel[SR_FS], s->hsel[SR_COUNT]);
}

/* Whether the lookup table of the target's mode serves it: the current one must
 * already (find_entry set it for the block about to run), the other may be set. */
static bool table_ready(struct vm *vm, uint32_t cur_mode, uint32_t target_mode)
{
	if (cc_table_serves(vm->cc, 0, 0xffffffff, target_mode))
		return true;
	if (LOOKUP_INDEX(target_mode) == LOOKUP_INDEX(cur_mode))
		return false;
	cc_set_table_key(vm->cc, 0, 0xffffffff, target_mode);
	return true;
}

static void compute(struct vm *vm, uint32_t cur_mode)
{
	struct kentry *k = &vm->kentry;
	struct cpu *c = &vm->cpu;
	struct vcpu_shared *sh = c->sh;
	k->wanted = false;
	clear_flags(vm);
	note_key(vm);
	k->valid = true;
	if ((c->sysenter_cs & SEL_ERR_MASK) == 0 || (sh->vflags & FL_TF) || vm->dbg.armed ||
	    (c->cpl != 0 && c->cpl != 3))
		return;                 /* #GP, or the dispatcher must see each instruction */
	make_set(vm, 0, &sh->k_set[0], &k->mode[0]);
	make_set(vm, 3, &sh->k_set[1], &k->mode[1]);
	/* Making a shadow may have reset the pool (seg_sync then invalidated), and with it
	 * every selector made before. */
	if (!k->valid) {
		kentry_invalidate(vm);
		return;
	}
	sh->k_esp0 = c->sysenter_esp;
	sh->k_eip0 = c->sysenter_eip;
	sh->k_nfs0 = -(uint32_t)sh->k_set[0].hsel[SR_FS];
	/* SYSEXIT skips mmu_enter_user(): only where it would do nothing. */
	bool user_ok = mmu_user_split(vm->mmu);
	bool enter = table_ready(vm, cur_mode, k->mode[0]);
	bool exit = user_ok && table_ready(vm, cur_mode, k->mode[1]);
	sh->k_enter_ok = enter;
	sh->k_exit_ok[LOOKUP_INDEX(k->mode[1])] = exit;
	memcpy(k->exit_ok, sh->k_exit_ok, sizeof(k->exit_ok));
}

bool kentry_flags_cleared(const struct vm *vm)
{
	return vm->kentry.valid &&
	       memcmp(vm->kentry.exit_ok, vm->cpu.sh->k_exit_ok, sizeof(vm->kentry.exit_ok)) != 0;
}

void kentry_prepare(struct vm *vm, uint32_t mode)
{
	struct kentry *k = &vm->kentry;
	if (k->valid && !key_holds(vm, mode))
		kentry_invalidate(vm);
	if (!k->valid && k->wanted)
		compute(vm, mode);
}

void kentry_catch_up(struct vm *vm)
{
	struct kentry *k = &vm->kentry;
	struct cpu *c = &vm->cpu;
	uint32_t n = c->sh->k_count;
	if (n == k->seen)
		return;
	k->transitions += n - k->seen;
	k->seen = n;
	/* The vCPU block has the new values already; the monitor's copies follow. */
	int cpl = (int)c->sh->k_cpl;
	kentry_flat_segs(c->sysenter_cs, cpl, &c->seg[SR_CS], &c->seg[SR_SS]);
	c->sh->ldesc[SR_CS] = c->sh->ldesc[SR_SS] = 0;
	c->cpl = cpl;
	for (int sr = 0; sr < SR_COUNT; sr++)
		vm->shadow_cpl[sr] = (int8_t)cpl;
	vm->entered_cpl = cpl;
}
