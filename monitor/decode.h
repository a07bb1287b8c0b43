/*
 * decode.h - the emulators' one front end: a guest instruction decoded once into
 * struct insn, the register and memory-operand helpers both emulators use, and the
 * result every emulator handler returns (enum emu_result).
 *
 * Used by the callout emulator (emulate.c, sysinsn.c) and the memory-operand emulator
 * (memop.c). Interface: insn_decode() fetches and decodes the instruction at the
 * guest's CS:EIP (Capstone, through the rewriter's decode cache: the operands; the
 * opcode bytes and prefixes are read here); a handler runs it and returns an
 * emu_result; emu_commit() moves EIP past it when the result says so.
 */
#ifndef TRAPEZE_DECODE_H
#define TRAPEZE_DECODE_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct cpu;
struct cs_insn;
struct cs_x86;
struct cs_x86_op;

/* What emulating one instruction came to. EMU_NOT_MINE is 0, so "== 0" reads as
 * "not emulated" wherever a caller still tests it that way. */
enum emu_result {
	EMU_FAULT = -1,         /* a guest exception was raised (or the VM stopped): EIP at the
				   instruction, state as before it (but a REP string
				   instruction's progress, as on the CPU) */
	EMU_NOT_MINE = 0,       /* not an instruction this emulator runs: nothing changed */
	EMU_NEXT = 1,           /* done: EIP goes past the instruction (emu_commit) */
	EMU_JUMPED = 2,         /* done, EIP set by the handler: a control transfer, or left at
				   a REP string instruction that resumes after a batch */
};

/* One decoded guest instruction, with the VM it belongs to. Not to be copied: op
 * points into b. */
struct insn {
	struct vm *vm;
	struct cpu *c;
	uint32_t *regs;                 /* the guest's general registers, R_EAX.. */
	const struct cs_insn *cs;       /* Capstone's decode (valid until the next decode) */
	const struct cs_x86 *x;         /* its x86 detail: the operands */
	uint8_t b[16];                  /* the bytes as decoded (16-bit code: the 32-bit form) */
	const uint8_t *op;              /* the first opcode byte, in b */
	int npfx, len;                  /* legacy prefixes; length of the decoded form */
	uint8_t modrm;                  /* ModRM and its fields; 0 where there is none */
	int mod, reg, rm;
	bool o16, a16, lock;            /* 66, 67, F0 prefixes */
	int osize;                      /* operand size of the non-byte forms: 2 or 4 */
	uint8_t rep;                    /* the last F2/F3 prefix, or 0 */
	int seg;                        /* the last segment override prefix (SR_*), or -1 */
	uint32_t next;                  /* EIP of the next instruction (the guest's length) */
};

/* A memory operand: segment register and offset. */
struct mref {
	int sr;
	uint32_t off;
};

/* Decode the instruction at the guest's CS:EIP into i: 0; or the vector its bytes
 * raise when they do not decode (VEC_UD, or VEC_GP past the CS limit or beyond 15
 * bytes), nothing raised yet; or -1 when the fetch raised #PF (or stopped the VM). */
int insn_decode(struct vm *vm, struct insn *i);

/* Finish an instruction a handler ran: EMU_NEXT moves EIP past it. Returns r. */
enum emu_result emu_commit(struct insn *i, enum emu_result r);
/* A step's 0 (done) or -1 (exception raised) as a handler's result. */
static inline enum emu_result emu_done(int step) { return step < 0 ? EMU_FAULT : EMU_NEXT; }

/* General register r (R_EAX..; size 1: AL CL DL BL AH CH DH BH) of size 1, 2 or 4. */
uint32_t gpr_read(const struct insn *i, int r, int size);
void gpr_write(struct insn *i, int r, int size, uint32_t v);

/* The ModRM memory operand (the last memory operand): its offset, and its segment
 * (the override, else SS for an ESP/EBP base, else DS: SDM Vol. 1, 3.7.4). */
struct mref insn_ea(const struct insn *i);
/* The same for one of Capstone's memory operands m (not its segment field). */
struct mref insn_op_ea(const struct insn *i, const struct cs_x86_op *m);
/* BT/BTS/BTR/BTC with a register bit offset (0F A3 AB B3 BB) address the operand that
 * holds the bit: what to add to the ModRM offset (the offset taken as signed, SDM Vol.
 * 2, BT, "Bit(BitBase, BitOffset)"); 0 for every other instruction. */
uint32_t insn_bit_disp(const struct insn *i);
/* The bytes memory operand m of i accesses: Capstone's size, corrected where
 * Capstone 4 is wrong or silent (FXSAVE, FNSAVE, FNSTENV and their loads, FNSTSW m16,
 * COMISS/COMISD, MMX PUNPCKL*). */
uint32_t insn_op_size(const struct insn *i, const struct cs_x86_op *m);
/* The last size bytes of the instruction: its immediate (zero-extended). */
uint32_t insn_imm(const struct insn *i, int size);

/* Memory through the guest's segments: 0, or -1 with the guest's exception raised. */
int mref_read(const struct insn *i, struct mref r, int size, uint32_t *v);
int mref_write(const struct insn *i, struct mref r, int size, uint32_t v);
/* The r/m operand: the register for mod 3, else memory at insn_ea(). */
int rm_read(const struct insn *i, int size, uint32_t *v);
int rm_write(struct insn *i, int size, uint32_t v);

/* The vector the instruction raises before it runs because the virtual CPU lacks its
 * feature or CR0/CR4 disable it (SDM Vol. 3, Table 2-2: x87 #NM under TS or EM, MMX/SSE
 * #UD under EM or without CR4.OSFXSR, WAIT #NM under TS and MP), or -1. */
int insn_unavailable(const struct insn *i);

/* Is condition cc (the low nibble of a Jcc/SETcc opcode) true? SDM Vol. 1, App. B. */
bool cond_true(uint32_t fl, int cc);
/* The EFLAGS bits POPF may change at the guest's CPL and IOPL, in its operand size
 * (SDM Vol. 2, POPF): IOPL at CPL 0 only, IF at CPL <= IOPL, never VM, RF, VIF, VIP. */
uint32_t popf_mask(const struct insn *i);

#endif
