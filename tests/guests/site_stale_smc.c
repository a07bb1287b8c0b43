/*
 * site_stale_smc.c - the same as site_stale_user.c at CPL 0 with self-modifying code:
 * a buffer first holds a load from the top 8 MiB (learnt as a site to emulate), then
 * is rewritten to hold plain register instructions at the same address, which must run.
 */
#include "guest.h"

static uint8_t buf[64] __attribute__((aligned(16)));
typedef uint32_t (*fn_t)(void);

void test_main(void)
{
	guest_init();
	static const uint8_t load_top[] = { 0xa1, 0x00, 0x00, 0x00, 0xff, 0xc3 };   /* mov eax,[0xff000000]; ret */
	memcpy(buf, load_top, sizeof(load_top));
	for (int k = 0; k < 3; k++)
		((fn_t)buf)();
	pass("load-from-top-ran");
	static const uint8_t regs[] = { 0x89, 0xd8, 0x40, 0xc3 };           /* mov eax,ebx; inc eax; ret */
	memcpy(buf, regs, sizeof(regs));
	uint32_t got;
	__asm__ volatile("movl $0x1233, %%ebx; call *%1" : "=a"(got) : "r"(buf) : "ebx", "ecx", "edx", "memory");
	check_eq("rewritten-code-at-learnt-eip", got, 0x1234);
	guest_finish();
}
