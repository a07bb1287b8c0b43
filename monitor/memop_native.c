/*
 * memop_native.c - memop's general fallback: any instruction the translator would copy
 * as it is, with one ModRM memory operand, run by the host CPU itself with that operand
 * moved to a copy in the window (memop_native.h).
 *
 * The instruction is re-encoded for 64-bit mode (segment and address-size prefixes
 * dropped, the operand made RIP-relative) into the executor (memop_exec.S), which
 * loads the guest's general registers, status flags and x87/SSE image, runs it and
 * stores them back. Each run is a transaction: its outputs are taken only when the
 * guest's instruction completed, so a fault leaves the guest as before it.
 *
 * Two runs. The first (the probe) points the operand at an inaccessible page: the
 * host's own fault says whether the instruction writes (a read-modify-write reports
 * W, as the guest's CPU would), and anything the CPU checks before the access comes
 * first as it does on hardware (#UD, a pending x87 #MF, a misaligned 16-byte SSE
 * operand's #GP(0): SDM Vol. 3, 6.9, priority among exceptions). Then the access is
 * checked against the guest's segment and page tables for that kind (segment #GP/#SS
 * before #PF, a write's #PF with W), the operand is read into the copy (at the same
 * offset modulo 64, so alignment rules see the guest's address), the instruction runs
 * on it, and a writing instruction's operand goes back to guest memory.
 *
 * Only instructions named here run (native_op, an allowlist by opcode): those known to
 * have exactly one memory operand, their ModRM one, and no implicit memory access. The
 * operand's size is insn_op_size()'s (Capstone's, corrected where Capstone 4 is
 * wrong). Whether the instruction writes is the probe's fault's W bit, or the copy
 * having changed (a CPU that reports a read-modify-write's fault as a read).
 */
#include "memop_native.h"

#include <assert.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <capstone/capstone.h>

#include "exceptions.h"
#include "fpu.h"
#include "segments.h"
#include "vm.h"
#include "../rewriter/rewriter.h"
#include "../shadowmmu/walk.h"

extern char tz_mx_start[], tz_mx_slot[], tz_mx_fault[], tz_mx_end[];

/* The executor's data block (MX_DATA_ADDR). */
struct mx_data {
	uint32_t regs[8];
	uint32_t eflags;
	uint32_t err;
	uint64_t host_rsp;
	uint64_t fault_addr;    /* the host fault's address (si_addr) */
	uint8_t pad[MX_FX - 56];
	uint8_t fx[512];
};
static_assert(offsetof(struct mx_data, eflags) == MX_EFLAGS, "MX_EFLAGS");
static_assert(offsetof(struct mx_data, err) == MX_ERR, "MX_ERR");
static_assert(offsetof(struct mx_data, host_rsp) == MX_HOST_RSP, "MX_HOST_RSP");
static_assert(offsetof(struct mx_data, fx) == MX_FX, "MX_FX");

#define MX ((struct mx_data *)(uintptr_t)MX_DATA_ADDR)
#define MX_SLOT (MX_CODE_ADDR + (uint32_t)(tz_mx_slot - tz_mx_start))
#define MX_SLOT_LEN 16          /* memop_exec.S: the NOPs the instruction replaces */
#define MX_OPERAND_AT 0x400     /* where in its page the copy starts (+ lin mod 64) */
#define MX_MAX_OPERAND 512      /* FXSAVE's image, the largest */
static_assert(MX_OPERAND_AT + 63 + MX_MAX_OPERAND + 64 <= 4096, "the copy and a canary fit");

#define FL_STATUS (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

int memop_native_init(void)
{
	memcpy((void *)(uintptr_t)MX_CODE_ADDR, tz_mx_start, (size_t)(tz_mx_end - tz_mx_start));
	return mprotect((void *)(uintptr_t)MX_PROBE_ADDR, 4096, PROT_NONE) < 0 ? -1 : 0;
}

/* The signals a fault of the instruction in the slot raises: #PF, #GP (SIGSEGV), #UD
 * (SIGILL), #DE, #MF, #XM (SIGFPE), #AC (SIGBUS). */
static bool is_slot_fault(int sig)
{
	return sig == SIGSEGV || sig == SIGILL || sig == SIGFPE || sig == SIGBUS;
}

bool memop_native_catch(int sig, uint64_t rip, uint32_t err, uint64_t addr, uint64_t *resume,
			uint64_t *rsp)
{
	/* Only the instruction in the slot may fault: anything else in the executor is
	 * the monitor's own error, not a guest's exception. */
	if (rip < MX_SLOT || rip >= MX_SLOT + MX_SLOT_LEN || !is_slot_fault(sig))
		return false;
	MX->err = err;
	MX->fault_addr = addr;
	*resume = MX_CODE_ADDR + (uint64_t)(tz_mx_fault - tz_mx_start);
	*rsp = MX->host_rsp;
	return true;
}

