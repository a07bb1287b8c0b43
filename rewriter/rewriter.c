/*
 * rewriter.c - decode a guest block with Capstone and emit its translation.
 *
 * Emitted code runs in compatibility mode with the guest's registers in the host's,
 * the guest's stack as the host stack (SS is the guest's shadow), and GS as the
 * monitor's data segment. Nothing emitted here changes the arithmetic flags: a guest
 * block may leave them live for the next one. Any instruction the translation cannot
 * reproduce exactly at CPL 3 is a callout (the monitor emulates it and resumes at the
 * next instruction).
 *
 * Every guest memory access in emitted code happens before the sequence changes any
 * guest-visible state, or with the state recoverable from the side table, so a host
 * fault inside it is a precise guest fault (see signals.c).
 */
#include "rewriter.h"
#include "insnclass.h"
#include "sites.h"
#include "x86len.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#include "../codecache/codecache.h"
#include "../shadowmmu/mmu.h"
#include "../shadowmmu/walk.h"
#include "../monitor/exceptions.h"
#include "../monitor/segments.h"
#include "../monitor/stubs.h"
#include "../monitor/vm.h"
#include "../shadowmmu/mem.h"

#define MAX_INSNS       64
#define MAX_HOST        CC_RESERVE      /* reserve per block, in line and out of line */
/* Room kept free while a block grows: the code of any one instruction (an indirect
 * call with its inline cache and lookup is the largest, about 330 bytes) and the exit
 * stubs of MAX_EXITS slots. */
#define HOST_MARGIN     1024
#define FETCH_MAX       (4096 + 16)

/* Instructions the monitor emulates again and again (a port read in a driver's loop,
 * IRET, a system call) are decoded once: Capstone costs about 1000 cycles an
 * instruction here, as much as the rest of a callout. An entry is used only if the
 * bytes are still the same. Linux runs a few hundred callout sites in turn (segment
 * register loads, entry-stack accesses, IRET): 64 entries missed on most of them;
 * 1024 (about 2 MiB) hold them. */
#define DECODE_CACHE 1024
struct decoded {
	uint32_t eip, lin, avail;
	uint8_t bytes[15];              /* the guest's */
	uint8_t nbytes[15];             /* 16-bit code: its 32-bit form, which was decoded */
	uint8_t glen;                   /* the guest's length */
	bool valid, code16;
	cs_insn insn;
	cs_detail detail;
};

struct rewriter {
	struct vm *vm;
	csh cs;                         /* Capstone, 32-bit (16-bit code: normalize16) */
	cs_insn *insn;
	struct side_entry side[MAX_INSNS];
	struct decoded dcache[DECODE_CACHE];
	uint8_t code[4096 + 16];        /* the guest bytes of the block being translated */
	struct rw_stats stats;
};

const struct rw_stats *rw_stats(const struct rewriter *rw)
{
	return &rw->stats;
}

struct rewriter *rw_create(struct vm *vm)
{
	struct rewriter *rw = calloc(1, sizeof(*rw));
	if (!rw)
		return NULL;
	rw->vm = vm;
	if (cs_open(CS_ARCH_X86, CS_MODE_32, &rw->cs) != CS_ERR_OK) {
		free(rw);
		return NULL;
	}
	cs_option(rw->cs, CS_OPT_DETAIL, CS_OPT_ON);
	rw->insn = cs_malloc(rw->cs);
	return rw;
}

void rw_destroy(struct rewriter *rw)
{
	if (!rw)
		return;
	cs_free(rw->insn, 1);
	cs_close(&rw->cs);
	free(rw);
}

#define MODE_FPU_TRAP   ((CR0_EM | CR0_TS) << 2)
#define MODE_NO_SSE     0x40u           /* CR4.OSFXSR clear: SSE instructions #UD */
#define MODE_IO_OK      0x80u           /* CPL <= IOPL: CLI and STI are allowed */
#define MODE_TSC        0x100u          /* RDTSC runs natively: no TSD trap, no TSC offset */
#define MODE_GS_IN_FS   0x200u          /* host FS holds the guest's GS (CPL 3), not its FS */
#define MODE_SS16       0x400u          /* a 16-bit stack: sequences that address [esp] exit */
/* MODE_GS_LIN (layout.h): CPL 3, DS flat, GS a 4 GiB writable data segment: a gs:
 * access that wraps goes through DS (emit_gs_linear). */

/* A present, writable, expand-up data segment with a 4 GiB limit (and base 0 if
 * zero_base): accesses through it can only fault on paging. */
static bool seg_flat_data(const struct seg *s, bool zero_base)
{
	return (s->sel & 0xfffc) && (s->attr & 0x9e) == 0x92 && s->limit == 0xffffffffu &&
	       (!zero_base || s->base == 0);
}

uint32_t rw_mode(struct vm *vm)
{
	const struct cpu *c = &vm->cpu;
	return (uint32_t)c->cpl | ((c->seg[SR_CS].attr & SEG_DB) ? 4u : 0u) |
	       (c->cr0 & (CR0_MP | CR0_EM | CR0_TS)) << 2 |
	       ((c->cr4 & CR4_OSFXSR) ? 0 : MODE_NO_SSE) |
	       ((unsigned)c->cpl <= ((c->sh->vflags & FL_IOPL) >> 12) ? MODE_IO_OK : 0) |
	       ((!(c->cr4 & CR4_TSD) || c->cpl == 0) && c->tsc_base == 0 ? MODE_TSC : 0) |
	       (c->cpl == 3 ? MODE_GS_IN_FS : 0) |
	       (c->cpl == 3 && seg_flat_data(&c->seg[SR_DS], true) &&
		seg_flat_data(&c->seg[SR_GS], false) ? MODE_GS_LIN : 0) |
	       ((c->seg[SR_SS].attr & SEG_DB) ? 0 : MODE_SS16);
}

uint16_t rw_native_fs(struct vm *vm, uint32_t mode)
{
	struct vcpu_shared *sh = vm->cpu.sh;
	return (mode & MODE_GS_IN_FS) ? sh->hsel_ggs : sh->hsel[SR_FS];
}

/* ---- emitters ---- */

struct emit {
	uint8_t *start, *p;
	uint8_t *cold_start, *cold;     /* out of line (codecache.c): swap_cold() */
	uint32_t mode;          /* the mode word the block is translated for */
	bool limited;           /* the CS limit is below 4 GiB */
	uint32_t site_eip;      /* the indirect branch being translated ... */
	int32_t site_delta;     /* ... and what it has done to ESP before its lookup */
	struct codecache *cc;   /* (inline caches' counters) */
};

static uint32_t here(const struct emit *e) { return (uint32_t)(uintptr_t)e->p; }

/* Emit out of line from here on, or back in line: code a block needs only now and
 * then (exit stubs, an inline cache's misses, table stubs) goes to the cache's cold
 * zone, so the code that runs stays dense. */
static void swap_cold(struct emit *e)
{
	uint8_t *p = e->p;
	e->p = e->cold;
	e->cold = p;
}

static void put8(struct emit *e, uint8_t v) { *e->p++ = v; }
static void put32(struct emit *e, uint32_t v) { memcpy(e->p, &v, 4); e->p += 4; }
static void putn(struct emit *e, const void *s, int n) { memcpy(e->p, s, n); e->p += n; }

/* jmp rel32 (or 0F 8x jcc rel32) to dest; returns the address of the rel32. */
static uint32_t jmp32(struct emit *e, uint8_t op2, uint32_t dest)
{
	if (op2) {
		put8(e, 0x0f);
		put8(e, op2);
	} else {
		put8(e, 0xe9);
	}
	uint32_t field = here(e);
	put32(e, dest - (field + 4));
	return field;
}

/* mov dword gs:[abs], imm32 */
static void mov_gs_imm(struct emit *e, uint32_t abs, uint32_t imm)
{
	put8(e, 0x65);
	put8(e, 0xc7);
	put8(e, 0x05);
	put32(e, abs);
	put32(e, imm);
}

/* mov gs:[abs], r32 / mov r32, gs:[abs] */
static void mov_gs_from_reg(struct emit *e, uint32_t abs, int reg)
{
	put8(e, 0x65);
	put8(e, 0x89);
	put8(e, (uint8_t)(0x05 | reg << 3));
	put32(e, abs);
}

/* mov fs, gs:[abs] */
static void mov_fs_gs(struct emit *e, uint32_t abs)
{
	put8(e, 0x65);
	put8(e, 0x8e);
	put8(e, 0x25);
	put32(e, abs);
}

static void rel32_retarget(uint32_t field, uint32_t dest)
{
	int32_t rel = (int32_t)(dest - (field + 4));
	memcpy((void *)(uintptr_t)field, &rel, 4);
}

/* Exit to the monitor with an exit word, resuming the guest at eip. */
static void emit_exit(struct emit *e, uint32_t eip, uint32_t word)
{
	mov_gs_imm(e, VCPU_ADDR + VC_EIP, eip);
	mov_gs_imm(e, VCPU_ADDR + VC_EXIT, word);
	jmp32(e, 0, stub_addr(tz_stub_far_exit));
}

