/*
 * sreg_lowmov.c - a segment load whose in-line fast path (rewriter/mangle_state.c: emit_fs_load, emit_sreg_load)
 * meets an edge: from a review of the FS swap (a GDT limit shrunk, a GDT or selector
 * where the host maps no RAM: the lowest 64 KiB, past RAM). Must behave as a callout.
 */
#include "guest.h"
void test_main(void)
{
	guest_init();
	idt_init();
	uint32_t r;
	__asm__ volatile("movw %0, %%fs" :: "r"((uint16_t)0) : "memory");
	__asm__ volatile("movw %0, %%fs" :: "r"((uint16_t)SEL_DATA) : "memory");
	__asm__ volatile("movw $0, 0x600" ::: "memory");        /* the selector: null */
	__asm__ volatile("movw 0x600, %%fs\n\tmovl %%fs, %0" : "=r"(r) :: "memory");
	check_eq("mov-fs-low-mem", r & 0xffff, 0);
}
