/*
 * debug.c - the sources of #DB (SDM Vol. 3, chapter 18): single-stepping, the debug
 * registers' breakpoints and DR6, RF and general detect. See debug.h for the design;
 * the dispatcher (cpu.c) calls dbg_before_insn, dbg_step_begin and dbg_step_end, the
 * callout emulator dbg_general_detect (MOV DR) and dbg_io (IN/OUT), the host fault path
 * dbg_watch_fault, and MOV to DR0-DR3/DR7/CR4 dbg_rearm.
 */
#include "debug.h"

#include <string.h>

#include <capstone/capstone.h>

#include "decode.h"
#include "exceptions.h"
#include "vm.h"
#include "../codecache/codecache.h"
#include "../rewriter/rewriter.h"
#include "../rewriter/sites.h"
#include "../shadowmmu/mmu.h"

/* ---- arming ---- */

static_assert(DBG_POINTS <= RW_MAX_BREAKS, "the translator holds every instruction breakpoint");
static_assert(DBG_POINTS <= 32, "owners are bits of a uint32_t");

/* DR7's fields for breakpoint n (SDM Vol. 3, 18.2.4, 18.2.5): enabled locally or
 * globally (one CPU: the same), its R/W kind, its length (LEN 00 1 byte, 01 2, 11 4,
 * 10 8). */
static bool dr7_enabled(uint32_t dr7, int n) { return (dr7 >> (2 * n)) & 3; }
static enum dbg_kind dr7_kind(uint32_t dr7, int n) { return (enum dbg_kind)((dr7 >> (16 + 4 * n)) & 3); }
static uint32_t dr7_len(uint32_t dr7, int n)
{
	static const uint32_t len[4] = { 1, 2, 8, 4 };
	return len[(dr7 >> (18 + 4 * n)) & 3];
}

static void add_point(struct dbg *d, uint32_t addr, uint32_t len, enum dbg_kind kind, int owner)
{
	/* An instruction breakpoint is one byte; the guest's others cover their aligned
	 * range (the address's low bits are ignored, 18.2.5), a debugger's the range it
	 * asked for. */
	if (kind == DBG_EXEC)
		len = 1;
	if (owner < DBG_HOST_OWNER)
		addr &= ~(len - 1);
	d->pt[d->npt++] = (struct dbg_point){ addr, len, kind, owner };
}

static bool is_data_kind(enum dbg_kind kind)
{
	return kind == DBG_WRITE || kind == DBG_ACCESS || kind == DBG_READ;
}

/* The linear addresses of instruction breakpoints, into lin (at most DBG_POINTS). */
static int exec_list(const struct dbg *d, uint32_t *lin)
{
	int n = 0;
	for (int k = 0; k < d->npt; k++)
		if (d->pt[k].kind == DBG_EXEC)
			lin[n++] = d->pt[k].addr;
	return n;
}

/* The linear pages data breakpoints lie on, into lpn (at most 2 * DBG_POINTS). */
static int watch_list(const struct dbg *d, uint32_t *lpn)
{
	int n = 0;
	for (int k = 0; k < d->npt; k++) {
		const struct dbg_point *p = &d->pt[k];
		if (!is_data_kind(p->kind))
			continue;
		lpn[n++] = p->addr >> 12;
		if ((p->addr + p->len - 1) >> 12 != p->addr >> 12)
			lpn[n++] = (p->addr + p->len - 1) >> 12;
	}
	return n;
}

static bool same_list(const uint32_t *a, int na, const uint32_t *b, int nb)
{
	if (na != nb)
		return false;
	for (int k = 0; k < na; k++)
		if (a[k] != b[k])
			return false;
	return true;
}

static void close_pages(struct vm *vm);

