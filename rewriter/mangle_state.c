/*
 * mangle_state.c - the emitters of the instructions that touch state the monitor
 * virtualizes: segment prefixes and segment registers (reads, pushes, the loads Linux
 * repeats at every kernel entry and exit), EFLAGS (PUSHFD, POPFD), IF (CLI, STI) and
 * the TSC; and the copy of every other instruction (IDENT), whose cs: or gs: prefix
 * goes through FS.
 *
 * Called by the block driver (rewriter.c) with the block and the instruction
 * (translate.h). Nothing emitted here changes the arithmetic flags unless the guest
 * instruction does, and every guest memory access comes before any change of guest
 * state, or with the state recoverable from the side table (SIDE_SCRATCH,
 * SIDE_SAVED_REG): a host fault there is a precise guest fault (signals.c).
 */
#include "translate.h"
#include "insnclass.h"
#include "sites.h"

#include "../arch/x86.h"

static bool is_seg_prefix(uint8_t p)
{
	return p == 0x26 || p == 0x2e || p == 0x36 || p == 0x3e || p == 0x64 || p == 0x65;
}

/*
 * Copy an IDENT instruction; a cs: or gs: prefix is redirected through FS. Of several
 * segment prefixes the last one counts (as on the CPU and in QEMU); the others become
 * copies of it, so that no cs: or gs: is left for the host to apply.
 */
void emit_ident_view(struct emit *e, const uint8_t *b, int npfx, int len, bool wrap)
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
		xb_putn(&e->b, b, len);
		return;
	}
	if (view)
		emit_mov_fs_gs(&e->b, VCPU_ADDR + view);
	uint8_t *at = e->b.p;
	xb_putn(&e->b, b, len);
	uint8_t seg = to_fs ? 0x64 : p;
	for (int i = 0; i < npfx; i++)
		if (is_seg_prefix(b[i]))
			at[i] = seg;
	if (view)
		emit_mov_fs_gs(&e->b, VCPU_ADDR + native);
}

/*
 * A gs: access whose offset wraps around 4 GiB (glibc's thread pointer is GS's base;
 * its malloc reads %gs:-0x3c) needs GS's wrap view in FS, two segment loads (about 40
 * cycles) around the access. Under MODE_GS_LIN the instruction runs through DS, which
 * is flat, with GS's base added to its address as an index register S: S's guest
 * value goes to VC_SAVE_EAX (the side entry says which register it is), S gets the
 * base from the vCPU block, and S comes back after (a load into S needs none: the
 * load overwrites it). The effective address wraps at 32 bits as the CPU's does; a
 * fault there is the guest instruction's, emulated as before. Simple forms (mov, ALU,
 * test, inc/dec, movzx/movsx, push) whose address has no index register.
 */

/* The register operand of the form at op (olen opcode bytes, o the last), whether the
 * instruction only writes it (a load), or -1 if the form is not one served here. */
static int gs_linear_form(const uint8_t *b, int npfx, const uint8_t *op, int olen, bool *load,
			  bool *reg_operand)
{
	uint8_t o = op[olen - 1];
	*load = false;                  /* writes all of its register operand, reads it not */
	if (olen == 2) {
		if (o != 0xb6 && o != 0xb7 && o != 0xbe && o != 0xbf)
			return -1;              /* movzx, movsx */
		*reg_operand = true;
		*load = !has_prefix(b, npfx, 0x66);
	} else if ((o < 0x40 && (o & 7) < 4) || (o >= 0x84 && o <= 0x8b)) {
		*reg_operand = true;    /* ALU, test, xchg, mov */
		*load = o == 0x8b && !has_prefix(b, npfx, 0x66);
	} else if (o == 0x80 || o == 0x81 || o == 0x83 || o == 0xc6 || o == 0xc7 ||
		   o == 0xfe || o == 0xff || o == 0xf6 || o == 0xf7) {
		*reg_operand = false;   /* an opcode extension in ModRM.reg */
	} else {
		return -1;
	}
	const uint8_t *m = op + olen;
	int mod = m[0] >> 6, reg = (m[0] >> 3) & 7;
	if (mod == 3)
		return -1;
	if (!*reg_operand &&
	    (((o == 0xc6 || o == 0xc7) && reg != 0) ||
	     ((o == 0xfe || o == 0xff) && reg != 0 && reg != 1 && !(o == 0xff && reg == 6)) ||
	     ((o == 0xf6 || o == 0xf7) && reg > 3)))
		return -1;                      /* calls, jumps; mul, div (EAX, EDX) */
	return reg;
}

