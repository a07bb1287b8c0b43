/*
 * rewriter.h - the binary translator: one guest basic block in, host code out.
 *
 * rw_translate() decodes guest code with Capstone from the current EIP and emits a
 * block into the code cache: most instructions are copied verbatim (IDENT), direct
 * branches become chainable exits, call pushes the guest return address, ret and
 * indirect branches go through the inline lookup, and every sensitive or privileged
 * instruction becomes a callout to the monitor (emulate.c).
 *
 * The translator reaches the VM only through what rw_create() is given: struct
 * rw_host (guest memory, exceptions, stopping; the monitor implements it in
 * monitor/rwhost.c), the guest CPU to read, the learnt sites and the code cache.
 * Files: rewriter.c (the block driver), decode.c (one instruction, for the
 * emulators), mangle_branch.c and mangle_state.c (one emitter per kind of
 * instruction), insnclass.c (the kinds), x86emit.c (the encoder), x86len.c, sites.c.
 */
#ifndef TRAPEZE_REWRITER_H
#define TRAPEZE_REWRITER_H

#include <stdbool.h>
#include <stdint.h>

#include <stdio.h>

#include <capstone/capstone.h>

struct block;
struct codecache;
struct cpu;
struct rewriter;
struct seg;
struct sites;

/* Page attributes (rw_host.page_is). */
#define RW_PAGE_GLOBAL  1u      /* a global page (CR4.PGE): CR3 loads keep its blocks */
#define RW_PAGE_LARGE   2u      /* part of a 4 MiB or 2 MiB page */

/* What the translator asks of the VM (monitor/rwhost.c implements it). user: the
 * access is the guest's at CPL 3. */
struct rw_host {
	/* Guest linear to physical for a fetch, as the CPU's (accessed bits set): 0, or
	 * -1 with #PF raised (or the VM stopped). */
	int (*translate)(void *opaque, uint32_t lin, bool user, uint64_t *pa);
	/* The same without side effects: 0, or -1 where nothing is mapped. */
	int (*peek)(void *opaque, uint32_t lin, bool user, uint64_t *pa);
	/* The monitor's mapping of len bytes of guest RAM at physical pa, or NULL. */
	const uint8_t *(*phys)(void *opaque, uint64_t pa, uint32_t len);
	/* Fetch len bytes at guest linear lin: 0, or -1 with #PF raised. */
	int (*fetch)(void *opaque, uint32_t lin, void *buf, uint32_t len, bool user);
	/* Raise a guest exception at the current instruction. */
	void (*raise)(void *opaque, int vector, bool has_err, uint32_t err);
	/* Stop the VM with a monitor error; msg says why. */
	void (*stop)(void *opaque, const char *msg);
	/* Is the page that maps guest linear lin now of attribute attr (RW_PAGE_*)? */
	bool (*page_is)(void *opaque, uint32_t lin, unsigned attr);
	void *opaque;
	uint32_t far_exit;              /* host addresses of the shared stubs: the exit, */
	uint32_t lookup_miss;           /* and an inline lookup's miss */
};

/* What the translator counts (--stats). */
struct rw_stats {
	uint64_t thunks_inlined;        /* calls of PC thunks translated in line */
	uint64_t translate_cycles;      /* host cycles spent translating */
	uint64_t decodes, decodes_kept; /* instructions decoded; of them from xdecode's cache */
};
const struct rw_stats *rw_stats(struct rewriter *rw);

/* Open the decoder; NULL on failure. The translator reads cpu (mode, CS, GDT), asks
 * sites how to translate an instruction (and empties it with the cache), emits into
 * cc; trace: a line per block on stderr; perf_map: host ranges for perf, or NULL. */
struct rewriter *rw_create(const struct rw_host *host, const struct cpu *cpu, struct sites *sites,
			   struct codecache *cc, bool trace, FILE *perf_map);
void rw_destroy(struct rewriter *rw);

/* The mode word blocks are keyed by: CPL, code size, CR0.MP/EM/TS, CR4.OSFXSR, and
 * how IOPL, TSD, DS/GS and SS allow some instructions to run in line. */
uint32_t rw_mode(const struct cpu *c);
/* A present, writable, expand-up data segment with a 4 GiB limit (and base 0 if
 * zero_base): what MODE_GS_LIN asks of DS (zero_base) and GS. */
bool rw_flat_data(const struct seg *s, bool zero_base);
/* The host selector FS must hold when blocks of mode run: a shadow of the guest's GS
 * at CPL 3 (user thread-local storage then runs natively), of its FS otherwise. */
uint16_t rw_native_fs(const struct cpu *c, uint32_t mode);
/* The same, of the host selectors of the guest's FS and GS. */
uint16_t rw_native_fs_sel(uint32_t mode, uint16_t fs, uint16_t ggs);

/* Instruction breakpoints (monitor/debug.h): a block ends before an instruction at
 * one of these n linear addresses, and a block that starts at one is just an exit to
 * the monitor (EXIT_BREAK), which checks it; one-shot translations run it. The caller
 * drops the translations made for the old set. */
#define RW_MAX_BREAKS 32
void rw_set_breaks(struct rewriter *rw, const uint32_t *lin, int n);

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
 * VEX/EVEX/XOP encodings, XSAVE, TSX, VMX, RDRAND/RDSEED, SSE4a, and in the 0F 38 and
 * 0F 3A maps everything rw_vcpu_has_0f38_0f3a does not name: MOVBE, ADX, SHA,
 * MOVDIRI/MOVDIR64B...), which the guest must see #UD for although the host would run
 * it? b: the instruction, npfx prefixes, len bytes. */
bool rw_always_ud(const uint8_t *b, int npfx, int len);
/* Is the 0F 38 / 0F 3A instruction b (npfx prefixes, len bytes) one the virtual CPU's
 * CPUID lists (SSSE3, SSE4.1, SSE4.2 with CRC32, AES, PCLMULQDQ)? An allowlist by
 * opcode and mandatory prefix; each has one ModRM operand and no other memory access. */
bool rw_vcpu_has_0f38_0f3a(const uint8_t *b, int npfx, int len);

/* Does the instruction use SSE state (XMM registers or MXCSR)? */
bool rw_is_sse(const cs_insn *in);

/* The target of the direct near branch whose opcode starts at op; after = the EIP
 * of the next instruction. */
uint32_t branch_target(const uint8_t *op, uint32_t after);

/* The reserved-NOP space 0F 18-0F 1F (SDM Vol. 2, Table A-3: hints and NOPs; MPX's
 * encodings on a CPU without it), which Capstone does not decode in every form: if b
 * (n bytes) is such an instruction, make it the NOP 0F 1F with the same operand bytes
 * (a register form: [eAX], no SIB or displacement; the same length, the same effect:
 * none) and return true, for the caller to decode again. */
bool rw_reserved_nop(uint8_t *b, int n);

/* F3 0F BC/BD are TZCNT/LZCNT where CPUID lists BMI1/ABM; the virtual CPU lists
 * neither, and there they are BSF/BSR, their REP prefix ignored (SDM Vol. 2, TZCNT and
 * LZCNT: "executes as BSF/BSR" on processors without them; GCC and Linux emit
 * rep bsf for BSF). If b (n bytes of 32-bit code) is one, rewrite its F2/F3 prefixes
 * in place into the segment prefix its operand uses anyway (the same length, what
 * the host runs as BSF/BSR) and return true. */
bool rw_bsf_form(uint8_t *b, int n);

/* Length of the legacy prefixes at p. */
int rw_prefix_len(const uint8_t *p, int n);

#endif
