/*
 * paging_trace.c - the tables of address spaces switched often, written while they are
 * not current (and while they are), as Linux's processes are. Two spaces, A and B,
 * run the same code at V (one frame, FA, as two processes running one binary do)
 * through a caller page T that both map, switching by CR3 loads under CR4.PGE, many
 * times: a translator may then trace their page tables and keep what it translated
 * from V across the loads without reading them (trapeze does: the code cache's CR3
 * check, shadowmmu/mmu.c "Traced page tables"). But whatever writes the tables must
 * be seen at the next CR3 load into the space (SDM Vol. 3A, 4.10.4.1: the load
 * invalidates every non-global translation): a store from the other space (another
 * host process in trapeze) to A's PTE, to its PDE, a PTE cleared, a store in A itself
 * followed by a reload of CR3, a table two spaces share, a write the monitor makes
 * for the guest (SIDT, which trapeze emulates, storing onto the PTE), tables written
 * at every switch (more than a tracer keeps tracing), a page whose table was never
 * traced remapped while code on it waits to be attached back, and under PAE a PTE
 * and a PDPTE written while away. Each case starts with a new A (its directory and table in new
 * frames, then warmed up): a tracer may give up on tables written often. Every check
 * is the same under QEMU TCG, which traces nothing.
 */
#include "guest.h"
#include "paging.h"

#define T       0x50000000u    /* the caller: one frame in every space */
#define V       0x50040000u    /* FA in A and B; FC, FD, or nothing, later */
#define T_V     (T + 0x000)    /* call V; ret */
#define CR4_PAE 0x00000020u

static pte_t *kpd, *pda, *pdb;
static uint8_t *t, *fa, *fc, *fd;

static void put32(uint8_t *q, uint32_t v) { *(volatile uint32_t *)q = v; }

/* mov $v, %eax; ret */
static uint8_t *code_page(uint32_t v)
{
	uint8_t *q = pg_alloc();
	q[0] = 0xb8;
	put32(q + 1, v);
	q[5] = 0xc3;
	return q;
}

static void space(pte_t *pd) { write_cr3((uint32_t)pd); }

/* The call through the caller's chain, and V looked up directly, several times each. */
static int calls(uint32_t want)
{
	int ok = 1;
	for (int k = 0; k < 4; k++)
		ok &= (pg_call(T_V) == want) & (pg_call(V) == want);
	return ok;
}

/* Many switches between A and B, both running FA at V: long enough for a tracer. */
static void warm(const char *name, void (*to_a)(void), void (*to_b)(void), uint32_t want)
{
	int ok = 1;
	for (int i = 0; i < 24; i++) {
		if (i & 1)
			to_b();
		else
			to_a();
		ok &= calls(want);
	}
	check(ok, name);
}

static void to_a(void) { space(pda); }
static void to_b(void) { space(pdb); }

/* A new directory for A, mapping T, and FA at V, in a new table, which A writes
 * itself once too (so that where a space runs, its tables may be mapped writable
 * before they are traced). */
static void new_a(const char *name)
{
	pda = pg_dir();
	pg_share_identity(pda, kpd);
	pg_map(pda, T, (uint32_t)t, PG_P | PG_W | PG_U);
	pg_map(pda, V, (uint32_t)fa, PG_P | PG_W);
	space(pda);
	pg_map(pda, V + PAGE, (uint32_t)fc, PG_P | PG_W);
	warm(name, to_a, to_b, 0xa0);
}

/* SIDT stores 6 bytes: the limit, then the 32-bit base. With the base set to v by
 * LIDT (IF is clear, and nothing faults until the IDTR is back), SIDT to pte - 2
 * writes v over the PTE and the limit over the upper half of the entry before it. */
