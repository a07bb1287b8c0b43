/*
 * mangle_kentry.c - system calls in translated code: SYSENTER and INT n (at CPL 3),
 * SYSEXIT and IRET (at CPL 0).
 *
 * The monitor prepares each transition's target in the vCPU block (monitor/kentry.c:
 * the host selectors and guest-visible CS/SS of its CPL, what to compare, a flag); the
 * emitted sequence checks its flag and what may have changed since (SYSEXIT and IRET:
 * that FS is the value the sets were made for and no interrupt waits; INT and IRET:
 * the descriptors and the frame), installs the target's set, loads the host SS, ESP,
 * DS, ES and FS, counts the transition and its kind for the monitor's catch-up and
 * goes to the target through the lookup table of the target's mode. When a check
 * fails the instruction is a callout as before. SYSENTER and SYSEXIT touch no guest
 * memory and no arithmetic flag; INT and IRET read (and INT writes) guest memory
 * before they change anything, so a host fault there runs them as callouts
 * (SIDE_CALLOUT). EAX and ECX are scratch (saved first, restored by the table stub or
 * the slow path).
 */
#include <string.h>

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

/* The target's set (KIND_*) becomes current: host SS and the new ESP (from
 * gs:[esp_at]), DS, ES and FS loaded; the vCPU block's selectors; the CPL, the kind and
 * the count the monitor catches up by. */
static void emit_install(struct xbuf *b, unsigned kind, uint32_t esp_at, uint32_t cpl)
{
	uint32_t set = VCPU_ADDR + VC_K_SET0 + KSET_SIZE * kind;
	emit_mov_sreg_gs(b, SR_SS, set + KSET_HSEL + 2 * SR_SS);
	emit_mov_gs_load(b, R_ESP, esp_at);
	emit_mov_sreg_gs(b, SR_DS, set + KSET_HSEL + 2 * SR_DS);
	emit_mov_sreg_gs(b, SR_ES, set + KSET_HSEL + 2 * SR_ES);
	emit_mov_sreg_gs(b, SR_FS, set + KSET_NFS);
	copy_dwords(b, VCPU_ADDR + VC_HSEL, set + KSET_HSEL, 4);
	copy_dwords(b, VCPU_ADDR + VC_GSEL + 2 * SR_CS, set + KSET_GSEL_CSSS, 1);
	copy_dwords(b, VCPU_ADDR + VC_GSEL32 + 4 * SR_CS, set + KSET_GSEL32, 2);
	emit_mov_gs_imm32(b, VCPU_ADDR + VC_K_CPL, cpl);
	emit_mov_gs_imm32(b, VCPU_ADDR + VC_K_KIND, kind);
	emit_mov_gs_load(b, R_ECX, VCPU_ADDR + VC_K_COUNT);
	emit_lea_disp8(b, R_ECX, R_ECX, 1);
	emit_mov_gs_store(b, VCPU_ADDR + VC_K_COUNT, R_ECX);
}

/*
 * CPL 3's two lookup tables (1, and 2 with MODE_GS_LIN) serve different modes, and
 * which one a SYSEXIT's or IRET's target uses depends on the segments of the process
 * being returned to: the monitor sets the flag of one (ok[1] or ok[2]). The check
 * wants either; the lookup picks the table by ok[1] (EAX saved, ECX scratch).
 */
static void emit_user_flag_check(struct xbuf *b, uint32_t ok, uint32_t *slow)
{
	emit_mov_gs_load(b, R_ECX, ok + 4);
	emit_mov_gs_load(b, R_EAX, ok + 8);
	emit_lea_sum(b, R_ECX, R_ECX, R_EAX);
	emit_lea_disp8(b, R_ECX, R_ECX, -1);
	emit_unless_ecx_zero(b, slow);
}

/* Target in EAX: through the lookup table of the target's mode (table; or for
 * user_ok, CPL 3's table whose flag is set), a flat CS: nothing to note for a limit
 * check; then the slow path the checks' jumps land on. Nothing here writes the flags. */