/* The memory operand as this file runs it. */
struct operand {
	struct mref at;
	uint32_t size;
	int after;              /* the instruction's bytes from op[after] on follow its
				   ModRM, SIB and displacement (an immediate) */
	int oplen;              /* opcode bytes before the ModRM */
	bool implicit_edi;      /* MASKMOVQ, MASKMOVDQU: the operand is at [EDI] */
};

/* Does the instruction use ESP implicitly (the stack)? */
static bool uses_stack(const struct insn *i)
{
	const cs_detail *d = i->cs->detail;
	for (int k = 0; k < d->regs_read_count; k++)
		if (d->regs_read[k] == X86_REG_ESP || d->regs_read[k] == X86_REG_SP)
			return true;
	for (int k = 0; k < d->regs_write_count; k++)
		if (d->regs_write[k] == X86_REG_ESP || d->regs_write[k] == X86_REG_SP)
			return true;
	return false;
}

/*
 * Is i one of the instructions known to have exactly one memory operand, their ModRM
 * one, and no implicit memory access (SDM Vol. 2, Appendix A, the opcode maps)? An
 * allowlist: an instruction not named here is never run on the host, whatever it is.
 * In 64-bit mode a second operand addressed by a register would be an access through
 * the guest's zero-extended register, anywhere below 4 GiB (MOVDIR64B, 66 0F 38 F8,
 * stores 64 bytes at [reg]); an opcode this table does not name is refused, not
 * guessed at. The integer instructions memop.c emulates are not named (nor BT with a
 * register offset, whose access is not at the ModRM address). MASKMOVQ/MASKMOVDQU
 * (0F F7, [EDI]) are native_form's own case.
 */
static bool native_op(const struct insn *i)
{
	const uint8_t *op = i->op;
	int rest = i->len - i->npfx;
	if (rest < 2)
		return false;
	if (op[0] != 0x0f) {
		int reg = (op[1] >> 3) & 7;
		switch (op[0]) {
		case 0x69: case 0x6b:                   /* IMUL r, r/m, imm */
		case 0xd8 ... 0xdf:                     /* x87 */
			return true;
		case 0xf6: case 0xf7:                   /* MUL, IMUL, DIV, IDIV */
			return reg >= 4;
		}
		return false;
	}
	if (rest < 3)
		return false;
	int reg = (op[2] >> 3) & 7;
	switch (op[1]) {
	case 0x10 ... 0x17:                     /* SSE moves, unpacks */
	case 0x28 ... 0x2f:                     /* MOVAPS, conversions, MOVNTPS, (U)COMIS */
	case 0x40 ... 0x4f:                     /* CMOVcc */
	case 0x50 ... 0x76:                     /* SSE arithmetic, MMX/SSE2 */
	case 0x7c ... 0x7f:                     /* HADD, HSUB, MOVD, MOVQ */
	case 0xa4: case 0xa5: case 0xac: case 0xad:     /* SHLD, SHRD */
	case 0xaf:                              /* IMUL r, r/m */
	case 0xb8: case 0xbc: case 0xbd:        /* POPCNT, BSF, BSR */
	case 0xc2 ... 0xc6:                     /* CMPPS, MOVNTI, PINSRW, PEXTRW, SHUFPS */
	case 0xd0 ... 0xf6:                     /* MMX/SSE2 */
	case 0xf8 ... 0xfe:
		return true;
	case 0xae:                              /* FXSAVE FXRSTOR LDMXCSR STMXCSR; CLFLUSH */
		return reg <= 3 || reg == 7;
	case 0xc7:                              /* CMPXCHG8B */
		return reg == 1;
	case 0x38: case 0x3a:
		/* What the virtual CPU has of these maps (SSSE3, SSE4.1, SSE4.2, AES,
		 * PCLMULQDQ, CRC32): one ModRM operand each. A map entry added there
		 * with another kind of operand must be refused here. */
		return rw_vcpu_has_0f38_0f3a(i->b, i->npfx, i->len);
	}
	return false;
}

/*
 * Is i an instruction this file runs: one the translator copies as it is (nothing
 * sensitive), named by native_op, with exactly one memory operand, through its ModRM,
 * and no stack? Fills o.
 */