/* ---- translation ---- */

static bool is_seg_prefix(uint8_t p)
{
	return p == 0x26 || p == 0x2e || p == 0x36 || p == 0x3e || p == 0x64 || p == 0x65;
}

/*
 * Copy an IDENT instruction; a cs: or gs: prefix is redirected through FS. Of several
 * segment prefixes the last one counts (as on the CPU and in QEMU); the others become
 * copies of it, so that no cs: or gs: is left for the host to apply.
 */
static void emit_ident_view(struct emit *e, const uint8_t *b, int npfx, int len, bool wrap)
{
	/* Which guest segment the host's FS holds while this block runs (rw_mode):
	 * the guest's GS at CPL 3 (user thread-local storage), its FS otherwise. */
	bool gs_in_fs = e->mode & MODE_GS_IN_FS;
	uint32_t native = gs_in_fs ? VC_HSEL_GGS : VC_HSEL + 2 * SR_FS;
	int last = -1;
	bool other = false;
	for (int i = 0; i < npfx; i++)
		if (is_seg_prefix(b[i])) {
			other |= last >= 0;
			last = i;
		}
	uint8_t p = last >= 0 ? b[last] : 0;
	/* The view the access needs in FS, if not FS's own: 0 when the copy runs as is. */
	uint32_t view = 0;
	if (p == 0x2e)
		view = VC_HSEL + 2 * SR_CS;
	else if (p == 0x65 && (wrap || !gs_in_fs))
		view = wrap ? VC_HSEL_GGS_WRAP : VC_HSEL_GGS;
	else if (p == 0x64 && gs_in_fs)
		view = VC_HSEL + 2 * SR_FS;
	bool to_fs = p == 0x2e || p == 0x65 || view;
	if (last < 0 || (!other && !to_fs)) {
		putn(e, b, len);
		return;
	}
	if (view)
		mov_fs_gs(e, VCPU_ADDR + view);
	uint8_t *at = e->p;
	putn(e, b, len);
	uint8_t seg = to_fs ? 0x64 : p;
	for (int i = 0; i < npfx; i++)
		if (is_seg_prefix(b[i]))
			at[i] = seg;
	if (view)
		mov_fs_gs(e, VCPU_ADDR + native);
}

static void mov_reg_gs(struct emit *e, int reg, uint32_t abs);
static void lea_esp(struct emit *e, uint32_t n);

/*
 * A gs: access whose offset wraps around 4 GiB (glibc's thread pointer is GS's base;
 * its malloc reads %gs:-0x3c) needs GS's wrap view in FS, two segment loads (about 40
 * cycles) around the access. Under MODE_GS_LIN the instruction runs through DS, which
 * is flat, with GS's base added to its address as an index register S: S's guest
 * value goes to VC_SAVE_EAX (the side entry says which register it is), S gets the
 * base from the vCPU block, and S comes back after (a load into S needs none: the
 * load overwrites it). The effective address wraps at 32 bits as the CPU's does; a
 * fault there is the guest instruction's, emulated as before. Simple forms (mov, ALU,
 * test, inc/dec, movzx/movsx, push) whose address has no index register. Returns the
 * side flags, or 0 if not done.
 */
static uint8_t emit_gs_linear(struct emit *e, const uint8_t *b, int npfx, int len)
{
	if (!(e->mode & MODE_GS_LIN) || !has_prefix(b, npfx, 0x65))
		return 0;
	for (int i = 0; i < npfx; i++)
		if (b[i] != 0x65 && b[i] != 0x66 && b[i] != 0xf0)
			return 0;               /* 67, another segment, rep */
	const uint8_t *op = b + npfx;
	int olen = op[0] == 0x0f ? 2 : 1;
	uint8_t o = op[olen - 1];
	enum { REG_OPERAND, EXTENSION } form;
	bool load = false;              /* writes all of its register operand, reads it not */
	if (olen == 2) {
		if (o != 0xb6 && o != 0xb7 && o != 0xbe && o != 0xbf)
			return 0;               /* movzx, movsx */
		form = REG_OPERAND;
		load = !has_prefix(b, npfx, 0x66);
	} else if ((o < 0x40 && (o & 7) < 4) || (o >= 0x84 && o <= 0x8b)) {
		form = REG_OPERAND;     /* ALU, test, xchg, mov */
		load = o == 0x8b && !has_prefix(b, npfx, 0x66);
	} else if (o == 0x80 || o == 0x81 || o == 0x83 || o == 0xc6 || o == 0xc7 ||
		   o == 0xfe || o == 0xff || o == 0xf6 || o == 0xf7) {
		form = EXTENSION;
	} else {
		return 0;
	}
	const uint8_t *m = op + olen;
	int mod = m[0] >> 6, reg = (m[0] >> 3) & 7, rm = m[0] & 7;
	if (mod == 3)
		return 0;
	if (form == EXTENSION &&
	    (((o == 0xc6 || o == 0xc7) && reg != 0) ||
	     ((o == 0xfe || o == 0xff) && reg != 0 && reg != 1 && !(o == 0xff && reg == 6)) ||
	     ((o == 0xf6 || o == 0xf7) && reg > 3)))
		return 0;                       /* calls, jumps; mul, div (EAX, EDX) */
	bool sib = rm == 4;
	int base = sib ? (m[1] & 7) : rm;
	if (sib && ((m[1] >> 3) & 7) != 4)
		return 0;                       /* an index already */
	bool nobase = mod == 0 && base == 5;    /* disp32 alone */
	int dlen = mod == 1 ? 1 : (mod == 2 || nobase) ? 4 : 0;
	int mlen = 1 + sib + dlen;
	int imm = len - (int)(m - b) - mlen;
	if (imm < 0)
		return 0;
	/* S: the destination of a load, else a register the instruction does not name
	 * (byte operands name AL..BH: reg 4-7 are AH..BH, parts of EAX..EBX). */
	int full = form == REG_OPERAND ? ((o < 0x40 || o >= 0x84) && !(o & 1) && olen == 1 ?
					  reg & 3 : reg) : -1;
	int s = -1;
	if (load && reg != R_ESP && (nobase || reg != base))
		s = reg;
	for (int r = 0; s < 0 && r < 8; r++)
		if (r != R_ESP && r != full && (nobase || r != base))
			s = r;
	mov_gs_from_reg(e, VCPU_ADDR + VC_SAVE_EAX, s);
	mov_reg_gs(e, s, VCPU_ADDR + VC_GGS_BASE);
	put8(e, 0x3e);          /* ds: an EBP or ESP base would default to SS */
	for (int i = 0; i < npfx; i++)
		if (b[i] != 0x65)
			put8(e, b[i]);
	putn(e, op, olen);
	if (nobase) {                           /* [disp32] -> [S + disp32] */
		put8(e, (uint8_t)(0x80 | reg << 3 | s));
	} else {                                /* [base + disp] -> [base + S + disp] */
		put8(e, (uint8_t)(mod << 6 | reg << 3 | 4));
		put8(e, (uint8_t)(s << 3 | base));
	}
	putn(e, m + 1 + sib, dlen + imm);
	if (!(load && s == reg))
		mov_reg_gs(e, s, VCPU_ADDR + VC_SAVE_EAX);
	return (uint8_t)(SIDE_SAVED_REG | s << 4);
}

/*
 * MOV to DS or ES from a register, or POP DS/ES, at CPL 0: a reload of the selector the
 * register already holds, from an unchanged descriptor, changes nothing (the accessed
 * bit is set already) and needs no monitor. Linux's kernel entry and exit reload both
 * with __USER_DS every time. The check, with ECX as scratch (kept in VC_SAVE_EAX,
 * SIDE_SAVED_REG) and no flags touched: the new selector, the one the register holds
 * (VC_GSEL32) and the descriptor it came from (VC_LDESC, set by seg_load) are those of
 * the translation, and the GDT still holds that descriptor (read through the monitor's
 * GS: a descriptor fetch is a supervisor access; LGDT to another place flushes the
 * cache). Anything else goes to the monitor as before. Returns the side flags, or 0
 * when the translation-time state does not allow it (then the caller emits a callout).
 */
static uint8_t emit_fs_load(struct emit *e, const uint8_t *b, int npfx, int len, uint32_t eip);
static void emit_save_scratch(struct emit *e);

/* The new selector of MOV sreg, r/m16 or POP sreg (b) into reg, zero-extended: a POP
 * reads a dword (its faults are the dword's), the selector is its low word; MOV's
 * operand is read with its own ModRM (emit_fs_load refuses a segment override; DS/ES
 * take registers only). */
static void emit_load_selector(struct emit *e, const uint8_t *b, int npfx, int len, int reg)
{
	const uint8_t *op = b + npfx;
	if (op[0] != 0x8e) {
		put8(e, 0x8b);                          /* mov reg, [esp] */
		put8(e, (uint8_t)(reg << 3 | 4));
		put8(e, 0x24);
		put8(e, 0x0f);                          /* movzx reg, reg16 */
		put8(e, 0xb7);
		put8(e, (uint8_t)(0xc0 | reg << 3 | reg));
	} else {
		put8(e, 0x0f);                          /* movzx reg, r/m16 */
		put8(e, 0xb7);
		put8(e, (uint8_t)((op[1] & 0xc7) | reg << 3));
		putn(e, op + 2, len - npfx - 2);        /* SIB, displacement */
	}
}

