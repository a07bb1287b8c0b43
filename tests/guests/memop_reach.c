/*
 * memop_reach.c - operands whose address is not the one Capstone names: XLAT's
 * [EBX + AL] (no operand at all in Capstone), LEAVE's pop at [EBP] (not at ESP), and
 * BT/BTS/BTR/BTC with a register bit offset (the operand that holds the bit lies
 * offset / 32 dwords away from the ModRM address). When such an access reaches the top
 * 8 MiB of linear space, trapeze must tell its own host fault from the guest's by the
 * real address; it raised #GP for each (an access that should have succeeded).
 */
#include "guest.h"
#include "paging.h"

#define BELOW    0xff7ff000u            /* the last page the host reaches */
#define BELOW_PA (PG_FRAME_A + 0x20000)
#define WIN      0xff800000u            /* the first page of the top 8 MiB: emulated */
#define WIN_PA   (PG_FRAME_A + 0x21000)

/* XLAT with EBX on the page below and AL past its end. */
__attribute__((noinline)) static uint32_t xlat(uint32_t ebx, uint32_t al)
{
	uint32_t a = al;
	__asm__ volatile("xlatb" : "+a"(a) : "b"(ebx) : "memory");
	return a;
}

/* LEAVE with ESP on the ordinary stack and EBP at the top: ESP <- EBP, pop EBP.
 * Returns the EBP popped; *esp gets ESP after it. */
uint32_t leave_at(uint32_t ebp, uint32_t *esp);
uint32_t leave_saved_esp, leave_saved_ebp;
__asm__(".text\n"
	".globl leave_at\nleave_at:\n\t"
	"movl %ebp, leave_saved_ebp\n\t"
	"movl %esp, leave_saved_esp\n\t"
	"movl 4(%esp), %ebp\n\t"
	"leave\n\t"
	"movl %ebp, %eax\n\t"
	"movl %esp, %ecx\n\t"
	"movl leave_saved_esp, %esp\n\t"
	"movl leave_saved_ebp, %ebp\n\t"
	"movl 8(%esp), %edx\n\t"
	"movl %ecx, (%edx)\n\t"
	"ret\n");

/* BTS with a register bit offset: returns CF. */
__attribute__((noinline)) static uint32_t bts(uint32_t base, int32_t bit)
{
	uint8_t cf;
	__asm__ volatile("btsl %2, (%1)\n\tsetc %0" : "=q"(cf) : "r"(base), "r"(bit) : "memory", "cc");
	return cf;
}

/* BT with a register bit offset whose ModRM address is at the top and whose bit lies
 * below it: the host reaches that, no emulation needed. Returns CF. */
__attribute__((noinline)) static uint32_t bt(uint32_t base, int32_t bit)
{
	uint8_t cf;
	__asm__ volatile("btl %2, (%1)\n\tsetc %0" : "=q"(cf) : "r"(base), "r"(bit) : "memory", "cc");
	return cf;
}

void test_main(void)
{
	guest_init();
	idt_init();
	pg_init();
	pte_t *pd = pg_dir();
	pg_identity(pd, PG_P | PG_W | PG_U);
	pg_map(pd, BELOW, BELOW_PA, PG_P | PG_W);
	pg_map(pd, WIN, WIN_PA, PG_P | PG_W);
	pg_on(pd);
	uint8_t *below = (uint8_t *)BELOW_PA, *win = (uint8_t *)WIN_PA;
	for (int k = 0; k < 4096; k++) {
		below[k] = (uint8_t)(k ^ 0x5a);
		win[k] = (uint8_t)(k ^ 0xa5);
	}

	volatile uint32_t got = 0;
	int v = EXC(got = xlat(BELOW + 0xff0, 0x20));   /* reads WIN + 0x10 */
	check_eq("xlat-into-top-no-exception", (uint32_t)v, (uint32_t)-1);
	check_eq("xlat-into-top-value", got & 0xff, 0x10 ^ 0xa5);
	got = 0;
	v = EXC(got = xlat(WIN - 0x100, 0x80));         /* reads BELOW + 0xf80 */
	check_eq("xlat-below-top-value", got & 0xff, (0xf80 ^ 0x5a) & 0xff);

	volatile uint32_t popped = 0;
	uint32_t esp = 0;
	*(uint32_t *)(win + 0x100) = 0x600dcafe;
	v = EXC(popped = leave_at(WIN + 0x100, &esp));
	check_eq("leave-ebp-at-top-no-exception", (uint32_t)v, (uint32_t)-1);
	check_eq("leave-ebp-at-top-popped", popped, 0x600dcafe);
	check_eq("leave-ebp-at-top-esp", esp, WIN + 0x104);

	/* Bit 256 + 3 from BELOW + 0xff0: the dword at WIN + 0x10. */
	*(uint32_t *)(win + 0x10) = 0;
	volatile uint32_t cf = 2;
	v = EXC(cf = bts(BELOW + 0xff0, 256 + 3));
	check_eq("bts-reg-offset-into-top-no-exception", (uint32_t)v, (uint32_t)-1);
	check_eq("bts-reg-offset-into-top-memory", *(uint32_t *)(win + 0x10), 8);
	check_eq("bts-reg-offset-into-top-cf", cf, 0);
	/* From WIN + 0x10, bit -255: the dword 8 dwords down (BELOW + 0xff0), bit 1. */
	*(uint32_t *)(below + 0xff0) = 2;
	cf = 2;
	v = EXC(cf = bt(WIN + 0x10, -255));
	check_eq("bt-reg-offset-from-top-no-exception", (uint32_t)v, (uint32_t)-1);
	check_eq("bt-reg-offset-from-top-cf", cf, 1);
	pg_off();
	guest_finish();
}
