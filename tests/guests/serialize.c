/*
 * serialize.c - SERIALIZE (0F 01 E8; SDM Vol. 2B, SERIALIZE), which the virtual CPU
 * lists in CPUID.(EAX=07H,ECX=0):EDX[14]: it runs at CPL 0 and at CPL 3 and changes no
 * register or flag; with LOCK, or with F2 (XSUSLDTRK of TSXLDTRK, not listed), it is
 * #UD. Linux's sync_core() uses it instead of an IRET to itself when it is listed.
 * QEMU's default CPU lists no SERIALIZE: those checks print SKIP there.
 */
#include "guest.h"
#include "ring.h"

USER_INSN(serialize, "movl $0x5e, %eax", "serialize");

static uint32_t serialize_keeps(void)
{
	uint32_t a = 0x12345678, f0, f1;
	__asm__ volatile("stc; pushfl; popl %1; serialize; pushfl; popl %2"
			 : "+a"(a), "=r"(f0), "=r"(f1) :: "cc", "memory");
	return a == 0x12345678 && f0 == f1;
}

static void lock_serialize(void) { __asm__ volatile(".byte 0xf0, 0x0f, 0x01, 0xe8"); }
static void xsusldtrk(void) { __asm__ volatile(".byte 0xf2, 0x0f, 0x01, 0xe8"); }

void test_main(void)
{
	uint32_t r[4];
	guest_init();
	ring_init();
	cpuid(0, r);
	uint32_t max = r[0];
	r[3] = 0;
	if (max >= 7)
		cpuid(7, r);            /* ECX = 0: sub-leaf 0 */
	if (under_qemu() && !(r[3] & (1u << 14))) {
		printf("SKIP cpuid-serialize qemu-default-cpu-lists-none\n");
		printf("SKIP serialize-cpl0 qemu-default-cpu-lists-none\n");
		printf("SKIP serialize-cpl3 qemu-default-cpu-lists-none\n");
	} else {
		check(r[3] & (1u << 14), "cpuid-serialize");
		check(serialize_keeps(), "serialize-cpl0");
		user_expect_ret("serialize-cpl3", u_serialize, 0, 0x2, 0x5e);
	}
	/* TSXLDTRK is not listed on either: F2 0F 01 E8 is #UD, and so is LOCK. */
	check_eq("cpuid-no-tsxldtrk", r[3] & (1u << 16), 0);
	expect_exc("xsusldtrk-ud", EXC(xsusldtrk()), 6, -1);
	expect_exc("lock-serialize-ud", EXC(lock_serialize()), 6, -1);
}
