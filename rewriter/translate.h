/*
 * translate.h - internal to rewriter/: the translator's state, the block being
 * translated and the instruction being emitted, shared by the block driver
 * (rewriter.c), the decoder for the emulators (decode.c) and the per-kind emitters
 * (mangle_branch.c: branches; mangle_state.c: segment registers, flags, the
 * instructions that touch state the monitor virtualizes).
 *
 * The driver decodes and classifies one instruction into a struct tinsn and calls the
 * emitter of its kind with the block's struct tblock; an emitter appends host code
 * through the encoder (x86emit.h), notes exit slots and entry points in the block and
 * may end it.
 */
#ifndef TRAPEZE_TRANSLATE_H
#define TRAPEZE_TRANSLATE_H

#include <stdbool.h>
#include <stdint.h>

#include <capstone/capstone.h>

#include "xdecode.h"

#include "rewriter.h"
#include "x86emit.h"
#include "../arch/vcpu.h"
#include "../codecache/codecache.h"

#define MAX_INSNS       64
#define MAX_ENTRIES     MAX_EXITS

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
	struct rw_host host;            /* the VM, as rw_create was given it */
	const struct cpu *cpu;
	struct sites *sites;
	struct codecache *cc;
	bool trace;
	FILE *perf_map;
	csh cs;                         /* Capstone, 32-bit (16-bit code: normalize16) */
	cs_insn *insn;
	struct xdecode *xd;             /* the translator's decodes, by bytes */
	struct side_entry side[MAX_INSNS];
	struct decoded dcache[DECODE_CACHE];
	uint8_t code[4096 + 16];        /* the guest bytes of the block being translated */
	uint32_t brk[RW_MAX_BREAKS];    /* linear addresses of instruction breakpoints */
	int nbrk;
	struct rw_stats stats;
};

/* Bits of the mode word (rw_mode) besides CPL (bits 0-1), code size (bit 2) and
 * CR0.MP/EM/TS (bits 3-5). */
#define MODE_FPU_TRAP   ((CR0_EM | CR0_TS) << 2)
#define MODE_NO_SSE     0x40u           /* CR4.OSFXSR clear: SSE instructions #UD */
#define MODE_IO_OK      0x80u           /* CPL <= IOPL: CLI and STI are allowed */
#define MODE_TSC        0x100u          /* RDTSC runs natively: no TSD trap, no TSC offset */
#define MODE_GS_IN_FS   0x200u          /* host FS holds the guest's GS (CPL 3), not its FS */
#define MODE_SS16       0x400u          /* a 16-bit stack: sequences that address [esp] exit */
/* MODE_GS_LIN (layout.h): CPL 3, DS flat, GS a 4 GiB writable data segment: a gs:
 * access that wraps goes through DS (emit_gs_linear). */

/* Where code goes: in line (b), or out of line (cold) after swap_cold(). */
struct emit {
	struct xbuf b;
	uint8_t *start;
	uint8_t *cold_start, *cold;     /* out of line (codecache.c): swap_cold() */
	uint32_t mode;          /* the mode word the block is translated for */
	bool limited;           /* the CS limit is below 4 GiB */
	uint32_t site_eip;      /* the indirect branch being translated ... */
	int32_t site_delta;     /* ... and what it has done to ESP before its lookup */
	struct codecache *cc;   /* (inline caches' counters) */
	uint32_t far_exit;      /* the shared stubs' host addresses */
	uint32_t lookup_miss;
};

/* Emit out of line from here on, or back in line: code a block needs only now and
 * then (exit stubs, an inline cache's misses, table stubs) goes to the cache's cold
 * zone, so the code that runs stays dense. */
static inline void swap_cold(struct emit *e)
{
	uint8_t *p = e->b.p;
	e->b.p = e->cold;
	e->cold = p;
}

/* Exit to the monitor with an exit word, resuming the guest at eip. */
static inline void emit_exit_word(struct emit *e, uint32_t eip, uint32_t word)
{
	emit_exit(&e->b, eip, word, e->far_exit);
}

/* Leave for the monitor to emulate the instruction at eip. */
static inline void emit_callout_exit(struct emit *e, uint32_t eip)
{
	emit_exit_word(e, eip, EXIT_CALLOUT << EXIT_SHIFT);
}

/* A direct exit of the block, its rel32 at field until its stub is emitted. */
struct pending_slot {
	uint32_t field;
	uint32_t target;
};

