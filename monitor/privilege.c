/*
 * privilege.c - transfers between privilege levels (see privilege.h).
 *
 * The order of the checks and the error codes follow the pseudocode of INT n, CALL,
 * IRET and RET in SDM Vol. 2 and "Privilege Level Checking When Accessing Data
 * Segments / Transferring Program Control" in Vol. 3, 5.6-5.8.
 */
#include "privilege.h"

#include "exceptions.h"
#include "segments.h"
#include "vm.h"

static bool tss32(const struct seg *tr)
{
	unsigned type = SEG_TYPE(tr->attr);
	return type == DESC_TSS32_AVAIL || type == DESC_TSS32_BUSY;
}

int tss_ring_stack(struct vm *vm, int n, uint16_t *ss, uint32_t *esp, uint32_t ext)
{
	const struct seg *tr = &vm->cpu.tr;
	/* 32-bit TSS: ESPn at 4 + 8n, SSn at 8 + 8n; 16-bit: SPn at 2 + 4n, SSn at 4 + 4n. */
	bool big = tss32(tr);
	uint32_t sp_off = big ? 4 + 8 * (uint32_t)n : 2 + 4 * (uint32_t)n;
	uint32_t ss_off = sp_off + (big ? 4 : 2);
	if (!seg_usable(tr) || ss_off + 1 > tr->limit) {
		exc_raise(vm, VEC_TS, true, (tr->sel & SEL_ERR_MASK) | ext);
		return -1;
	}
	uint32_t v = 0;
	uint16_t s = 0;
	lin_read(vm, tr->base + sp_off, &v, big ? 4 : 2);
	lin_read(vm, tr->base + ss_off, &s, 2);
	*esp = v;
	*ss = s;
	return 0;
}

int stack_seg_check(struct vm *vm, uint16_t sel, int cpl, struct seg *out, int vec, uint32_t ext)
{
	uint64_t d;
	uint32_t lin;
	uint32_t err = (sel & SEL_ERR_MASK) | ext;
	if (sel_is_null(sel)) {
		exc_raise(vm, vec, true, ext);
		return -1;
	}
	if (!desc_fetch(vm, sel, &d, &lin) || SEL_RPL(sel) != (unsigned)cpl) {
		exc_raise(vm, vec, true, err);
		return -1;
	}
	seg_from_desc(out, sel, d);
	if (seg_is_system(out->attr) || !seg_is_data_writable(out->attr) ||
	    SEG_DPL(out->attr) != (unsigned)cpl) {
		exc_raise(vm, vec, true, err);
		return -1;
	}
	if (!seg_present(out->attr)) {
		exc_raise(vm, VEC_SS, true, err);
		return -1;
	}
	desc_mark_accessed(vm, &d, lin);
	out->attr |= SEG_ACCESSED;
	return 0;
}

int push_frame(struct vm *vm, const struct seg *ss, uint32_t *esp, const uint32_t *v, int n,
	       int size, uint32_t err)
{
	bool big = ss->attr & SEG_DB;
	uint32_t mask = big ? 0xffffffffu : 0xffffu;
	uint32_t top = *esp;
	for (int k = 0; k < n; k++) {
		uint32_t off = (top - (uint32_t)((k + 1) * size)) & mask;
		if (seg_check(ss, SR_SS, off, (uint32_t)size, true) >= 0) {
			exc_raise(vm, VEC_SS, true, err);
			return -1;
		}
	}
	for (int k = 0; k < n; k++) {
		uint32_t off = (top - (uint32_t)((k + 1) * size)) & mask;
		lin_write(vm, ss->base + off, &v[k], (uint32_t)size);
	}
	*esp = big ? top - (uint32_t)(n * size) : (top & ~0xffffu) | ((top - (uint32_t)(n * size)) & 0xffff);
	return 0;
}

void priv_switch(struct vm *vm, const struct seg *cs, int cpl, const struct seg *ss, uint32_t esp)
{
	struct cpu *c = &vm->cpu;
	c->cpl = cpl;
	c->seg[SR_CS] = *cs;
	c->seg[SR_CS].sel = (uint16_t)((cs->sel & ~3u) | (unsigned)cpl);
	seg_sync(vm, SR_CS);
	c->seg[SR_SS] = *ss;
	seg_sync(vm, SR_SS);
	c->sh->regs[R_ESP] = esp;
}

void priv_drop_data_segs(struct vm *vm)
{
	static const int regs[] = { SR_ES, SR_DS, SR_FS, SR_GS };
	struct cpu *c = &vm->cpu;
	for (int k = 0; k < 4; k++) {
		struct seg *s = &c->seg[regs[k]];
		if (seg_usable(s) && !seg_is_conforming(s->attr) && SEG_DPL(s->attr) < (unsigned)c->cpl) {
			*s = (struct seg){ .sel = 0 };
			seg_sync(vm, regs[k]);
		}
	}
}

int gate_code_seg(struct vm *vm, uint16_t sel, uint32_t ext, struct seg *cs, uint64_t *d,
		  uint32_t *lin)
{
	uint32_t err = (sel & SEL_ERR_MASK) | ext;
	if (sel_is_null(sel) || !desc_fetch(vm, sel, d, lin)) {
		exc_raise(vm, VEC_GP, true, err);
		return -1;
	}
	seg_from_desc(cs, sel, *d);
	if (seg_is_system(cs->attr) || !seg_is_code(cs->attr) ||
	    SEG_DPL(cs->attr) > (unsigned)vm->cpu.cpl) {
		exc_raise(vm, VEC_GP, true, err);
		return -1;
	}
	if (!seg_present(cs->attr)) {
		exc_raise(vm, VEC_NP, true, err);
		return -1;
	}
	return 0;
}