static bool native_form(const struct insn *i, struct operand *o)
{
	const uint8_t *op = i->op;
	int rest = i->len - i->npfx;
	if (!rw_is_ident(i->b, i->len) || uses_stack(i))
		return false;
	o->implicit_edi = op[0] == 0x0f && rest > 2 && op[1] == 0xf7 && (op[2] >> 6) == 3;
	if (o->implicit_edi) {
		/* MASKMOVQ, MASKMOVDQU (66): a masked store of 8 or 16 bytes at DS:EDI, the
		 * ModRM two registers (SDM Vol. 2); the executor points EDI at the copy. */
		o->oplen = 2;
		o->after = 3;
		o->at = (struct mref){ .sr = i->seg >= 0 ? i->seg : SR_DS,
				       .off = i->a16 ? i->regs[R_EDI] & 0xffff : i->regs[R_EDI] };
		o->size = i->o16 ? 16 : 8;
		return true;
	}
	if (!native_op(i))
		return false;
	const cs_x86_op *m = NULL;
	for (int k = 0; k < i->x->op_count; k++) {
		if (i->x->operands[k].type != X86_OP_MEM)
			continue;
		if (m)
			return false;
		m = &i->x->operands[k];
	}
	if (!m)
		return false;
	o->oplen = op[0] != 0x0f ? 1 : (op[1] == 0x38 || op[1] == 0x3a) ? 3 : 2;
	if (o->oplen >= rest)
		return false;
	uint8_t modrm = op[o->oplen];
	int mod = modrm >> 6, rm = modrm & 7, at = o->oplen + 1;
	if (mod == 3)
		return false;
	if (i->a16) {                                   /* SDM Vol. 2, Table 2-1 */
		at += (mod == 0 && rm == 6) || mod == 2 ? 2 : mod;
	} else {                                        /* Table 2-2, 2-3 */
		if (rm == 4)
			at++;
		if ((mod == 0 && rm == 5) || mod == 2 ||
		    (mod == 0 && rm == 4 && at <= rest && (op[at - 1] & 7) == 5))
			at += 4;
		else
			at += mod;
	}
	if (at > rest)
		return false;
	o->after = at;
	o->at = insn_op_ea(i, m);
	o->size = insn_op_size(i, m);
	return o->size <= MX_MAX_OPERAND;
}

/* The prefix groups the 64-bit form keeps (SDM Vol. 2, 2.1.1): LOCK, F2/F3 and 66;
 * the segment and address-size prefixes go. */
static int prefix_group(uint8_t p)
{
	switch (p) {
	case 0xf0: return 1;
	case 0xf2: case 0xf3: return 2;
	case 0x66: return 3;
	}
	return 0;
}

/* Does i's prefix k go into the 64-bit form? Only the last of each kept group: a
 * legal instruction may repeat a prefix up to its 15 bytes, and the encoding with a
 * RIP-relative displacement could pass them (as normalize16 drops them). */
static bool kept_prefix(const struct insn *i, int k)
{
	int g = prefix_group(i->b[k]);
	if (!g)
		return false;
	for (int j = k + 1; j < i->npfx; j++)
		if (prefix_group(i->b[j]) == g)
			return false;
	return true;
}

/* Write i's 64-bit form into the executor's slot, its operand at target. False if it
 * does not fit. */
static bool encode(const struct insn *i, const struct operand *o, uint32_t target)
{
	uint8_t out[16];
	int n = 0, tail = i->len - i->npfx - o->after;
	for (int k = 0; k < i->npfx; k++)
		if (kept_prefix(i, k))
			out[n++] = i->b[k];
	if (n + o->oplen + 5 + tail > 15)
		return false;
	memcpy(out + n, i->op, (size_t)o->oplen);
	n += o->oplen;
	if (o->implicit_edi) {
		out[n++] = i->op[o->oplen];                     /* EDI says where: run() */
	} else {
		out[n++] = (uint8_t)((i->op[o->oplen] & 0x38) | 5);     /* mod 0, rm 5: [RIP + disp32] */
		int disp_at = n;
		n += 4;
		memcpy(out + n, i->op + o->after, (size_t)tail);
		n += tail;
		int32_t disp = (int32_t)(target - (MX_SLOT + (uint32_t)n));
		memcpy(out + disp_at, &disp, 4);
	}
	memset(out + n, 0x90, (size_t)(16 - n));
	memcpy((void *)(uintptr_t)MX_SLOT, out, 16);
	return true;
}

/* One run of the slot with the guest's registers and state: 0, or the host's trap
 * number + 1 (MX->err its error code). */