static uint8_t emit_sreg_load(struct emit *e, const struct cpu *c, const uint8_t *b, int npfx,
			      int len, uint32_t eip)
{
	const uint8_t *op = b + npfx;
	if (op[0] == 0x0f || (op[0] == 0x8e && ((op[1] >> 3) & 7) == SR_FS))
		return emit_fs_load(e, b, npfx, len, eip);      /* pop fs, mov fs */
	bool pop = op[0] != 0x8e;
	int sr = pop ? (op[0] == 0x07 ? SR_ES : SR_DS) : (op[1] >> 3) & 7;
	const struct seg *s = &c->seg[sr];
	uint64_t d = s->raw;
	uint16_t sel = s->sel;
	uint32_t at = c->gdtr.base + (sel & ~7u);
	unsigned dpl = (unsigned)(d >> 45) & 3, type = (unsigned)(d >> 40) & 0x1f;
	if ((e->mode & 3) != 0 || !(e->mode & 4) || (e->mode & MODE_SS16) ||
	    (pop && has_prefix(b, npfx, 0x66)) || !d || (sel & 4) ||
	    (sel & ~7u) + 7 > c->gdtr.limit || at < GUEST_LOW || at > GUEST_TOP - 8 ||
	    !(d & (1ull << 47)) || !(type & 0x10) || !(type & 1) ||
	    ((type & 8) && !(type & 2)) ||
	    (!((type & 8) && (type & 4)) && (sel & 3) > dpl))
		return 0;               /* P, S, A; readable; RPL <= DPL (CPL 0) */
	static const uint8_t lea_ecx[] = { 0x8d, 0x89 };       /* lea ecx, [ecx + disp32] */
	uint8_t *slow[6];
	int n = 0;
	mov_gs_from_reg(e, VCPU_ADDR + VC_SAVE_EAX, R_ECX);
	emit_load_selector(e, b, npfx, len, R_ECX);
	const uint32_t checks[6][2] = {
		{ 0, sel },                             /* the new selector */
		{ VCPU_ADDR + VC_GSEL32 + 4 * (uint32_t)sr, sel },
		{ VCPU_ADDR + VC_LDESC + 8 * (uint32_t)sr, (uint32_t)d },
		{ VCPU_ADDR + VC_LDESC + 8 * (uint32_t)sr + 4, (uint32_t)(d >> 32) },
		{ at, (uint32_t)d },                    /* the GDT now */
		{ at + 4, (uint32_t)(d >> 32) },
	};
	for (int k = 0; k < 6; k++) {
		if (checks[k][0])
			mov_reg_gs(e, R_ECX, checks[k][0]);
		putn(e, lea_ecx, sizeof(lea_ecx));
		put32(e, -checks[k][1]);
		put8(e, 0xe3);                          /* jecxz next */
		put8(e, 2);
		put8(e, 0xeb);                          /* jmp slow */
		slow[n++] = e->p;
		put8(e, 0);
	}
	mov_reg_gs(e, R_ECX, VCPU_ADDR + VC_SAVE_EAX);
	if (pop) {
		lea_esp(e, 4);
	}
	put8(e, 0xe9);                                  /* jmp done */
	uint8_t *done = e->p;
	put32(e, 0);
	for (int k = 0; k < n; k++) {
		assert(e->p - (slow[k] + 1) <= 127);
		*slow[k] = (uint8_t)(e->p - (slow[k] + 1));
	}
	mov_reg_gs(e, R_ECX, VCPU_ADDR + VC_SAVE_EAX);
	emit_exit(e, eip, EXIT_CALLOUT << EXIT_SHIFT);
	int32_t rel = (int32_t)(e->p - (done + 4));
	memcpy(done, &rel, 4);
	return (uint8_t)(SIDE_SAVED_REG | R_ECX << 4);
}

/* mov gs:[abs], r16 */
static void mov_gs_from_reg16(struct emit *e, uint32_t abs, int reg)
{
	put8(e, 0x66);
	mov_gs_from_reg(e, abs, reg);
}

/* mov ecx, gs:[abs]; not ecx; lea ecx, [ecx + 1]: ECX = -gs:[abs], flags untouched
 * (and the same with EAX) */
static void neg_load(struct emit *e, int reg, uint32_t abs)
{
	mov_reg_gs(e, reg, abs);
	put8(e, 0xf7);                                  /* not reg */
	put8(e, (uint8_t)(0xd0 | reg));
	put8(e, 0x8d);                                  /* lea reg, [reg + 1] */
	put8(e, (uint8_t)(0x40 | reg << 3 | reg));
	put8(e, 1);
}

/*
 * MOV FS, r16 or POP FS at CPL 0, to the value FS held before the current one
 * (VC_FSALT_*, published by segments.c): Linux loads its per-CPU segment into FS at
 * every kernel entry and the user's value at every exit, which were two callouts per
 * system call. Checked against the vCPU block at run time, flag-free (a negated copy
 * added, JECXZ): the new selector is the alternate's, and its descriptor still lies
 * where it did (its GDT entry read through the monitor's GS, as the CPU's own
 * supervisor fetch; VC_ZERO8 for a null selector, VC_ONES8 for one the fast path does
 * not serve). Then the current and the alternate values change places in the vCPU
 * block, FS takes the alternate's host shadow (made for CPL 0), and VC_FS_SWAPS counts
 * the swap for the monitor (fs_alt_catch_up at the next exit). Anything else is a
 * callout. EAX and ECX are scratch (SIDE_SCRATCH): the POP's read and the GDT reads
 * may fault, before anything has changed.
 */
static uint8_t emit_fs_load(struct emit *e, const uint8_t *b, int npfx, int len, uint32_t eip)
{
	const uint8_t *op = b + npfx;
	bool pop = op[0] == 0x0f, mem = !pop && (op[1] >> 6) != 3;
	if ((e->mode & 3) != 0 || !(e->mode & 4) || (e->mode & MODE_SS16) ||
	    (pop && has_prefix(b, npfx, 0x66)))
		return 0;
	for (int i = 0; mem && i < npfx; i++)
		if (b[i] != 0x66)
			return 0;               /* a segment override: the monitor's */
	const uint32_t cur_hsel = VCPU_ADDR + VC_HSEL + 2 * SR_FS;
	const uint32_t alt_ndesc = VCPU_ADDR + VC_FSALT_NDESC;
	uint32_t slow[3];
	emit_save_scratch(e);
	emit_load_selector(e, b, npfx, len, R_EAX);
	for (int k = 0; k < 3; k++) {
		if (k > 0) {                            /* eax = the descriptor's dword */
			mov_reg_gs(e, R_ECX, VCPU_ADDR + VC_FSALT_DLIN);
			put8(e, 0x65);                  /* mov eax, gs:[ecx + 4(k - 1)] */
			put8(e, 0x8b);
			put8(e, 0x41);
			put8(e, (uint8_t)(4 * (k - 1)));
		}
		mov_reg_gs(e, R_ECX, k ? alt_ndesc + 4 * (uint32_t)(k - 1) : VCPU_ADDR + VC_FSALT_NSEL);
		static const uint8_t cmp[] = { 0x8d, 0x0c, 0x01, 0xe3, 0x05 }; /* lea ecx, [ecx + eax]; jecxz +5 */
		putn(e, cmp, sizeof(cmp));
		slow[k] = jmp32(e, 0, 0);               /* jmp slow (too far for rel8) */
	}
	/* selector, descriptor: the current one's negated becomes the alternate */
	static const struct { uint32_t cur, alt; } pairs[3] = {
		{ VCPU_ADDR + VC_GSEL32 + 4 * SR_FS, VCPU_ADDR + VC_FSALT_NSEL },
		{ VCPU_ADDR + VC_LDESC + 8 * SR_FS, VCPU_ADDR + VC_FSALT_NDESC },
		{ VCPU_ADDR + VC_LDESC + 8 * SR_FS + 4, VCPU_ADDR + VC_FSALT_NDESC + 4 },
	};
	for (int k = 0; k < 3; k++) {
		neg_load(e, R_EAX, pairs[k].cur);
		neg_load(e, R_ECX, pairs[k].alt);
		mov_gs_from_reg(e, pairs[k].alt, R_EAX);
		mov_gs_from_reg(e, pairs[k].cur, R_ECX);
		if (k == 0)                             /* the selector's 16-bit copy */
			mov_gs_from_reg16(e, VCPU_ADDR + VC_GSEL + 2 * SR_FS, R_ECX);
	}
	/* where the descriptors lie */
	mov_reg_gs(e, R_EAX, VCPU_ADDR + VC_FS_DLIN);
	mov_reg_gs(e, R_ECX, VCPU_ADDR + VC_FSALT_DLIN);
	mov_gs_from_reg(e, VCPU_ADDR + VC_FSALT_DLIN, R_EAX);
	mov_gs_from_reg(e, VCPU_ADDR + VC_FS_DLIN, R_ECX);
	/* host shadows, and FS itself */
	put8(e, 0x65);                                  /* movzx eax, word gs:[cur_hsel] */
	put8(e, 0x0f);
	put8(e, 0xb7);
	put8(e, 0x05);
	put32(e, cur_hsel);
	mov_reg_gs(e, R_ECX, VCPU_ADDR + VC_FSALT_HSEL);
	mov_gs_from_reg(e, VCPU_ADDR + VC_FSALT_HSEL, R_EAX);
	mov_gs_from_reg16(e, cur_hsel, R_ECX);
	mov_gs_from_reg16(e, VCPU_ADDR + VC_HSEL_NFS, R_ECX);
	put8(e, 0x8e);                                  /* mov fs, ecx */
	put8(e, 0xe1);
	mov_reg_gs(e, R_EAX, VCPU_ADDR + VC_FS_SWAPS);
	put8(e, 0x8d);                                  /* lea eax, [eax + 1] */
	put8(e, 0x40);
	put8(e, 1);
	mov_gs_from_reg(e, VCPU_ADDR + VC_FS_SWAPS, R_EAX);
	mov_reg_gs(e, R_EAX, VCPU_ADDR + VC_SAVE_EAX);
	mov_reg_gs(e, R_ECX, VCPU_ADDR + VC_SAVE_ECX);
	if (pop)
		lea_esp(e, 4);
	put8(e, 0xe9);                                  /* jmp done */
	uint8_t *done = e->p;
	put32(e, 0);
	for (int k = 0; k < 3; k++)
		rel32_retarget(slow[k], here(e));
	mov_reg_gs(e, R_EAX, VCPU_ADDR + VC_SAVE_EAX);
	mov_reg_gs(e, R_ECX, VCPU_ADDR + VC_SAVE_ECX);
	emit_exit(e, eip, EXIT_CALLOUT << EXIT_SHIFT);
	int32_t rel = (int32_t)(e->p - (done + 4));
	memcpy(done, &rel, 4);
	return SIDE_SCRATCH;
}

