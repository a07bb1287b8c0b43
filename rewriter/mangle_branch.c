/*
 * mangle_branch.c - the emitters of branches: direct ones become exit slots the
 * dispatcher chains (jcc, loop, jmp, call with its continuation as an entry point, or
 * a PC thunk's effect in line); indirect ones (call r/m, jmp r/m, ret) an inline cache
 * of two targets in front of the inline lookup of the indirect-branch table.
 *
 * Called by the block driver (rewriter.c) with the block and the instruction
 * (translate.h). The inline caches' compares are patched later by the code cache
 * (cc_fill_ic, cc_refill_ic) through the encoder (x86emit.h: patch_ic_*), which
 * keeps the layout emit_ic gives them. Nothing here writes the arithmetic flags: a
 * function may return a result in CF.
 */
#include "translate.h"
#include "insnclass.h"

#include "../arch/x86.h"

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* Room for the exits of another branch and the block's fall-through. */
static void check_room(struct tblock *t)
{
	if (t->nslots >= MAX_EXITS - 2 || t->nentries == MAX_ENTRIES)
		t->stop = true;
}

/* jcc rel8/rel32: the taken side leaves the block; translation goes on with the
 * fall-through, which stays in line. */
void emit_jcc(struct tblock *t, const struct tinsn *in)
{
	const uint8_t *op = in->op;
	uint32_t target;
	uint8_t cc;
	if (op[0] == 0x0f) {
		cc = op[1] & 0xf;
		target = in->after + rd32(op + 2);
	} else {
		cc = op[0] & 0xf;
		target = in->after + (uint32_t)(int8_t)op[1];
	}
	add_slot(t, emit_jcc_rel32(&t->e.b, cc, 0), target);
	check_room(t);
}

/* loopX/jecxz +5 over the fall-through jump, then the taken jump: both exits. */
void emit_loop(struct tblock *t, const struct tinsn *in)
{
	struct xbuf *b = &t->e.b;
	if (has_prefix(in->b, in->npfx, 0x67))
		xb_put8(b, 0x67);
	xb_put8(b, in->op[0]);                          /* the guest's opcode, rel8 5 */
	xb_put8(b, 5);
	uint32_t ft = emit_jmp_rel32(b, 0);
	uint32_t tk = emit_jmp_rel32(b, 0);
	add_slot(t, tk, in->after + (uint32_t)(int8_t)in->op[1]);
	add_slot(t, ft, in->after);
	t->ended = true;
}

void emit_direct_jmp(struct tblock *t, const struct tinsn *in)
{
	const uint8_t *op = in->op;
	uint32_t target = op[0] == 0xeb ? in->after + (uint32_t)(int8_t)op[1] : in->after + rd32(op + 1);
	add_slot(t, emit_jmp_rel32(&t->e.b, 0), target);
	t->ended = true;
}

/* The register a call of target loads as a PC thunk run in line, or -1. The block then
 * depends on the thunk's page too (xpage): not in a single step, and one such page
 * per block, not an alias of the block's own pages. */
static int inline_thunk(struct tblock *t, uint32_t target)
{
	const struct cpu *c = t->rw->cpu;
	const struct seg *cs = &c->seg[SR_CS];
	uint32_t tppn = 0;
	int treg = -1;
	if (!t->oneshot && (t->mode & 4) && !(t->mode & MODE_SS16) && target <= cs->limit &&
	    target + 3 <= cs->limit)
		treg = pc_thunk(t->rw, cs->base + target, &tppn);
	uint32_t tlpn = (cs->base + target) >> 12, lpn = t->lin >> 12;
	uint32_t p1 = t->have_next ? (uint32_t)(t->pa_next >> 12) : ~0u;
	if (treg < 0 || tlpn == lpn)
		return treg;            /* not a thunk, or one on the block's first page */
	if (tppn == (uint32_t)(t->pa >> 12) || (tppn == p1 && tlpn != lpn + 1) ||
	    (t->xpage && (tlpn != t->xlpn || tppn != t->xppn)))
		return -1;              /* an alias of the block's page, or a second one */
	t->xpage = true;
	t->xlpn = tlpn;
	t->xppn = tppn;
	return treg;
}

