/*
 * sreg_lowpop.c - a segment load whose in-line fast path (rewriter/mangle_state.c: emit_fs_load, emit_sreg_load)
 * meets an edge: from a review of the FS swap (a GDT limit shrunk, a GDT or selector
 * where the host maps no RAM: the lowest 64 KiB, past RAM). Must behave as a callout.
 */
#include "guest.h"
static uint16_t fs_sel(void) { uint32_t v; __asm__ volatile("movl %%fs, %0" : "=r"(v)); return (uint16_t)v; }
void test_main(void)
{
	guest_init();
	idt_init();
	uint32_t r;
	/* FS = 0x10, alternate = 0 */
	__asm__ volatile("movw %0, %%fs" :: "r"((uint16_t)0) : "memory");
	__asm__ volatile("movw %0, %%fs" :: "r"((uint16_t)SEL_DATA) : "memory");
	/* a stack below 64 KiB (a boot loader's): pop fs = 0 */
	__asm__ volatile("movl %%esp, %%edx\n\tmovl $0x9000, %%esp\n\tpushl $0\n\tpopl %%fs\n\tmovl %%edx, %%esp\n\tmovl %%fs, %0"
			 : "=r"(r) :: "edx", "memory");
	check_eq("pop-fs-low-stack", r & 0xffff, 0);
	check_eq("sel", fs_sel(), 0);
}
