/*
 * x86emit.h - the encoder: named constructors for the x86 instructions the translator
 * emits, and the patching of code already emitted (branch targets, immediates).
 *
 * A leaf module: it knows the instruction encodings and the window layout
 * (arch/layout.h: the vCPU block that emitted code reaches through GS, the exit
 * protocol), nothing of the code cache or the VM. The rewriter emits through it; the
 * code cache decides what to link and patches through it (patch_rel32 to chain or
 * unchain a slot, the inline caches' compares). So the dependency order is
 * x86emit <- codecache <- rewriter.
 *
 * Interface: code goes to a struct xbuf (a cursor into memory the caller reserved, no
 * bounds checks: the caller keeps the room); each emit_* appends one instruction (or
 * the one fixed sequence its comment names). The constructors are inline because
 * the translator calls them for every instruction it emits. Register numbers are the
 * x86 encoding's (R_EAX .. R_EDI of arch/x86.h); "gs:[abs]" addresses the window.
 */
#ifndef TRAPEZE_X86EMIT_H
#define TRAPEZE_X86EMIT_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../arch/layout.h"

struct xbuf {
	uint8_t *p;                     /* where the next byte goes */
};

/* The host address of the next byte (emitted code runs in the low 4 GiB). */
static inline uint32_t xb_here(const struct xbuf *b) { return (uint32_t)(uintptr_t)b->p; }

/* Raw bytes: guest instructions copied as they are, or an operand taken from one. */
static inline void xb_put8(struct xbuf *b, uint8_t v) { *b->p++ = v; }
static inline void xb_put32(struct xbuf *b, uint32_t v) { memcpy(b->p, &v, 4); b->p += 4; }
static inline void xb_putn(struct xbuf *b, const void *s, int n) { memcpy(b->p, s, n); b->p += n; }

/* x86 condition codes (the low nibble of Jcc's opcode). */
enum { CC_Z = 0x4, CC_NZ = 0x5 };

/* ---- branches ---- */

/* jmp rel32 to dest; returns the host address of the rel32 (for patch_rel32). */
static inline uint32_t emit_jmp_rel32(struct xbuf *b, uint32_t dest)
{
	xb_put8(b, 0xe9);
	uint32_t field = xb_here(b);
	xb_put32(b, dest - (field + 4));
	return field;
}

/*
 * An entry's guard: a 5-byte NOP (0F 1F 44 00 00) in front of the entry's code, which
 * jumps from other pages and the lookup table pass through. Detaching the block turns
 * it into jmp rel32 to the entry's guard exit (patch_guard) instead of unchaining every
 * jump into it; attaching it makes it the NOP again. Jumps from the block's own pages,
 * and the dispatcher, enter GUARD_LEN bytes in. Only blocks a CR3 load may detach
 * have guards (not those translated from global pages).
 */
static inline void emit_guard(struct xbuf *b)
{
	static const uint8_t nop5[GUARD_LEN] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	xb_putn(b, nop5, GUARD_LEN);
}

/* jcc rel32 (0F 80+cc) to dest; returns the address of the rel32. */
static inline uint32_t emit_jcc_rel32(struct xbuf *b, unsigned cc, uint32_t dest)
{
	xb_put8(b, 0x0f);
	xb_put8(b, (uint8_t)(0x80 | cc));
	uint32_t field = xb_here(b);
	xb_put32(b, dest - (field + 4));
	return field;
}

/* Short forward branches, their rel8 left for patch_rel8_here (or given as rel). */
static inline uint8_t *emit_rel8(struct xbuf *b, uint8_t op, uint8_t rel)
{
	xb_put8(b, op);
	uint8_t *field = b->p;
	xb_put8(b, rel);
	return field;
}
static inline uint8_t *emit_jmp_rel8(struct xbuf *b) { return emit_rel8(b, 0xeb, 0); }
static inline uint8_t *emit_jecxz(struct xbuf *b, uint8_t rel) { return emit_rel8(b, 0xe3, rel); }
static inline uint8_t *emit_jcc_rel8(struct xbuf *b, unsigned cc) { return emit_rel8(b, (uint8_t)(0x70 | cc), 0); }