/*
 * call rel32: push the guest return address and jump (chained) to the callee;
 * translation goes on after the call, where the ret will come back: another entry
 * point of this block. A call of a PC thunk: what it does, in line (the call's
 * store, where it would push, ESP staying; the load), so that no RET runs.
 */
void emit_direct_call(struct tblock *t, const struct tinsn *in)
{
	struct xbuf *b = &t->e.b;
	uint32_t target = in->after + rd32(in->op + 1);
	int treg = inline_thunk(t, target);
	if (treg >= 0) {
		emit_store_stack_imm32(b, -4, in->after);
		emit_mov_reg_imm32(b, treg, in->after);
		t->rw->stats.thunks_inlined++;
		return;
	}
	emit_push_imm32(b, in->after);
	add_slot(t, emit_jmp_rel32(b, 0), target);
	add_entry(t, in->after);
	check_room(t);
}

/*
 * In a code segment with a limit below 4 GiB, the ways out of an indirect branch to
 * the dispatcher (a lookup miss, the inline cache's fill) note the branch's EIP and
 * what it did to ESP: a target past the limit then faults at the branch with the
 * state before it (monitor/engine_bt.c). No lookup or inline cache holds such a
 * target (nothing is translated past the limit), so the check costs nothing on the
 * hit paths, and nothing here touches the guest's flags.
 */
static void emit_site_note(struct emit *e)
{
	if (!e->limited)
		return;
	emit_mov_gs_imm32(&e->b, VCPU_ADDR + VC_BR_EIP, e->site_eip);
	emit_mov_gs_imm32(&e->b, VCPU_ADDR + VC_BR_DELTA, (uint32_t)e->site_delta);
}

/* movzx ecx, ax; mov ecx, gs:[ecx*8 + table]: a lookup-table entry's word */
static void emit_probe(struct emit *e, uint32_t table)
{
	emit_movzx_reg16(&e->b, R_ECX, R_EAX);
	emit_mov_gs_load_index8(&e->b, R_ECX, R_ECX, table);
}

/*
 * The indirect-branch lookup, inline so that every guest branch site has its own host
 * indirect jump (and its own branch prediction). Guest target in EAX, guest EAX/ECX
 * in the save slots. No instruction here writes the arithmetic flags: the entry holds
 * -eip, so LEA makes ECX zero on a hit and JECXZ tests it.
 */
void emit_lookup_in(struct emit *e, uint32_t table)
{
	struct xbuf *b = &e->b;
	emit_probe(e, table);
	emit_lea_sum(b, R_ECX, R_ECX, R_EAX);
	uint8_t *to_hit = emit_jecxz(b, 0);
	uint8_t *miss = b->p;
	emit_site_note(e);
	emit_jmp_rel32(b, e->lookup_miss);
	patch_rel8_here(to_hit, b);
	emit_mov_gs_load(b, R_ECX, VCPU_ADDR + VC_RUN); /* hit, unless the monitor asks */
	emit_jecxz(b, (uint8_t)(miss - (b->p + 2)));
	emit_probe(e, table + 4);                       /* the entry's table prologue */
	emit_jmp_reg(b, R_ECX);                         /* which restores EAX and ECX */
}

static void emit_lookup(struct emit *e)
{
	emit_lookup_in(e, LOOKUP_TABLE(e->mode));
}

/* For each entry point that the lookup tables may hold (struct entry's thost), out of
 * the block's line: the table path jumps here through ECX with the guest's EAX/ECX in
 * their save slots; this restores them and goes on to the entry. */
uint32_t emit_table_stub(struct emit *e, uint32_t host)
{
	uint32_t at = xb_here(&e->b);
	emit_mov_gs_load(&e->b, R_EAX, VCPU_ADDR + VC_SAVE_EAX);
	emit_mov_gs_load(&e->b, R_ECX, VCPU_ADDR + VC_SAVE_ECX);
	emit_jmp_rel32(&e->b, host);
	return at;
}