/* Guest EAX/ECX to the save slots: the lookup stub needs both registers. */
static void emit_save_scratch(struct emit *e)
{
	mov_gs_from_reg(e, VCPU_ADDR + VC_SAVE_EAX, R_EAX);
	mov_gs_from_reg(e, VCPU_ADDR + VC_SAVE_ECX, R_ECX);
}

/* lea esp, [esp + n]: ESP moved without touching the flags */
static void lea_esp(struct emit *e, uint32_t n)
{
	put8(e, 0x8d);
	put8(e, 0xa4);
	put8(e, 0x24);
	put32(e, n);
}

/* mov r32, gs:[abs] (r32 = EAX: the short form) */
static void mov_reg_gs(struct emit *e, int reg, uint32_t abs)
{
	put8(e, 0x65);
	if (reg == R_EAX) {
		put8(e, 0xa1);
	} else {
		put8(e, 0x8b);
		put8(e, (uint8_t)(0x05 | reg << 3));
	}
	put32(e, abs);
}

static void emit_ident(struct emit *e, const uint8_t *b, int npfx, int len)
{
	emit_ident_view(e, b, npfx, len, false);
}

bool rw_gs_wrap_view(const cs_insn *in, unsigned site)
{
	if (site & SITE_GS_WRAP)
		return true;
	const cs_x86 *x = &in->detail->x86;
	for (int k = 0; k < x->op_count; k++) {
		const cs_x86_op *o = &x->operands[k];
		if (o->type == X86_OP_MEM && o->mem.segment == X86_REG_GS &&
		    o->mem.base == X86_REG_INVALID && o->mem.index == X86_REG_INVALID &&
		    (uint32_t)o->mem.disp >= 0x80000000u)
			return true;
	}
	return false;
}

/*
 * PUSHFD: the guest's EFLAGS image is the host's arithmetic flags with the virtual
 * IF and other bits from the vCPU block. The host's PUSHFD writes the guest's slot
 * (the only memory the instruction touches; if it faults, nothing has changed); the
 * image is built in EAX and stored over it, the flags that building clobbers are
 * kept in ECX by LAHF/SETO and put back by ADD AL, 0x7F (OF) and SAHF. DF is never
 * touched.
 */
static void emit_pushf(struct emit *e)
{
	mov_gs_from_reg(e, VCPU_ADDR + VC_SAVE_EAX, R_EAX);
	mov_gs_from_reg(e, VCPU_ADDR + VC_SAVE_ECX, R_ECX);
	static const uint8_t head[] = {
		0x9c,                                   /* pushfd */
		0x9f,                                   /* lahf */
		0x0f, 0x90, 0xc0,                       /* seto al */
		0x89, 0xc1,                             /* mov ecx, eax */
		0x8b, 0x04, 0x24,                       /* mov eax, [esp] */
	};
	putn(e, head, sizeof(head));
	put8(e, 0x25);                                  /* and eax, FL_ARITH | FL_1 */
	put32(e, FL_ARITH | FL_1);
	put8(e, 0x65);                                  /* or eax, gs:[VC_VIF] */
	put8(e, 0x0b);
	put8(e, 0x05);
	put32(e, VCPU_ADDR + VC_VIF);
	put8(e, 0x65);                                  /* or eax, gs:[VC_VFLAGS] */
	put8(e, 0x0b);
	put8(e, 0x05);
	put32(e, VCPU_ADDR + VC_VFLAGS);
	static const uint8_t tail[] = {
		0x89, 0x04, 0x24,                       /* mov [esp], eax */
		0x89, 0xc8,                             /* mov eax, ecx */
		0x04, 0x7f,                             /* add al, 0x7f: OF = saved OF */
		0x9e,                                   /* sahf: SF ZF AF PF CF */
	};
	putn(e, tail, sizeof(tail));
	mov_reg_gs(e, R_EAX, VCPU_ADDR + VC_SAVE_EAX);
	mov_reg_gs(e, R_ECX, VCPU_ADDR + VC_SAVE_ECX);
}

/*
 * POPFD: inline when it changes nothing but the arithmetic flags and (where CPL <=
 * IOPL) IF, and TF, NT and AC stay clear, so the host's own POPFD can load the
 * arithmetic flags; IF goes to the vCPU block (an IF set while an interrupt waits
 * leaves through the callout). Everything else is a callout at the instruction.
 */
static void emit_popf(struct emit *e, uint32_t eip, bool io_ok)
{
	mov_gs_from_reg(e, VCPU_ADDR + VC_SAVE_EAX, R_EAX);
	mov_gs_from_reg(e, VCPU_ADDR + VC_SAVE_ECX, R_ECX);
	static const uint8_t load[] = { 0x8b, 0x04, 0x24, 0x89, 0xc1 }; /* mov eax,[esp]; mov ecx,eax */
	putn(e, load, sizeof(load));
	const uint32_t other = FL_TF | FL_IOPL | FL_NT | FL_AC | FL_ID;
	put8(e, 0x65);                                  /* xor ecx, gs:[VC_VFLAGS] */
	put8(e, 0x33);
	put8(e, 0x0d);
	put32(e, VCPU_ADDR + VC_VFLAGS);
	put8(e, 0x81);                                  /* and ecx, other */
	put8(e, 0xe1);
	put32(e, other);
	uint32_t slow1 = jmp32(e, 0x85, 0);             /* jnz slow */
	put8(e, 0xa9);                                  /* test eax, TF | NT | AC */
	put32(e, FL_TF | FL_NT | FL_AC);
	uint32_t slow2 = jmp32(e, 0x85, 0);             /* jnz slow */
	uint32_t slow3 = 0;
	if (io_ok) {
		put8(e, 0x25);                          /* and eax, FL_IF */
		put32(e, FL_IF);
		put8(e, 0x74);                          /* jz set_if */
		uint8_t *set_if = e->p;
		put8(e, 0);
		mov_reg_gs(e, R_ECX, VCPU_ADDR + VC_IRQ);
		put8(e, 0x85);                          /* test ecx, ecx */
		put8(e, 0xc9);
		slow3 = jmp32(e, 0x85, 0);              /* jnz slow: an interrupt waits */
		*set_if = (uint8_t)(e->p - (set_if + 1));
		mov_gs_from_reg(e, VCPU_ADDR + VC_VIF, R_EAX);
	}
	mov_reg_gs(e, R_EAX, VCPU_ADDR + VC_SAVE_EAX);
	mov_reg_gs(e, R_ECX, VCPU_ADDR + VC_SAVE_ECX);
	put8(e, 0x9d);                                  /* popfd */
	put8(e, 0xeb);                                  /* jmp done */
	uint8_t *done = e->p;
	put8(e, 0);
	rel32_retarget(slow1, here(e));
	rel32_retarget(slow2, here(e));
	if (slow3)
		rel32_retarget(slow3, here(e));
	mov_reg_gs(e, R_EAX, VCPU_ADDR + VC_SAVE_EAX);
	mov_reg_gs(e, R_ECX, VCPU_ADDR + VC_SAVE_ECX);
	emit_exit(e, eip, EXIT_CALLOUT << EXIT_SHIFT);
	*done = (uint8_t)(e->p - (done + 1));
}

