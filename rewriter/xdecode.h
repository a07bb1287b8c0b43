/*
 * xdecode.h - what the translator needs of Capstone's decode, kept by the
 * instruction's bytes.
 *
 * The translator classifies instructions by their bytes (insnclass.c) and asks
 * Capstone only whether an instruction decodes, how long it is, and three things its
 * operands say. It decodes the same bytes again and again: after every cache flush,
 * and in each process that maps a shared library at another address (ASLR). Capstone
 * costs about 1000 cycles an instruction, most of it in formatting the operand text
 * nobody reads; a hit here is a hash and a compare of 32 bytes.
 */
#ifndef TRAPEZE_XDECODE_H
#define TRAPEZE_XDECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <capstone/capstone.h>

/* One instruction as the translator sees it. */
struct xinsn {
	uint8_t len;
	uint8_t flags;                  /* XI_* */
};
#define XI_SSE          1u      /* an XMM operand, or LDMXCSR/STMXCSR (rw_is_sse) */
#define XI_MEM_INDEX    2u      /* a memory operand with an index register */
#define XI_GS_HIGH      4u      /* gs:[disp32] alone, disp32 >= 2 GiB (rw_gs_wrap_view) */
#define XI_LEN_AGREES   8u      /* x86len.c gave these bytes the same length (xd_decode
				   only: not part of the summary) */

struct xdecode;

struct xdecode_stats {
	uint64_t hits, misses;
};

/* A cache of 2^bits instructions (32 bytes each); NULL on failure. */
struct xdecode *xd_create(unsigned bits);
void xd_destroy(struct xdecode *xd);

/*
 * Decode the instruction at code (size bytes there, at guest address addr) into *out:
 * false if Capstone does not decode it. cs: a 32-bit x86 handle with details on;
 * scratch: its instruction buffer, which a miss fills (a hit leaves it as it was).
 */
bool xd_decode(struct xdecode *xd, csh cs, cs_insn *scratch, const uint8_t *code, size_t size,
	       uint64_t addr, struct xinsn *out);

/* The summary of an instruction Capstone decoded. */
struct xinsn xd_summary(const cs_insn *in);

const struct xdecode_stats *xd_stats(const struct xdecode *xd);

#endif