void dbg_rearm(struct vm *vm)
{
	struct dbg *d = &vm->dbg;
	struct cpu *c = &vm->cpu;
	close_pages(vm);        /* (an instruction that opened pages is past by now) */
	uint32_t old_exec[DBG_POINTS], new_exec[DBG_POINTS];
	int n_old = exec_list(d, old_exec);
	d->npt = 0;
	for (int n = 0; n < 4; n++) {
		uint32_t dr7 = c->dr[7];
		enum dbg_kind kind = dr7_kind(dr7, n);
		/* R/W 10 is an I/O breakpoint only under CR4.DE; undefined without it. */
		if (!dr7_enabled(dr7, n) || (kind == DBG_IO && !(c->cr4 & CR4_DE)))
			continue;
		add_point(d, c->dr[n], dr7_len(dr7, n), kind, n);
	}
	for (int k = 0; k < d->nhost; k++)
		add_point(d, d->host[k].addr, d->host[k].len, d->host[k].kind, DBG_HOST_OWNER + k);
	d->io = false;
	for (int k = 0; k < d->npt; k++)
		d->io |= d->pt[k].kind == DBG_IO;
	d->armed = d->npt > 0;

	/* Blocks were translated for the old set: they all go (rare, and simple). */
	int n_new = exec_list(d, new_exec);
	if (!same_list(old_exec, n_old, new_exec, n_new)) {
		rw_set_breaks(vm->rw, new_exec, n_new);
		cc_flush(vm->cc);
		sites_clear(&vm->sites);
	}
	uint32_t pages[2 * DBG_POINTS];
	d->nwatch = watch_list(d, pages);
	mmu_watch(vm->mmu, pages, d->nwatch);
}

/* The guest's four data breakpoints take at most 8 watched pages; a debugger's
 * points get the rest of the shadow MMU's list. */
#define HOST_WATCH_PAGES (MMU_WATCH_MAX - 8)

int dbg_set_host(struct vm *vm, const struct dbg_point *pts, int n)
{
	struct dbg *d = &vm->dbg;
	if (n < 0 || n > DBG_HOST_MAX)
		return -1;
	int pages = 0;
	for (int k = 0; k < n; k++) {
		const struct dbg_point *p = &pts[k];
		if (!is_data_kind(p->kind))
			continue;
		if (p->len < 1 || p->len > DBG_HOST_LEN || p->addr + (p->len - 1) < p->addr)
			return -1;
		pages += (p->addr + p->len - 1) >> 12 != p->addr >> 12 ? 2 : 1;
	}
	if (pages > HOST_WATCH_PAGES)
		return -1;
	d->nhost = n;
	memcpy(d->host, pts, (size_t)n * sizeof(*pts));
	dbg_rearm(vm);
	return 0;
}

void dbg_host_resume(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	vm->dbg.host_pass = true;
	vm->dbg.host_pass_lin = c->seg[SR_CS].base + c->sh->eip;
}

/* ---- hits ---- */

/* Owners (bit n) of the points of kind-set kinds that [addr, addr + size) meets. */
static uint32_t points_met(const struct dbg *d, uint32_t addr, uint32_t size, unsigned kinds)
{
	uint32_t owners = 0;
	for (int k = 0; k < d->npt; k++) {
		const struct dbg_point *p = &d->pt[k];
		if ((kinds >> p->kind) & 1 && addr <= p->addr + p->len - 1 && p->addr <= addr + size - 1)
			owners |= 1u << p->owner;
	}
	return owners;
}

/* Raise #DB for the guest's points among owners (DR6.B0-B3 say which: 18.2.3) plus
 * the status bits extra; a debugger's go to it. True if the guest gets a #DB. */
static bool raise_hits(struct vm *vm, uint32_t owners, uint32_t extra)
{
	struct cpu *c = &vm->cpu;
	vm->dbg.host_hit |= owners >> DBG_HOST_OWNER;
	uint32_t guest = owners & DR6_B0_3;
	if (!guest && !extra)
		return false;
	if (guest)
		c->dr[6] = (c->dr[6] & ~DR6_B0_3) | guest;
	c->dr[6] |= extra;
	exc_raise(vm, VEC_DB, false, 0);
	return true;
}

bool dbg_before_insn(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	struct dbg *d = &vm->dbg;
	uint32_t lin = c->seg[SR_CS].base + c->sh->eip;
	uint32_t owners = points_met(d, lin, 1, 1u << DBG_EXEC);
	/* The debugger's pass holds until the guest is elsewhere (a host fault may make
	 * the instruction start again). */
	if (d->host_pass && d->host_pass_lin != lin)
		d->host_pass = false;
	if (owners >> DBG_HOST_OWNER && !d->host_pass) {
		d->host_hit |= owners >> DBG_HOST_OWNER;
		return true;
	}
	if (d->host_pass)
		vm->one_step = true;    /* its block is only an exit: run it alone */
	if (c->rf) {
		/* RF: this instruction runs alone, its breakpoint ignored (18.3.1.1). */
		vm->one_step = true;
		return true;
	}
	owners &= DR6_B0_3;
	if (!owners)
		return true;
	/* A fault: EIP stays at the instruction. The frame's RF is as it was (clear), so
	 * the handler sets it to go on (18.3.1.1). */
	if (!raise_hits(vm, owners, 0))
		return true;
	vm->one_step = false;
	return false;
}

