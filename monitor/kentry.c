/*
 * kentry.c - system calls without a monitor exit: SYSENTER and SYSEXIT, INT n and IRET
 * between CPL 3 and CPL 0 (see kentry.h).
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
 *
 * INT n and IRET are the same with targets the slow way saw last (a gate's CS and the
 * TSS's SS0; an IRET frame's CS and SS), and with what lives in guest memory (the gate,
 * the descriptors, SS0, the frame) compared by translated code at each run
 * (compute_int, compute_iret).
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
	sh->k_int_ok = 0;
	memset(sh->k_iret_ok, 0, sizeof(sh->k_iret_ok));
	memset(vm->kentry.exit_ok, 0, sizeof(vm->kentry.exit_ok));
}

void kentry_invalidate(struct vm *vm)
{
	struct kentry *k = &vm->kentry;
	/* Sets that were used are made again at the next entry, not after the next slow
	 * transition: Linux's context switch reloads GS (a callout, so an invalidation)
	 * before every return to user mode. */
	if (k->valid && k->transitions != k->used_at)
		k->wanted = true;
	k->valid = false;
	clear_flags(vm);
}

void kentry_want(struct vm *vm)
{
	vm->kentry.wanted = true;
}

/* An INT n or IRET went the slow way: if it was prepared, what it compares at run time
 * changed (a gate moved, GS was loaded in line since): made again, as when its target
 * changed. One that could not be prepared is not tried again until something else
 * invalidates. */
void kentry_want_int(struct vm *vm, int vector)
{
	struct kentry *k = &vm->kentry;
	if (!k->int_known || k->int_vec != vector || vm->cpu.sh->k_int_ok)
		kentry_invalidate(vm);
	k->int_known = true;
	k->int_vec = (uint8_t)vector;
	k->wanted = true;
}

void kentry_want_iret(struct vm *vm)
{
	struct kentry *k = &vm->kentry;
	const struct cpu *c = &vm->cpu;
	/* IRET's set holds GS as it was: the in-line GS load of a context switch does not
	 * update it, and IRET goes the slow way after one. */
	if (k->iret_cs != c->seg[SR_CS].sel || k->iret_ss != c->seg[SR_SS].sel ||
	    c->sh->k_iret_ok[1] || c->sh->k_iret_ok[2])
		kentry_invalidate(vm);
	k->iret_cs = c->seg[SR_CS].sel;
	k->iret_ss = c->seg[SR_SS].sel;
	k->wanted = true;
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
	k->nmi_blocked = c->nmi_blocked;
	k->gdtr = c->gdtr;
	k->idtr = c->idtr;
	k->tr = c->tr;
}

#define NO_MODE 0xffffffffu

static bool key_holds(const struct vm *vm, uint32_t mode)
{
	const struct kentry *k = &vm->kentry;
	const struct cpu *c = &vm->cpu;
	/* The mode word at this CPL is the one a target there was prepared for (NO_MODE:
	 * none was). */
	if (c->cpl == 0 && k->mode[0] != NO_MODE && mode != k->mode[0])
		return false;
	if (c->cpl == 3 && k->mode[1] != NO_MODE && mode != k->mode[1])
		return false;
	return k->cr0 == c->cr0 && k->cr4 == c->cr4 && k->vflags == c->sh->vflags &&
	       k->tsc_base == c->tsc_base && k->sysenter_cs == c->sysenter_cs &&
	       k->sysenter_esp == c->sysenter_esp && k->sysenter_eip == c->sysenter_eip &&
	       k->dbg_armed == vm->dbg.armed && k->nmi_blocked == c->nmi_blocked &&
	       k->gdtr.base == c->gdtr.base && k->gdtr.limit == c->gdtr.limit &&
	       k->idtr.base == c->idtr.base && k->idtr.limit == c->idtr.limit &&
	       k->tr.sel == c->tr.sel && k->tr.base == c->tr.base &&
	       k->tr.limit == c->tr.limit && k->tr.attr == c->tr.attr;
}

/*
 * The FS user mode will have. At CPL 3, the one it has. At CPL 0 after Linux's entry
 * swapped its per-CPU FS in (a DPL-0 segment), the one it swaps out again before
 * SYSEXIT: the alternate (VC_FSALT_*). A guess: SYSEXIT checks it at run time.
 */
