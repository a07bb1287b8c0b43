/*
 * rewriter.c - the block driver: translate the guest block at CS:EIP into the code
 * cache, in phases (rw_translate): fetch the guest bytes, open a block, then for each
 * instruction decode, classify (insnclass.c, and what the mode and the learnt sites
 * change) and call the emitter of its kind (mangle_branch.c, mangle_state.c); finish
 * the block with its exit and table stubs, note its pages, commit it, trace it.
 *
 * Emitted code runs in compatibility mode with the guest's registers in the host's,
 * the guest's stack as the host stack (SS is the guest's shadow), and GS as the
 * monitor's data segment. Nothing emitted changes the arithmetic flags: a guest block
 * may leave them live for the next one. Any instruction the translation cannot
 * reproduce exactly at CPL 3 is a callout (the monitor emulates it and resumes at the
 * next instruction).
 *
 * Every guest memory access in emitted code happens before the sequence changes any
 * guest-visible state, or with the state recoverable from the side table, so a host
 * fault inside it is a precise guest fault (see signals.c).
 */
#include "translate.h"
#include "insnclass.h"
#include "sites.h"
#include "x86len.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#include "../arch/x86.h"

#define MAX_HOST        CC_RESERVE      /* reserve per block, in line and out of line */
/* Room kept free while a block grows: the code of any one instruction (an indirect
 * call with its inline cache and lookup is the largest, about 330 bytes) and the exit
 * stubs of MAX_EXITS slots. */
#define HOST_MARGIN     1024
/* Decodes kept by their bytes (xdecode.h): 2^16 of 32 bytes (2 MiB). A Debian 12
 * boot with systemd and 300 runs of a dynamic program found 92% of 34.7M decodes
 * there (95% with 2^17). */
#define XDECODE_BITS    16

const struct rw_stats *rw_stats(struct rewriter *rw)
{
	const struct xdecode_stats *x = xd_stats(rw->xd);
	rw->stats.decodes = x->hits + x->misses;
	rw->stats.decodes_kept = x->hits;
	return &rw->stats;
}

struct rewriter *rw_create(const struct rw_host *host, const struct cpu *cpu, struct sites *sites,
			   struct codecache *cc, bool trace, FILE *perf_map)
{
	struct rewriter *rw = calloc(1, sizeof(*rw));
	if (!rw)
		return NULL;
	rw->host = *host;
	rw->cpu = cpu;
	rw->sites = sites;
	rw->cc = cc;
	rw->trace = trace;
	rw->perf_map = perf_map;
	if (cs_open(CS_ARCH_X86, CS_MODE_32, &rw->cs) != CS_ERR_OK) {
		free(rw);
		return NULL;
	}
	cs_option(rw->cs, CS_OPT_DETAIL, CS_OPT_ON);
	rw->insn = cs_malloc(rw->cs);
	rw->xd = xd_create(XDECODE_BITS);
	if (!rw->insn || !rw->xd) {
		rw_destroy(rw);
		return NULL;
	}
	return rw;
}

void rw_destroy(struct rewriter *rw)
{
	if (!rw)
		return;
	xd_destroy(rw->xd);
	if (rw->insn)
		cs_free(rw->insn, 1);
	cs_close(&rw->cs);
	free(rw);
}

/* A present, writable, expand-up data segment with a 4 GiB limit (and base 0 if
 * zero_base): accesses through it can only fault on paging. */
bool rw_flat_data(const struct seg *s, bool zero_base)
{
	return (s->sel & 0xfffc) && (s->attr & 0x9e) == 0x92 && s->limit == 0xffffffffu &&
	       (!zero_base || s->base == 0);
}