void dbg_at_break(struct vm *vm)
{
	vm->one_step = true;    /* a one-shot translation never stops at a breakpoint */
}

bool dbg_general_detect(struct vm *vm)
{
	struct cpu *c = &vm->cpu;
	if (!(c->dr[7] & DR7_GD))
		return false;
	c->dr[7] &= ~DR7_GD;    /* so that the handler can use the registers */
	c->dr[6] |= DR6_BD;
	c->rf = true;           /* a fault: its frame has RF set (18.3.1.1) */
	exc_raise(vm, VEC_DB, false, 0);
	return true;
}

void dbg_io(struct vm *vm, uint16_t port, int size)
{
	vm->dbg.hits |= points_met(&vm->dbg, port, (uint32_t)size, 1u << DBG_IO);
}

void dbg_rep_iteration(struct vm *vm)
{
	vm->dbg.rep_iter = true;
}

/* ---- data breakpoints: watched pages, and the monitor's own accesses ---- */

void dbg_access(struct vm *vm, uint32_t lin, uint32_t len, bool write)
{
	unsigned kinds = 1u << DBG_ACCESS | (write ? 1u << DBG_WRITE : 1u << DBG_READ);
	if (len)
		vm->dbg.hits |= points_met(&vm->dbg, lin, len, kinds);
}

static bool page_open(const struct dbg *d, uint32_t lpn)
{
	for (int k = 0; k < d->nopen; k++)
		if (d->open[k] == lpn)
			return true;
	return false;
}

/*
 * The points the instruction at CS:EIP meets: each memory operand by its own address,
 * size and access (a string instruction's two; the others may lie on pages that are
 * not watched, or already open), and the access that faulted at lin, with the
 * operand size for the implicit ones (the stack).
 */
static uint32_t insn_hits(struct vm *vm, const struct insn *i, uint32_t lin, bool write)
{
	const struct dbg *d = &vm->dbg;
	unsigned rd = 1u << DBG_ACCESS | 1u << DBG_READ, wr = 1u << DBG_ACCESS | 1u << DBG_WRITE;
	uint32_t size = 0, owners = 0;
	for (int k = 0; k < i->x->op_count; k++) {
		const cs_x86_op *m = &i->x->operands[k];
		if (m->type != X86_OP_MEM)
			continue;
		uint32_t n = m->size ? m->size : 1;
		size = n > size ? n : size;
		struct mref r = insn_op_ea(i, m);
		int sr = m->mem.segment == X86_REG_ES ? SR_ES : r.sr;
		unsigned kinds = ((m->access & CS_AC_READ) ? rd : 0) |
				 ((m->access & CS_AC_WRITE) ? wr : 0);
		owners |= points_met(d, vm->cpu.seg[sr].base + r.off, n, kinds ? kinds : rd);
	}
	return owners | points_met(d, lin, size ? size : (uint32_t)i->osize, write ? wr : rd);
}

bool dbg_watch_fault(struct vm *vm, uint32_t lin, bool write)
{
	struct dbg *d = &vm->dbg;
	uint32_t lpn = lin >> 12;
	if (!mmu_watched(vm->mmu, lin) || page_open(d, lpn))
		return false;
	if (d->nopen == DBG_OPEN_MAX) {
		vm_stop(vm, STOP_MONITOR_ERROR, 6, "eip %#x: one instruction touches more than %d "
			"pages watched by data breakpoints", vm->cpu.sh->eip, DBG_OPEN_MAX);
		return true;
	}
	struct insn i;
	if (insn_decode(vm, &i) == 0)
		d->hits |= insn_hits(vm, &i, lin, write);
	d->open[d->nopen++] = lpn;
	d->open_eip = vm->cpu.sh->eip;
	d->open_cs = vm->cpu.seg[SR_CS].sel;
	mmu_watch_open(vm->mmu, lpn, true);
	vm->one_step = true;
	return true;
}

/* The instruction that opened watched pages is done with (or faulted): close them. */
static void close_pages(struct vm *vm)
{
	struct dbg *d = &vm->dbg;
	for (int k = 0; k < d->nopen; k++)
		mmu_watch_open(vm->mmu, d->open[k], false);
	d->nopen = 0;
}

/* ---- single-stepping and the traps after an instruction ---- */

static bool is_string_op(uint8_t op)
{
	return (op >= 0xa4 && op <= 0xa7) || (op >= 0xaa && op <= 0xaf) || (op >= 0x6c && op <= 0x6f);
}