static void sidt_store(volatile pte_t *pte, uint32_t v, uint16_t limit_before)
{
	struct __attribute__((packed)) { uint16_t limit; uint32_t base; } saved, fake;
	fake.limit = limit_before;
	fake.base = v;
	__asm__ volatile("sidt %0" : "=m"(saved));
	__asm__ volatile("lidt %0\n\tsidt (%1)\n\tlidt %2"
			 :: "m"(fake), "r"((uint8_t *)pte - 2), "m"(saved) : "memory");
}

static void test_32(void)
{
	/* A's PTE for V, written from B. */
	new_a("trace-warm");
	space(pdb);
	pg_map(pda, V, (uint32_t)fc, PG_P | PG_W);
	space(pda);
	check(calls(0xc0), "trace-pte-written-away");
	space(pdb);
	check(calls(0xa0), "trace-pte-written-away-other-unchanged");
	pg_map(pda, V, (uint32_t)fa, PG_P | PG_W);
	warm("trace-pte-written-away-back", to_a, to_b, 0xa0);

	/* A's PTE for V cleared from B. */
	new_a("trace-pte-cleared-warm");
	space(pdb);
	*pg_pte(pda, V) = 0;
	space(pda);
	PF_EXPECT("trace-pte-cleared-away", 0, V, (void *)V, pg_call(T_V));

	/* Written in A itself, then CR3 reloaded (no switch of space, no INVLPG). */
	new_a("trace-pte-written-here-warm");
	space(pda);
	pg_map(pda, V, (uint32_t)fd, PG_P | PG_W);
	pg_flush();
	check(calls(0xd0), "trace-pte-written-here-reload");
	space(pdb);
	check(calls(0xa0), "trace-pte-written-here-other-unchanged");
	space(pda);
	check(calls(0xd0), "trace-pte-written-here-again");

	/* A's PDE for V, written from B: another page table (a copy, T in it too), where
	 * V is FC. */
	new_a("trace-pde-warm");
	space(pdb);
	pte_t old = *pg_pde(pda, V);
	pte_t *pt = pg_alloc();
	for (int k = 0; k < 1024; k++)
		pt[k] = ((pte_t *)(old & PG_FRAME))[k];
	pt[(V >> 12) & 0x3ff] = (uint32_t)fc | PG_P | PG_W;
	*pg_pde(pda, V) = (uint32_t)pt | PG_P | PG_W | PG_U;
	space(pda);
	check(calls(0xc0), "trace-pde-written-away");
	space(pdb);
	*pg_pde(pda, V) = old;
	warm("trace-pde-written-away-back", to_a, to_b, 0xa0);

	/* The monitor's own write for the guest (an emulated SIDT) onto A's PTE. The
	 * entry before V's maps nothing: its upper half stays 0. */
	new_a("trace-monitor-write-warm");
	space(pdb);
	sidt_store(pg_pte(pda, V), (uint32_t)fc | PG_P | PG_W, 0);
	check(*pg_pte(pda, V) == ((uint32_t)fc | PG_P | PG_W) && *pg_pte(pda, V - PAGE) == 0,
	      "trace-sidt-stored");
	space(pda);
	check(calls(0xc0), "trace-monitor-write-away");

	/* Written at every switch, more times than a tracer keeps tracing a table. */
	new_a("trace-written-every-switch-warm");
	int ok = 1;
	for (int i = 0; i < 16; i++) {
		space(pdb);
		ok &= calls(0xa0);
		pg_map(pda, V, (uint32_t)(i & 1 ? fa : fd), PG_P | PG_W);
		space(pda);
		ok &= calls(i & 1 ? 0xa0 : 0xd0);
	}
	check(ok, "trace-written-every-switch");
	pg_map(pda, V, (uint32_t)fa, PG_P | PG_W);
	warm("trace-written-every-switch-back", to_a, to_b, 0xa0);

	/* One page table for V in both spaces: written in A, seen in B. */
	new_a("trace-shared-table-warm");
	space(pda);
	pte_t olda = *pg_pde(pda, V), oldb = *pg_pde(pdb, V);
	pte_t *shared = pg_alloc();
	shared[(T >> 12) & 0x3ff] = (uint32_t)t | PG_P | PG_W | PG_U;
	shared[(V >> 12) & 0x3ff] = (uint32_t)fa | PG_P | PG_W;
	*pg_pde(pda, V) = *pg_pde(pdb, V) = (uint32_t)shared | PG_P | PG_W | PG_U;
	warm("trace-shared-table", to_a, to_b, 0xa0);
	space(pda);
	shared[(V >> 12) & 0x3ff] = (uint32_t)fd | PG_P | PG_W;
	space(pdb);
	check(calls(0xd0), "trace-shared-table-written-in-other");
	space(pda);
	check(calls(0xd0), "trace-shared-table-written-here");
	*pg_pde(pda, V) = olda;
	*pg_pde(pdb, V) = oldb;
	warm("trace-shared-table-back", to_a, to_b, 0xa0);
}

