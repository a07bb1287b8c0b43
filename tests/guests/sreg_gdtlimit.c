/*
 * sreg_gdtlimit.c - a segment load whose in-line fast path (rewriter/mangle_state.c: emit_fs_load, emit_sreg_load)
 * meets an edge: from a review of the FS swap (a GDT limit shrunk, a GDT or selector
 * where the host maps no RAM: the lowest 64 KiB, past RAM). Must behave as a callout.
 */
#include "guest.h"
#define S_A 3
#define SEL_A (S_A << 3)
static volatile uint32_t area_a[4] = { 0xaaaa0001 };
static void fs_load_reg(uint16_t s) { __asm__ volatile("movw %0, %%fs" :: "r"(s) : "memory"); }
static uint32_t fs_read0(void) { uint32_t v; __asm__ volatile("movl %%fs:0, %0" : "=r"(v) :: "memory"); return v; }
void test_main(void)
{
	guest_init();
	gdt_set(S_A, (uint32_t)area_a, 0xfffff, ACC_DATA, GRAN_4K32);
	gdt_load(GDT_ENTRIES);
	idt_init();
	for (int i = 0; i < 10; i++) { fs_load_reg(SEL_A); fs_load_reg(SEL_DATA); }
	check_eq("warm", fs_read0(), *(volatile uint32_t *)0);
	/* shrink the GDT below SEL_A, same base */
	struct dtr d = { 8 * 3 - 1, (uint32_t)gdt };
	__asm__ volatile("lgdt %0" :: "m"(d) : "memory");
	int v = EXC(fs_load_reg(SEL_A));
	check_eq("fs-load-beyond-gdt-limit-gp", (uint32_t)v, 13);
	fs_load_reg(SEL_DATA);
	gdt_load(GDT_ENTRIES);
}