/* Point the rel8 at field to the next byte to be emitted. */
static inline void patch_rel8_here(uint8_t *field, const struct xbuf *b)
{
	assert(b->p - (field + 1) <= 127);
	*field = (uint8_t)(b->p - (field + 1));
}

/* jmp reg */
static inline void emit_jmp_reg(struct xbuf *b, int reg)
{
	xb_put8(b, 0xff);
	xb_put8(b, (uint8_t)(0xe0 | reg));
}

/* ---- the window (gs:[abs]) ---- */

/* op r, gs:[abs] for any one-byte opcode with a ModRM (reg: a register, or the
 * opcode's extension): 65 op modrm(00, reg, disp32) abs. */
static inline void emit_gs_op(struct xbuf *b, uint8_t op, int reg, uint32_t abs)
{
	xb_put8(b, 0x65);
	xb_put8(b, op);
	xb_put8(b, (uint8_t)(0x05 | reg << 3));
	xb_put32(b, abs);
}
#define ALU_OR  0x0b                    /* op r32, r/m32 */
#define ALU_XOR 0x33

/* mov dword gs:[abs], imm32 */
static inline void emit_mov_gs_imm32(struct xbuf *b, uint32_t abs, uint32_t imm)
{
	emit_gs_op(b, 0xc7, 0, abs);
	xb_put32(b, imm);
}

/* mov gs:[abs], r32 */
static inline void emit_mov_gs_store(struct xbuf *b, uint32_t abs, int reg)
{
	emit_gs_op(b, 0x89, reg, abs);
}

/* mov gs:[abs], r16 */
static inline void emit_mov_gs_store16(struct xbuf *b, uint32_t abs, int reg)
{
	xb_put8(b, 0x66);
	emit_gs_op(b, 0x89, reg, abs);
}

/* mov r32, gs:[abs] (EAX: the short form A1) */
static inline void emit_mov_gs_load(struct xbuf *b, int reg, uint32_t abs)
{
	if (reg != 0) {
		emit_gs_op(b, 0x8b, reg, abs);
		return;
	}
	xb_put8(b, 0x65);
	xb_put8(b, 0xa1);
	xb_put32(b, abs);
}

/* mov r16, gs:[abs] */
static inline void emit_mov_gs_load16(struct xbuf *b, int reg, uint32_t abs)
{
	xb_put8(b, 0x66);
	emit_gs_op(b, 0x8b, reg, abs);
}

/* movzx r32, word gs:[abs] */
static inline void emit_movzx_gs_load16(struct xbuf *b, int reg, uint32_t abs)
{
	xb_put8(b, 0x65);
	xb_put8(b, 0x0f);
	xb_put8(b, 0xb7);
	xb_put8(b, (uint8_t)(0x05 | reg << 3));
	xb_put32(b, abs);
}

/* mov dst, gs:[idx*8 + abs] */
static inline void emit_mov_gs_load_index8(struct xbuf *b, int dst, int idx, uint32_t abs)
{
	xb_put8(b, 0x65);
	xb_put8(b, 0x8b);
	xb_put8(b, (uint8_t)(dst << 3 | 4));
	xb_put8(b, (uint8_t)(0xc0 | idx << 3 | 5));
	xb_put32(b, abs);
}

/* mov dst, gs:[base + disp8] */
static inline void emit_mov_gs_load_based(struct xbuf *b, int dst, int base, int8_t disp)
{
	xb_put8(b, 0x65);
	xb_put8(b, 0x8b);
	xb_put8(b, (uint8_t)(0x40 | dst << 3 | base));
	xb_put8(b, (uint8_t)disp);
}

/* mov dst, gs:[base + disp32] */
static inline void emit_mov_gs_load_based32(struct xbuf *b, int dst, int base, uint32_t disp)
{
	xb_put8(b, 0x65);
	xb_put8(b, 0x8b);
	xb_put8(b, (uint8_t)(0x80 | dst << 3 | base));
	xb_put32(b, disp);
}

/* op r32, gs:[abs]: ALU_OR, ALU_XOR */
static inline void emit_alu_gs_load(struct xbuf *b, uint8_t op, int reg, uint32_t abs)
{
	emit_gs_op(b, op, reg, abs);
}