/* Four pages of code X0-X3 at X in A alone, and Y at Y_AT (another page table) that A
 * runs once before the switches and again after X3's frame is written: Y comes back
 * by a lookup where X3 was on what A runs first after a switch. Then Y's PTE changes
 * while A is away; Y's table was never traced, and Y must not be taken back unasked
 * for X3's sake. */
#define X       0x58000000u
#define Y_AT    0x58800000u
static void test_list_reuse(void)
{
	pte_t *pa = pg_dir();
	pg_share_identity(pa, kpd);
	uint8_t *fx[4];
	for (int k = 0; k < 4; k++) {
		fx[k] = code_page(0x10 + k);
		pg_map(pa, X + k * PAGE, (uint32_t)fx[k], PG_P | PG_W);
	}
	pg_map(pa, Y_AT, (uint32_t)fa, PG_P | PG_W);
	space(pa);
	int ok = pg_call(Y_AT) == 0xa0;
	for (int i = 0; i < 24; i++) {
		space(pdb);
		space(pa);
		for (int k = 0; k < 4; k++)
			ok &= pg_call(X + k * PAGE) == 0x10u + k;
	}
	check(ok, "trace-list-warm");
	space(pdb);
	fx[3][6] = 0x90;                        /* X3's frame written: its code goes */
	space(pa);
	check(pg_call(Y_AT) == 0xa0, "trace-list-y-again");
	space(pdb);
	*pg_pte(pa, Y_AT) = (uint32_t)fc | PG_P | PG_W;
	space(pa);
	check(pg_call(Y_AT) == 0xc0, "trace-list-y-remapped-away");
}

/* ---- PAE: PDPTE 0 maps the kernel (2 MiB pages), PDPTE 1 the test pages ---- */

typedef volatile uint64_t pae_t;
static pae_t *pdpt_a, *pdpt_b, *kpd0, *dir_a, *dir_b, *dir_a2;

/* Write a live entry: P goes last. */
static void ent_set(pae_t *e, uint64_t v)
{
	volatile uint32_t *h = (volatile uint32_t *)e;
	h[0] = 0;
	h[1] = (uint32_t)(v >> 32);
	h[0] = (uint32_t)v;
}

static pae_t *pae_pte(pae_t *dir, uint32_t lin)
{
	pae_t *pde = &dir[(lin >> 21) & 0x1ff];
	if (!(*pde & PG_P))
		ent_set(pde, (uint32_t)pg_alloc() | PG_P | PG_W | PG_U);
	return (pae_t *)(uint32_t)(*pde & PG_FRAME) + ((lin >> 12) & 0x1ff);
}

static pae_t *pae_dir(void)
{
	pae_t *d = pg_alloc();
	ent_set(pae_pte(d, T), (uint32_t)t | PG_P | PG_W);
	ent_set(pae_pte(d, V), (uint32_t)fa | PG_P | PG_W);
	return d;
}

static pae_t *pae_pdpt(pae_t *dir)
{
	pae_t *p = pg_alloc();
	ent_set(&p[0], (uint32_t)kpd0 | PG_P);
	ent_set(&p[1], (uint32_t)dir | PG_P);
	return p;
}