/* The side flags, or 0 if not done (then nothing was emitted). */
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
	bool load, reg_operand;
	int reg = gs_linear_form(b, npfx, op, olen, &load, &reg_operand);
	if (reg < 0)
		return 0;
	const uint8_t *m = op + olen;
	int mod = m[0] >> 6, rm = m[0] & 7;
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
	int full = reg_operand ? ((o < 0x40 || o >= 0x84) && !(o & 1) && olen == 1 ? reg & 3 : reg)
			       : -1;
	int s = -1;
	if (load && reg != R_ESP && (nobase || reg != base))
		s = reg;
	for (int r = 0; s < 0 && r < 8; r++)
		if (r != R_ESP && r != full && (nobase || r != base))
			s = r;
	emit_mov_gs_store(&e->b, VCPU_ADDR + VC_SAVE_EAX, s);
	emit_mov_gs_load(&e->b, s, VCPU_ADDR + VC_GGS_BASE);
	xb_put8(&e->b, 0x3e);   /* ds: an EBP or ESP base would default to SS */
	for (int i = 0; i < npfx; i++)
		if (b[i] != 0x65)
			xb_put8(&e->b, b[i]);
	xb_putn(&e->b, op, olen);
	if (nobase) {                           /* [disp32] -> [S + disp32] */
		xb_put8(&e->b, (uint8_t)(0x80 | reg << 3 | s));
	} else {                                /* [base + disp] -> [base + S + disp] */
		xb_put8(&e->b, (uint8_t)(mod << 6 | reg << 3 | 4));
		xb_put8(&e->b, (uint8_t)(s << 3 | base));
	}
	xb_putn(&e->b, m + 1 + sib, dlen + imm);
	if (!(load && s == reg))
		emit_mov_gs_load(&e->b, s, VCPU_ADDR + VC_SAVE_EAX);
	return (uint8_t)(SIDE_SAVED_REG | s << 4);
}