static const struct seg *user_fs(const struct cpu *c)
{
	const struct seg *fs = &c->seg[SR_FS];
	if (c->cpl == 0 && seg_usable(fs) && SEG_DPL(fs->attr) == 0)
		return &c->fs_alt;
	return fs;
}

/* One target's set: the shadows of the data segments as they are, at cpl, with CS and
 * SS the target's (cs, ss) and FS user mode's; its mode word in *mode. */
static void make_set(struct vm *vm, int cpl, const struct seg *cs, const struct seg *ss,
		     struct kentry_set *s, uint32_t *mode)
{
	struct cpu t = vm->cpu;
	t.seg[SR_FS] = *user_fs(&vm->cpu);
	t.seg[SR_CS] = *cs;
	t.seg[SR_SS] = *ss;
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

/* The monitor's view of guest linear memory for what translated code will compare:
 * a supervisor read without side effects, within one page and RAM. */
static bool peek(struct vm *vm, uint32_t lin, uint32_t len, void *out)
{
	uint64_t pa = lin;
	if (lin < GUEST_LOW || lin > GUEST_TOP - len || (lin & 0xfff) > 0x1000 - len)
		return false;
	if (mmu_paging(vm->mmu) && mmu_peek(vm->mmu, lin, 0, &pa) < 0)
		return false;
	const void *p = mem_phys(&vm->mem, pa, len);
	if (!p)
		return false;
	memcpy(out, p, len);
	return true;
}

/* The GDT descriptor of sel (never the LDT) and where it lies. */
static bool gdt_desc(struct vm *vm, uint16_t sel, uint32_t *lin, uint64_t *d)
{
	const struct cpu *c = &vm->cpu;
	if ((sel & SEL_TI) || !(sel & ~7u) || (sel & ~7u) + 7u > c->gdtr.limit)
		return false;
	*lin = c->gdtr.base + (sel & ~7u);
	return peek(vm, *lin, 8, d);
}

/* A present 32-bit segment descriptor of DPL dpl: a non-conforming code segment
 * (code) or a writable data one; accessed if the slow way would set the bit (only
 * those with it set already can be loaded without a write). */
static bool desc_ok(uint64_t d, bool code, unsigned dpl, bool accessed)
{
	uint16_t a = DESC_ATTR(d);
	unsigned type = a & 0xf;
	if (!(a & SEG_P) || !(a & SEG_S) || !(a & SEG_DB) || SEG_DPL(a) != dpl ||
	    (accessed && !(type & 1)))
		return false;
	return code ? (type & 8) && !(type & 4) : !(type & 8) && (type & 2);
}

static void neg_pair(uint32_t *to, uint64_t v)
{
	to[0] = -(uint32_t)v;
	to[1] = -(uint32_t)(v >> 32);
}

/* SYSENTER's and SYSEXIT's: the flat segments of IA32_SYSENTER_CS. */
static void compute_sys(struct vm *vm, uint32_t cur_mode)
{
	struct kentry *k = &vm->kentry;
	struct vcpu_shared *sh = vm->cpu.sh;
	struct seg cs, ss;
	kentry_flat_segs(vm->cpu.sysenter_cs, 0, &cs, &ss);
	make_set(vm, 0, &cs, &ss, &sh->k_set[KIND_SYSENTER], &k->mode[0]);
	kentry_flat_segs(vm->cpu.sysenter_cs, 3, &cs, &ss);
	make_set(vm, 3, &cs, &ss, &sh->k_set[KIND_SYSEXIT], &k->mode[1]);
	sh->k_esp0 = vm->cpu.sysenter_esp;
	sh->k_eip0 = vm->cpu.sysenter_eip;
	/* SYSEXIT skips mmu_enter_user(): only where it would do nothing. */
	bool user_ok = mmu_user_split(vm->mmu);
	sh->k_enter_ok = table_ready(vm, cur_mode, k->mode[0]);
	sh->k_exit_ok[LOOKUP_INDEX(k->mode[1])] = user_ok && table_ready(vm, cur_mode, k->mode[1]);
}

/*
 * INT n from CPL 3 through a 32-bit interrupt or trap gate of DPL 3 to a non-conforming
 * CPL-0 code segment, on the stack of the TSS's SS0:ESP0 (SDM Vol. 3A, 6.12.1): what the
 * slow way found last time, checked again here; translated code compares the gate,
 * both descriptors and SS0 again at each run, reads ESP0 and writes the frame.
 */
static void compute_int(struct vm *vm, uint32_t cur_mode)
{
	struct kentry *k = &vm->kentry;
	const struct cpu *c = &vm->cpu;
	struct vcpu_shared *sh = c->sh;
	uint32_t vec = k->int_vec, gate_lin = c->idtr.base + vec * 8, cs_lin, ss_lin;
	uint64_t g, dcs, dss;
	uint32_t ss0;
	if (vec * 8 + 7 > c->idtr.limit || !peek(vm, gate_lin, 8, &g))
		return;
	unsigned gtype = (unsigned)(g >> 40) & 0x1f, gdpl = (unsigned)(g >> 45) & 3;
	uint16_t gsel = (uint16_t)(g >> 16);
	uint32_t off = (uint32_t)(g & 0xffff) | (uint32_t)(g >> 32 & 0xffff0000u);
	if (!(g & (1ull << 47)) || gdpl != 3 || (gtype != 0xe && gtype != 0xf) ||
	    !gdt_desc(vm, gsel, &cs_lin, &dcs) || !desc_ok(dcs, true, 0, true))
		return;
	/* A 32-bit TSS, busy (TR), with SS0 in reach; SS0 a writable DPL-0 stack. */
	if ((c->tr.attr & 0xf) != 0xb || c->tr.limit < 11 || !peek(vm, c->tr.base + 8, 4, &ss0) ||
	    (ss0 & 3) || !gdt_desc(vm, (uint16_t)ss0, &ss_lin, &dss) || !desc_ok(dss, false, 0, true) ||
	    c->tr.base + 4 < GUEST_LOW || c->tr.base + 12 > GUEST_TOP)
		return;
	struct seg cs, ss;
	seg_from_desc(&cs, (uint16_t)(gsel & ~3u), dcs);
	seg_from_desc(&ss, (uint16_t)ss0, dss);
	if (off > cs.limit)
		return;
	uint32_t mode;
	make_set(vm, 0, &cs, &ss, &sh->k_set[KIND_INT], &mode);
	if (k->mode[0] != NO_MODE && mode != k->mode[0])
		return;                 /* one CPL-0 table serves SYSENTER's and INT's */
	if (!table_ready(vm, cur_mode, mode))
		return;
	k->mode[0] = mode;
	k->int_seg[0] = cs;
	k->int_seg[1] = ss;
	sh->k_int_nvec = -vec;
	sh->k_int_gate = gate_lin;
	neg_pair(sh->k_int_ngate, g);
	sh->k_int_csd = cs_lin;
	neg_pair(sh->k_int_ncsd, dcs);
	sh->k_int_tss = c->tr.base + 4;
	sh->k_int_nss0 = -ss0;
	sh->k_int_ssd = ss_lin;
	neg_pair(sh->k_int_nssd, dss);
	sh->k_int_eip = off;
	sh->k_int_ifmask = gtype == 0xe ? 0 : ~0u;  /* an interrupt gate clears IF */
	sh->k_int_ok = 1;
}

/* Whether IRET to CPL 3 leaves s as it is: a data segment or non-conforming code
 * segment with a DPL below 3 is made null (SDM Vol. 2A, IRET, RETURN-TO-OUTER-
 * PRIVILEGE-LEVEL). Conforming code segments stay. */
static bool kept_at_cpl3(const struct seg *s)
{
	return !seg_usable(s) || SEG_DPL(s->attr) == 3 ||
	       (seg_is_code(s->attr) && (s->attr & 4));
}

/*
 * IRET from CPL 0 to the CS and SS (both DPL 3, from the GDT) an IRET to CPL 3 loaded
 * last: translated code compares the frame's selectors, both descriptors, the EFLAGS
 * image (no VM, NT, TF, AC, RF; IOPL and the rest as they are), FS and GS, and that no
 * interrupt waits if the image sets IF. NMIs must not be blocked (IRET unblocks them).
 */
static void compute_iret(struct vm *vm, uint32_t cur_mode)
{
	struct kentry *k = &vm->kentry;
	struct cpu *c = &vm->cpu;
	struct vcpu_shared *sh = c->sh;
	uint32_t cs_lin, ss_lin, mode;
	uint64_t dcs, dss;
	if (c->nmi_blocked || (sh->vflags & (FL_NT | FL_AC | FL_VM)) || (k->iret_cs & 3) != 3 ||
	    (k->iret_ss & 3) != 3 || !gdt_desc(vm, k->iret_cs, &cs_lin, &dcs) ||
	    !desc_ok(dcs, true, 3, false) || !gdt_desc(vm, k->iret_ss, &ss_lin, &dss) ||
	    !desc_ok(dss, false, 3, true) || !kept_at_cpl3(&c->seg[SR_DS]) ||
	    !kept_at_cpl3(&c->seg[SR_ES]) || !kept_at_cpl3(&c->seg[SR_GS]) ||
	    !kept_at_cpl3(user_fs(c)) || !mmu_user_split(vm->mmu))
		return;
	/* The slow way marks SS accessed in the GDT, CS only in the register (outer_return
	 * in emulate.c, stack_seg_check in privilege.c). */
	struct seg cs, ss;
	seg_from_desc(&cs, k->iret_cs, dcs);
	seg_from_desc(&ss, k->iret_ss, dss);
	cs.attr |= SEG_ACCESSED;
	make_set(vm, 3, &cs, &ss, &sh->k_set[KIND_IRET], &mode);
	if (k->mode[1] != NO_MODE && mode != k->mode[1])
		return;                 /* SYSEXIT's target runs in another mode */
	if (!table_ready(vm, cur_mode, mode))
		return;
	k->mode[1] = mode;
	k->iret_seg[0] = cs;
	k->iret_seg[1] = ss;
	sh->k_iret_ncs = -(uint32_t)k->iret_cs;
	sh->k_iret_nss = -(uint32_t)k->iret_ss;
	sh->k_iret_csd = cs_lin;
	neg_pair(sh->k_iret_ncsd, dcs);
	sh->k_iret_ssd = ss_lin;
	neg_pair(sh->k_iret_nssd, dss);
	sh->k_iret_vfl = sh->vflags;
	sh->k_iret_nfss = -(uint32_t)user_fs(c)->sel;
	sh->k_iret_ngss = -(uint32_t)c->seg[SR_GS].sel;
	sh->k_iret_nggs0 = -(uint32_t)seg_shadow(vm, &c->seg[SR_GS], false, 0);
	k->iret_table = (int)LOOKUP_INDEX(mode);
}

static void compute(struct vm *vm, uint32_t cur_mode)
{
	struct kentry *k = &vm->kentry;
	struct cpu *c = &vm->cpu;
	struct vcpu_shared *sh = c->sh;
	k->wanted = false;
	k->made++;
	clear_flags(vm);
	note_key(vm);
	k->valid = true;
	k->used_at = k->transitions;
	k->iret_table = -1;
	k->mode[0] = k->mode[1] = NO_MODE;
	if ((sh->vflags & FL_TF) || vm->dbg.armed || (c->cpl != 0 && c->cpl != 3))
		return;                 /* the dispatcher must see each instruction */
	sh->k_nfs0 = -(uint32_t)seg_shadow(vm, user_fs(c), false, 0);
	if (c->sysenter_cs & SEL_ERR_MASK)
		compute_sys(vm, cur_mode);
	if (k->int_known)
		compute_int(vm, cur_mode);
	if (k->iret_cs)
		compute_iret(vm, cur_mode);
	/* Making a shadow may have reset the pool (seg_sync then invalidated), and with it
	 * every selector made before. */
	if (!k->valid) {
		k->iret_table = -1;
		kentry_invalidate(vm);
	}
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
	/* IRET back to an instruction whose page fault the handler served maps that page
	 * first (mmu_retry): the slow way then. */
	if (k->valid && k->iret_table > 0)
		vm->cpu.sh->k_iret_ok[k->iret_table] = !mmu_retry_pending(vm->mmu);
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
	switch (c->sh->k_kind) {
	case KIND_INT:
		c->seg[SR_CS] = k->int_seg[0];
		c->seg[SR_SS] = k->int_seg[1];
		break;
	case KIND_IRET:
		c->seg[SR_CS] = k->iret_seg[0];
		c->seg[SR_SS] = k->iret_seg[1];
		break;
	default:
		kentry_flat_segs(c->sysenter_cs, cpl, &c->seg[SR_CS], &c->seg[SR_SS]);
	}
	c->sh->ldesc[SR_CS] = c->sh->ldesc[SR_SS] = 0;
	c->cpl = cpl;
	for (int sr = 0; sr < SR_COUNT; sr++)
		vm->shadow_cpl[sr] = (int8_t)cpl;
	vm->entered_cpl = cpl;
}