uint32_t rw_mode(const struct cpu *c)
{
	return (uint32_t)c->cpl | ((c->seg[SR_CS].attr & SEG_DB) ? 4u : 0u) |
	       (c->cr0 & (CR0_MP | CR0_EM | CR0_TS)) << 2 |
	       ((c->cr4 & CR4_OSFXSR) ? 0 : MODE_NO_SSE) |
	       ((unsigned)c->cpl <= ((c->sh->vflags & FL_IOPL) >> 12) ? MODE_IO_OK : 0) |
	       ((!(c->cr4 & CR4_TSD) || c->cpl == 0) && c->tsc_base == 0 ? MODE_TSC : 0) |
	       (c->cpl == 3 ? MODE_GS_IN_FS : 0) |
	       (c->cpl == 3 && rw_flat_data(&c->seg[SR_DS], true) &&
		rw_flat_data(&c->seg[SR_GS], false) ? MODE_GS_LIN : 0) |
	       ((c->seg[SR_SS].attr & SEG_DB) ? 0 : MODE_SS16);
}

uint16_t rw_native_fs_sel(uint32_t mode, uint16_t fs, uint16_t ggs)
{
	return (mode & MODE_GS_IN_FS) ? ggs : fs;
}

uint16_t rw_native_fs(const struct cpu *c, uint32_t mode)
{
	return rw_native_fs_sel(mode, c->sh->hsel[SR_FS], c->sh->hsel_ggs);
}

void rw_set_breaks(struct rewriter *rw, const uint32_t *lin, int n)
{
	rw->nbrk = n < RW_MAX_BREAKS ? n : RW_MAX_BREAKS;
	memcpy(rw->brk, lin, (size_t)rw->nbrk * sizeof(*lin));
}

/* Is there an instruction breakpoint at linear lin? */
static bool at_break(const struct rewriter *rw, uint32_t lin)
{
	for (int k = 0; k < rw->nbrk; k++)
		if (rw->brk[k] == lin)
			return true;
	return false;
}

/* Stop the VM with a monitor error (printf-style message). */
static void rw_stop(struct rewriter *rw, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rw->host.stop(rw->host.opaque, msg);
}

/*
 * A position-independent i386 program finds itself with `call thunk` where the thunk is
 * `mov (%esp), reg; ret` (GCC's __x86.get_pc_thunk.reg): every function of a PIC
 * binary calls one, and its RET, returning to each caller in turn, missed the inline
 * cache and took the table every time. Returns reg if the code at linear lin (in the
 * current address space, its physical page in *ppn) is such a thunk, else -1.
 */
int pc_thunk(struct rewriter *rw, uint32_t lin, uint32_t *ppn)
{
	uint64_t pa;
	bool user = rw->cpu->cpl == 3;
	if ((lin & 0xfff) > 0xffc || rw->host.peek(rw->host.opaque, lin, user, &pa) < 0 ||
	    (rw->nbrk && (at_break(rw, lin) || at_break(rw, lin + 3))))
		return -1;
	const uint8_t *p = rw->host.phys(rw->host.opaque, pa, 4);
	if (!p || p[0] != 0x8b || (p[1] & 0xc7) != 0x04 || p[2] != 0x24 || p[3] != 0xc3 ||
	    ((p[1] >> 3) & 7) == R_ESP)
		return -1;
	/* Its page's A bit, as the translation of the caller's own page sets it. */
	if (rw->host.translate(rw->host.opaque, lin, user, &pa) < 0)
		return -1;
	*ppn = (uint32_t)(pa >> 12);
	return (p[1] >> 3) & 7;
}

/*
 * Phase 1: the bytes, into rw->code: the rest of this page, and up to 15 of the next
 * if it is there (an instruction cut off at the page end becomes a callout, whose
 * fetch raises the #PF). The two pages need not be contiguous in guest physical
 * memory. False if an exception was raised or the VM stopped.
 */