/*
 * A REP string instruction stepped (TF) or watched traps after each iteration (SDM
 * Vol. 3, 18.3.1.4; Vol. 2, REP): it runs with a count of 1, and rep_resume gives
 * back the rest. False if the fetch raised an exception.
 */
static bool rep_one(struct vm *vm, struct dbg_step *s)
{
	struct insn i;
	int bad = insn_decode(vm, &i);
	if (bad < 0)
		return false;
	if (bad > 0 || !i.rep || !is_string_op(i.op[0]))
		return true;
	uint32_t mask = i.a16 ? 0xffffu : 0xffffffffu, *ecx = &vm->cpu.sh->regs[R_ECX];
	if ((*ecx & mask) < 2)
		return true;
	s->rep_count = *ecx & mask;
	s->rep_mask = mask;
	s->rep = i.rep;
	s->rep_op = i.op[0];
	s->rep_next = i.next;
	*ecx = (*ecx & ~mask) | 1;
	return true;
}

/* After a REP string instruction ran one iteration: the count it had less the
 * iterations done, and EIP back at it while iterations remain (CMPS and SCAS also
 * stop on their condition). True if it stays at the instruction after an iteration. */
static bool rep_resume(struct vm *vm, const struct dbg_step *s)
{
	struct cpu *c = &vm->cpu;
	uint32_t *ecx = &c->sh->regs[R_ECX];
	uint32_t done = 1 - (*ecx & s->rep_mask);       /* the clamped count: 1 or 0 left */
	uint32_t left = s->rep_count - done;
	*ecx = (*ecx & ~s->rep_mask) | (left & s->rep_mask);
	if (!done || c->sh->eip != s->rep_next)
		return false;
	bool cond = (s->rep_op & 0xf6) == 0xa6;         /* CMPS A6/A7, SCAS AE/AF */
	bool zf = c->sh->eflags & FL_ZF;
	if (cond && (s->rep == 0xf3 ? !zf : zf))
		return false;
	c->sh->eip = s->eip;
	return true;
}

bool dbg_step_begin(struct vm *vm, struct dbg_step *s)
{
	struct cpu *c = &vm->cpu;
	*s = (struct dbg_step){ .on = c->sh->vflags & FL_TF, .eip = c->sh->eip,
				.cs = c->seg[SR_CS].sel, .deliveries = c->deliveries };
	/* Accesses made outside an instruction (an event's frame) meet nothing; an
	 * instruction that opened watched pages keeps what it met until it is past. */
	if (!vm->dbg.nopen)
		vm->dbg.hits = 0;
	if (!s->on && !vm->dbg.nopen)
		return true;
	if (s->on) {
		vm->one_step = true;
		vm->dbg.ss_shadow = false;
	}
	return rep_one(vm, s);
}

/*
 * After the run (SDM Vol. 3, 18.3.1.4): an instruction that began with TF set and
 * completed (EIP moved on, or a REP iteration done) without delivering an event itself
 * (INT n, an exception: the handler starts with TF clear) raises the #DB trap with
 * DR6.BS, except right after MOV SS / POP SS (6.8.3); POPF and IRET that set TF thus
 * trap after the instruction that follows them. Data and I/O breakpoints the
 * instruction met join the same trap; the instruction that opened watched pages is
 * run alone until it is past (its fault opened another page, or it was redone as a
 * write into code), then they close.
 */
void dbg_step_end(struct vm *vm, struct dbg_step *s)
{
	struct cpu *c = &vm->cpu;
	struct dbg *d = &vm->dbg;
	bool rep_more = (s->rep_mask && rep_resume(vm, s)) || d->rep_iter;
	d->rep_iter = false;
	if (!s->on && !d->nopen && !d->hits)
		return;
	bool faulted = c->exc.pending || vm->stop != STOP_NONE || c->deliveries != s->deliveries;
	bool moved = rep_more || c->sh->eip != s->eip || c->seg[SR_CS].sel != s->cs;
	if (d->nopen && !faulted && !rep_more && c->sh->eip == d->open_eip &&
	    c->seg[SR_CS].sel == d->open_cs) {
		vm->one_step = true;    /* the watched instruction is still to run */
		return;
	}
	if (d->nopen)
		close_pages(vm);
	uint32_t hits = d->hits;
	d->hits = 0;
	if (faulted || !moved)
		return;
	bool step = s->on && !d->ss_shadow;
	d->ss_shadow = false;
	/* A trap after an iteration that is not the last pushes RF = 1 (18.3.1.1). */
	if (raise_hits(vm, hits, step ? DR6_BS : 0) && rep_more)
		c->rf = true;
}