static void emit_finish(struct tblock *t, const struct tinsn *in, uint32_t table,
			uint32_t user_ok, const uint32_t *slow, int nslow)
{
	struct emit *e = &t->e;
	bool limited = e->limited;
	e->limited = false;
	if (user_ok) {
		emit_mov_gs_load(&e->b, R_ECX, user_ok + 4);
		emit_lea_disp8(&e->b, R_ECX, R_ECX, -1);
		uint8_t *to_one = emit_jecxz(&e->b, 0);
		emit_lookup_in(e, LOOKUP_TABLE_AT(2));
		patch_rel8_here(to_one, &e->b);
		emit_lookup_in(e, LOOKUP_TABLE_AT(1));
	} else
		emit_lookup_in(e, table);
	e->limited = limited;
	for (int k = 0; k < nslow; k++)
		patch_rel32(slow[k], xb_here(&e->b));
	emit_mov_gs_load(&e->b, R_EAX, VCPU_ADDR + VC_SAVE_EAX);
	emit_mov_gs_load(&e->b, R_ECX, VCPU_ADDR + VC_SAVE_ECX);
	emit_callout_exit(e, in->eip);
	t->ended = true;
}

/* ECX = the word gs:[abs] (a vCPU field), compared with gs:[neg]. */
static void emit_word_check(struct xbuf *b, uint32_t abs, uint32_t neg, uint32_t *slow)
{
	emit_movzx_gs_load16(b, R_ECX, abs);
	emit_mov_gs_load(b, R_EAX, neg);
	emit_lea_sum(b, R_ECX, R_ECX, R_EAX);
	emit_unless_ecx_zero(b, slow);
}

void emit_sysenter(struct tblock *t, const struct tinsn *in)
{
	struct xbuf *b = &t->e.b;
	uint32_t slow[1];
	emit_save_scratch(&t->e);
	emit_flag_check(b, VCPU_ADDR + VC_K_ENTER_OK, &slow[0]);
	emit_install(b, KIND_SYSENTER, VCPU_ADDR + VC_K_ESP0, 0);
	emit_mov_gs_imm32(b, VCPU_ADDR + VC_VIF, 0);    /* IF cleared (VM and RF are 0) */
	emit_mov_gs_load(b, R_EAX, VCPU_ADDR + VC_K_EIP0);
	emit_finish(t, in, LOOKUP_TABLE(0), 0, slow, 1);
}

void emit_sysexit(struct tblock *t, const struct tinsn *in)
{
	struct xbuf *b = &t->e.b;
	uint32_t slow[3];
	emit_save_scratch(&t->e);
	emit_user_flag_check(b, VCPU_ADDR + VC_K_EXIT_OK, &slow[0]);
	/* An interrupt waiting for the STI before SYSEXIT: the monitor delivers it. */
	emit_mov_gs_load(b, R_ECX, VCPU_ADDR + VC_IRQ);
	emit_jecxz(b, 5);
	slow[1] = emit_jmp_rel32(b, 0);
	/* FS is the value the sets were made for (the kernel's per-CPU FS swapped out). */
	emit_word_check(b, VCPU_ADDR + VC_HSEL + 2 * SR_FS, VCPU_ADDR + VC_K_NFS0, &slow[2]);
	emit_install(b, KIND_SYSEXIT, VCPU_ADDR + VC_SAVE_ECX, 3);
	emit_mov_reg_reg(b, R_EAX, R_EDX);
	emit_finish(t, in, 0, VCPU_ADDR + VC_K_EXIT_OK, slow, 3);
}

/* ECX = gs:[gs:[at] + disp] + gs:[neg]: zero when the dword at the linear address the
 * monitor noted (at) still holds the value it noted (negated at neg). A host fault on
 * the read runs the instruction as a callout. */