static bool fetch_block(struct rewriter *rw, struct tblock *t, uint32_t eip)
{
	const struct seg *cs = &rw->cpu->seg[SR_CS];
	bool user = rw->cpu->cpl == 3;
	if (eip > cs->limit) {
		rw->host.raise(rw->host.opaque, VEC_GP, true, 0);
		return false;
	}
	t->eip = eip;
	t->lin = cs->base + eip;
	if (rw->host.translate(rw->host.opaque, t->lin, user, &t->pa) < 0)
		return false;
	uint32_t in_page = 4096 - (t->lin & 0xfff);
	uint64_t want = (uint64_t)in_page + 15;
	if (want > (uint64_t)cs->limit - eip + 1)
		want = (uint64_t)cs->limit - eip + 1;
	uint32_t first_len = (uint32_t)(want < in_page ? want : in_page);
	const uint8_t *first = rw->host.phys(rw->host.opaque, t->pa, first_len);
	if (!first) {
		rw_stop(rw, "guest jumped to eip %#x (linear %#x, physical %#llx): no RAM there", eip,
			t->lin, (unsigned long long)t->pa);
		return false;
	}
	memcpy(rw->code, first, first_len);
	if (want > in_page) {
		const uint8_t *second = NULL;
		if (rw->host.peek(rw->host.opaque, t->lin + in_page, user, &t->pa_next) == 0)
			second = rw->host.phys(rw->host.opaque, t->pa_next, (uint32_t)(want - in_page));
		if (second)
			memcpy(rw->code + in_page, second, want - in_page);
		else
			want = in_page;
		t->next_missing = !second;
		t->have_next = second != NULL;
	}
	t->want = want;
	return true;
}

/* An entry point at eip starts here: its guard first, if the block has them. */
void add_entry(struct tblock *t, uint32_t eip)
{
	t->entries[t->nentries++] = (struct entry){ .eip = eip, .host = xb_here(&t->e.b) };
	if (t->guards)
		emit_guard(&t->e.b);
}

/* Phase 2: room in the cache (flushing it, and the sites learnt, when it is full) and
 * a new block whose first entry point is its start. False if the VM stopped. */
static bool begin_block(struct rewriter *rw, struct tblock *t, bool oneshot)
{
	uint8_t *cold;
	uint8_t *host = cc_reserve(rw->cc, &cold);
	if (!host) {
		cc_flush(rw->cc);
		sites_clear(rw->sites);
		host = cc_reserve(rw->cc, &cold);
	}
	t->blk = cc_new_block(rw->cc);
	if (!t->blk) {
		rw_stop(rw, "out of memory for translations");
		return false;
	}
	t->rw = rw;
	t->oneshot = oneshot;
	t->mode = rw_mode(rw->cpu);
	t->e = (struct emit){ .b = { host }, .start = host, .cold_start = cold, .cold = cold,
			      .mode = t->mode, .limited = rw->cpu->seg[SR_CS].limit != 0xffffffffu,
			      .cc = rw->cc, .far_exit = rw->host.far_exit,
			      .lookup_miss = rw->host.lookup_miss };
	/* What a CR3 load may detach gets guards: not code on global pages (a block
	 * that runs on into a page that is not global has none, and is parked). */
	t->guards = !oneshot && !rw->host.page_is(rw->host.opaque, t->lin, RW_PAGE_GLOBAL);
	add_entry(t, t->eip);
	return true;
}

/* Where the guest bytes not yet translated start. */
struct cursor {
	const uint8_t *code;
	size_t size;
	uint64_t addr;
	uint32_t next;                  /* its guest EIP */
};

/*
 * Decode the instruction at the cursor into in and move the cursor past it. 16-bit
 * code is translated as the 32-bit code that does the same: the instruction with its
 * size prefixes toggled (normalize16, into n16), decoded, checked and emitted in that
 * form. *gavail: the bytes there are from in->b on. False if it does not decode (or
 * is cut off at the end of the bytes).
 */