static void to_pae_a(void) { write_cr3((uint32_t)pdpt_a); }
static void to_pae_b(void) { write_cr3((uint32_t)pdpt_b); }

/* A new PDPT, directory and table for A. */
static void new_pae_a(const char *name)
{
	dir_a = pae_dir();
	pdpt_a = pae_pdpt(dir_a);
	warm(name, to_pae_a, to_pae_b, 0xa0);
}

static void test_pae(void)
{
	uint32_t r[4];
	cpuid(1, r);
	if (!(r[3] & (1u << 6))) {
		pass("trace-pae-absent");
		return;
	}
	kpd0 = pg_alloc();
	for (uint32_t pa = 0; pa < PG_IDENT_END; pa += 0x200000)
		ent_set(&kpd0[pa >> 21], pa | PG_P | PG_W | PG_PS);
	dir_a = pae_dir();      /* the first A, to turn PAE on with */
	dir_b = pae_dir();
	dir_a2 = pae_dir();
	ent_set(pae_pte(dir_a2, V), (uint32_t)fd | PG_P | PG_W);
	pdpt_a = pae_pdpt(dir_a);
	pdpt_b = pae_pdpt(dir_b);
	space(kpd);
	pg_off();
	write_cr4(read_cr4() | CR4_PAE);
	to_pae_a();
	write_cr0(read_cr0() | CR0_PG);
	write_cr4(read_cr4() | CR4_PGE);

	new_pae_a("trace-pae-warm");
	to_pae_b();
	ent_set(pae_pte(dir_a, V), (uint32_t)fc | PG_P | PG_W);
	to_pae_a();
	check(calls(0xc0), "trace-pae-pte-written-away");
	to_pae_b();
	check(calls(0xa0), "trace-pae-pte-written-away-other-unchanged");

	/* A's PDPTE for V's gigabyte, written from B: loaded from memory at A's next
	 * CR3 load (SDM Vol. 3A, 4.4.1), it names another directory. */
	new_pae_a("trace-pae-pdpte-warm");
	to_pae_b();
	ent_set(&pdpt_a[1], (uint32_t)dir_a2 | PG_P);
	to_pae_a();
	check(calls(0xd0), "trace-pae-pdpte-written-away");
	to_pae_b();
	check(calls(0xa0), "trace-pae-pdpte-written-away-other-unchanged");

	/* Written in A, then B, then A: the PDPTEs come from memory again. */
	new_pae_a("trace-pae-pdpte-here-warm");
	to_pae_a();
	ent_set(&pdpt_a[1], (uint32_t)dir_a2 | PG_P);
	to_pae_b();
	to_pae_a();
	check(calls(0xd0), "trace-pae-pdpte-written-here");

	write_cr4(read_cr4() & ~CR4_PGE);
	pg_off();
	write_cr4(read_cr4() & ~CR4_PAE);
}

void test_main(void)
{
	guest_init();
	pg_init();
	kpd = pg_dir();
	pg_identity(kpd, PG_P | PG_W | PG_U);
	write_cr4(read_cr4() & ~(CR4_PSE | CR4_PGE));
	pg_on(kpd);
	pdb = pg_dir();
	t = pg_alloc();
	t[0] = 0xe8;                            /* call V; ret */
	put32(t + 1, V - (T_V + 5));
	t[5] = 0xc3;
	fa = code_page(0xa0);
	fc = code_page(0xc0);
	fd = code_page(0xd0);
	pg_share_identity(pdb, kpd);
	pg_map(pdb, T, (uint32_t)t, PG_P | PG_W | PG_U);
	pg_map(pdb, V, (uint32_t)fa, PG_P | PG_W);
	/* CR3 loads under CR4.PGE, as Linux does them (no page here is global). */
	write_cr4(read_cr4() | CR4_PGE);
	test_32();
	test_list_reuse();
	write_cr4(read_cr4() & ~CR4_PGE);
	test_pae();
	space(kpd);
	pg_off();
}
