/*
 * hint_nops.c - the reserved-NOP space 0F 18-0F 1F (SDM Vol. 2, NOP and the opcode map's
 * "Reserved-NOP" entries; on a CPU without MPX, 0F 1A and 0F 1B are NOPs too): with a
 * register or a memory operand they execute as NOPs, touching no memory (an operand at
 * an unmapped address does not fault), and EIP moves past them. 0F 18 /0-/3 are the
 * PREFETCH hints, also without effect here. (trapeze gave #UD for 0F 1B and 0F 1D.)
 */
#include "guest.h"

void test_main(void)
{
	static const struct { const char *name; uint8_t b[4]; } nops[] = {
		{ "0f18-prefetchnta", { 0x0f, 0x18, 0x00 } }, { "0f19-reg", { 0x0f, 0x19, 0xc0 } },
		{ "0f19-mem", { 0x0f, 0x19, 0x00 } }, { "0f1a-mem", { 0x0f, 0x1a, 0x00 } },
		{ "0f1b-mem", { 0x0f, 0x1b, 0x00 } }, { "0f1c-mem", { 0x0f, 0x1c, 0x00 } },
		{ "0f1d-mem", { 0x0f, 0x1d, 0x00 } }, { "0f1e-mem", { 0x0f, 0x1e, 0x00 } },
		{ "0f1f-mem", { 0x0f, 0x1f, 0x00 } }, { "0f1e-reg-c0", { 0x0f, 0x1e, 0xc0 } },
		{ "0f1b-reg", { 0x0f, 0x1b, 0xc3 } }, { "0f1d-reg", { 0x0f, 0x1d, 0xc8 } },
		{ "0f1f-reg", { 0x0f, 0x1f, 0xc0 } },
		{ "f3-0f1b-bndmk", { 0xf3, 0x0f, 0x1b, 0x00 } },
		{ "f2-0f1a-bndcu", { 0xf2, 0x0f, 0x1a, 0x00 } },
		{ "66-0f1a-bndmov", { 0x66, 0x0f, 0x1a, 0xc0 } },
		{ "f3-0f1e-endbr32", { 0xf3, 0x0f, 0x1e, 0xfb } },
	};
	static uint8_t code[16];
	guest_init();
	printf("hint_nops: the reserved-NOP space\n");
	for (unsigned k = 0; k < sizeof(nops) / sizeof(nops[0]); k++) {
		int n = nops[k].b[0] == 0x0f ? 3 : 4;
		memcpy(code, nops[k].b, (size_t)n);
		code[n] = 0xc3;                 /* ret */
		uint32_t eax = 0xdead0000u;     /* [eax]: not RAM (and not mapped) */
		int v = EXC(__asm__ volatile("call *%1" : "+a"(eax) : "r"(code) : "memory", "cc"));
		if (v == -1)
			pass(nops[k].name);
		else
			fail(nops[k].name, "exception %d", v);
	}
}
