/*
 * mangle_kentry.c - SYSENTER (at CPL 3) and SYSEXIT (at CPL 0) in translated code.
 *
 * The monitor prepares both sides of a transition in the vCPU block (monitor/kentry.c:
 * the host selectors and guest-visible CS/SS of each CPL, SYSENTER's ESP and EIP, a
 * flag per direction); the emitted sequence checks its flag (and, for SYSEXIT, that FS
 * is the value the sets were made for and that no interrupt waits), installs the
 * target side's set, loads the host SS, ESP, DS, ES and FS, counts the transition for
 * the monitor's catch-up and goes to the target through the lookup table of the
 * target's mode. Nothing in it touches guest memory or the arithmetic flags, so it
 * cannot fault; when a check fails the instruction is a callout as before.
 * EAX and ECX are scratch (saved first, restored by the table stub or the slow path).
 */
#include "translate.h"

/* mov sreg, word gs:[abs] */
static void emit_mov_sreg_gs(struct xbuf *b, int sreg, uint32_t abs)
{
	emit_gs_op(b, 0x8e, sreg, abs);
}

/* Leave for the slow path (rel32 noted in *slow) unless ECX is zero. */
static void emit_unless_ecx_zero(struct xbuf *b, uint32_t *slow)
{
	emit_jecxz(b, 5);
	*slow = emit_jmp_rel32(b, 0);
}

/* ECX = gs:[abs] - 1, flags untouched: zero when the word is 1. */
static void emit_flag_check(struct xbuf *b, uint32_t abs, uint32_t *slow)
{
	emit_mov_gs_load(b, R_ECX, abs);
	emit_lea_disp8(b, R_ECX, R_ECX, -1);
	emit_unless_ecx_zero(b, slow);
}

static void copy_dwords(struct xbuf *b, uint32_t to, uint32_t from, int n)
{
	for (int k = 0; k < n; k++) {
		emit_mov_gs_load(b, R_ECX, from + 4 * (uint32_t)k);
		emit_mov_gs_store(b, to + 4 * (uint32_t)k, R_ECX);
	}
}

/* The target side's set (at gs:[set]) becomes current: host SS and the new ESP (from
 * gs:[esp_at]), DS, ES and FS loaded; the vCPU block's selectors; the CPL and the count
 * the monitor catches up by. */
static void emit_install(struct xbuf *b, uint32_t set, uint32_t esp_at, uint32_t cpl)
{
	emit_mov_sreg_gs(b, SR_SS, set + KSET_HSEL + 2 * SR_SS);
	emit_mov_gs_load(b, R_ESP, esp_at);
	emit_mov_sreg_gs(b, SR_DS, set + KSET_HSEL + 2 * SR_DS);
	emit_mov_sreg_gs(b, SR_ES, set + KSET_HSEL + 2 * SR_ES);
	emit_mov_sreg_gs(b, SR_FS, set + KSET_NFS);
	copy_dwords(b, VCPU_ADDR + VC_HSEL, set + KSET_HSEL, 4);
	copy_dwords(b, VCPU_ADDR + VC_GSEL + 2 * SR_CS, set + KSET_GSEL_CSSS, 1);
	copy_dwords(b, VCPU_ADDR + VC_GSEL32 + 4 * SR_CS, set + KSET_GSEL32, 2);
	emit_mov_gs_imm32(b, VCPU_ADDR + VC_K_CPL, cpl);
	emit_mov_gs_load(b, R_ECX, VCPU_ADDR + VC_K_COUNT);
	emit_lea_disp8(b, R_ECX, R_ECX, 1);
	emit_mov_gs_store(b, VCPU_ADDR + VC_K_COUNT, R_ECX);
}

/* Target in EAX: through the lookup table of the target's mode (a flat CS: nothing to
 * note for a limit check); then the slow path the checks' jumps land on. */
static void emit_finish(struct tblock *t, const struct tinsn *in, uint32_t table,
			const uint32_t *slow, int nslow)
{
	struct emit *e = &t->e;
	bool limited = e->limited;
	e->limited = false;
	emit_lookup_in(e, table);
	e->limited = limited;
	for (int k = 0; k < nslow; k++)
		patch_rel32(slow[k], xb_here(&e->b));
	emit_mov_gs_load(&e->b, R_EAX, VCPU_ADDR + VC_SAVE_EAX);
	emit_mov_gs_load(&e->b, R_ECX, VCPU_ADDR + VC_SAVE_ECX);
	emit_callout_exit(e, in->eip);
	t->ended = true;
}

void emit_sysenter(struct tblock *t, const struct tinsn *in)
{
	struct xbuf *b = &t->e.b;
	uint32_t slow[1];
	emit_save_scratch(&t->e);
	emit_flag_check(b, VCPU_ADDR + VC_K_ENTER_OK, &slow[0]);
	emit_install(b, VCPU_ADDR + VC_K_SET0, VCPU_ADDR + VC_K_ESP0, 0);
	emit_mov_gs_imm32(b, VCPU_ADDR + VC_VIF, 0);    /* IF cleared (VM and RF are 0) */
	emit_mov_gs_load(b, R_EAX, VCPU_ADDR + VC_K_EIP0);
	emit_finish(t, in, LOOKUP_TABLE(0), slow, 1);
}

void emit_sysexit(struct tblock *t, const struct tinsn *in, uint32_t target_mode)
{
	struct xbuf *b = &t->e.b;
	uint32_t slow[3];
	emit_save_scratch(&t->e);
	emit_flag_check(b, VCPU_ADDR + VC_K_EXIT_OK + 4 * LOOKUP_INDEX(target_mode), &slow[0]);
	/* An interrupt waiting for the STI before SYSEXIT: the monitor delivers it. */
	emit_mov_gs_load(b, R_ECX, VCPU_ADDR + VC_IRQ);
	emit_jecxz(b, 5);
	slow[1] = emit_jmp_rel32(b, 0);
	/* FS is the value the sets were made for (the kernel's per-CPU FS swapped out). */
	emit_movzx_gs_load16(b, R_ECX, VCPU_ADDR + VC_HSEL + 2 * SR_FS);
	emit_mov_gs_load(b, R_EAX, VCPU_ADDR + VC_K_NFS0);
	emit_lea_sum(b, R_ECX, R_ECX, R_EAX);
	emit_unless_ecx_zero(b, &slow[2]);
	emit_install(b, VCPU_ADDR + VC_K_SET3, VCPU_ADDR + VC_SAVE_ECX, 3);
	emit_mov_reg_reg(b, R_EAX, R_EDX);
	emit_finish(t, in, LOOKUP_TABLE(target_mode), slow, 3);
}