/* An inline cache's fill (or refill) exit for slot: the target to VC_EIP. */
static void emit_ic_fill(struct emit *e, struct block *blk, int slot, uint32_t reason)
{
	struct xbuf *b = &e->b;
	emit_mov_gs_store(b, VCPU_ADDR + VC_EIP, R_EAX);
	emit_mov_gs_load(b, R_EAX, VCPU_ADDR + VC_SAVE_EAX);
	emit_mov_gs_load(b, R_ECX, VCPU_ADDR + VC_SAVE_ECX);
	emit_mov_gs_imm32(b, VCPU_ADDR + VC_EXIT,
			  reason << EXIT_SHIFT | blk->id << SLOT_BITS | (uint32_t)slot);
	emit_site_note(e);
	emit_jmp_rel32(b, e->far_exit);
}

/* The miss path of an inline cache, out of line: misses go to the first fill, then
 * the second, then the table, where they are counted: an entry filled long ago may
 * hold a target the site no longer takes (a RET of malloc() remembers its first two
 * callers), so at zero the site leaves to refill one. */
static void emit_ic_miss(struct emit *e, struct block *blk, int slot, struct exit_slot *ic,
			 int ret_pop)
{
	struct xbuf *b = &e->b;
	struct exit_slot *ic2 = ic + 1;
	if (ret_pop) {
		/* A RET's miss: the rest as for the others, EAX the target (still in
		 * the stack slot the RET popped) and saved. */
		emit_mov_gs_store(b, VCPU_ADDR + VC_SAVE_EAX, R_EAX);
		emit_load_stack_disp32(b, R_EAX, (uint32_t)-ret_pop);
	}
	ic->ic_route = ic2->ic_route = emit_jmp_rel32(b, 0);
	ic2->ic_table = xb_here(b);
	ic->ic_count = cc_ic_counter(e->cc);
	uint8_t *to_refill = NULL;
	if (ic->ic_count) {
		emit_mov_gs_load(b, R_ECX, ic->ic_count);
		emit_lea_disp8(b, R_ECX, R_ECX, -1);
		emit_mov_gs_store(b, ic->ic_count, R_ECX);
		to_refill = emit_jecxz(b, 0);
	}
	emit_lookup(e);
	if (to_refill) {
		patch_rel8_here(to_refill, b);
		emit_ic_fill(e, blk, slot, EXIT_IC_REFILL);
	}
	patch_rel32(ic->ic_route, xb_here(b));
	emit_ic_fill(e, blk, slot, EXIT_IC_FILL);
	ic->ic_table = xb_here(b);
	emit_ic_fill(e, blk, slot + 1, EXIT_IC_FILL);
}

/*
 * An indirect branch with a two-entry inline cache in front of the lookup: the site
 * compares the target with the ones it remembers and, on a hit, jumps to it directly
 * through an exit slot (chained like a direct branch: no indirect jump to predict).
 * Its first runs leave through fill exits that set the remembered targets; from then
 * on a different target takes the lookup table. Guest target in EAX, EAX/ECX saved;
 * or, for a RET (ret_pop: how far below ESP its return address now lies), the target
 * in ECX alone, ECX saved, EAX the guest's: a hit then leaves EAX untouched, and a
 * miss saves it and fetches the target again from the stack slot.
 */