/*
 * In a code segment with a limit below 4 GiB, the ways out of an indirect branch to
 * the dispatcher (a lookup miss, the inline cache's fill) note the branch's EIP and
 * what it did to ESP: a target past the limit then faults at the branch with the
 * state before it (cpu.c). No lookup or inline cache holds such a target (nothing is
 * translated past the limit), so the check costs nothing on the hit paths, and
 * nothing here touches the guest's flags.
 */
static void emit_site_note(struct emit *e)
{
	if (!e->limited)
		return;
	mov_gs_imm(e, VCPU_ADDR + VC_BR_EIP, e->site_eip);
	mov_gs_imm(e, VCPU_ADDR + VC_BR_DELTA, (uint32_t)e->site_delta);
}

/*
 * The indirect-branch lookup, inline so that every guest branch site has its own host
 * indirect jump (and its own branch prediction). Guest target in EAX, guest EAX/ECX
 * in the save slots. No instruction here writes the arithmetic flags: the entry holds
 * -eip, so LEA makes ECX zero on a hit and JECXZ tests it.
 */
static void emit_lookup(struct emit *e)
{
	static const uint8_t probe[] = {
		0x0f, 0xb7, 0xc8,                               /* movzx ecx, ax */
		0x65, 0x8b, 0x0c, 0xcd,                         /* mov ecx, gs:[ecx*8 + table] */
	};
	static const uint8_t probe2[] = {
		0x8d, 0x0c, 0x01,                               /* lea ecx, [ecx + eax] */
		0xe3, 0x00,                                     /* jecxz hit */
	};
	putn(e, probe, sizeof(probe));
	put32(e, LOOKUP_TABLE(e->mode));
	putn(e, probe2, sizeof(probe2));
	uint8_t *to_hit = e->p - 1;
	uint8_t *miss = e->p;
	emit_site_note(e);
	jmp32(e, 0, stub_addr(tz_stub_lookup_miss));
	*to_hit = (uint8_t)(e->p - (to_hit + 1));
	put8(e, 0x65);                                  /* hit: mov ecx, gs:[VC_RUN] */
	put8(e, 0x8b);
	put8(e, 0x0d);
	put32(e, VCPU_ADDR + VC_RUN);
	put8(e, 0xe3);                                  /* jecxz miss: the monitor asks */
	put8(e, (uint8_t)(miss - (e->p + 1)));
	putn(e, probe, sizeof(probe));                  /* the entry's table prologue */
	put32(e, LOOKUP_TABLE(e->mode) + 4);
	put8(e, 0xff);                                  /* jmp ecx: the prologue restores */
	put8(e, 0xe1);                                  /* EAX and ECX */
}

/* For each entry point that the lookup tables may hold (struct entry's thost), out of
 * the block's line: the table path jumps here through ECX with the guest's EAX/ECX in
 * their save slots; this restores them and goes on to the entry. */
static uint32_t emit_table_stub(struct emit *e, uint32_t host)
{
	uint32_t at = here(e);
	mov_reg_gs(e, R_EAX, VCPU_ADDR + VC_SAVE_EAX);
	mov_reg_gs(e, R_ECX, VCPU_ADDR + VC_SAVE_ECX);
	jmp32(e, 0, host);
	return at;
}

struct pending_slot {
	uint32_t field;
	uint32_t target;
};

/*
 * An indirect branch with a one-entry inline cache in front of the lookup: the site
 * compares the target with the one it remembers and, on a hit, jumps to it directly
 * through an exit slot (chained like a direct branch: no indirect jump to predict).
 * Its first run leaves through a fill exit that sets the remembered target; from then
 * on a different target takes the lookup table. Guest target in EAX, EAX/ECX saved;
 * or, for a RET (ret_pop: how far below ESP its return address now lies), the target
 * in ECX alone, ECX saved, EAX the guest's: a hit then leaves EAX untouched, and a
 * miss saves it and fetches the target again from the stack slot.
 */
static void emit_ic_fill(struct emit *e, struct block *blk, int slot, uint32_t reason)
{
	mov_gs_from_reg(e, VCPU_ADDR + VC_EIP, R_EAX);  /* fill: exit with the target */
	mov_reg_gs(e, R_EAX, VCPU_ADDR + VC_SAVE_EAX);
	mov_reg_gs(e, R_ECX, VCPU_ADDR + VC_SAVE_ECX);
	mov_gs_imm(e, VCPU_ADDR + VC_EXIT, reason << EXIT_SHIFT | blk->id << SLOT_BITS | (uint32_t)slot);
	emit_site_note(e);
	jmp32(e, 0, stub_addr(tz_stub_far_exit));
}

static void emit_ic(struct emit *e, struct block *blk, struct pending_slot *slots, int *nslots,
		    struct exit_slot *ic, int ret_pop)
{
	int slot = (*nslots)++, slot2 = (*nslots)++;
	struct exit_slot *ic2 = ic + 1;
	/* The unfilled compare matches one target, which its slot then takes like a
	 * chained branch, without the CS-limit check of the miss path: 0xffffffff where
	 * the limit is 4 GiB, 0 where there is a limit. */
	uint32_t t0 = e->limited ? 0 : 0xffffffffu;
	put8(e, 0x8d);                                  /* lea ecx, [eax + -target] */
	put8(e, ret_pop ? 0x89 : 0x88);                 /* RET: lea ecx, [ecx + -target] */
	ic->ic_imm = here(e);
	put32(e, -t0);                                  /* matches t0 alone */
	put8(e, 0xe3);                                  /* jecxz hit */
	uint8_t *to_hit = e->p;
	put8(e, 0);
	put8(e, 0x8d);                                  /* lea ecx, [ecx + second - first] */
	put8(e, 0x89);
	ic2->ic_imm = here(e);
	put32(e, 0);                                    /* matches nothing the first misses */
	ic2->ic_second = true;
	put8(e, 0xe3);                                  /* jecxz hit2 */
	put8(e, 5);
	uint32_t to_miss = jmp32(e, 0, 0);
	/* hit2, then hit: no VC_RUN test - the way out is this block's own slot, which a
	 * kick unchains (signals.c), so the jump then exits. A RET left EAX alone. The
	 * unfilled compare hits for t0: so that is the first slot's target; the second's
	 * is never reached before its fill. */
	for (int k = 0; k < 2; k++) {
		if (k == 1)
			*to_hit = (uint8_t)(e->p - (to_hit + 1));
		if (!ret_pop)
			mov_reg_gs(e, R_EAX, VCPU_ADDR + VC_SAVE_EAX);
		mov_reg_gs(e, R_ECX, VCPU_ADDR + VC_SAVE_ECX);
		slots[k ? slot : slot2] = (struct pending_slot){ jmp32(e, 0, 0),
								  k ? t0 : 0xffffffffu };
	}
	/* miss, out of line */
	swap_cold(e);
	rel32_retarget(to_miss, here(e));
	if (ret_pop) {
		/* A RET's miss: the rest as for the others, EAX the target (still in
		 * the stack slot the RET popped) and saved. */
		mov_gs_from_reg(e, VCPU_ADDR + VC_SAVE_EAX, R_EAX);
		put8(e, 0x8b);                          /* mov eax, [esp - ret_pop] */
		put8(e, 0x84);
		put8(e, 0x24);
		put32(e, (uint32_t)-ret_pop);
	}
	/* Misses go to the first fill, then the second, then the table, where they are
	 * counted: an entry filled long ago may hold a target the site no longer takes
	 * (a RET of malloc() remembers its first two callers), so at zero the site
	 * leaves to refill one. */
	ic->ic_route = ic2->ic_route = jmp32(e, 0, 0);
	ic2->ic_table = here(e);
	ic->ic_count = cc_ic_counter(e->cc);
	uint8_t *to_refill = NULL;
	if (ic->ic_count) {
		mov_reg_gs(e, R_ECX, ic->ic_count);
		put8(e, 0x8d);                          /* lea ecx, [ecx - 1] */
		put8(e, 0x49);
		put8(e, 0xff);
		mov_gs_from_reg(e, ic->ic_count, R_ECX);
		put8(e, 0xe3);                          /* jecxz refill */
		to_refill = e->p;
		put8(e, 0);
	}
	emit_lookup(e);
	if (to_refill) {
		assert(e->p - (to_refill + 1) <= 127);
		*to_refill = (uint8_t)(e->p - (to_refill + 1));
		emit_ic_fill(e, blk, slot, EXIT_IC_REFILL);
	}
	rel32_retarget(ic->ic_route, here(e));
	emit_ic_fill(e, blk, slot, EXIT_IC_FILL);
	ic->ic_table = here(e);
	emit_ic_fill(e, blk, slot2, EXIT_IC_FILL);
	swap_cold(e);
}

/* A memory operand with an index register: jmp [table + reg*4]. */
static bool jump_table(const cs_insn *in)
{
	const cs_x86 *x = &in->detail->x86;
	for (int k = 0; k < x->op_count; k++)
		if (x->operands[k].type == X86_OP_MEM && x->operands[k].mem.index != X86_REG_INVALID)
			return true;
	return false;
}

