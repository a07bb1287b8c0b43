/*
 * ldt_lazy.c - GS loaded, as Linux's context switch loads it, in address spaces that
 * take turns, and across the reset of an engine's pool of segment shadows (SDM Vol. 2,
 * MOV to a segment register; Vol. 3, 3.4.5). trapeze runs each recent page directory
 * in a host process of its own, each with its own host LDT, and writes a shadow into
 * a process's LDT only when that process first needs it (monitor/segments.c): a GS
 * load in translated code, from the shared cache of recent values, may name a shadow
 * another process made, and a pool reset leaves every process's old entries stale.
 *
 * Part 1: three directories in turn load one selector whose descriptor takes one of
 * many bases, each new base first loaded in one directory and then in the others;
 * every gs: read must see the base just loaded. Part 2: each directory warm with some
 * bases; then one exhausts the pool (thousands of distinct FS descriptors), loads GS
 * with bases none has seen, and the others load the same: a process that kept an old
 * entry would read through a stale base. Every check is named lazy-*;
 * expect-stat.sh checks that loads found their shadow missing and wrote it.
 */
#include "guest.h"
#include "ring.h"
#include "paging.h"

#define NSPACES 3
#define NBASES  48
#define ROUNDS  4               /* passes over the bases */

/* GDT: ring.h's 0-6; 7 the "TLS" slot GS is loaded from; 8 the slot that exhausts
 * the pool through FS. */
enum { S_T = 7, S_C };
#define SEL_T (S_T << 3)
#define SEL_C (S_C << 3)

/* Each base: a word at it (its tag), the TLS convention. */
static uint32_t box[NBASES + 8];
#define POOL_LOADS 8600
static uint8_t pool_buf[POOL_LOADS + 16];

static pte_t *kpd, *sp[NSPACES];

static void space(int s) { write_cr3((uint32_t)sp[s]); }

static void set_t(int k)
{
	gdt_set(S_T, (uint32_t)&box[k], 0xfffff, ACC_DATA, GRAN_4K32);
}

static void gs_load(uint16_t s) { __asm__ volatile("movw %0, %%gs" :: "r"(s) : "memory"); }

static uint32_t gs_read0(void)
{
	uint32_t v;
	__asm__ volatile("movl %%gs:0, %0" : "=r"(v) :: "memory");
	return v;
}

/* Load base k into GS in space s, the way a context switch does (the kernel writes the
 * task's TLS descriptor, then loads the selector); 1 if gs:0 is not k's tag. */
static int load_in(int s, int k)
{
	space(s);
	set_t(k);
	gs_load(SEL_T);
	return gs_read0() != box[k];
}

/* Part 1: a base new to every directory, first in one of them, then in the others
 * (each time again: the recent values a cache keeps are few). */
static void turns(void)
{
	uint32_t bad = 0, bad_first = 0;
	for (int r = 0; r < ROUNDS; r++)
		for (int k = 0; k < NBASES; k++) {
			int first = (k + r) % NSPACES;
			bad_first += load_in(first, k);
			for (int j = 1; j <= 2 * NSPACES; j++)
				bad += load_in((first + j) % NSPACES, k);
		}
	space(0);
	check_eq("lazy-first-load-reads", bad_first, 0);
	check_eq("lazy-load-in-other-space-reads", bad, 0);
}

/* Part 2: stale entries after a pool reset. */
static void reset(void)
{
	uint32_t bad = 0;
	for (int s = 0; s < NSPACES; s++)
		for (int k = 0; k < 8; k++)
			bad += load_in(s, k);
	check_eq("lazy-warm-before-reset", bad, 0);
	space(0);
	for (uint32_t k = 0; k < POOL_LOADS; k++) {
		gdt_set(S_C, (uint32_t)&pool_buf[k], 0xffff, ACC_DATA, GRAN_BYTE32);
		__asm__ volatile("movw %w0, %%fs" :: "r"(SEL_C) : "memory");
	}
	__asm__ volatile("movw %w0, %%fs" :: "r"(SEL_DATA) : "memory");
	/* Bases none has loaded, first in the space that reset the pool. */
	uint32_t bad_new = 0, bad_old = 0;
	for (int k = 8; k < 8 + 8; k++) {
		bad_new += load_in(0, k);
		for (int s = 1; s < NSPACES; s++)
			bad_new += load_in(s, k);
		for (int s = NSPACES - 1; s >= 0; s--)
			bad_new += load_in(s, k);
	}
	/* And the ones they had before it. */
	for (int k = 0; k < 8; k++)
		for (int s = NSPACES - 1; s >= 0; s--)
			bad_old += load_in(s, k);
	space(0);
	check_eq("lazy-after-reset-new-bases", bad_new, 0);
	check_eq("lazy-after-reset-old-bases", bad_old, 0);
	/* FS too: a shadow made in space 0 before, loaded in the others. */
	uint32_t bad_fs = 0;
	for (int s = 0; s < NSPACES; s++) {
		space(s);
		gdt_set(S_C, (uint32_t)&box[3], 0xfffff, ACC_DATA, GRAN_4K32);
		uint32_t v;
		__asm__ volatile("movw %w1, %%fs\n\tmovl %%fs:0, %0\n\tmovw %w2, %%fs"
				 : "=&r"(v) : "r"(SEL_C), "r"(SEL_DATA) : "memory");
		bad_fs += v != box[3];
	}
	space(0);
	check_eq("lazy-fs-in-each-space", bad_fs, 0);
}

void test_main(void)
{
	guest_init();
	idt_init();
	for (int k = 0; k < NBASES + 8; k++)
		box[k] = 0x1a200000u + (uint32_t)k * 0x1011u;
	kpd = pg_dir();
	pg_identity(kpd, PG_P | PG_W);
	for (int s = 0; s < NSPACES; s++) {
		sp[s] = pg_dir();
		pg_share_identity(sp[s], kpd);
	}
	pg_on(sp[0]);
	turns();
	reset();
	gs_load(0);
	pg_off();
}
