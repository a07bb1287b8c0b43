/*
 * user_kptr_fpu.c - a CPL-3 access to a supervisor page above the user segments' cut
 * (mmu_user_top: the lowest supervisor page mapped) must be a #PF whatever the
 * instruction. An ordinary MOV is emulated by memop; an x87 load (FLD m32) is not
 * memop's: the guest's paging must still answer with its #PF (it once stopped the VM).
 * A user page above that cut is the user's: x87 loads and stores there (run on a copy
 * of the operand, monitor/memop_native.c) must work (they stopped the VM).
 */
#include "guest.h"
#include "ring.h"
#include "paging.h"

#define KPAGE 0x30000000u

USER_INSN(mov_k, "", "movl 0x30000000, %eax");
USER_INSN(fld_k, "", "flds 0x30000000");
USER_INSN(fld_u, "", "flds 0x30001000\n\tfadds 0x30001000\n\tfstps 0x30001004\n\tmovl 0x30001004, %eax");

void test_main(void)
{
	guest_init();
	ring_init();
	pg_init();
	pte_t *pd = pg_dir();
	pg_identity(pd, PG_P | PG_W | PG_U);
	pg_map(pd, KPAGE, PG_FRAME_A, PG_P | PG_W);    /* supervisor only */
	pg_map(pd, KPAGE + 0x1000, PG_FRAME_A + 0x1000, PG_P | PG_W | PG_U);
	pg_on(pd);
	__asm__ volatile("fninit");
	check_eq("kernel-reads-its-page", *(volatile uint32_t *)KPAGE, *(volatile uint32_t *)PG_FRAME_A);

	pf_reset();
	user_expect("user-mov-kernel-page-pf", u_mov_k, 0x202, 14, PF_P | PF_U, u_mov_k_at);
	pf_reset();
	printf("INFO user FLD of the kernel page next\n");
	user_expect("user-fld-kernel-page-pf", u_fld_k, 0x202, 14, PF_P | PF_U, u_fld_k_at);
	*(volatile float *)(PG_FRAME_A + 0x1000) = 1.5f;
	user_expect_ret("user-fpu-user-page-above-cut", u_fld_u, 0, 0x202, 0x40400000);  /* 3.0f */
	pg_off();
	guest_finish();
}