static void emit_ic(struct tblock *t, int ret_pop)
{
	struct emit *e = &t->e;
	struct xbuf *b = &e->b;
	int slot = t->nslots;
	struct exit_slot *ic = &t->blk->exit[slot], *ic2 = ic + 1;
	t->nslots += 2;
	/* The unfilled compare matches one target, which its slot then takes like a
	 * chained branch, without the CS-limit check of the miss path: 0xffffffff where
	 * the limit is 4 GiB, 0 where there is a limit. */
	uint32_t t0 = e->limited ? 0 : 0xffffffffu;
	/* lea ecx, [eax - target] (a RET: [ecx - target]); matches t0 alone */
	ic->ic_imm = emit_lea_disp32(b, R_ECX, ret_pop ? R_ECX : R_EAX, -t0);
	uint8_t *to_hit = emit_jecxz(b, 0);
	/* lea ecx, [ecx + second - first]: matches nothing the first misses */
	ic2->ic_imm = emit_lea_disp32(b, R_ECX, R_ECX, 0);
	ic2->ic_second = true;
	emit_jecxz(b, 5);                               /* hit2 */
	uint32_t to_miss = emit_jmp_rel32(b, 0);
	/* hit2, then hit: no VC_RUN test - the way out is this block's own slot, which a
	 * kick unchains (signals.c), so the jump then exits. A RET left EAX alone. The
	 * unfilled compare hits for t0: so that is the first slot's target; the second's
	 * is never reached before its fill. */
	for (int k = 0; k < 2; k++) {
		if (k == 1)
			patch_rel8_here(to_hit, b);
		if (!ret_pop)
			emit_mov_gs_load(b, R_EAX, VCPU_ADDR + VC_SAVE_EAX);
		emit_mov_gs_load(b, R_ECX, VCPU_ADDR + VC_SAVE_ECX);
		t->slots[k ? slot : slot + 1] = (struct pending_slot){ emit_jmp_rel32(b, 0),
								      k ? t0 : 0xffffffffu };
	}
	swap_cold(e);
	patch_rel32(to_miss, xb_here(b));
	emit_ic_miss(e, t->blk, slot, ic, ret_pop);
	swap_cold(e);
}

/* Save EAX/ECX and load the target: FF /2 or FF /4 r/m32 becomes 8B /0, mov eax, r/m32
 * (the same addressing, through FS for a cs: or gs: prefix). */
static void emit_load_target(struct tblock *t, const struct tinsn *in)
{
	uint8_t tmp[16];
	in->se->flags = SIDE_SCRATCH;
	emit_save_scratch(&t->e);
	memcpy(tmp, in->b, in->len);
	tmp[in->npfx] = 0x8b;
	tmp[in->npfx + 1] &= 0xc7;
	emit_ident_view(&t->e, tmp, in->npfx, in->len, false);
}

void emit_indirect_call(struct tblock *t, const struct tinsn *in)
{
	emit_load_target(t, in);
	emit_push_imm32(&t->e.b, in->after);            /* the guest return address */
	t->e.site_eip = in->eip;
	t->e.site_delta = -4;
	emit_ic(t, 0);
	t->ended = true;
}

/* A jump through an indexed table (a switch) has many targets: an inline cache would
 * mostly miss. */
void emit_indirect_jmp(struct tblock *t, const struct tinsn *in)
{
	emit_load_target(t, in);
	t->e.site_eip = in->eip;
	t->e.site_delta = 0;
	if (in->xflags & XI_MEM_INDEX)         /* jmp [table + reg*4] */
		emit_lookup(&t->e);
	else
		emit_ic(t, 0);
	t->ended = true;
}

/* ret [imm16]: the return address goes to ECX alone: an inline-cache hit then leaves
 * EAX (the function's result) untouched. Not on a 16-bit stack (the miss reads the
 * popped slot through ESP): there the target goes to EAX as for the others. */
void emit_return(struct tblock *t, const struct tinsn *in)
{
	struct xbuf *b = &t->e.b;
	uint16_t imm = 0;
	if (in->op[0] == 0xc2)
		memcpy(&imm, in->op + 1, 2);
	bool ss16 = t->mode & MODE_SS16;
	if (ss16) {
		in->se->flags = SIDE_SCRATCH;
		emit_save_scratch(&t->e);
		emit_pop(b, R_EAX);
	} else {
		/* Only the POP can fault, and then ECX is still the guest's. */
		emit_mov_gs_store(b, VCPU_ADDR + VC_SAVE_ECX, R_ECX);
		emit_pop(b, R_ECX);
	}
	t->e.site_eip = in->eip;
	t->e.site_delta = 4 + imm;
	if (imm)
		emit_lea_esp(b, imm);
	emit_ic(t, ss16 ? 0 : 4 + imm);
	t->ended = true;
}
