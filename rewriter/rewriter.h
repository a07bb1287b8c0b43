/*
 * rewriter.h - the binary translator: one guest basic block in, host code out.
 *
 * rw_translate() decodes guest code with Capstone from the current EIP and emits a
 * block into the code cache: most instructions are copied verbatim (IDENT), direct
 * branches become chainable exits, call pushes the guest return address, ret and
 * indirect branches go through the inline lookup, and every sensitive or privileged
 * instruction becomes a callout to the monitor (emulate.c).
 */
#ifndef TRAPEZE_REWRITER_H
#define TRAPEZE_REWRITER_H

#include <stdbool.h>
#include <stdint.h>

#include <capstone/capstone.h>

struct vm;
struct block;
struct rewriter;

/* What the translator counts (--stats). */
struct rw_stats {
	uint64_t thunks_inlined;        /* calls of PC thunks translated in line */
	uint64_t translate_cycles;      /* host cycles spent translating */
};
const struct rw_stats *rw_stats(const struct rewriter *rw);

/* Open the decoder; NULL on failure. */
struct rewriter *rw_create(struct vm *vm);
void rw_destroy(struct rewriter *rw);

/* The mode word blocks are keyed by: CPL, code size, CR0.MP/EM/TS, CR4.OSFXSR. */
uint32_t rw_mode(struct vm *vm);
/* The host selector FS must hold when blocks of mode run: a shadow of the guest's GS
 * at CPL 3 (user thread-local storage then runs natively), of its FS otherwise. */
uint16_t rw_native_fs(struct vm *vm, uint32_t mode);

/* Translate the block at the guest's current CS:EIP. NULL if a guest exception was
 * raised (or the VM was stopped) instead. Flushes the cache when it is full.
 * oneshot: translate just one instruction, for one run, without write-protecting its
 * page (how a write into the running block makes progress). */
struct block *rw_translate(struct rewriter *rw, uint32_t eip, bool oneshot);

/* Decode the one instruction at CS:eip into the rewriter's scratch instruction
 * (valid until the next call). NULL if the bytes do not decode; *truncated then says
 * the fault is #GP (past the CS limit or longer than 15 bytes), not #UD, or is -1
 * when the fetch itself raised a #PF (or the VM was stopped). bytes (16) gets the
 * instruction as decoded: in 16-bit code its 32-bit form (operand- and address-size
 * prefixes toggled), whose length differs from the guest's; *glen (if not NULL) gets
 * the guest's length, by which EIP moves. */
const cs_insn *rw_decode_one(struct rewriter *rw, uint32_t eip, uint8_t *bytes, int *truncated,
			     int *glen);

/* Does the translator run the instruction b (len bytes, 32-bit form) as it is, with
 * nothing for the monitor to emulate? */
bool rw_is_ident(const uint8_t *b, int len);
/* Is the instruction at b (up to n bytes of 32-bit code) a segment load the translator
 * runs in line (K_SREG_LOAD: its fast path reads guest memory)? */
bool rw_is_sreg_load(const uint8_t *b, int n);

/* Is the gs: instruction in translated through GS's wrap view (the offsets that wrap
 * below its base)? Yes for a constant address in the top half (gs:-disp, thread-local
 * storage below the thread pointer) and where its site says so (sites.h). */
bool rw_gs_wrap_view(const cs_insn *in, unsigned site);

/* Is the instruction whose opcode starts at op an x87, WAIT, MMX, SSE or AVX one? */
bool rw_is_fpu(const uint8_t *op, int rest);

/* Is it an instruction of a feature the virtual CPU does not have (AVX and the other
 * VEX/EVEX/XOP encodings, XSAVE, TSX, VMX), which the guest must see #UD for although
 * the host would run it? b: the instruction, npfx prefixes, len bytes. */
bool rw_always_ud(const uint8_t *b, int npfx, int len);

/* Does the instruction use SSE state (XMM registers or MXCSR)? */
bool rw_is_sse(const cs_insn *in);

/* The target of the direct near branch whose opcode starts at op; after = the EIP
 * of the next instruction. */
uint32_t branch_target(const uint8_t *op, uint32_t after);

/* Length of the legacy prefixes at p. */
int rw_prefix_len(const uint8_t *p, int n);

#endif