static bool decode_insn(struct rewriter *rw, const struct tblock *t, struct cursor *cur,
			struct tinsn *in, uint8_t *n16, size_t *gavail)
{
	bool code16 = !(t->mode & 4);
	int glen = 0, nl = 0;
	if (code16) {
		glen = x86_insn_len16(cur->code, (int)(cur->size < 15 ? cur->size : 15));
		if (glen > 0)
			nl = normalize16(cur->code, glen, n16);
	}
	const uint8_t *dcode = code16 ? n16 : cur->code;
	size_t dsize = code16 ? (size_t)nl : cur->size;
	uint64_t daddr = cur->addr;
	if (code16 && (glen <= 0 || nl > 15))
		return false;
	rw_bsf_form((uint8_t *)dcode, (int)(dsize < 15 ? dsize : 15));  /* in rw->code or n16 */
	struct xinsn x;
	if (!xd_decode(rw->xd, rw->cs, rw->insn, dcode, dsize, daddr, &x)) {
		/* A reserved NOP Capstone rejects is decoded as the NOP it is (its bytes,
		 * made 0F 1F, are what the block copies). */
		uint8_t *b = code16 ? n16 : (uint8_t *)cur->code;     /* in rw->code */
		size_t bn = code16 ? (size_t)nl : cur->size;
		/* SERIALIZE, which Capstone 4 does not know, is decoded as the MFENCE it
		 * becomes (same length; the class comes from the guest's bytes). */
		static const uint8_t mfence[3] = { 0x0f, 0xae, 0xf0 };
		bool serialize = bn >= 3 && b[0] == 0x0f && b[1] == 0x01 && b[2] == 0xe8;
		dcode = serialize ? mfence : b;
		dsize = serialize ? sizeof(mfence) : bn;
		daddr = cur->addr;
		if ((!serialize && !rw_reserved_nop(b, (int)(bn < 15 ? bn : 15))) ||
		    !cs_disasm_iter(rw->cs, &dcode, &dsize, &daddr, rw->insn))
			return false;
		x = xd_summary(rw->insn);
	}
	if (code16 && x.len != nl)
		return false;
	if (!code16)
		glen = x.len;
	*gavail = code16 ? (size_t)nl : cur->size;
	in->b = code16 ? n16 : cur->code;
	in->len = x.len;
	in->npfx = rw_prefix_len(in->b, in->len);
	in->op = in->b + in->npfx;
	in->eip = cur->next;
	in->after = cur->next + (uint32_t)glen;
	in->xflags = x.flags;
	cur->code += glen;
	cur->size -= (size_t)glen;
	cur->addr += (uint64_t)glen;
	return true;
}

/* The kind of translation in needs: its class, unless the mode or what its site
 * learnt makes it a callout. Sets in->site. */
static enum kind classify_insn(struct rewriter *rw, const struct tblock *t, struct tinsn *in)
{
	const struct seg *cs = &rw->cpu->seg[SR_CS];
	uint32_t mode = t->mode;
	const uint8_t *op = in->op;
	enum kind k = in->len > 15 ? K_CALLOUT : classify(in->b, in->npfx, in->len);
	/* A direct branch past the CS limit faults at the branch (#GP(0)). */
	if ((k == K_JCC || k == K_LOOP || k == K_JMP || k == K_CALL) &&
	    branch_target(op, in->after) > cs->limit)
		k = K_CALLOUT;
	/* With CR0.TS or EM set, FPU, MMX and SSE instructions fault (#NM/#UD). */
	if ((mode & MODE_FPU_TRAP) && k == K_IDENT && rw_is_fpu(op, in->len - in->npfx))
		k = K_CALLOUT;
	if ((mode & MODE_NO_SSE) && k == K_IDENT && (in->xflags & XI_SSE))
		k = K_CALLOUT;
	if ((k == K_CLI || k == K_STI) && !(mode & MODE_IO_OK))
		k = K_CALLOUT;          /* #GP(0) */
	if (k == K_CR2_READ && (mode & 3) != 0)
		k = K_CALLOUT;          /* #GP(0) */
	if ((k == K_RDTSC || k == K_RDTSCP) && !(mode & MODE_TSC))
		k = K_CALLOUT;          /* #GP(0) under CR4.TSD, or a TSC offset */
	/* On a 16-bit stack the emitted [esp] addressing would use ESP, the CPU's
	 * pushes and pops SP: PUSHFD, POPFD and RET n go to the monitor. */
	if ((mode & MODE_SS16) && (k == K_PUSHF || k == K_POPF || (k == K_RET && op[0] == 0xc2)))
		k = K_CALLOUT;
	/* SYSENTER and INT n from CPL 3, SYSEXIT and IRET from CPL 0, in 32-bit code on a
	 * 32-bit stack run in line (monitor/kentry.c), never alone (single-steps want the
	 * dispatcher). */
	if ((k == K_SYSENTER || k == K_SYSEXIT || k == K_INT || k == K_IRET) &&
	    (t->oneshot || !(mode & 4) || (mode & MODE_SS16) ||
	     (mode & 3) != (k == K_SYSENTER || k == K_INT ? 3u : 0u)))
		k = K_CALLOUT;
	/* An access there had to be emulated before: a callout emulates it. */
	in->site = sites_get(rw->sites, cs->base + in->eip);
	if ((in->site & SITE_EMULATE) && k != K_JCC && k != K_LOOP && k != K_JMP)
		k = K_CALLOUT;
	return k;
}