static void emit_mem_check(struct xbuf *b, uint32_t at, int8_t disp, uint32_t neg, uint32_t *slow)
{
	emit_mov_gs_load(b, R_ECX, at);
	emit_mov_gs_load_based(b, R_EAX, R_ECX, disp);
	emit_mov_gs_load(b, R_ECX, neg);
	emit_lea_sum(b, R_ECX, R_ECX, R_EAX);
	emit_unless_ecx_zero(b, slow);
}

/* ECX = the word at [esp + disp] (the frame, through SS), compared with gs:[neg]. */
static void emit_frame_sel_check(struct xbuf *b, uint8_t disp, uint32_t neg, uint32_t *slow)
{
	xb_put8(b, 0x0f);                       /* movzx ecx, word [esp + disp] */
	xb_put8(b, 0xb7);
	xb_put8(b, 0x4c);
	xb_put8(b, 0x24);
	xb_put8(b, disp);
	emit_mov_gs_load(b, R_EAX, neg);
	emit_lea_sum(b, R_ECX, R_ECX, R_EAX);
	emit_unless_ecx_zero(b, slow);
}

/* mov dword es:[eax + disp], ecx (or imm32 when imm is given, or esp) */
static void emit_frame_store(struct xbuf *b, int8_t disp, int reg)
{
	xb_put8(b, 0x26);
	xb_put8(b, 0x89);
	xb_put8(b, (uint8_t)(0x40 | reg << 3));
	xb_put8(b, (uint8_t)disp);
}

/*
 * INT n at CPL 3 to the gate the monitor prepared (SDM Vol. 3A, 6.12.1): the vector,
 * the gate, its CS's descriptor, SS0 and its descriptor are as noted; ESP0 is read
 * from the TSS; the frame (SS, ESP, EFLAGS, CS, EIP) is written through ES loaded with
 * the host shadow of SS0 at CPL 0, so its limit and the window's are the host's to
 * check (the ends of the frame first: both of its pages are then known writable). The
 * EFLAGS image needs the arithmetic flags, which nothing before it may change: the
 * host's PUSHFD into the vCPU block, with SS:ESP the monitor's for that one push.
 */