static int run(const struct insn *i, const struct operand *o, uint32_t target)
{
	encode(i, o, target);
	memcpy(MX->regs, i->regs, sizeof(MX->regs));
	if (o->implicit_edi)
		MX->regs[R_EDI] = target;
	MX->eflags = (i->c->sh->eflags & FL_STATUS) | FL_1;
	uint32_t (*slot)(void) = (uint32_t (*)(void))(uintptr_t)MX_CODE_ADDR;
	return (int)slot();
}

/* The run's outputs become the guest's. */
static void commit(struct insn *i, const struct operand *o)
{
	struct vcpu_shared *sh = i->c->sh;
	if (o->implicit_edi)
		MX->regs[R_EDI] = i->regs[R_EDI];
	memcpy(i->regs, MX->regs, sizeof(MX->regs));
	sh->eflags = (sh->eflags & ~FL_STATUS) | (MX->eflags & FL_STATUS);
	memcpy(sh->fx, MX->fx, sizeof(sh->fx));
}

/* A host trap in a run, as the guest's exception (machine_x86.c maps translated code's
 * the same way). */
static enum emu_result raise_trap(struct insn *i, int trap)
{
	switch (trap) {
	case VEC_DE: case VEC_UD: case VEC_NM: case VEC_MF: case VEC_XM:
		exc_raise(i->vm, trap, false, 0);
		return EMU_FAULT;
	case VEC_GP: case VEC_AC:
		exc_raise(i->vm, trap, true, 0);
		return EMU_FAULT;
	}
	vm_stop(i->vm, STOP_MONITOR_ERROR, 6, "eip %#x: trap %d running %s %s on a copy of its "
		"operand", i->c->sh->eip, trap, i->cs->mnemonic, i->cs->op_str);
	return EMU_FAULT;
}

/* The guest's checks of a write of the operand: the segment's #GP/#SS, then #PF (W)
 * for each page it touches. 0, or -1 with the exception raised. */
static int write_checks(struct insn *i, const struct operand *o)
{
	struct vm *vm = i->vm;
	const struct seg *s = &vm->cpu.seg[o->at.sr];
	int vec = seg_check(s, o->at.sr, o->at.off, o->size, true);
	if (vec >= 0) {
		exc_raise(vm, vec, true, 0);
		return -1;
	}
	unsigned acc = PF_ACC_WRITE | (vm->cpu.cpl == 3 ? PF_ACC_USER : 0);
	return lin_check(vm, s->base + o->at.off, o->size, acc) < 0 ? -1 : 0;
}

/* The guest's checks of the access, for a write too if write, then the operand read
 * into buf: 0, or -1 with the exception raised. */
static int fetch_operand(struct insn *i, const struct operand *o, bool write, uint8_t *buf)
{
	if (write && write_checks(i, o) < 0)
		return -1;
	return seg_read(i->vm, o->at.sr, o->at.off, buf, o->size);
}

/* FXSAVE run in 64-bit mode stores XMM8-15 (bytes 288-415), which a 32-bit one
 * leaves as they were. */
#define FX_XMM8 288
#define FX_XMM8_LEN 128
static bool is_fxsave(const struct insn *i, const struct operand *o)
{
	return i->op[0] == 0x0f && i->op[1] == 0xae && ((i->op[o->oplen] >> 3) & 7) == 0;
}

/* Bytes after the copy: an instruction that wrote there has an operand larger than
 * the size taken (Capstone's), and its write would be lost: the VM stops instead. */
#define MX_CANARY 0xcc
#define MX_CANARY_LEN 64
static bool wrote_past(const uint8_t *end)
{
	for (int k = 0; k < MX_CANARY_LEN; k++)
		if (end[k] != MX_CANARY)
			return true;
	return false;
}

/* LOCK is allowed here only on CMPXCHG8B (0F C7 /1): memop.c runs the other lockable
 * forms (SDM Vol. 2, LOCK). */
static bool lock_ok(const struct insn *i, const struct operand *o)
{
	return i->op[0] == 0x0f && i->op[1] == 0xc7 && ((i->op[o->oplen] >> 3) & 7) == 1;
}

/* TRAPEZE_TEST_PROBE_READ=1 in the environment: every probe fault is taken as a read,
 * as on a host that reports a read-modify-write's fault as one (QEMU TCG as the host),
 * for the test guest/memop_edges-probe-read. */
static bool probe_read_test(void)
{
	const char *v = getenv("TRAPEZE_TEST_PROBE_READ");
	return v && *v && *v != '0';
}