void emit_ident(struct tblock *t, const struct tinsn *in, bool code16)
{
	bool wrap = !code16 && ((in->site & SITE_GS_WRAP) || (in->xflags & XI_GS_HIGH));
	if (wrap && (in->se->flags = emit_gs_linear(&t->e, in->b, in->npfx, in->len)))
		return;
	emit_ident_view(&t->e, in->b, in->npfx, in->len, wrap);
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

/* ---- segment registers ---- */

/* mov r32, sreg: movzx r32, word gs:[the guest's selector] (mov r16, ... with 66) */
void emit_sreg_read(struct tblock *t, const struct tinsn *in)
{
	int sreg = (in->op[1] >> 3) & 7, dst = in->op[1] & 7;
	uint32_t gsel = VCPU_ADDR + VC_GSEL + 2 * (uint32_t)sreg;
	if (has_prefix(in->b, in->npfx, 0x66))
		emit_mov_gs_load16(&t->e.b, dst, gsel);
	else
		emit_movzx_gs_load16(&t->e.b, dst, gsel);
}

/* push gs:[the guest's selector]: zero-extended to 32 bits, one of the two forms the
 * SDM allows (Vol. 2, PUSH); 16 bits with 66. */
void emit_sreg_push(struct tblock *t, const struct tinsn *in)
{
	const uint8_t *op = in->op;
	int sreg = op[0] == 0x0f ? (op[1] == 0xa0 ? 4 : 5) : op[0] >> 3;
	bool o16 = has_prefix(in->b, in->npfx, 0x66);
	emit_push_gs(&t->e.b, VCPU_ADDR + (o16 ? VC_GSEL + 2 * (uint32_t)sreg :
						 VC_GSEL32 + 4 * (uint32_t)sreg), o16);
}

/* The new selector of MOV sreg, r/m16 or POP sreg (b) into reg, zero-extended: a POP
 * reads a dword (its faults are the dword's), the selector is its low word; MOV's
 * operand is read with its own ModRM (emit_fs_load refuses a segment override; DS/ES
 * take registers only). */
static void emit_load_selector(struct emit *e, const uint8_t *b, int npfx, int len, int reg)
{
	const uint8_t *op = b + npfx;
	if (op[0] != 0x8e) {
		emit_load_stack(&e->b, reg);
		emit_movzx_reg16(&e->b, reg, reg);
	} else {
		xb_put8(&e->b, 0x0f);                   /* movzx reg, r/m16 */
		xb_put8(&e->b, 0xb7);
		xb_put8(&e->b, (uint8_t)((op[1] & 0xc7) | reg << 3));
		xb_putn(&e->b, op + 2, len - npfx - 2); /* SIB, displacement */
	}
}

/* The tail of an in-line segment load: jump over the slow path, whose branches (rel8
 * at slow8, rel32 at slow32) land on it; it restores the scratch registers (ECX alone
 * or EAX and ECX) and leaves as a callout at eip. */
static void emit_sreg_slow_path(struct emit *e, uint8_t *const *slow8, const uint32_t *slow32,
				int n, bool eax, uint32_t eip)
{
	uint32_t done = emit_jmp_rel32(&e->b, 0);
	for (int k = 0; k < n; k++) {
		if (slow8)
			patch_rel8_here(slow8[k], &e->b);
		else
			patch_rel32(slow32[k], xb_here(&e->b));
	}
	if (eax)
		emit_mov_gs_load(&e->b, R_EAX, VCPU_ADDR + VC_SAVE_EAX);
	emit_mov_gs_load(&e->b, R_ECX, VCPU_ADDR + (eax ? VC_SAVE_ECX : VC_SAVE_EAX));
	emit_callout_exit(e, eip);
	patch_rel32(done, xb_here(&e->b));
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

/* ECX = -gs:[abs] (and the same with EAX), flags untouched */
static void neg_load(struct emit *e, int reg, uint32_t abs)
{
	emit_mov_gs_load(&e->b, reg, abs);
	emit_not(&e->b, reg);
	emit_lea_disp8(&e->b, reg, reg, 1);
}

/* The run-time checks: the new selector (in EAX) is the alternate's, its descriptor
 * still the alternate's; a miss jumps to a rel32 noted in slow[3]. */
static void emit_fs_alt_checks(struct emit *e, uint32_t *slow)
{
	const uint32_t alt_ndesc = VCPU_ADDR + VC_FSALT_NDESC;
	for (int k = 0; k < 3; k++) {
		if (k > 0) {                            /* eax = the descriptor's dword */
			emit_mov_gs_load(&e->b, R_ECX, VCPU_ADDR + VC_FSALT_DLIN);
			emit_mov_gs_load_based(&e->b, R_EAX, R_ECX, (int8_t)(4 * (k - 1)));
		}
		emit_mov_gs_load(&e->b, R_ECX, k ? alt_ndesc + 4 * (uint32_t)(k - 1) :
						   VCPU_ADDR + VC_FSALT_NSEL);
		emit_lea_sum(&e->b, R_ECX, R_ECX, R_EAX);
		emit_jecxz(&e->b, 5);
		slow[k] = emit_jmp_rel32(&e->b, 0);     /* jmp slow (too far for rel8) */
	}
}

/* The swap: the current FS value and the alternate change places, FS is loaded. */
static void emit_fs_alt_swap(struct emit *e)
{
	const uint32_t cur_hsel = VCPU_ADDR + VC_HSEL + 2 * SR_FS;
	/* selector, descriptor: the current one's negated becomes the alternate */
	static const struct { uint32_t cur, alt; } pairs[3] = {
		{ VCPU_ADDR + VC_GSEL32 + 4 * SR_FS, VCPU_ADDR + VC_FSALT_NSEL },
		{ VCPU_ADDR + VC_LDESC + 8 * SR_FS, VCPU_ADDR + VC_FSALT_NDESC },
		{ VCPU_ADDR + VC_LDESC + 8 * SR_FS + 4, VCPU_ADDR + VC_FSALT_NDESC + 4 },
	};
	for (int k = 0; k < 3; k++) {
		neg_load(e, R_EAX, pairs[k].cur);
		neg_load(e, R_ECX, pairs[k].alt);
		emit_mov_gs_store(&e->b, pairs[k].alt, R_EAX);
		emit_mov_gs_store(&e->b, pairs[k].cur, R_ECX);
		if (k == 0)                             /* the selector's 16-bit copy */
			emit_mov_gs_store16(&e->b, VCPU_ADDR + VC_GSEL + 2 * SR_FS, R_ECX);
	}
	/* where the descriptors lie */
	emit_mov_gs_load(&e->b, R_EAX, VCPU_ADDR + VC_FS_DLIN);
	emit_mov_gs_load(&e->b, R_ECX, VCPU_ADDR + VC_FSALT_DLIN);
	emit_mov_gs_store(&e->b, VCPU_ADDR + VC_FSALT_DLIN, R_EAX);
	emit_mov_gs_store(&e->b, VCPU_ADDR + VC_FS_DLIN, R_ECX);
	/* host shadows, and FS itself */
	emit_movzx_gs_load16(&e->b, R_EAX, cur_hsel);
	emit_mov_gs_load(&e->b, R_ECX, VCPU_ADDR + VC_FSALT_HSEL);
	emit_mov_gs_store(&e->b, VCPU_ADDR + VC_FSALT_HSEL, R_EAX);
	emit_mov_gs_store16(&e->b, cur_hsel, R_ECX);
	emit_mov_gs_store16(&e->b, VCPU_ADDR + VC_HSEL_NFS, R_ECX);
	emit_mov_fs_reg(&e->b, R_ECX);
	emit_mov_gs_load(&e->b, R_EAX, VCPU_ADDR + VC_FS_SWAPS);
	emit_lea_disp8(&e->b, R_EAX, R_EAX, 1);
	emit_mov_gs_store(&e->b, VCPU_ADDR + VC_FS_SWAPS, R_EAX);
}

/* Whether MOV FS/GS, r/m16 or POP FS/GS (b, npfx prefixes) can load in line: CPL 0,
 * 32-bit code and stack, a dword POP, and no segment override on a memory operand (the
 * monitor's own segments would serve it). */
static bool fs_gs_load_ok(const struct emit *e, const uint8_t *b, int npfx)
{
	const uint8_t *op = b + npfx;
	bool pop = op[0] == 0x0f, mem = !pop && (op[1] >> 6) != 3;
	if ((e->mode & 3) != 0 || !(e->mode & 4) || (e->mode & MODE_SS16) ||
	    (pop && has_prefix(b, npfx, 0x66)))
		return false;
	for (int i = 0; mem && i < npfx; i++)
		if (b[i] != 0x66)
			return false;
	return true;
}

static uint8_t emit_fs_load(struct emit *e, const uint8_t *b, int npfx, int len, uint32_t eip)
{
	bool pop = b[npfx] == 0x0f;
	if (!fs_gs_load_ok(e, b, npfx))
		return 0;
	uint32_t slow[3];
	emit_save_scratch(e);
	emit_load_selector(e, b, npfx, len, R_EAX);
	emit_fs_alt_checks(e, slow);
	emit_fs_alt_swap(e);
	emit_mov_gs_load(&e->b, R_EAX, VCPU_ADDR + VC_SAVE_EAX);
	emit_mov_gs_load(&e->b, R_ECX, VCPU_ADDR + VC_SAVE_ECX);
	if (pop)
		emit_lea_esp(&e->b, 4);
	emit_sreg_slow_path(e, NULL, slow, 3, true, eip);
	return SIDE_SCRATCH;
}

/*
 * MOV GS, r/m16 or POP GS at CPL 0, to a value loaded recently (VC_GSC, filled by
 * monitor/gsload.c): Linux's __switch_to loads the next task's GS, whose TLS
 * descriptor load_TLS has just written into the same GDT entry (0x33) for each task,
 * so the entries differ by descriptor more than by selector. For each entry in turn,
 * checked flag-free as emit_fs_load does: the new selector is the entry's, and the
 * GDT entry read now (through the monitor's GS, a supervisor fetch) is the entry's
 * descriptor, accessed bit included (a load would set it). A hit installs the entry
 * (emit_gs_install); a miss of all is a callout, which fills the cache. EAX and ECX
 * are scratch (SIDE_SCRATCH), the selector is kept in VC_TMP; the POP's read and the
 * GDT reads may fault, before anything has changed.
 */

/*
 * The entry at offset EAX from VC_GSC becomes GS: the vCPU block's selector, base and
 * CPL-0 shadows (the load runs at CPL 0), and the GS shadows of the prepared sets
 * (SYSENTER's and INT n's at CPL 0, SYSEXIT's at CPL 3 with the FS it loads there: the
 * host FS holds the guest's GS at CPL 3), so that the in-line SYSEXIT stays valid and
 * a later in-line INT installs this GS. (IRET's set is not updated: the in-line IRET
 * compares GS with the one it was made for, and goes the slow way after a change.) If the new
 * GS is flat where the old was not or the other way round, the CPL-3 mode word the
 * sets were made for (MODE_GS_LIN) no longer holds: the SYSEXIT flags are cleared,
 * and the monitor makes the sets again. Then the count and the entry for the monitor
 * (gs_cache_catch_up).
 */
static void emit_gs_install(struct emit *e)
{
	const uint32_t ent = VCPU_ADDR + VC_GSC;
	const uint32_t set0 = VCPU_ADDR + VC_K_SET0 + KSET_HSEL + 2 * SR_COUNT;
	const uint32_t set3 = VCPU_ADDR + VC_K_SET3 + KSET_HSEL + 2 * SR_COUNT;
	const uint32_t set_int = VCPU_ADDR + VC_K_SET_INT + KSET_HSEL + 2 * SR_COUNT;
	emit_mov_gs_store(&e->b, VCPU_ADDR + VC_TMP, R_EAX);
	emit_mov_gs_load_based32(&e->b, R_ECX, R_EAX, ent + GSC_NFLAT);
	emit_mov_gs_load(&e->b, R_EAX, VCPU_ADDR + VC_GGS_FLAT);
	emit_lea_sum(&e->b, R_ECX, R_ECX, R_EAX);
	uint8_t *same = emit_jecxz(&e->b, 0);
	for (uint32_t k = 0; k < 3; k++)
		emit_mov_gs_imm32(&e->b, VCPU_ADDR + VC_K_EXIT_OK + 4 * k, 0);
	patch_rel8_here(same, &e->b);
	emit_mov_gs_load(&e->b, R_EAX, VCPU_ADDR + VC_TMP);
	emit_mov_gs_load_based32(&e->b, R_ECX, R_EAX, ent + GSC_NFLAT);
	emit_not(&e->b, R_ECX);
	emit_lea_disp8(&e->b, R_ECX, R_ECX, 1);
	emit_mov_gs_store(&e->b, VCPU_ADDR + VC_GGS_FLAT, R_ECX);
	emit_mov_gs_load_based32(&e->b, R_ECX, R_EAX, ent + GSC_SEL);
	emit_mov_gs_store(&e->b, VCPU_ADDR + VC_GSEL32 + 4 * SR_GS, R_ECX);
	emit_mov_gs_store16(&e->b, VCPU_ADDR + VC_GSEL + 2 * SR_GS, R_ECX);
	emit_mov_gs_load_based32(&e->b, R_ECX, R_EAX, ent + GSC_BASE);
	emit_mov_gs_store(&e->b, VCPU_ADDR + VC_GGS_BASE, R_ECX);
	emit_mov_gs_load_based32(&e->b, R_ECX, R_EAX, ent + GSC_HSEL0);
	emit_mov_gs_store(&e->b, VCPU_ADDR + VC_HSEL_GGS, R_ECX);  /* and VC_HSEL_GGS_WRAP */
	emit_mov_gs_store(&e->b, set0, R_ECX);
	emit_mov_gs_store(&e->b, set_int, R_ECX);
	emit_mov_gs_load_based32(&e->b, R_ECX, R_EAX, ent + GSC_HSEL3);
	emit_mov_gs_store(&e->b, set3, R_ECX);
	emit_mov_gs_store16(&e->b, VCPU_ADDR + VC_K_SET3 + KSET_NFS, R_ECX);
	emit_mov_gs_store(&e->b, VCPU_ADDR + VC_GS_LAST, R_EAX);
	emit_mov_gs_load(&e->b, R_ECX, VCPU_ADDR + VC_GS_LOADS);
	emit_lea_disp8(&e->b, R_ECX, R_ECX, 1);
	emit_mov_gs_store(&e->b, VCPU_ADDR + VC_GS_LOADS, R_ECX);
}

/* The checks of entry k (the selector in EAX, and in VC_TMP); on a hit EAX = the
 * entry's offset and a jmp rel32 to the install, noted in *hit. Falls through to the
 * next entry's checks with the selector in EAX. */
static void emit_gs_entry_checks(struct emit *e, int k, uint32_t *hit)
{
	const uint32_t ent = VCPU_ADDR + VC_GSC + (uint32_t)k * GSC_SIZE;
	emit_mov_gs_load(&e->b, R_ECX, ent + GSC_NSEL);
	emit_lea_sum(&e->b, R_ECX, R_ECX, R_EAX);
	emit_jecxz(&e->b, 2);
	uint8_t *next = emit_jmp_rel8(&e->b);
	uint8_t *miss = NULL, *found = NULL;
	for (int h = 0; h < 2; h++) {                   /* the GDT entry's two dwords */
		emit_mov_gs_load(&e->b, R_ECX, ent + GSC_DLIN);
		emit_mov_gs_load_based(&e->b, R_EAX, R_ECX, (int8_t)(4 * h));
		emit_mov_gs_load(&e->b, R_ECX, ent + GSC_NDESC + 4 * (uint32_t)h);
		emit_lea_sum(&e->b, R_ECX, R_ECX, R_EAX);
		if (h == 0) {
			emit_jecxz(&e->b, 2);
			miss = emit_jmp_rel8(&e->b);
		} else {
			found = emit_jecxz(&e->b, 0);
		}
	}
	patch_rel8_here(miss, &e->b);
	emit_mov_gs_load(&e->b, R_EAX, VCPU_ADDR + VC_TMP);
	uint8_t *next2 = emit_jmp_rel8(&e->b);
	patch_rel8_here(found, &e->b);
	emit_mov_reg_imm32(&e->b, R_EAX, (uint32_t)k * GSC_SIZE);
	*hit = emit_jmp_rel32(&e->b, 0);
	patch_rel8_here(next, &e->b);
	patch_rel8_here(next2, &e->b);
}

static uint8_t emit_gs_load(struct emit *e, const uint8_t *b, int npfx, int len, uint32_t eip)
{
	bool pop = b[npfx] == 0x0f;
	if (!fs_gs_load_ok(e, b, npfx))
		return 0;
	uint32_t hit[GSC_ENTRIES], slow[1];
	emit_save_scratch(e);
	emit_load_selector(e, b, npfx, len, R_EAX);
	emit_mov_gs_store(&e->b, VCPU_ADDR + VC_TMP, R_EAX);
	for (int k = 0; k < GSC_ENTRIES; k++)
		emit_gs_entry_checks(e, k, &hit[k]);
	slow[0] = emit_jmp_rel32(&e->b, 0);
	for (int k = 0; k < GSC_ENTRIES; k++)
		patch_rel32(hit[k], xb_here(&e->b));
	emit_gs_install(e);
	emit_mov_gs_load(&e->b, R_EAX, VCPU_ADDR + VC_SAVE_EAX);
	emit_mov_gs_load(&e->b, R_ECX, VCPU_ADDR + VC_SAVE_ECX);
	if (pop)
		emit_lea_esp(&e->b, 4);
	emit_sreg_slow_path(e, NULL, slow, 1, true, eip);
	return SIDE_SCRATCH;
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

/* Whether the translation-time state lets a load of segment sr in line: CPL 0, 32-bit
 * code and stack, and the register's descriptor (d, from GDT entry at) a present,
 * accessed, readable code or data segment its RPL may load. */
static bool sreg_reload_ok(const struct emit *e, const struct cpu *c, int sr, bool pop_o16,
			   uint32_t at)
{
	const struct seg *s = &c->seg[sr];
	uint64_t d = s->raw;
	uint16_t sel = s->sel;
	unsigned dpl = (unsigned)(d >> 45) & 3, type = (unsigned)(d >> 40) & 0x1f;
	return !((e->mode & 3) != 0 || !(e->mode & 4) || (e->mode & MODE_SS16) || pop_o16 ||
		 !d || (sel & 4) || (sel & ~7u) + 7 > c->gdtr.limit || at < GUEST_LOW ||
		 at > GUEST_TOP - 8 || !(d & (1ull << 47)) || !(type & 0x10) || !(type & 1) ||
		 ((type & 8) && !(type & 2)) ||
		 (!((type & 8) && (type & 4)) && (sel & 3) > dpl));
}

static uint8_t emit_ds_es_load(struct emit *e, const struct cpu *c, const uint8_t *b, int npfx,
			       int len, uint32_t eip)
{
	const uint8_t *op = b + npfx;
	bool pop = op[0] != 0x8e;
	int sr = pop ? (op[0] == 0x07 ? SR_ES : SR_DS) : (op[1] >> 3) & 7;
	uint64_t d = c->seg[sr].raw;
	uint16_t sel = c->seg[sr].sel;
	uint32_t at = c->gdtr.base + (sel & ~7u);
	if (!sreg_reload_ok(e, c, sr, pop && has_prefix(b, npfx, 0x66), at))
		return 0;
	uint8_t *slow[6];
	emit_mov_gs_store(&e->b, VCPU_ADDR + VC_SAVE_EAX, R_ECX);
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
			emit_mov_gs_load(&e->b, R_ECX, checks[k][0]);
		emit_lea_disp32(&e->b, R_ECX, R_ECX, -checks[k][1]);
		emit_jecxz(&e->b, 2);                   /* next check */
		slow[k] = emit_jmp_rel8(&e->b);         /* jmp slow */
	}
	emit_mov_gs_load(&e->b, R_ECX, VCPU_ADDR + VC_SAVE_EAX);
	if (pop)
		emit_lea_esp(&e->b, 4);
	emit_sreg_slow_path(e, slow, NULL, 6, false, eip);
	return (uint8_t)(SIDE_SAVED_REG | R_ECX << 4);
}

bool emit_sreg_load(struct tblock *t, const struct tinsn *in)
{
	const uint8_t *op = in->op;
	if ((op[0] == 0x0f && op[1] == 0xa1) || (op[0] == 0x8e && ((op[1] >> 3) & 7) == SR_FS))
		in->se->flags = emit_fs_load(&t->e, in->b, in->npfx, in->len, in->eip);
	else if (op[0] == 0x0f || (op[0] == 0x8e && ((op[1] >> 3) & 7) == SR_GS))
		in->se->flags = emit_gs_load(&t->e, in->b, in->npfx, in->len, in->eip);
	else
		in->se->flags = emit_ds_es_load(&t->e, t->rw->cpu, in->b, in->npfx, in->len, in->eip);
	return in->se->flags != 0;
}

/* ---- flags ---- */

void emit_save_scratch(struct emit *e)
{
	emit_mov_gs_store(&e->b, VCPU_ADDR + VC_SAVE_EAX, R_EAX);
	emit_mov_gs_store(&e->b, VCPU_ADDR + VC_SAVE_ECX, R_ECX);
}

static void emit_restore_scratch(struct emit *e)
{
	emit_mov_gs_load(&e->b, R_EAX, VCPU_ADDR + VC_SAVE_EAX);
	emit_mov_gs_load(&e->b, R_ECX, VCPU_ADDR + VC_SAVE_ECX);
}

/*
 * PUSHFD: the guest's EFLAGS image is the host's arithmetic flags with the virtual
 * IF and other bits from the vCPU block. The host's PUSHFD writes the guest's slot
 * (the only memory the instruction touches; if it faults, nothing has changed); the
 * image is built in EAX and stored over it, the flags that building clobbers are
 * kept in ECX by LAHF/SETO and put back by ADD AL, 0x7F (OF) and SAHF. DF is never
 * touched.
 */
void emit_pushf(struct tblock *t, const struct tinsn *in)
{
	struct xbuf *b = &t->e.b;
	in->se->flags = SIDE_SCRATCH;
	emit_save_scratch(&t->e);
	emit_pushfd(b);
	emit_lahf(b);
	emit_seto_al(b);
	emit_mov_reg_reg(b, R_ECX, R_EAX);
	emit_load_stack(b, R_EAX);
	emit_and_imm32(b, R_EAX, FL_ARITH | FL_1);
	emit_alu_gs_load(b, ALU_OR, R_EAX, VCPU_ADDR + VC_VIF);
	emit_alu_gs_load(b, ALU_OR, R_EAX, VCPU_ADDR + VC_VFLAGS);
	emit_store_stack(b, R_EAX);
	emit_mov_reg_reg(b, R_EAX, R_ECX);
	emit_add_al(b, 0x7f);                           /* OF = the saved OF */
	emit_sahf(b);                                   /* SF ZF AF PF CF */
	emit_restore_scratch(&t->e);
}

/*
 * POPFD: inline when it changes nothing but the arithmetic flags and (where CPL <=
 * IOPL) IF, and TF, NT and AC stay clear, so the host's own POPFD can load the
 * arithmetic flags; IF goes to the vCPU block (an IF set while an interrupt waits
 * leaves through the callout). Everything else is a callout at the instruction.
 */
void emit_popf(struct tblock *t, const struct tinsn *in)
{
	struct xbuf *b = &t->e.b;
	bool io_ok = t->mode & MODE_IO_OK;
	in->se->flags = SIDE_SCRATCH;
	emit_save_scratch(&t->e);
	emit_load_stack(b, R_EAX);
	emit_mov_reg_reg(b, R_ECX, R_EAX);
	const uint32_t other = FL_TF | FL_IOPL | FL_NT | FL_AC | FL_ID;
	emit_alu_gs_load(b, ALU_XOR, R_ECX, VCPU_ADDR + VC_VFLAGS);
	emit_and_imm32(b, R_ECX, other);
	uint32_t slow[3];
	int nslow = 0;
	slow[nslow++] = emit_jcc_rel32(b, CC_NZ, 0);    /* other bits change */
	emit_test_eax_imm32(b, FL_TF | FL_NT | FL_AC);
	slow[nslow++] = emit_jcc_rel32(b, CC_NZ, 0);    /* ... or are set */
	if (io_ok) {
		emit_and_imm32(b, R_EAX, FL_IF);
		uint8_t *set_if = emit_jcc_rel8(b, CC_Z);
		emit_mov_gs_load(b, R_ECX, VCPU_ADDR + VC_IRQ);
		emit_test_reg(b, R_ECX);
		slow[nslow++] = emit_jcc_rel32(b, CC_NZ, 0);    /* an interrupt waits */
		patch_rel8_here(set_if, b);
		emit_mov_gs_store(b, VCPU_ADDR + VC_VIF, R_EAX);
	}
	emit_restore_scratch(&t->e);
	emit_popfd(b);
	uint8_t *done = emit_jmp_rel8(b);
	for (int k = 0; k < nslow; k++)
		patch_rel32(slow[k], xb_here(b));
	emit_restore_scratch(&t->e);
	emit_callout_exit(&t->e, in->eip);
	patch_rel8_here(done, b);
}

void emit_cli(struct tblock *t, const struct tinsn *in)
{
	(void)in;
	emit_mov_gs_imm32(&t->e.b, VCPU_ADDR + VC_VIF, 0);
}

/* With an interrupt waiting, STI is a callout: the monitor then runs the next
 * instruction alone and delivers. EFLAGS untouched. */
void emit_sti(struct tblock *t, const struct tinsn *in)
{
	struct xbuf *b = &t->e.b;
	in->se->flags = SIDE_SCRATCH;
	emit_mov_gs_store(b, VCPU_ADDR + VC_SAVE_ECX, R_ECX);
	emit_mov_gs_load(b, R_ECX, VCPU_ADDR + VC_IRQ);
	uint8_t *quiet = emit_jecxz(b, 0);
	emit_mov_gs_load(b, R_ECX, VCPU_ADDR + VC_SAVE_ECX);
	emit_callout_exit(&t->e, in->eip);
	patch_rel8_here(quiet, b);
	emit_mov_gs_load(b, R_ECX, VCPU_ADDR + VC_SAVE_ECX);
	emit_mov_gs_imm32(b, VCPU_ADDR + VC_VIF, FL_IF);
	/* Its shadow, for an exit right after it (the block's end). */
	emit_mov_gs_imm32(b, VCPU_ADDR + VC_STI_EIP, in->after);
}

/* RDTSC where the mode lets it run natively (rw_mode: MODE_TSC). */
void emit_tsc_read(struct tblock *t, const struct tinsn *in)
{
	(void)in;
	emit_rdtsc(&t->e.b);
}

/*
 * SERIALIZE (CPUID.07H:EDX[14]): earlier instructions complete and buffered writes
 * drain before the next is fetched (SDM Vol. 2B, SERIALIZE). The host's MFENCE drains
 * them; fetching stale code cannot happen here, since a write to translated code
 * invalidates it before the write completes (write-protected pages). Linux's
 * sync_core() uses it where it has it, and IRET to itself otherwise: a callout each
 * (38,000 in bench/linux.sh's run). The host need not have SERIALIZE.
 */
void emit_serialize(struct tblock *t, const struct tinsn *in)
{
	(void)in;
	xb_put8(&t->e.b, 0x0f);         /* mfence */
	xb_put8(&t->e.b, 0xae);
	xb_put8(&t->e.b, 0xf0);
}

/*
 * RDTSCP where RDTSC runs natively: LFENCE; RDTSC, then ECX from the guest's
 * IA32_TSC_AUX (the host's RDTSCP would give the host's, the host CPU's number). LFENCE
 * waits for every earlier instruction to complete, which is the ordering RDTSCP
 * promises (SDM Vol. 2B, RDTSCP); the host may lack RDTSCP, never LFENCE (SSE2).
 * Linux reads its clock with RDTSCP once the CPU has it: 1.4 million callouts in
 * bench/linux.sh's run.
 */
void emit_tscp_read(struct tblock *t, const struct tinsn *in)
{
	(void)in;
	xb_put8(&t->e.b, 0x0f);         /* lfence */
	xb_put8(&t->e.b, 0xae);
	xb_put8(&t->e.b, 0xe8);
	emit_rdtsc(&t->e.b);
	emit_mov_gs_load(&t->e.b, R_ECX, VCPU_ADDR + VC_TSC_AUX);
}