/* push dword gs:[abs] (o16: push word) */
static inline void emit_push_gs(struct xbuf *b, uint32_t abs, bool o16)
{
	if (o16)
		xb_put8(b, 0x66);
	emit_gs_op(b, 0xff, 6, abs);
}

/* mov fs, gs:[abs] */
static inline void emit_mov_fs_gs(struct xbuf *b, uint32_t abs)
{
	emit_gs_op(b, 0x8e, 4, abs);
}

/* ---- registers and the stack (no flags written unless named) ---- */

/* mov fs, r16 */
static inline void emit_mov_fs_reg(struct xbuf *b, int reg)
{
	xb_put8(b, 0x8e);
	xb_put8(b, (uint8_t)(0xe0 | reg));
}

/* mov dst, src */
static inline void emit_mov_reg_reg(struct xbuf *b, int dst, int src)
{
	xb_put8(b, 0x89);
	xb_put8(b, (uint8_t)(0xc0 | src << 3 | dst));
}

/* mov reg, imm32 */
static inline void emit_mov_reg_imm32(struct xbuf *b, int reg, uint32_t imm)
{
	xb_put8(b, (uint8_t)(0xb8 + reg));
	xb_put32(b, imm);
}

/* movzx dst, src16 */
static inline void emit_movzx_reg16(struct xbuf *b, int dst, int src)
{
	xb_put8(b, 0x0f);
	xb_put8(b, 0xb7);
	xb_put8(b, (uint8_t)(0xc0 | dst << 3 | src));
}


/* lea dst, [src + disp8] */
static inline void emit_lea_disp8(struct xbuf *b, int dst, int src, int8_t disp)
{
	xb_put8(b, 0x8d);
	xb_put8(b, (uint8_t)(0x40 | dst << 3 | src));
	xb_put8(b, (uint8_t)disp);
}

/* lea dst, [src + disp32]; returns the address of disp32 (an inline cache's compare) */
static inline uint32_t emit_lea_disp32(struct xbuf *b, int dst, int src, uint32_t disp)
{
	xb_put8(b, 0x8d);
	xb_put8(b, (uint8_t)(0x80 | dst << 3 | src));
	uint32_t at = xb_here(b);
	xb_put32(b, disp);
	return at;
}

/* lea dst, [base + idx] */
static inline void emit_lea_sum(struct xbuf *b, int dst, int base, int idx)
{
	xb_put8(b, 0x8d);
	xb_put8(b, (uint8_t)(dst << 3 | 4));
	xb_put8(b, (uint8_t)(idx << 3 | base));
}

/* not reg */
static inline void emit_not(struct xbuf *b, int reg)
{
	xb_put8(b, 0xf7);
	xb_put8(b, (uint8_t)(0xd0 | reg));
}

/* and reg, imm32 (writes the flags) */
static inline void emit_and_imm32(struct xbuf *b, int reg, uint32_t imm)
{
	if (reg == 0) {
		xb_put8(b, 0x25);
	} else {
		xb_put8(b, 0x81);
		xb_put8(b, (uint8_t)(0xe0 | reg));
	}
	xb_put32(b, imm);
}

/* test eax, imm32 (writes the flags) */
static inline void emit_test_eax_imm32(struct xbuf *b, uint32_t imm)
{
	xb_put8(b, 0xa9);
	xb_put32(b, imm);
}

/* test reg, reg (writes the flags) */
static inline void emit_test_reg(struct xbuf *b, int reg)
{
	xb_put8(b, 0x85);
	xb_put8(b, (uint8_t)(0xc0 | reg << 3 | reg));
}

/* push imm32 */
static inline void emit_push_imm32(struct xbuf *b, uint32_t imm)
{
	xb_put8(b, 0x68);
	xb_put32(b, imm);
}

/* pop reg */
static inline void emit_pop(struct xbuf *b, int reg) { xb_put8(b, (uint8_t)(0x58 + reg)); }

/* op with an [esp + ...] operand: op, ModRM (mod, reg, SIB), SIB (base ESP, no
 * index); the displacement (mod 0x40: disp8, 0x80: disp32) follows. */