void emit_int(struct tblock *t, const struct tinsn *in)
{
	struct xbuf *b = &t->e.b;
	uint32_t slow[8];
	uint8_t vec = in->op[1];
	emit_save_scratch(&t->e);
	in->se->flags = SIDE_SCRATCH | SIDE_CALLOUT;
	emit_flag_check(b, VCPU_ADDR + VC_K_INT_OK, &slow[0]);
	emit_mov_gs_load(b, R_ECX, VCPU_ADDR + VC_K_INT_NVEC);
	emit_lea_disp32(b, R_ECX, R_ECX, vec);
	emit_unless_ecx_zero(b, &slow[1]);
	emit_mem_check(b, VCPU_ADDR + VC_K_INT_GATE, 0, VCPU_ADDR + VC_K_INT_GATE + 4, &slow[2]);
	emit_mem_check(b, VCPU_ADDR + VC_K_INT_GATE, 4, VCPU_ADDR + VC_K_INT_GATE + 8, &slow[3]);
	emit_mem_check(b, VCPU_ADDR + VC_K_INT_CSD, 0, VCPU_ADDR + VC_K_INT_CSD + 4, &slow[4]);
	emit_mem_check(b, VCPU_ADDR + VC_K_INT_CSD, 4, VCPU_ADDR + VC_K_INT_CSD + 8, &slow[5]);
	emit_mem_check(b, VCPU_ADDR + VC_K_INT_TSS, 4, VCPU_ADDR + VC_K_INT_TSS + 4, &slow[6]);
	emit_mem_check(b, VCPU_ADDR + VC_K_INT_SSD, 0, VCPU_ADDR + VC_K_INT_SSD + 4, &slow[7]);
	uint32_t slow_hi;
	emit_mem_check(b, VCPU_ADDR + VC_K_INT_SSD, 4, VCPU_ADDR + VC_K_INT_SSD + 8, &slow_hi);
	/* EAX = ESP0; the frame below it. */
	emit_mov_gs_load(b, R_ECX, VCPU_ADDR + VC_K_INT_TSS);
	emit_mov_gs_load_based(b, R_EAX, R_ECX, 0);
	emit_mov_sreg_gs(b, SR_ES, VCPU_ADDR + VC_K_SET_INT + KSET_HSEL + 2 * SR_SS);
	emit_mov_gs_load(b, R_ECX, VCPU_ADDR + VC_GSEL32 + 4 * SR_SS);
	emit_frame_store(b, -4, R_ECX);
	xb_put8(b, 0x26);                       /* mov dword es:[eax - 20], imm32 */
	xb_put8(b, 0xc7);
	xb_put8(b, 0x40);
	xb_put8(b, (uint8_t)-20);
	xb_put32(b, in->after);
	emit_frame_store(b, -8, R_ESP);
	emit_mov_gs_load(b, R_ECX, VCPU_ADDR + VC_GSEL32 + 4 * SR_CS);
	emit_frame_store(b, -16, R_ECX);
	/* Nothing faults from here on. The EFLAGS image: the host's arithmetic flags, the
	 * vCPU block's IF and the rest. */
	emit_mov_sreg_gs(b, SR_SS, VCPU_ADDR + VC_HSEL + 2 * SR_GS);   /* the monitor's data */
	emit_mov_reg_imm32(b, R_ESP, VCPU_ADDR + VC_K_FLSLOT + 4);
	emit_pushfd(b);
	emit_mov_gs_load(b, R_ECX, VCPU_ADDR + VC_K_FLSLOT);
	emit_and_imm32(b, R_ECX, FL_ARITH);
	emit_alu_gs_load(b, ALU_OR, R_ECX, VCPU_ADDR + VC_VIF);
	emit_alu_gs_load(b, ALU_OR, R_ECX, VCPU_ADDR + VC_VFLAGS);
	emit_frame_store(b, -12, R_ECX);
	/* IF as the gate says; TF, NT, VM and RF are clear already (prepared so). */
	emit_mov_gs_load(b, R_ECX, VCPU_ADDR + VC_VIF);
	emit_gs_op(b, 0x23, R_ECX, VCPU_ADDR + VC_K_INT_IFMASK);       /* and ecx, gs:[] */
	emit_mov_gs_store(b, VCPU_ADDR + VC_VIF, R_ECX);
	emit_lea_disp8(b, R_ECX, R_EAX, -20);
	emit_mov_gs_store(b, VCPU_ADDR + VC_K_TMP, R_ECX);
	emit_install(b, KIND_INT, VCPU_ADDR + VC_K_TMP, 0);
	emit_mov_gs_load(b, R_EAX, VCPU_ADDR + VC_K_INT_EIP);
	uint32_t all[9];
	memcpy(all, slow, sizeof(slow));
	all[8] = slow_hi;
	emit_finish(t, in, LOOKUP_TABLE(0), 0, all, 9);
}

/*
 * IRET at CPL 0 to CPL 3, to the CS and SS the monitor prepared (SDM Vol. 2A, IRET,
 * RETURN-TO-OUTER-PRIVILEGE-LEVEL): the frame's selectors, their descriptors, FS and GS
 * (selectors and content, so that none would be made null) are checked without
 * touching the flags, which the slow way still needs; then the EFLAGS image (flags
 * are the image's from here on: IRET loads them), and no interrupt waits when it sets
 * IF. The host's own POPFD loads the image's arithmetic flags (IF and IOPL are
 * ignored at the host's CPL 3; TF, NT, AC and VM were checked clear). RF, which a
 * fault's frame has set, is dropped: it only suppresses an instruction breakpoint,
 * and none is armed while the transitions are prepared.
 */
