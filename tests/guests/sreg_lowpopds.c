/*
 * sreg_lowpopds.c - a segment load whose in-line fast path (rewriter/mangle_state.c: emit_fs_load, emit_sreg_load)
 * meets an edge: from a review of the FS swap (a GDT limit shrunk, a GDT or selector
 * where the host maps no RAM: the lowest 64 KiB, past RAM). Must behave as a callout.
 */
#include "guest.h"
void test_main(void)
{
	guest_init();
	idt_init();
	uint32_t r;
	__asm__ volatile("movl %%esp, %%edx\n\tmovl $0x9000, %%esp\n\tpushl $0x10\n\tpopl %%es\n\tmovl %%edx, %%esp\n\tmovl %%es, %0"
			 : "=r"(r) :: "edx", "memory");
	check_eq("pop-es-low-stack", r & 0xffff, 0x10);
}