/* The block being translated. */
struct tblock {
	struct rewriter *rw;
	struct block *blk;
	struct emit e;
	struct pending_slot slots[MAX_EXITS];
	struct entry entries[MAX_ENTRIES];
	int nslots, ninsn, nentries;
	bool stop;                      /* no room for another instruction's exits */
	bool ended;                     /* the last instruction ends it */
	bool oneshot;
	bool guards;                    /* its entries start with guards (x86emit.h) */
	uint32_t mode;
	uint32_t eip, lin;              /* where it starts */
	uint64_t pa, pa_next;           /* the physical addresses of its start and next page */
	bool have_next, next_missing;   /* ... whether the next is there */
	size_t want;                    /* guest bytes fetched into rw->code */
	bool xpage;                     /* a thunk inlined from another page (pc_thunk) */
	uint32_t xlpn, xppn;
};

/* The instruction being emitted: b (its 32-bit form), npfx prefixes, len bytes, its
 * opcode at op; at guest EIP eip, the next at after; what its site learnt. */
struct tinsn {
	const uint8_t *b, *op;
	int npfx, len;
	uint32_t eip, after;
	unsigned site;
	unsigned xflags;                /* what Capstone's decode says (XI_*, xdecode.h) */
	struct side_entry *se;          /* its side-table entry: the emitter sets the flags */
};

/* Note an exit of the block to guest target, through the jump whose rel32 is field. */
static inline void add_slot(struct tblock *t, uint32_t field, uint32_t target)
{
	t->slots[t->nslots++] = (struct pending_slot){ field, target };
}

/* rewriter.c: an entry point at guest eip starts at the current place (its guard
 * first, in a block that has them). */
void add_entry(struct tblock *t, uint32_t eip);

/* mangle_branch.c: one emitter per kind of branch. */
void emit_jcc(struct tblock *t, const struct tinsn *in);
void emit_loop(struct tblock *t, const struct tinsn *in);
void emit_direct_jmp(struct tblock *t, const struct tinsn *in);
void emit_direct_call(struct tblock *t, const struct tinsn *in);
void emit_indirect_call(struct tblock *t, const struct tinsn *in);
void emit_indirect_jmp(struct tblock *t, const struct tinsn *in);
void emit_return(struct tblock *t, const struct tinsn *in);
/* The out-of-line prologue of an entry point (struct entry's thost) at host. */
uint32_t emit_table_stub(struct emit *e, uint32_t host);
/* The inline lookup in the lookup table at table: guest target in EAX, guest EAX/ECX
 * in their save slots. */
void emit_lookup_in(struct emit *e, uint32_t table);

/* mangle_state.c: segment registers, flags, IF, the TSC. */
void emit_ident(struct tblock *t, const struct tinsn *in, bool code16);
void emit_sreg_read(struct tblock *t, const struct tinsn *in);
void emit_sreg_push(struct tblock *t, const struct tinsn *in);
/* false: not in line here, a callout instead */
bool emit_sreg_load(struct tblock *t, const struct tinsn *in);
void emit_cli(struct tblock *t, const struct tinsn *in);
void emit_sti(struct tblock *t, const struct tinsn *in);
void emit_tsc_read(struct tblock *t, const struct tinsn *in);
void emit_tscp_read(struct tblock *t, const struct tinsn *in);
void emit_serialize(struct tblock *t, const struct tinsn *in);
void emit_pushf(struct tblock *t, const struct tinsn *in);
void emit_popf(struct tblock *t, const struct tinsn *in);
/* mangle_kentry.c: SYSENTER and INT n at CPL 3, SYSEXIT and IRET at CPL 0, in line. */
void emit_sysenter(struct tblock *t, const struct tinsn *in);
void emit_sysexit(struct tblock *t, const struct tinsn *in);
void emit_int(struct tblock *t, const struct tinsn *in);
void emit_iret(struct tblock *t, const struct tinsn *in);
/* Guest EAX/ECX to the save slots. */
void emit_save_scratch(struct emit *e);
/* A copy of b with its cs: or gs: prefix redirected through FS (wrap: GS's wrap view). */
void emit_ident_view(struct emit *e, const uint8_t *b, int npfx, int len, bool wrap);

/* rewriter.c: is the code at linear lin a PC thunk (its register, its page in *ppn)? */
int pc_thunk(struct rewriter *rw, uint32_t lin, uint32_t *ppn);

#endif