void emit_iret(struct tblock *t, const struct tinsn *in)
{
	struct xbuf *b = &t->e.b;
	uint32_t slow[14];
	int n = 0;
	emit_save_scratch(&t->e);
	in->se->flags = SIDE_SCRATCH | SIDE_CALLOUT;
	emit_user_flag_check(b, VCPU_ADDR + VC_K_IRET_OK, &slow[n++]);
	emit_frame_sel_check(b, 4, VCPU_ADDR + VC_K_IRET_NCS, &slow[n++]);
	emit_frame_sel_check(b, 16, VCPU_ADDR + VC_K_IRET_NSS, &slow[n++]);
	emit_mem_check(b, VCPU_ADDR + VC_K_IRET_CSD, 0, VCPU_ADDR + VC_K_IRET_CSD + 4, &slow[n++]);
	emit_mem_check(b, VCPU_ADDR + VC_K_IRET_CSD, 4, VCPU_ADDR + VC_K_IRET_CSD + 8, &slow[n++]);
	emit_mem_check(b, VCPU_ADDR + VC_K_IRET_SSD, 0, VCPU_ADDR + VC_K_IRET_SSD + 4, &slow[n++]);
	emit_mem_check(b, VCPU_ADDR + VC_K_IRET_SSD, 4, VCPU_ADDR + VC_K_IRET_SSD + 8, &slow[n++]);
	emit_word_check(b, VCPU_ADDR + VC_GSEL + 2 * SR_FS, VCPU_ADDR + VC_K_IRET_NFSS, &slow[n++]);
	emit_word_check(b, VCPU_ADDR + VC_HSEL + 2 * SR_FS, VCPU_ADDR + VC_K_NFS0, &slow[n++]);
	emit_word_check(b, VCPU_ADDR + VC_GSEL + 2 * SR_GS, VCPU_ADDR + VC_K_IRET_NGSS, &slow[n++]);
	emit_word_check(b, VCPU_ADDR + VC_HSEL_GGS, VCPU_ADDR + VC_K_IRET_NGGS0, &slow[n++]);
	/* The EFLAGS image: outside the arithmetic flags and IF, what the monitor noted. */
	xb_put8(b, 0x8b);                       /* mov ecx, [esp + 8] */
	xb_put8(b, 0x4c);
	xb_put8(b, 0x24);
	xb_put8(b, 8);
	emit_and_imm32(b, R_ECX, ~(FL_ARITH | FL_IF | FL_RF));
	emit_gs_op(b, 0x3b, R_ECX, VCPU_ADDR + VC_K_IRET_VFL);         /* cmp ecx, gs:[] */
	slow[n++] = emit_jcc_rel32(b, 5, 0);                           /* jne */
	emit_mov_gs_load(b, R_ECX, VCPU_ADDR + VC_IRQ);
	uint8_t *no_irq = emit_jecxz(b, 0);
	xb_put8(b, 0xf7);                       /* test dword [esp + 8], FL_IF */
	xb_put8(b, 0x44);
	xb_put8(b, 0x24);
	xb_put8(b, 8);
	xb_put32(b, FL_IF);
	slow[n++] = emit_jcc_rel32(b, 5, 0);                           /* jnz */
	patch_rel8_here(no_irq, b);
	/* Nothing faults from here on (the frame was read). */
	xb_put8(b, 0x8b);                       /* mov eax, [esp + 8] */
	xb_put8(b, 0x44);
	xb_put8(b, 0x24);
	xb_put8(b, 8);
	emit_and_imm32(b, R_EAX, FL_IF);
	emit_mov_gs_store(b, VCPU_ADDR + VC_VIF, R_EAX);
	xb_put8(b, 0x8b);                       /* mov eax, [esp + 12] */
	xb_put8(b, 0x44);
	xb_put8(b, 0x24);
	xb_put8(b, 12);
	emit_mov_gs_store(b, VCPU_ADDR + VC_K_TMP, R_EAX);
	emit_load_stack(b, R_EAX);              /* the new EIP */
	emit_lea_esp(b, 8);
	emit_popfd(b);
	emit_install(b, KIND_IRET, VCPU_ADDR + VC_K_TMP, 3);
	emit_finish(t, in, 0, VCPU_ADDR + VC_K_IRET_OK, slow, n);
}
