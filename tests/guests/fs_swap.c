/*
 * fs_swap.c - FS loaded again and again with two values in turn at CPL 0, as Linux's
 * kernel entry and exit do (MOV FS from a register and from memory, POP FS, a null
 * selector): every load must give FS the segment its descriptor says, also after the
 * descriptor changed in the GDT between two loads, and MOV from FS must read back the
 * selector. trapeze swaps the two values in translated code (rewriter/mangle_state.c,
 * emit_fs_load); expect-stat.sh checks that the loads mostly stayed out of the monitor.
 */
#include "guest.h"

#define S_A 3           /* 0x18: data, base &area_a */
#define S_B 4           /* 0x20: data, base &area_b */
#define SEL_A (S_A << 3)
#define SEL_B (S_B << 3)
#define ROUNDS 1000

static volatile uint32_t area_a[4] = { 0xaaaa0001 }, area_b[4] = { 0xbbbb0002 },
			 area_c[4] = { 0xcccc0003 };
static volatile uint16_t sel_mem;

static uint32_t fs_read0(void)
{
	uint32_t v;
	__asm__ volatile("movl %%fs:0, %0" : "=r"(v) :: "memory");
	return v;
}

static uint16_t fs_sel(void)
{
	uint32_t v;
	__asm__ volatile("movl %%fs, %0" : "=r"(v));
	return (uint16_t)v;
}

static void fs_load_reg(uint16_t s) { __asm__ volatile("movw %0, %%fs" :: "r"(s) : "memory"); }

static void fs_load_mem(uint16_t s)
{
	sel_mem = s;
	__asm__ volatile("movw %0, %%fs" :: "m"(sel_mem) : "memory");
}

static void fs_load_pop(uint16_t s)
{
	__asm__ volatile("pushl %0\n\tpopl %%fs" :: "r"((uint32_t)s) : "memory");
}

void test_main(void)
{
	guest_init();
	gdt_set(S_A, (uint32_t)area_a, 0xfffff, ACC_DATA, GRAN_4K32);
	gdt_set(S_B, (uint32_t)area_b, 0xfffff, ACC_DATA, GRAN_4K32);
	gdt_load(GDT_ENTRIES);
	idt_init();
	uint32_t bad = 0, bad_sel = 0;
	for (int i = 0; i < ROUNDS; i++) {
		fs_load_reg(SEL_A);
		bad += fs_read0() != 0xaaaa0001;
		bad_sel += fs_sel() != SEL_A;
		fs_load_reg(SEL_B);
		bad += fs_read0() != 0xbbbb0002;
		bad_sel += fs_sel() != SEL_B;
	}
	check_eq("fs-swap-reg-reads", bad, 0);
	check_eq("fs-swap-reg-selectors", bad_sel, 0);
	bad = 0;
	for (int i = 0; i < ROUNDS; i++) {
		fs_load_mem(SEL_A);
		bad += fs_read0() != 0xaaaa0001;
		fs_load_pop(SEL_B);
		bad += fs_read0() != 0xbbbb0002;
	}
	check_eq("fs-swap-mem-and-pop-reads", bad, 0);
	/* A's descriptor changes in the GDT while B is loaded: the next load of A must
	 * read the new one (base area_c). */
	gdt_set(S_A, (uint32_t)area_c, 0xfffff, ACC_DATA, GRAN_4K32);
	fs_load_reg(SEL_A);
	check_eq("fs-swap-descriptor-changed", fs_read0(), 0xcccc0003);
	fs_load_reg(SEL_B);
	check_eq("fs-swap-back-after-change", fs_read0(), 0xbbbb0002);
	fs_load_reg(SEL_A);
	check_eq("fs-swap-changed-one-again", fs_read0(), 0xcccc0003);
	/* A null selector in turn with B, as Linux's user FS */
	bad = bad_sel = 0;
	for (int i = 0; i < ROUNDS; i++) {
		fs_load_pop(0);
		bad_sel += fs_sel() != 0;
		fs_load_reg(SEL_B);
		bad += fs_read0() != 0xbbbb0002;
	}
	check_eq("fs-swap-null-and-b-reads", bad, 0);
	check_eq("fs-swap-null-selector", bad_sel, 0);
	/* SDM Vol. 3, 5.4.1: a memory access through a null selector raises #GP(0);
	 * QEMU 7.2 TCG lets it through. */
	if (under_qemu()) {
		printf("SKIP fs-null-access-gp qemu-does-not-check-null-data-segments\n");
	} else {
		fs_load_pop(0);
		int v = EXC((void)fs_read0());
		check_eq("fs-null-access-gp", (uint32_t)v, 13);
	}
	fs_load_reg(SEL_B);
	check_eq("fs-after-null-fault", fs_read0(), 0xbbbb0002);
}