static inline void emit_esp_op(struct xbuf *b, uint8_t op, uint8_t mod, int reg)
{
	xb_put8(b, op);
	xb_put8(b, (uint8_t)(mod | reg << 3 | 4));
	xb_put8(b, 0x24);
}

/* lea esp, [esp + n]: ESP moved without touching the flags */
static inline void emit_lea_esp(struct xbuf *b, uint32_t n)
{
	emit_esp_op(b, 0x8d, 0x80, 4);
	xb_put32(b, n);
}

/* mov reg, [esp] */
static inline void emit_load_stack(struct xbuf *b, int reg) { emit_esp_op(b, 0x8b, 0, reg); }

/* mov reg, [esp + disp32] */
static inline void emit_load_stack_disp32(struct xbuf *b, int reg, uint32_t disp)
{
	emit_esp_op(b, 0x8b, 0x80, reg);
	xb_put32(b, disp);
}

/* mov [esp], reg */
static inline void emit_store_stack(struct xbuf *b, int reg) { emit_esp_op(b, 0x89, 0, reg); }

/* mov dword [esp + disp8], imm32 */
static inline void emit_store_stack_imm32(struct xbuf *b, int8_t disp, uint32_t imm)
{
	emit_esp_op(b, 0xc7, 0x40, 0);
	xb_put8(b, (uint8_t)disp);
	xb_put32(b, imm);
}

/* pushfd, popfd, lahf, sahf, rdtsc */
static inline void emit_pushfd(struct xbuf *b) { xb_put8(b, 0x9c); }
static inline void emit_popfd(struct xbuf *b) { xb_put8(b, 0x9d); }
static inline void emit_lahf(struct xbuf *b) { xb_put8(b, 0x9f); }
static inline void emit_sahf(struct xbuf *b) { xb_put8(b, 0x9e); }
static inline void emit_rdtsc(struct xbuf *b) { xb_put8(b, 0x0f); xb_put8(b, 0x31); }

/* seto al */
static inline void emit_seto_al(struct xbuf *b)
{
	xb_put8(b, 0x0f);
	xb_put8(b, 0x90);
	xb_put8(b, 0xc0);
}

/* add al, imm8 (writes the flags) */
static inline void emit_add_al(struct xbuf *b, uint8_t imm)
{
	xb_put8(b, 0x04);
	xb_put8(b, imm);
}

/* ---- leaving translated code ---- */

/* The exit sequence: mov gs:[VC_EIP], eip; mov gs:[VC_EXIT], word; jmp far_exit (the
 * shared stub that leaves compatibility mode). The EIP immediate lies EXIT_EIP_IMM
 * bytes into it (an exit stub whose target an inline cache's fill changes). */
#define EXIT_EIP_IMM    7
static inline void emit_exit(struct xbuf *b, uint32_t eip, uint32_t word, uint32_t far_exit)
{
	emit_mov_gs_imm32(b, VCPU_ADDR + VC_EIP, eip);
	emit_mov_gs_imm32(b, VCPU_ADDR + VC_EXIT, word);
	emit_jmp_rel32(b, far_exit);
}

/* ---- patching emitted code (x86emit.c) ---- */

/* Point the rel32 at host address field to dest: chain or unchain a slot, or resolve
 * a forward branch. */
void patch_rel32(uint32_t field, uint32_t dest);
/* The imm32 at host address at: write, read. */
void patch_imm32(uint32_t at, uint32_t v);
uint32_t read_imm32(uint32_t at);
/* The guard at host address at: closed (jmp rel32 to exit), or open (the NOP). */
void patch_guard(uint32_t at, bool closed, uint32_t exit);

/*
 * An inline cache's compares (the rewriter's emit_ic): the first, lea ecx, [eax - t1],
 * holds -t1; the second adds t1 - t2 to what the first left. These keep that invariant.
 */
/* Set the first compare (first_imm = 0) or the second to match target. */
void patch_ic_compare(uint32_t imm, uint32_t first_imm, uint32_t target);
/* Set both compares: the first matches t1, the second t2. */
void patch_ic_pair(uint32_t imm1, uint32_t imm2, uint32_t t1, uint32_t t2);

#endif