/* FF /2 or FF /4 r/m32 becomes 8B /0: mov eax, r/m32 (same addressing). */
static void emit_load_target(struct emit *e, const uint8_t *b, int npfx, int len)
{
	uint8_t tmp[16];
	memcpy(tmp, b, len);
	tmp[npfx] = 0x8b;
	tmp[npfx + 1] &= 0xc7;
	emit_ident(e, tmp, npfx, len);
}


#define MAX_ENTRIES MAX_EXITS

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }


const cs_insn *rw_decode_one(struct rewriter *rw, uint32_t eip, uint8_t *bytes, int *truncated,
			     int *glen)
{
	struct vm *vm = rw->vm;
	const struct seg *cs = &vm->cpu.seg[SR_CS];
	bool code16 = !(cs->attr & SEG_DB);
	int (*len_of)(const unsigned char *, int) = code16 ? x86_insn_len16 : x86_insn_len;
	uint32_t avail = 15;
	*truncated = 0;
	if (eip > cs->limit)
		avail = 0;
	else if (cs->limit - eip < 15)
		avail = cs->limit - eip + 1;
	uint32_t lin = cs->base + eip;
	unsigned acc = PF_ACC_FETCH | (vm->cpu.cpl == 3 ? PF_ACC_USER : 0);
	/* The bytes on eip's page, and the next page's only if the instruction runs
	 * into it: the CPU fetches no further than the instruction's end, and a fetch
	 * there could fault (the page not present, or execute-disabled). */
	uint32_t n = 4096 - (lin & 0xfff);
	if (n > avail)
		n = avail;
	if (lin_access(vm, lin, bytes, n, acc) < 0) {
		*truncated = -1;        /* #PF raised */
		return NULL;
	}
	if (n < avail && len_of(bytes, (int)n) < 0) {
		if (lin_access(vm, lin + n, bytes + n, avail - n, acc) < 0) {
			*truncated = -1;
			return NULL;
		}
		n = avail;
	}
	memset(bytes + n, 0, 15 - n);   /* what the length check below may look at */
	struct decoded *d = &rw->dcache[(lin * 0x9e3779b1u) >> 22];
	if (d->valid && d->eip == eip && d->lin == lin && d->avail == n && d->code16 == code16 &&
	    !memcmp(d->bytes, bytes, n)) {
		if (code16)
			memcpy(bytes, d->nbytes, 15);
		if (glen)
			*glen = d->glen;
		return &d->insn;
	}
	uint8_t guest[15];
	memcpy(guest, bytes, 15);
	int gl = 0;
	if (code16) {
		/* Decoded in its 32-bit form (normalize16): Capstone's 16-bit mode knows
		 * fewer instructions and reads some SSE forms as MMX. */
		gl = x86_insn_len16(bytes, (int)n);
		if (gl < 0) {
			*truncated = avail < 15 || x86_insn_len16(bytes, 15) < 0;
			return NULL;
		}
		uint8_t nb[17];
		int nl = normalize16(bytes, gl, nb);
		if (nl > 15) {
			vm_stop(vm, STOP_MONITOR_ERROR, 6, "eip %#x: a 16-bit instruction whose 32-bit "
				"form is %d bytes long: not supported", eip, nl);
			*truncated = -1;
			return NULL;
		}
		memcpy(bytes, nb, (size_t)nl);
		memset(bytes + nl, 0, (size_t)(15 - nl));
	}
	const uint8_t *code = bytes;
	size_t size = code16 ? 15 : n;
	uint64_t addr = eip;
	if (!cs_disasm_iter(rw->cs, &code, &size, &addr, rw->insn)) {
		/* SDM Vol. 2, 2.3.11: an instruction longer than 15 bytes is #GP(0). */
		*truncated = code16 ? 0 : avail < 15 || len_of(bytes, 15) < 0;
		return NULL;
	}
	if (code16 && rw->insn->size != (uint16_t)(x86_insn_len(bytes, 15))) {
		*truncated = 0;         /* the two decoders disagree: #UD */
		return NULL;
	}
	if (!code16)
		gl = rw->insn->size;
	if (glen)
		*glen = gl;
	*d = (struct decoded){ .eip = eip, .lin = lin, .avail = n, .valid = true, .code16 = code16,
			       .glen = (uint8_t)gl };
	memcpy(d->bytes, guest, n);
	memcpy(d->nbytes, bytes, 15);
	d->insn = *rw->insn;
	d->detail = *rw->insn->detail;
	d->insn.detail = &d->detail;
	return &d->insn;
}

/*
 * A position-independent i386 program finds itself with `call thunk` where the thunk is
 * `mov (%esp), reg; ret` (GCC's __x86.get_pc_thunk.reg): every function of a PIC
 * binary calls one, and its RET, returning to each caller in turn, missed the inline
 * cache and took the table every time. Returns reg if the code at linear lin (in the
 * current address space, its physical page in *ppn) is such a thunk, else -1.
 */
static int pc_thunk(struct vm *vm, uint32_t lin, uint32_t *ppn)
{
	uint64_t pa;
	unsigned acc = PF_ACC_FETCH | (vm->cpu.cpl == 3 ? PF_ACC_USER : 0);
	if ((lin & 0xfff) > 0xffc || mmu_peek(vm->mmu, lin, acc, &pa) < 0)
		return -1;
	const uint8_t *p = mem_phys(&vm->mem, pa, 4);
	if (!p || p[0] != 0x8b || (p[1] & 0xc7) != 0x04 || p[2] != 0x24 || p[3] != 0xc3 ||
	    ((p[1] >> 3) & 7) == R_ESP)
		return -1;
	/* Its page's A bit, as the translation of the caller's own page sets it. */
	if (mmu_translate(vm->mmu, lin, acc, &pa) < 0)
		return -1;
	*ppn = (uint32_t)(pa >> 12);
	return (p[1] >> 3) & 7;
}

struct block *rw_translate(struct rewriter *rw, uint32_t eip, bool oneshot)
{
	struct vm *vm = rw->vm;
	struct cpu *c = &vm->cpu;
	const struct seg *cs = &c->seg[SR_CS];
	uint64_t t0 = __rdtsc();

	if (eip > cs->limit) {
		exc_raise(vm, VEC_GP, true, 0);
		return NULL;
	}
	/* The bytes: the rest of this page, and up to 15 of the next if it is there (an
	 * instruction cut off at the page end becomes a callout, whose fetch raises the
	 * #PF). The two pages need not be contiguous in guest physical memory. */
	uint32_t lin = cs->base + eip;
	unsigned acc = PF_ACC_FETCH | (c->cpl == 3 ? PF_ACC_USER : 0);
	uint64_t pa, pa_next = 0;
	bool next_missing = false, have_next = false;
	if (mmu_translate(vm->mmu, lin, acc, &pa) < 0)
		return NULL;
	uint32_t in_page = 4096 - (lin & 0xfff);
	uint64_t want = (uint64_t)in_page + 15;
	if (want > (uint64_t)cs->limit - eip + 1)
		want = (uint64_t)cs->limit - eip + 1;
	const uint8_t *first = mem_phys(&vm->mem, pa, want < in_page ? want : in_page);
	if (!first) {
		vm_stop(vm, STOP_MONITOR_ERROR, 6,
			"guest jumped to eip %#x (linear %#x, physical %#llx): no RAM there", eip, lin,
			(unsigned long long)pa);
		return NULL;
	}
	memcpy(rw->code, first, want < in_page ? want : in_page);
	if (want > in_page) {
		const uint8_t *second = NULL;
		if (mmu_peek(vm->mmu, lin + in_page, acc, &pa_next) == 0)
			second = mem_phys(&vm->mem, pa_next, want - in_page);
		if (second)
			memcpy(rw->code + in_page, second, want - in_page);
		else
			want = in_page;
		next_missing = !second;
		have_next = second != NULL;
	}
	const uint8_t *src = rw->code;

	uint8_t *cold;
	uint8_t *host = cc_reserve(vm->cc, &cold);
	if (!host) {
		cc_flush(vm->cc);
		sites_clear(&vm->sites);
		host = cc_reserve(vm->cc, &cold);
	}
	struct block *blk = cc_new_block(vm->cc);
	if (!blk) {
		vm_stop(vm, STOP_MONITOR_ERROR, 6, "out of memory for translations");
		return NULL;
	}
	struct emit e = { host, host, cold, cold, rw_mode(vm), cs->limit != 0xffffffffu, 0, 0,
			  vm->cc };
	struct pending_slot slots[MAX_EXITS];
	struct entry entries[MAX_ENTRIES];
	int nslots = 0, ninsn = 0, nentries = 0;
	bool stop = false;
	entries[nentries++] = (struct entry){ .eip = eip, .host = here(&e) };
	const uint8_t *code = src;
	size_t size = want;
	uint64_t addr = eip;
	uint32_t next = eip;
	bool ended = false;
	uint32_t mode = rw_mode(vm);
	bool code16 = !(mode & 4);
	bool xpage = false;             /* a thunk inlined from another page (pc_thunk) */
	uint32_t xlpn = 0, xppn = 0;