/* The monitor emulates the instruction; the block ends with it. A load of CR3 (each
 * guest context switch) says which register it loads, so that the monitor need not
 * fetch and decode it again: in 32-bit code, without a prefix, as 0F 22 with mod 11
 * (the CPU ignores mod there; other forms take the general way). */
static void emit_callout(struct tblock *t, const struct tinsn *in)
{
	uint32_t info = 0;
	if ((t->mode & 4) && in->npfx == 0 && in->len == 3 && in->op[0] == 0x0f &&
	    in->op[1] == 0x22 && (in->op[2] & 0xf8) == 0xd8)
		info = CALLOUT_CR3 | (uint32_t)(in->op[2] & 7) << CALLOUT_REG_SHIFT;
	emit_exit_word(&t->e, in->eip, EXIT_CALLOUT << EXIT_SHIFT | info);
	t->blk->callout_first = t->ninsn == 1;
	t->blk->callout_info = info;
	t->ended = true;
}

/* The emitter of each kind. */
static void emit_insn(struct tblock *t, enum kind k, const struct tinsn *in)
{
	switch (k) {
	case K_IDENT:           emit_ident(t, in, !(t->mode & 4)); break;
	case K_SREG_READ:       emit_sreg_read(t, in); break;
	case K_SREG_PUSH:       emit_sreg_push(t, in); break;
	case K_JCC:             emit_jcc(t, in); break;
	case K_LOOP:            emit_loop(t, in); break;
	case K_JMP:             emit_direct_jmp(t, in); break;
	case K_CALL:            emit_direct_call(t, in); break;
	case K_CALL_IND:        emit_indirect_call(t, in); break;
	case K_JMP_IND:         emit_indirect_jmp(t, in); break;
	case K_RET:             emit_return(t, in); break;
	case K_CLI:             emit_cli(t, in); break;
	case K_STI:             emit_sti(t, in); break;
	case K_RDTSC:           emit_tsc_read(t, in); break;
	case K_RDTSCP:          emit_tscp_read(t, in); break;
	case K_CR2_READ:        emit_mov_gs_load(&t->e.b, in->op[2] & 7, VCPU_ADDR + VC_CR2); break;
	case K_SERIALIZE:       emit_serialize(t, in); break;
	case K_PUSHF:           emit_pushf(t, in); break;
	case K_POPF:            emit_popf(t, in); break;
	case K_SYSENTER:        emit_sysenter(t, in); break;
	case K_SYSEXIT:         emit_sysexit(t, in); break;
	case K_INT:             emit_int(t, in); break;
	case K_IRET:            emit_iret(t, in); break;
	case K_SREG_LOAD:
		if (emit_sreg_load(t, in))
			break;
		__attribute__((fallthrough));   /* a callout */
	case K_CALLOUT:         emit_callout(t, in); break;
	}
}

/* Phase 3, for one instruction: its side entry, decode, classify, emit. False if the
 * VM was stopped (the block is then abandoned). */