/* A call gate's code segment, as gate_code_seg() checks it, marked accessed. */
static int gate_target(struct vm *vm, uint16_t csel, struct seg *cs)
{
	uint64_t d;
	uint32_t lin;
	if (gate_code_seg(vm, csel, 0, cs, &d, &lin) < 0)
		return -1;
	desc_mark_accessed(vm, &d, lin);
	cs->attr |= SEG_ACCESSED;
	return 0;
}

/* The gate's entry point: a 16-bit gate's offset is its low word (SDM Vol. 2, CALL). */
static uint32_t gate_offset(uint64_t gate)
{
	return DESC_TYPE(gate) == DESC_CALL_GATE16 ? GATE_OFF(gate) & 0xffff : GATE_OFF(gate);
}

/*
 * A CALL through gate to code cs at a more privileged level (SDM Vol. 2, CALL,
 * "MORE-PRIVILEGE"): the stack of cs's DPL from the TSS gets the caller's SS:ESP, the
 * gate's parameter count of dwords copied from the caller's stack, then CS:EIP; each
 * a word through a 16-bit gate (size 2).
 */
static int call_gate_inner(struct vm *vm, uint64_t gate, struct seg *cs, uint32_t next, int size)
{
	struct cpu *c = &vm->cpu;
	int dpl = (int)SEG_DPL(cs->attr);
	uint16_t nss;
	uint32_t nesp;
	struct seg ss;
	if (tss_ring_stack(vm, dpl, &nss, &nesp, 0) < 0 ||
	    stack_seg_check(vm, nss, dpl, &ss, VEC_TS, 0) < 0)
		return -1;
	int nparam = GATE_PARAMS(gate);
	uint32_t frame[4 + 31];
	int n = 0;
	frame[n++] = c->seg[SR_SS].sel;
	frame[n++] = c->sh->regs[R_ESP];
	for (int k = nparam - 1; k >= 0; k--) {
		uint32_t v = 0;
		if (seg_read(vm, SR_SS, c->sh->regs[R_ESP] + (uint32_t)(size * k), &v,
			     (uint32_t)size) < 0)
			return -1;
		frame[n++] = v;
	}
	frame[n++] = c->seg[SR_CS].sel;
	frame[n++] = next;
	uint32_t off = gate_offset(gate);
	if (off > cs->limit) {
		exc_raise(vm, VEC_GP, true, 0);
		return -1;
	}
	if (push_frame(vm, &ss, &nesp, frame, n, size, nss & SEL_ERR_MASK) < 0)
		return -1;
	priv_switch(vm, cs, dpl, &ss, nesp);
	c->sh->eip = off;
	return 0;
}

int far_via_call_gate(struct vm *vm, uint16_t sel, uint64_t gate, bool call, uint32_t next)
{
	struct cpu *c = &vm->cpu;
	unsigned gdpl = DESC_DPL(gate);
	uint32_t gerr = sel & SEL_ERR_MASK;
	if (gdpl < (unsigned)c->cpl || gdpl < SEL_RPL(sel)) {
		exc_raise(vm, VEC_GP, true, gerr);
		return -1;
	}
	if (!desc_present(gate)) {
		exc_raise(vm, VEC_NP, true, gerr);
		return -1;
	}
	/* A 16-bit gate pushes words and enters at a 16-bit offset (SDM Vol. 2, CALL:
	 * "CallGateSize = 16"). */
	int size = DESC_TYPE(gate) == DESC_CALL_GATE16 ? 2 : 4;
	struct seg cs;
	uint16_t csel = GATE_SEL(gate);
	uint32_t off = gate_offset(gate);
	if (gate_target(vm, csel, &cs) < 0)
		return -1;
	unsigned dpl = SEG_DPL(cs.attr);
	bool conforming = seg_is_conforming(cs.attr);
	if (!call && !(conforming ? dpl <= (unsigned)c->cpl : dpl == (unsigned)c->cpl)) {
		exc_raise(vm, VEC_GP, true, csel & SEL_ERR_MASK);
		return -1;
	}
	if (call && !conforming && dpl < (unsigned)c->cpl)
		return call_gate_inner(vm, gate, &cs, next, size);
	if (off > cs.limit) {
		exc_raise(vm, VEC_GP, true, 0);
		return -1;
	}
	if (call) {
		uint32_t esp = c->sh->regs[R_ESP];
		if (stack_push(vm, c->seg[SR_CS].sel, size) < 0 || stack_push(vm, next, size) < 0) {
			c->sh->regs[R_ESP] = esp;
			return -1;
		}
	}
	cs.sel = (uint16_t)((csel & ~3u) | (unsigned)c->cpl);
	c->seg[SR_CS] = cs;
	seg_sync(vm, SR_CS);
	c->sh->eip = off;
	return 0;
}

bool io_permitted(struct vm *vm, uint16_t port, int size)
{
	struct cpu *c = &vm->cpu;
	if ((unsigned)c->cpl <= EFLAGS_IOPL(c->sh->vflags))
		return true;
	const struct seg *tr = &c->tr;
	if (!seg_usable(tr) || !tss32(tr) || tr->limit < TSS32_MIN_LIMIT)
		return false;
	uint16_t base = 0, bits = 0;
	lin_read(vm, tr->base + TSS_IOMAP, &base, 2);
	/* The CPU reads two bytes of the bitmap; both must lie inside the TSS limit. */
	uint32_t at = (uint32_t)base + port / 8;
	if (at + 1 > tr->limit)
		return false;
	lin_read(vm, tr->base + at, &bits, 2);
	uint32_t want = ((1u << size) - 1) << (port % 8);
	return (bits & want) == 0;
}
