/*
 * test_xdecode.c - the translator's decode cache (rewriter/xdecode.c) against
 * Capstone itself: on pseudo-random byte strings drawn from a small pool (so that
 * most are seen again), some with a byte changed, the tail past the instruction
 * always new, cut at random lengths and decoded at random addresses, the cache must
 * say what a fresh decode says, hit or miss, and whether the table decoder agrees on
 * the length. Plus hand-picked encodings for each flag the summary carries.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <capstone/capstone.h>

#include "../../rewriter/x86len.h"
#include "../../rewriter/xdecode.h"

static const struct { const char *what; unsigned flags; int len; uint8_t b[15]; } known[] = {
	{ "addps xmm0, xmm1", XI_SSE, 3, { 0x0f, 0x58, 0xc1 } },
	{ "ldmxcsr [eax]", XI_SSE, 3, { 0x0f, 0xae, 0x10 } },
	{ "fxsave [eax] (ldmxcsr's opcode, another ModRM)", 0, 3, { 0x0f, 0xae, 0x00 } },
	{ "movd xmm0, eax", XI_SSE, 4, { 0x66, 0x0f, 0x6e, 0xc0 } },
	{ "movd mm0, eax", 0, 3, { 0x0f, 0x6e, 0xc0 } },
	{ "fld dword [eax]", 0, 2, { 0xd9, 0x00 } },
	{ "jmp [eax*4 + 0x1000]", XI_MEM_INDEX, 7, { 0xff, 0x24, 0x85, 0x00, 0x10, 0, 0 } },
	{ "jmp [eax]", 0, 2, { 0xff, 0x20 } },
	{ "mov eax, [ebx + ecx]", XI_MEM_INDEX, 3, { 0x8b, 0x04, 0x0b } },
	{ "mov eax, gs:[0xfffffffc]", XI_GS_HIGH, 6, { 0x65, 0xa1, 0xfc, 0xff, 0xff, 0xff } },
	{ "mov eax, gs:[0x10]", 0, 6, { 0x65, 0xa1, 0x10, 0, 0, 0 } },
	{ "mov eax, gs:[ebx - 4]", 0, 4, { 0x65, 0x8b, 0x43, 0xfc } },
	{ "mov eax, fs:[0xfffffffc]", 0, 6, { 0x64, 0xa1, 0xfc, 0xff, 0xff, 0xff } },
};

START_TEST(known_flags)
{
	csh h;
	ck_assert(cs_open(CS_ARCH_X86, CS_MODE_32, &h) == CS_ERR_OK);
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	cs_insn *in = cs_malloc(h);
	struct xdecode *xd = xd_create(8);
	ck_assert_ptr_nonnull(xd);
	for (int round = 0; round < 2; round++)         /* a miss, then a hit */
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
			struct xinsn x;
			ck_assert_msg(xd_decode(xd, h, in, known[i].b, 15, 0x1000, &x), "%s", known[i].what);
			ck_assert_msg(x.len == known[i].len && x.flags == (known[i].flags | XI_LEN_AGREES),
				      "%s (round %d): length %d flags %#x, want %d %#x", known[i].what,
				      round, x.len, x.flags, known[i].len, known[i].flags);
		}
	ck_assert_int_ge(xd_stats(xd)->hits, sizeof(known) / sizeof(known[0]));
	xd_destroy(xd);
	cs_free(in, 1);
	cs_close(&h);
}
END_TEST

static uint32_t seed = 2026;

static uint32_t rnd(void)
{
	seed = seed * 1103515245u + 12345u;
	return seed >> 8;
}

START_TEST(agrees_with_capstone)
{
	csh h;
	ck_assert(cs_open(CS_ARCH_X86, CS_MODE_32, &h) == CS_ERR_OK);
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	cs_insn *in = cs_malloc(h), *ref = cs_malloc(h);
	struct xdecode *xd = xd_create(10);     /* small: entries are evicted too */
	static uint8_t pool[2048][16];
	for (int i = 0; i < 2048; i++)
		for (int k = 0; k < 16; k++) {
			pool[i][k] = (uint8_t)rnd();
			if (k == 0 && (i & 3) == 1)
				pool[i][0] = 0x0f;
			if (k == 1 && (i & 7) == 2) {
				pool[i][0] = 0x66;
				pool[i][1] = 0x0f;
			}
		}
	long decoded = 0;
	for (long it = 0; it < 1000000; it++) {
		uint8_t b[16];
		memcpy(b, pool[rnd() % 2048], 16);
		if (rnd() % 4 == 0)
			b[rnd() % 16] = (uint8_t)rnd();         /* a neighbour of a kept one */
		size_t size = rnd() % 8 ? 16 : 1 + rnd() % 16;
		uint64_t addr = rnd() % 4 ? rnd() : 0xfffffff0u + rnd() % 16;
		const uint8_t *c = b;
		size_t n = size;
		uint64_t a = addr;
		bool want = cs_disasm_iter(h, &c, &n, &a, ref);
		struct xinsn w = want ? xd_summary(ref) : (struct xinsn){ 0 };
		for (int k = w.len; want && k < 16; k++)      /* what lies past the instruction */
			b[k] = (uint8_t)rnd();
		struct xinsn x;
		bool got = xd_decode(xd, h, in, b, size, addr, &x);
		if (want && x86_insn_len(b, (int)(size < 15 ? size : 15)) == w.len)
			w.flags |= XI_LEN_AGREES;
		ck_assert_msg(got == want && (!got || (x.len == w.len && x.flags == w.flags)),
			      "%02x %02x %02x %02x %02x %02x (size %zu): cache %d (len %d flags %#x), "
			      "Capstone %d (len %d flags %#x)", b[0], b[1], b[2], b[3], b[4], b[5], size,
			      got, x.len, x.flags, want, w.len, w.flags);
		decoded += want;
	}
	/* Most of what decodes is seen again: the test exercises hits. */
	ck_assert_int_gt(xd_stats(xd)->hits, decoded / 4);
	xd_destroy(xd);
	cs_free(in, 1);
	cs_free(ref, 1);
	cs_close(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("xdecode");
	TCase *tc = tcase_create("decodes");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, known_flags);
	tcase_add_test(tc, agrees_with_capstone);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