static bool translate_insn(struct rewriter *rw, struct tblock *t, struct cursor *cur)
{
	struct side_entry *se = &rw->side[t->ninsn];
	se->eip = cur->next;
	se->hoff = (uint16_t)(t->e.b.p - t->e.start);
	se->flags = 0;
	t->ninsn++;
	struct tinsn in = { .se = se };
	uint8_t n16[32];
	size_t gavail;
	if (!decode_insn(rw, t, cur, &in, n16, &gavail)) {
		/* Undecodable or cut off: the monitor raises #UD or #GP for it (or the
		 * #PF of the next page). A block whose last instruction was cut off by a
		 * missing page is good only while that page is. */
		t->blk->cut = t->next_missing && cur->size < 15;
		t->blk->callout_info = t->blk->cut ? CALLOUT_CUT : 0;
		emit_exit_word(&t->e, cur->next, EXIT_CALLOUT << EXIT_SHIFT | t->blk->callout_info);
		t->blk->callout_first = t->ninsn == 1;
		t->ended = true;
		return true;
	}
	enum kind k = classify_insn(rw, t, &in);
	if ((k == K_IDENT || k == K_CALL_IND || k == K_JMP_IND) && !(in.xflags & XI_LEN_AGREES) &&
	    x86_insn_len(in.b, (int)gavail) != in.len) {
		/* Copying bytes whose length the CPU may see otherwise is how a guest
		 * would smuggle an unclassified instruction past the rewriter. */
		rw_stop(rw, "eip %#x: decoders disagree on the instruction's length (Capstone %d, "
			"trapeze %d): bytes %02x %02x %02x %02x %02x %02x ...", in.eip, in.len,
			x86_insn_len(in.b, (int)gavail), in.b[0], in.b[1], in.b[2], in.b[3], in.b[4],
			in.b[5]);
		return false;
	}
	emit_insn(t, k, &in);
	cur->next = in.after;
	return true;
}

/* Phase 4: the fall-through exit of a block that did not end with a transfer, then
 * out of line the exit stubs of the chainable slots and the entries' table stubs. */
static void finish_block(struct tblock *t, uint32_t next)
{
	struct emit *e = &t->e;
	struct block *blk = t->blk;
	if (!t->ended) {
		/* A call's continuation that got no code is no entry point. */
		uint32_t guard = t->guards ? GUARD_LEN : 0;
		if (t->nentries > 1 && t->entries[t->nentries - 1].host + guard == xb_here(&e->b)) {
			t->nentries--;
			e->b.p -= guard;
		}
		add_slot(t, emit_jmp_rel32(&e->b, 0), next);
	}
	assert(t->nslots <= MAX_EXITS);
	swap_cold(e);
	blk->nexits = (uint8_t)t->nslots;
	for (int s = 0; s < t->nslots; s++) {
		struct exit_slot *x = &blk->exit[s];
		x->target = t->slots[s].target;
		x->field = t->slots[s].field;
		x->stub = xb_here(&e->b);
		x->stub_eip = x->stub + EXIT_EIP_IMM;
		patch_rel32(x->field, x->stub);
		emit_exit_word(e, x->target,
			       EXIT_CHAIN << EXIT_SHIFT | blk->id << SLOT_BITS | (uint32_t)s);
	}
	for (int i = 0; i < t->nentries; i++) {
		t->entries[i].thost = emit_table_stub(e, t->entries[i].host);
		if (!t->guards)
			continue;
		t->entries[i].guard_exit = xb_here(&e->b);
		emit_exit_word(e, t->entries[i].eip,
			       EXIT_GUARD << EXIT_SHIFT | blk->id << SLOT_BITS | (uint32_t)i);
	}
	swap_cold(e);
	assert(e->b.p - e->start < MAX_HOST && e->cold - e->cold_start < MAX_HOST);
}

/* Phase 5: the block's key, its guest pages (its bytes', then an inlined thunk's) and
 * their attributes, its code's extent, entries and side table. */
