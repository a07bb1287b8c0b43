/*
 * xdecode.c - Capstone's decodes, summarized and kept by the instruction's bytes
 * (xdecode.h).
 *
 * A direct-mapped table: the key is the instruction's bytes, as many as the table
 * decoder (x86len.c) says the instruction has; an entry is made only when Capstone
 * found that length too, so a hit is what Capstone would say of these bytes. The
 * summary depends on nothing else: not the address (a relative branch's target is
 * computed from the bytes by the translator), not the mode (the translator decodes
 * 32-bit forms only; 16-bit code is normalized first). Entries are 32 bytes and the
 * table is at most a few MiB: a first version that kept Capstone's whole x86 detail
 * (600 bytes an entry) missed the host's caches on every lookup and cost a quarter of
 * a Debian boot.
 */
#include "xdecode.h"
#include "insnclass.h"
#include "rewriter.h"
#include "x86len.h"

#include <stdlib.h>
#include <string.h>

struct xentry {
	uint8_t bytes[15];
	uint8_t len;                    /* 0: empty */
	struct xinsn x;
	uint8_t pad[14];
};
_Static_assert(sizeof(struct xentry) == 32, "an entry is half a cache line");

struct xdecode {
	unsigned bits;
	struct xentry *table;           /* 2^bits */
	struct xdecode_stats stats;
	const uint8_t *expect, *end;    /* the stream fetched ahead (fetch_ahead) */
	const uint8_t *ahead;           /* ... up to here, */
	int nahead;                     /* ... so many instructions past the current one */
};

struct xdecode *xd_create(unsigned bits)
{
	struct xdecode *xd = calloc(1, sizeof(*xd));
	if (!xd)
		return NULL;
	xd->bits = bits;
	/* From the monitor's heap, which all the VM's processes share (aspaces.c): each
	 * of them translates, and they learn into one table. A large block comes zero
	 * and untouched (sharedmem.c). */
	xd->table = calloc((size_t)1 << bits, sizeof(struct xentry));
	if (!xd->table) {
		free(xd);
		return NULL;
	}
	return xd;
}

void xd_destroy(struct xdecode *xd)
{
	if (!xd)
		return;
	free(xd->table);
	free(xd);
}

const struct xdecode_stats *xd_stats(const struct xdecode *xd)
{
	return &xd->stats;
}

struct xinsn xd_summary(const cs_insn *in)
{
	const cs_x86 *x = &in->detail->x86;
	struct xinsn s = { .len = (uint8_t)in->size };
	if (rw_is_sse(in))
		s.flags |= XI_SSE;
	if (rw_gs_wrap_view(in, 0))
		s.flags |= XI_GS_HIGH;
	for (int k = 0; k < x->op_count; k++)
		if (x->operands[k].type == X86_OP_MEM && x->operands[k].mem.index != X86_REG_INVALID)
			s.flags |= XI_MEM_INDEX;
	return s;
}

/* The instruction's len bytes as two words, the rest zero; size: how many can be read. */
static void key_words(const uint8_t *b, size_t size, int len, uint64_t *w0, uint64_t *w1)
{
	if (size >= 16) {
		memcpy(w0, b, 8);
		memcpy(w1, b + 8, 8);
		if (len < 8) {
			*w0 &= (1ull << (8 * len)) - 1;
			*w1 = 0;
		} else {
			*w1 &= len == 8 ? 0 : ~0ull >> (8 * (16 - len));
		}
		return;
	}
	*w0 = *w1 = 0;
	for (int i = 0; i < len && i < 8; i++)
		*w0 |= (uint64_t)b[i] << (8 * i);
	for (int i = 8; i < len; i++)
		*w1 |= (uint64_t)b[i] << (8 * (i - 8));
}

static struct xentry *slot(struct xdecode *xd, const uint8_t *b, size_t size, int len)
{
	uint64_t w0, w1;
	key_words(b, size, len, &w0, &w1);
	uint64_t h = (w0 * 0x9e3779b97f4a7c15ull) ^ (w1 * 0xc2b2ae3d27d4eb4full) ^ (uint64_t)len;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return &xd->table[h >> (64 - xd->bits)];
}

/*
 * The table is far bigger than the host's L2 and each lookup a miss to memory (a
 * quarter of a translation's time when measured): the entries of the next AHEAD
 * instructions are fetched while the translator emits this one. The stream is the
 * caller's buffer as long as each call starts where the last instruction ended and
 * the buffer ends at the same place; the lengths found ahead serve the prefetches
 * only (each lookup measures its instruction again: the caller may rewrite bytes in
 * between, as rw_bsf_form does).
 */
#define AHEAD 3

static void fetch_ahead(struct xdecode *xd, const uint8_t *code, size_t size, int len)
{
	const uint8_t *end = code + size;
	if (code != xd->expect || end != xd->end || xd->nahead == 0) {
		xd->ahead = code + len;         /* a new stream */
		xd->nahead = 0;
		xd->end = end;
	} else {
		xd->nahead--;                   /* this one was fetched ahead */
	}
	xd->expect = code + len;
	while (xd->nahead < AHEAD && xd->ahead < end) {
		size_t rest = (size_t)(end - xd->ahead);
		int n = x86_insn_len(xd->ahead, (int)(rest < 15 ? rest : 15));
		if (n <= 0)
			break;
		__builtin_prefetch(slot(xd, xd->ahead, rest, n));
		xd->ahead += n;
		xd->nahead++;
	}
}

bool xd_decode(struct xdecode *xd, csh cs, cs_insn *scratch, const uint8_t *code, size_t size,
	       uint64_t addr, struct xinsn *out)
{
	int len = x86_insn_len(code, (int)(size < 15 ? size : 15));
	struct xentry *e = len > 0 ? slot(xd, code, size, len) : NULL;
	if (len > 0)
		fetch_ahead(xd, code, size, len);
	if (e && e->len == len && !memcmp(e->bytes, code, (size_t)len)) {
		xd->stats.hits++;
		*out = e->x;
		out->flags |= XI_LEN_AGREES;
		return true;
	}
	if (!cs_disasm_iter(cs, &code, &size, &addr, scratch))
		return false;
	xd->stats.misses++;
	*out = xd_summary(scratch);
	if (scratch->size != len)
		return true;            /* not kept: a hit must be what Capstone says */
	if (e) {
		memcpy(e->bytes, scratch->bytes, (size_t)len);
		e->len = (uint8_t)len;
		e->x = *out;
	}
	out->flags |= XI_LEN_AGREES;
	return true;
}
