/*
 * para_site.c - an instruction the monitor learnt to emulate (a memory access to the
 * top of linear space) and then replaced by a privileged one must get para-x86's answer,
 * not full x86's: OUT is #GP(0) (docs/para-x86.md, section 7). (A review found the
 * learnt site sent it to the full-x86 emulator: it reached the PC's debug-exit port.)
 */
#include "pguest.h"

static uint8_t code[64] __attribute__((aligned(16)));
static volatile int gp_seen, gp_err;

static void gp_hook(struct pframe *f)
{
	gp_seen++;
	gp_err = (int)f->error;
	f->eip += 2;                    /* past OUT imm8 */
}

void test_main(void)
{
	/* mov eax, [0xfffffff0]; ret: the top of linear space is emulated, the site learnt */
	static const uint8_t load[] = { 0xa1, 0xf0, 0xff, 0xff, 0xff, 0xc3 };
	memcpy(code, load, sizeof(load));
	for (int k = 0; k < 4; k++)
		((uint32_t (*)(void))code)();
	/* out 0xf4, al; ret, at the same address */
	static const uint8_t out[] = { 0xe6, 0xf4, 0xc3 };
	memcpy(code, out, sizeof(out));
	trap_set_hook(13, gp_hook);
	__asm__ volatile("call *%0" :: "r"(code), "a"(42) : "memory", "cc", "edx", "ecx");
	check_eq("site-then-out-gp", gp_seen, 1);
	check_eq("site-then-out-gp-error", gp_err, 0);
}