	while (!ended && !stop && ninsn < (oneshot ? 1 : MAX_INSNS) &&
	       e.p - e.start < MAX_HOST - HOST_MARGIN && e.cold - e.cold_start < MAX_HOST - HOST_MARGIN) {
		/* A new instruction starts only on the first page; one may run into the next. */
		if (ninsn > 0 && ((cs->base + next) >> 12) != (lin >> 12))
			break;
		const uint8_t *b = code;
		struct side_entry *se = &rw->side[ninsn];
		se->eip = next;
		se->hoff = (uint16_t)(e.p - e.start);
		se->flags = 0;
		ninsn++;
		/* 16-bit code is translated as the 32-bit code that does the same: the
		 * instruction with its size prefixes toggled (normalize16), decoded, checked
		 * and emitted in that form. */
		uint8_t n16[32];
		int glen = 0, nl = 0;
		if (code16) {
			glen = x86_insn_len16(code, (int)(size < 15 ? size : 15));
			if (glen > 0)
				nl = normalize16(code, glen, n16);
		}
		const uint8_t *dcode = code16 ? n16 : code;
		size_t dsize = code16 ? (size_t)nl : size;
		uint64_t daddr = addr;
		if ((code16 && (glen <= 0 || nl > 15)) ||
		    !cs_disasm_iter(rw->cs, &dcode, &dsize, &daddr, rw->insn) ||
		    (code16 && rw->insn->size != nl)) {
			/* Undecodable or cut off: the monitor raises #UD or #GP for it
			 * (or the #PF of the next page). A block whose last instruction was
			 * cut off by a missing page is good only while that page is. */
			emit_exit(&e, next, EXIT_CALLOUT << EXIT_SHIFT);
			blk->callout_first = ninsn == 1;
			blk->cut = next_missing && size < 15;
			ended = true;
			break;
		}
		if (!code16)
			glen = rw->insn->size;
		size_t gavail = code16 ? (size_t)nl : size;     /* bytes from b on */
		code += glen;
		size -= (size_t)glen;
		addr += (uint64_t)glen;
		if (code16)
			b = n16;
		int len = rw->insn->size;
		uint32_t after = next + (uint32_t)glen;
		int npfx = rw_prefix_len(b, len);
		enum kind k = len > 15 ? K_CALLOUT : classify(b, npfx, len);
		const uint8_t *op = b + npfx;
		/* A direct branch past the CS limit faults at the branch (#GP(0)). */
		if ((k == K_JCC || k == K_LOOP || k == K_JMP || k == K_CALL) &&
		    branch_target(op, after) > cs->limit)
			k = K_CALLOUT;
		/* With CR0.TS or EM set, FPU, MMX and SSE instructions fault (#NM/#UD). */
		if ((mode & MODE_FPU_TRAP) && k == K_IDENT && rw_is_fpu(op, len - npfx))
			k = K_CALLOUT;
		if ((mode & MODE_NO_SSE) && k == K_IDENT && rw_is_sse(rw->insn))
			k = K_CALLOUT;
		if ((k == K_CLI || k == K_STI) && !(mode & MODE_IO_OK))
			k = K_CALLOUT;          /* #GP(0) */
		if (k == K_RDTSC && !(mode & MODE_TSC))
			k = K_CALLOUT;          /* #GP(0) under CR4.TSD, or a TSC offset */
		/* On a 16-bit stack the emitted [esp] addressing would use ESP, the CPU's
		 * pushes and pops SP: PUSHFD, POPFD and RET n go to the monitor. */
		if ((mode & MODE_SS16) && (k == K_PUSHF || k == K_POPF || (k == K_RET && op[0] == 0xc2)))
			k = K_CALLOUT;
		/* An access there had to be emulated before: a callout emulates it. */
		unsigned site = sites_get(&vm->sites, cs->base + next);
		if ((site & SITE_EMULATE) && k != K_JCC && k != K_LOOP && k != K_JMP)
			k = K_CALLOUT;
		if ((k == K_IDENT || k == K_CALL_IND || k == K_JMP_IND) &&
		    x86_insn_len(b, (int)gavail) != len) {
			/* Copying bytes whose length the CPU may see otherwise is how a guest
			 * would smuggle an unclassified instruction past the rewriter. */
			vm_stop(vm, STOP_MONITOR_ERROR, 6,
				"eip %#x: decoders disagree on the instruction's length (Capstone %d, "
				"trapeze %d): %s %s", next, len, x86_insn_len(b, (int)gavail),
				rw->insn->mnemonic, rw->insn->op_str);
			cc_abandon(vm->cc, blk);
			return NULL;
		}

		switch (k) {
		case K_IDENT: {
			bool wrap = !code16 && rw_gs_wrap_view(rw->insn, site);
			if (wrap && (se->flags = emit_gs_linear(&e, b, npfx, len)))
				break;
			emit_ident_view(&e, b, npfx, len, wrap);
			break;
		}
		case K_SREG_READ: {
			int sreg = (op[1] >> 3) & 7, dst = op[1] & 7;
			if (has_prefix(b, npfx, 0x66)) {        /* mov r16, gs:[gsel] */
				put8(&e, 0x66);
				put8(&e, 0x65);
				put8(&e, 0x8b);
			} else {                                /* movzx r32, word gs:[gsel] */
				put8(&e, 0x65);
				put8(&e, 0x0f);
				put8(&e, 0xb7);
			}
			put8(&e, (uint8_t)(0x05 | dst << 3));
			put32(&e, VCPU_ADDR + VC_GSEL + 2 * (uint32_t)sreg);
			break;
		}
		case K_SREG_PUSH: {
			/* push gs:[the guest's selector]: zero-extended to 32 bits, one of
			 * the two forms the SDM allows (Vol. 2, PUSH); 16 bits with 66. */
			int sreg = op[0] == 0x0f ? (op[1] == 0xa0 ? 4 : 5) : op[0] >> 3;
			bool o16 = has_prefix(b, npfx, 0x66);
			if (o16)
				put8(&e, 0x66);
			put8(&e, 0x65);
			put8(&e, 0xff);
			put8(&e, 0x35);
			put32(&e, VCPU_ADDR + (o16 ? VC_GSEL + 2 * (uint32_t)sreg :
						      VC_GSEL32 + 4 * (uint32_t)sreg));
			break;
		}
		case K_JCC: {
			uint32_t target;
			uint8_t cc;
			if (op[0] == 0x0f) {
				cc = op[1] & 0xf;
				target = after + rd32(op + 2);
			} else {
				cc = op[0] & 0xf;
				target = after + (uint32_t)(int8_t)op[1];
			}
			/* The taken side leaves the block; translation goes on with the
			 * fall-through, which stays in line. */
			slots[nslots++] = (struct pending_slot){ jmp32(&e, 0x80 | cc, 0), target };
			if (nslots >= MAX_EXITS - 2)
				stop = true;
			break;
		}
		case K_LOOP: {
			/* loopX/jecxz +5 over the fall-through jump, then the taken jump */
			if (has_prefix(b, npfx, 0x67))
				put8(&e, 0x67);
			put8(&e, op[0]);
			put8(&e, 5);
			uint32_t ft = jmp32(&e, 0, 0);
			uint32_t tk = jmp32(&e, 0, 0);
			slots[nslots++] = (struct pending_slot){ tk, after + (uint32_t)(int8_t)op[1] };
			slots[nslots++] = (struct pending_slot){ ft, after };
			ended = true;
			break;
		}
		case K_JMP: {
			uint32_t target = op[0] == 0xeb ? after + (uint32_t)(int8_t)op[1]
							: after + rd32(op + 1);
			slots[nslots++] = (struct pending_slot){ jmp32(&e, 0, 0), target };
			ended = true;
			break;
		}
		case K_CALL: {
			/* A call of a PC thunk: what it does, in line (push, load, pop), so
			 * that no RET runs. The block then depends on the thunk's page too
			 * (xpage): not in a single step, and one such page per block. */
			uint32_t target = after + rd32(op + 1), tppn = 0;
			int treg = -1;
			if (!oneshot && !code16 && !(mode & MODE_SS16) && target <= cs->limit &&
			    target + 3 <= cs->limit)
				treg = pc_thunk(vm, cs->base + target, &tppn);
			uint32_t tlpn = (cs->base + target) >> 12;
			uint32_t p1 = have_next ? (uint32_t)(pa_next >> 12) : ~0u;
			if (treg < 0 || tlpn == lin >> 12) {
				/* not a thunk, or one on the block's first page */
			} else if (tppn == (uint32_t)(pa >> 12) ||
				   (tppn == p1 && tlpn != (lin >> 12) + 1) ||
				   (xpage && (tlpn != xlpn || tppn != xppn))) {
				treg = -1;      /* an alias of the block's page, or a second one */
			} else {
				xpage = true;
				xlpn = tlpn;
				xppn = tppn;
			}
			if (treg >= 0) {
				/* The call's store, where it would push (ESP stays). */
				put8(&e, 0xc7);                 /* mov dword [esp - 4], $after */
				put8(&e, 0x44);
				put8(&e, 0x24);
				put8(&e, 0xfc);
				put32(&e, after);
				put8(&e, (uint8_t)(0xb8 + treg));  /* mov $after, reg */
				put32(&e, after);
				rw->stats.thunks_inlined++;
				break;
			}
			/* Push the guest return address and jump (chained) to the callee;
			 * translation goes on after the call, where the ret will come back:
			 * another entry point of this block. */
			put8(&e, 0x68);
			put32(&e, after);
			slots[nslots++] = (struct pending_slot){ jmp32(&e, 0, 0), after + rd32(op + 1) };
			entries[nentries++] = (struct entry){ .eip = after, .host = here(&e) };
			if (nslots >= MAX_EXITS - 2 || nentries == MAX_ENTRIES)
				stop = true;
			break;
		}
		case K_CALL_IND:
			se->flags = SIDE_SCRATCH;
			emit_save_scratch(&e);
			emit_load_target(&e, b, npfx, len);
			put8(&e, 0x68);                 /* push the guest return address */
			put32(&e, after);
			e.site_eip = next;
			e.site_delta = -4;
			emit_ic(&e, blk, slots, &nslots, &blk->exit[nslots], 0);
			ended = true;
			break;
		case K_JMP_IND:
			se->flags = SIDE_SCRATCH;
			emit_save_scratch(&e);
			emit_load_target(&e, b, npfx, len);
			e.site_eip = next;
			e.site_delta = 0;
			/* A jump through an indexed table (a switch) has many targets: an
			 * inline cache would mostly miss. */
			if (jump_table(rw->insn))
				emit_lookup(&e);
			else
				emit_ic(&e, blk, slots, &nslots, &blk->exit[nslots], 0);
			ended = true;
			break;
		case K_RET: {
			uint16_t imm = 0;
			if (op[0] == 0xc2)
				memcpy(&imm, op + 1, 2);
			/* The return address goes to ECX alone: an inline-cache hit then
			 * leaves EAX (the function's result) untouched. Not on a 16-bit
			 * stack (the miss reads the popped slot through ESP). */
			bool ss16 = mode & MODE_SS16;
			if (ss16) {
				se->flags = SIDE_SCRATCH;
				emit_save_scratch(&e);
				put8(&e, 0x58);                 /* pop eax */
			} else {
				/* Only the POP can fault, and then ECX is still the guest's. */
				mov_gs_from_reg(&e, VCPU_ADDR + VC_SAVE_ECX, R_ECX);
				put8(&e, 0x59);                 /* pop ecx */
			}
			e.site_eip = next;
			e.site_delta = 4 + imm;
			if (imm)
				lea_esp(&e, imm);
			emit_ic(&e, blk, slots, &nslots, &blk->exit[nslots], ss16 ? 0 : 4 + imm);
			ended = true;
			break;
		}
		case K_CLI:
			mov_gs_imm(&e, VCPU_ADDR + VC_VIF, 0);
			break;
		case K_RDTSC:
			put8(&e, 0x0f);
			put8(&e, 0x31);
			break;
		case K_PUSHF:
			se->flags = SIDE_SCRATCH;
			emit_pushf(&e);
			break;
		case K_POPF:
			se->flags = SIDE_SCRATCH;
			emit_popf(&e, next, mode & MODE_IO_OK);
			break;
		case K_STI: {
			/* With an interrupt waiting, STI is a callout: the monitor then
			 * runs the next instruction alone and delivers. EFLAGS untouched. */
			se->flags = SIDE_SCRATCH;
			mov_gs_from_reg(&e, VCPU_ADDR + VC_SAVE_ECX, R_ECX);
			put8(&e, 0x65);                 /* mov ecx, gs:[VC_IRQ] */
			put8(&e, 0x8b);
			put8(&e, 0x0d);
			put32(&e, VCPU_ADDR + VC_IRQ);
			put8(&e, 0xe3);                 /* jecxz quiet */
			uint8_t *quiet = e.p;
			put8(&e, 0);
			put8(&e, 0x65);                 /* mov ecx, gs:[save_ecx] */
			put8(&e, 0x8b);
			put8(&e, 0x0d);
			put32(&e, VCPU_ADDR + VC_SAVE_ECX);
			emit_exit(&e, next, EXIT_CALLOUT << EXIT_SHIFT);
			*quiet = (uint8_t)(e.p - (quiet + 1));
			put8(&e, 0x65);                 /* mov ecx, gs:[save_ecx] */
			put8(&e, 0x8b);
			put8(&e, 0x0d);
			put32(&e, VCPU_ADDR + VC_SAVE_ECX);
			mov_gs_imm(&e, VCPU_ADDR + VC_VIF, FL_IF);
			/* Its shadow, for an exit right after it (the block's end). */
			mov_gs_imm(&e, VCPU_ADDR + VC_STI_EIP, after);
			break;
		}
		case K_SREG_LOAD:
			if ((se->flags = emit_sreg_load(&e, c, b, npfx, len, next)))
				break;
			__attribute__((fallthrough));   /* a callout */
		case K_CALLOUT:
			emit_exit(&e, next, EXIT_CALLOUT << EXIT_SHIFT);
			blk->callout_first = ninsn == 1;
			ended = true;
			break;
		}
		next = after;
	}
	if (!ended) {
		/* A call's continuation that got no code is no entry point. */
		if (nentries > 1 && entries[nentries - 1].host == here(&e))
			nentries--;
		slots[nslots++] = (struct pending_slot){ jmp32(&e, 0, 0), next };
	}

