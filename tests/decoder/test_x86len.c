/*
 * test_x86len.c - the independent length decoder against Capstone: on millions of
 * pseudo-random byte strings (biased toward two-byte opcodes and prefixes), every
 * instruction Capstone decodes must have the same length in both decoders, except the
 * #UD-only UD0/UD1 forms, which are never copied. Plus hand-picked encodings whose
 * lengths come from the SDM.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <capstone/capstone.h>

#include "../../rewriter/x86len.h"

static const struct { const char *what; int len; uint8_t b[15]; } known[] = {
	{ "nop", 1, { 0x90 } },
	{ "mov eax, imm32", 5, { 0xb8, 1, 2, 3, 4 } },
	{ "mov ax, imm16", 4, { 0x66, 0xb8, 1, 2 } },
	{ "mov eax, [esp+disp32]", 7, { 0x8b, 0x84, 0x24, 1, 2, 3, 4 } },
	{ "mov eax, [disp32]", 6, { 0x8b, 0x05, 1, 2, 3, 4 } },
	{ "mov eax, [ebp+disp8]", 3, { 0x8b, 0x45, 8 } },
	{ "mov eax, [bx+si] (16-bit addressing)", 3, { 0x67, 0x8b, 0x00 } },
	{ "mov eax, [disp16] (16-bit addressing)", 5, { 0x67, 0x8b, 0x06, 1, 2 } },
	{ "mov [sib disp32 no base]", 7, { 0x89, 0x04, 0x25, 1, 2, 3, 4 } },
	{ "test byte [eax], imm8", 3, { 0xf6, 0x00, 7 } },
	{ "not dword [eax]", 2, { 0xf7, 0x10 } },
	{ "test dword [eax], imm32", 6, { 0xf7, 0x00, 1, 2, 3, 4 } },
	{ "enter 16, 0", 4, { 0xc8, 0x10, 0, 0 } },
	{ "ljmp ptr16:32", 7, { 0xea, 1, 2, 3, 4, 5, 6 } },
	{ "ljmp ptr16:16", 6, { 0x66, 0xea, 1, 2, 3, 4 } },
	{ "mov al, moffs32", 5, { 0xa0, 1, 2, 3, 4 } },
	{ "mov al, moffs16", 4, { 0x67, 0xa0, 1, 2 } },
	{ "jz rel32", 6, { 0x0f, 0x84, 1, 2, 3, 4 } },
	{ "pshufd xmm0, xmm1, imm8", 5, { 0x66, 0x0f, 0x70, 0xc1, 0x1b } },
	{ "pshufb xmm0, xmm1 (0F 38)", 5, { 0x66, 0x0f, 0x38, 0x00, 0xc1 } },
	{ "palignr xmm0, xmm1, imm8 (0F 3A)", 6, { 0x66, 0x0f, 0x3a, 0x0f, 0xc1, 4 } },
	{ "vpaddd ymm0, ymm1, ymm2 (VEX2)", 4, { 0xc5, 0xf5, 0xfe, 0xc2 } },
	{ "vpermq ymm0, ymm1, imm8 (VEX3 map 3)", 6, { 0xc4, 0xe3, 0xfd, 0x00, 0xc1, 0x1b } },
	{ "les eax, [ecx] (not VEX)", 2, { 0xc4, 0x01 } },
	{ "mov eax, cr0 (ModRM always register)", 3, { 0x0f, 0x20, 0xc0 } },
	{ "mov cr0 with a memory-looking ModRM", 3, { 0x0f, 0x22, 0x05 } },
};

START_TEST(known_lengths)
{
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		ck_assert_msg(x86_insn_len(known[i].b, 15) == known[i].len, "%s: got %d, want %d",
			      known[i].what, x86_insn_len(known[i].b, 15), known[i].len);
}
END_TEST

START_TEST(cut_off)
{
	static const uint8_t b[] = { 0xb8, 1, 2, 3, 4 };
	ck_assert_int_eq(x86_insn_len(b, 4), -1);
	ck_assert_int_eq(x86_insn_len(b, 5), 5);
	static const uint8_t prefixes[15] = { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
					      0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66 };
	ck_assert_int_eq(x86_insn_len(prefixes, 15), -1);
}
END_TEST

START_TEST(agrees_with_capstone)
{
	csh h;
	ck_assert(cs_open(CS_ARCH_X86, CS_MODE_32, &h) == CS_ERR_OK);
	cs_insn *in = cs_malloc(h);
	uint32_t seed = 12345;
	long compared = 0;
	for (long it = 0; it < 2000000; it++) {
		uint8_t b[16];
		for (int k = 0; k < 16; k++) {
			seed = seed * 1103515245u + 12345u;
			b[k] = (uint8_t)(seed >> 16);
		}
		if ((it & 3) == 1)
			b[0] = 0x0f;
		if ((it & 7) == 2) {
			b[0] = 0x66;
			b[1] = 0x0f;
		}
		const uint8_t *c = b;
		size_t size = 16;
		uint64_t a = 0;
		if (!cs_disasm_iter(h, &c, &size, &a, in))
			continue;
		if (!strcmp(in->mnemonic, "ud0") || !strcmp(in->mnemonic, "ud2b"))
			continue;
		compared++;
		ck_assert_msg(x86_insn_len(b, 16) == in->size,
			      "%02x %02x %02x %02x %02x %02x: Capstone %d (%s %s), x86len %d", b[0], b[1],
			      b[2], b[3], b[4], b[5], in->size, in->mnemonic, in->op_str,
			      x86_insn_len(b, 16));
	}
	ck_assert_int_gt(compared, 1000000);
	cs_free(in, 1);
	cs_close(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("x86len");
	TCase *tc = tcase_create("lengths");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, known_lengths);
	tcase_add_test(tc, cut_off);
	tcase_add_test(tc, agrees_with_capstone);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