/*
 * The first run, against the inaccessible page. 1: the instruction accesses its
 * operand (*write: for a store or a read-modify-write); 0: it completed without (a
 * prefetch, a MASKMOVDQU with an empty mask), its outputs taken; -1: the guest's
 * exception raised, what the CPU checks before the access (SDM Vol. 3, 6.9).
 */
static int probe(struct insn *i, const struct operand *o, uint32_t in_page, bool *write)
{
	int trap = run(i, o, MX_PROBE_ADDR + in_page);
	if (trap == 0) {
		commit(i, o);
		return 0;
	}
	trap--;
	if (trap == VEC_GP) {
		/* An SSE operand's alignment, after the segment's own checks (#SS first). */
		int vec = seg_check(&i->c->seg[o->at.sr], o->at.sr, o->at.off, o->size, false);
		exc_raise(i->vm, vec >= 0 ? vec : VEC_GP, true, 0);
		return -1;
	}
	if (trap != VEC_PF) {
		raise_trap(i, trap);
		return -1;
	}
	if (MX->fault_addr >> 12 != MX_PROBE_ADDR >> 12) {
		/* The operand is the only memory native_op's instructions touch. */
		vm_stop(i->vm, STOP_MONITOR_ERROR, 6, "eip %#x: %s %s faulted at %#llx, not on "
			"its operand's probe page", i->c->sh->eip, i->cs->mnemonic, i->cs->op_str,
			(unsigned long long)MX->fault_addr);
		return -1;
	}
	*write = (MX->err & PF_ERR_W) && !probe_read_test();
	return 1;
}

/* The second run, on the copy of the guest's operand: checks, read, run, write back. */
static enum emu_result run_on_copy(struct insn *i, const struct operand *o, uint32_t in_page,
				   bool write)
{
	uint8_t *copy = (uint8_t *)(uintptr_t)(MX_RW_ADDR + in_page);
	if (fetch_operand(i, o, write, copy) < 0)
		return EMU_FAULT;
	uint8_t before[MX_MAX_OPERAND];
	memcpy(before, copy, o->size);
	memset(copy + o->size, MX_CANARY, MX_CANARY_LEN);
	uint8_t xmm8_15[FX_XMM8_LEN];
	bool fxsave = is_fxsave(i, o);
	if (fxsave)
		memcpy(xmm8_15, copy + FX_XMM8, sizeof(xmm8_15));
	int trap = run(i, o, MX_RW_ADDR + in_page);
	if (trap)
		return raise_trap(i, trap - 1);
	if (fxsave)     /* what a 32-bit FXSAVE leaves alone (SDM Vol. 2, FXSAVE, Table 3-53) */
		memcpy(copy + FX_XMM8, xmm8_15, sizeof(xmm8_15));
	if (wrote_past(copy + o->size)) {
		vm_stop(i->vm, STOP_MONITOR_ERROR, 6, "eip %#x: %s %s wrote past the %u bytes "
			"taken for its operand", i->c->sh->eip, i->cs->mnemonic, i->cs->op_str,
			o->size);
		return EMU_FAULT;
	}
	if (!write && memcmp(copy, before, o->size) != 0) {
		/* A write the probe's fault did not report (a CPU, or an emulator as host,
		 * that reports a read-modify-write's fault as a read): the guest's write
		 * checks now, which may raise #PF with W, rather than lose it. */
		if (write_checks(i, o) < 0)
			return EMU_FAULT;
		write = true;
	}
	if (write && seg_write(i->vm, o->at.sr, o->at.off, copy, o->size) < 0)
		return EMU_FAULT;
	commit(i, o);
	return EMU_NEXT;
}

enum emu_result memop_native(struct insn *i)
{
	struct operand o;
	if (!native_form(i, &o))
		return EMU_NOT_MINE;
	int vec = insn_unavailable(i);
	if (vec < 0 && i->lock && !lock_ok(i, &o))
		vec = VEC_UD;
	if (vec >= 0) {
		exc_raise(i->vm, vec, false, 0);
		return EMU_FAULT;
	}
	/* Both pages get the operand at the guest address's offset modulo 64. */
	uint32_t in_page = MX_OPERAND_AT + ((i->c->seg[o.at.sr].base + o.at.off) & 63);
	if (!encode(i, &o, MX_PROBE_ADDR + in_page))
		return EMU_NOT_MINE;
	fpu_save_vcpu(i->c->sh);        /* the runs start from the image in the vCPU block */
	bool write = false;
	int r = probe(i, &o, in_page, &write);
	if (r <= 0)
		return r < 0 ? EMU_FAULT : EMU_NEXT;
	return run_on_copy(i, &o, in_page, write);
}