	assert(nslots <= MAX_EXITS);

	/* Exit stubs of the chainable slots, and table stubs: out of line. */
	swap_cold(&e);
	blk->nexits = (uint8_t)nslots;
	for (int s = 0; s < nslots; s++) {
		struct exit_slot *x = &blk->exit[s];
		x->target = slots[s].target;
		x->field = slots[s].field;
		x->stub = here(&e);
		x->stub_eip = x->stub + 7;              /* mov gs:[VC_EIP], imm32 */
		rel32_retarget(x->field, x->stub);
		emit_exit(&e, x->target, EXIT_CHAIN << EXIT_SHIFT | blk->id << SLOT_BITS | (uint32_t)s);
	}
	for (int i = 0; i < nentries; i++)
		entries[i].thost = emit_table_stub(&e, entries[i].host);
	swap_cold(&e);
	assert(e.p - e.start < MAX_HOST && e.cold - e.cold_start < MAX_HOST);

	uint32_t last = lin + (next - eip) - 1;
	blk->eip = eip;
	blk->cs_base = cs->base;
	blk->cs_limit = cs->limit;
	blk->mode = mode;
	blk->guest_len = (uint16_t)(next - eip);
	blk->ninsn = (uint16_t)ninsn;
	blk->page[0] = (uint32_t)(pa >> 12);
	blk->npages = 1;
	if (blk->guest_len && (last >> 12) != (lin >> 12))
		blk->page[blk->npages++] = (uint32_t)(pa_next >> 12);
	if (xpage && blk->npages == 2 && xlpn == (lin >> 12) + 1)
		xpage = false;          /* the thunk's page is the block's second anyway */
	blk->xpage = xpage;
	blk->xlpn = xlpn;
	if (xpage)
		blk->page[blk->npages] = xppn;
	/* On global pages (CR4.PGE) the block survives CR3 loads. */
	blk->global = mmu_global(vm->mmu, lin) &&
		      (blk->npages == 1 || mmu_global(vm->mmu, (lin & ~0xfffu) + 0x1000)) &&
		      (!xpage || mmu_global(vm->mmu, xlpn << 12));
	blk->large = mmu_large(vm->mmu, lin) ||
		     (blk->npages == 2 && mmu_large(vm->mmu, (lin & ~0xfffu) + 0x1000)) ||
		     (xpage && mmu_large(vm->mmu, xlpn << 12));
	blk->host_len = (uint32_t)(e.p - e.start);
	blk->cold_len = (uint32_t)(e.cold - e.cold_start);
	blk->nside = (uint16_t)ninsn;
	blk->nentries = (uint8_t)nentries;
	blk->entries = malloc(nentries * sizeof(*blk->entries));
	memcpy(blk->entries, entries, nentries * sizeof(*blk->entries));
	blk->side = malloc(ninsn * sizeof(*blk->side));
	memcpy(blk->side, rw->side, ninsn * sizeof(*blk->side));
	if (oneshot)
		cc_commit_oneshot(vm->cc, blk);
	else
		cc_commit(vm->cc, blk);
	rw->stats.translate_cycles += __rdtsc() - t0;
	if (vm->cfg.trace)
		fprintf(stderr, "trapeze: translate eip %#x: %d insns, %u guest bytes -> %u host bytes at %#x\n",
			eip, ninsn, blk->guest_len, blk->host_len, blk->host);
	if (vm->perf_map) {
		fprintf(vm->perf_map, "%x %x guest_%08x\n", blk->host, blk->host_len, cs->base + eip);
		fprintf(vm->perf_map, "%x %x guest_%08x_cold\n", blk->cold, blk->cold_len,
			cs->base + eip);
	}
	return blk;
}