static void describe_block(struct rewriter *rw, struct tblock *t, uint32_t next)
{
	const struct seg *cs = &rw->cpu->seg[SR_CS];
	struct block *blk = t->blk;
	void *h = rw->host.opaque;
	uint32_t lin = t->lin, last = lin + (next - t->eip) - 1;
	uint32_t lin2 = (lin & ~0xfffu) + 0x1000;
	blk->eip = t->eip;
	blk->cs_base = cs->base;
	blk->cs_limit = cs->limit;
	blk->mode = t->mode;
	blk->guest_len = (uint16_t)(next - t->eip);
	blk->ninsn = (uint16_t)t->ninsn;
	blk->page[0] = (uint32_t)(t->pa >> 12);
	blk->npages = 1;
	if (blk->guest_len && (last >> 12) != (lin >> 12))
		blk->page[blk->npages++] = (uint32_t)(t->pa_next >> 12);
	bool xpage = t->xpage;
	if (xpage && blk->npages == 2 && t->xlpn == (lin >> 12) + 1)
		xpage = false;          /* the thunk's page is the block's second anyway */
	blk->xpage = xpage;
	blk->xlpn = t->xlpn;
	if (xpage)
		blk->page[blk->npages] = t->xppn;
	/* On global pages (CR4.PGE) the block survives CR3 loads. */
	bool (*is)(void *, uint32_t, unsigned) = rw->host.page_is;
	blk->global = is(h, lin, RW_PAGE_GLOBAL) &&
		      (blk->npages == 1 || is(h, lin2, RW_PAGE_GLOBAL)) &&
		      (!xpage || is(h, t->xlpn << 12, RW_PAGE_GLOBAL));
	blk->large = is(h, lin, RW_PAGE_LARGE) ||
		     (blk->npages == 2 && is(h, lin2, RW_PAGE_LARGE)) ||
		     (xpage && is(h, t->xlpn << 12, RW_PAGE_LARGE));
	blk->host_len = (uint32_t)(t->e.b.p - t->e.start);
	blk->cold_len = (uint32_t)(t->e.cold - t->e.cold_start);
}

/* Phase 6, after the commit: --trace and --perf-map. */
static void report_block(struct rewriter *rw, const struct block *blk)
{
	if (rw->trace)
		fprintf(stderr, "trapeze: translate eip %#x: %d insns, %u guest bytes -> %u host bytes at %#x\n",
			blk->eip, blk->ninsn, blk->guest_len, blk->host_len, blk->host);
	if (rw->perf_map) {
		fprintf(rw->perf_map, "%x %x guest_%08x\n", blk->host, blk->host_len,
			blk->cs_base + blk->eip);
		fprintf(rw->perf_map, "%x %x guest_%08x_cold\n", blk->cold, blk->cold_len,
			blk->cs_base + blk->eip);
	}
}

struct block *rw_translate(struct rewriter *rw, uint32_t eip, bool oneshot)
{
	uint64_t t0 = __rdtsc();
	struct tblock t = { 0 };
	if (!fetch_block(rw, &t, eip) || !begin_block(rw, &t, oneshot))
		return NULL;
	struct cursor cur = { rw->code, t.want, eip, eip };
	if (rw->nbrk && !oneshot && at_break(rw, t.lin)) {
		/* The monitor checks the breakpoint (and runs the instruction alone). */
		rw->side[t.ninsn++] = (struct side_entry){ .eip = eip };
		emit_exit_word(&t.e, eip, EXIT_BREAK << EXIT_SHIFT);
		t.ended = true;
	}
	while (!t.ended && !t.stop && t.ninsn < (oneshot ? 1 : MAX_INSNS) &&
	       t.e.b.p - t.e.start < MAX_HOST - HOST_MARGIN &&
	       t.e.cold - t.e.cold_start < MAX_HOST - HOST_MARGIN) {
		/* A new instruction starts only on the first page; one may run into the next. */
		uint32_t lin = rw->cpu->seg[SR_CS].base + cur.next;
		if (t.ninsn > 0 && (lin >> 12) != (t.lin >> 12))
			break;
		/* A breakpointed instruction starts a block of its own. */
		if (t.ninsn > 0 && rw->nbrk && at_break(rw, lin))
			break;
		if (!translate_insn(rw, &t, &cur))
			return NULL;
	}
	finish_block(&t, cur.next);
	struct block *b = cc_set_entries(rw->cc, t.blk, t.entries, t.nentries, rw->side, t.ninsn);
	if (!b) {
		rw_stop(rw, "out of memory for translations");
		return NULL;
	}
	t.blk = b;
	describe_block(rw, &t, cur.next);
	if (oneshot)
		cc_commit_oneshot(rw->cc, t.blk);
	else
		cc_commit(rw->cc, t.blk);
	rw->stats.translate_cycles += __rdtsc() - t0;
	report_block(rw, t.blk);
	return t.blk;
}
