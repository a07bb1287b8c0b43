/*
 * paging.h - 32-bit paging for guest tests (SDM Vol. 3A, 4.3 "32-Bit Paging"): page
 * directories and tables built from a pool of page-aligned pages, the kernel mapped
 * 1:1, CR0/CR2/CR3/CR4 and INVLPG, and a #PF hook that records CR2, the error code
 * and the frame, can map the page and retry (demand paging), and otherwise resumes at
 * the exc_try() of an EXC()/PF_EXPECT() as the library does for unhooked exceptions.
 *
 * Header-only, like ring.h: include it from the one .c file of a guest, after guest.h.
 *
 * Interface: guest_init(), then pg_init() (hook installed, pool ready). pg_dir() gives
 * an empty page directory, pg_identity() maps [PG_IDENT_LO, PG_IDENT_END) to itself
 * (the kernel, its stack, the pool and two free 4 MiB frames of RAM), pg_map() and
 * pg_map_4m() add mappings, pg_on()/pg_off() switch CR0.PG. Pool pages are
 * identity-mapped, so the kernel sees what a test mapping elsewhere does through
 * their own address (= their physical address). Entries are volatile: the CPU sets
 * their A and D bits.
 */
#ifndef PAGING_H
#define PAGING_H

#include "guest.h"

/* Paging-structure entry bits (SDM Vol. 3A, Tables 4-4 to 4-6). */
#define PG_P     0x001u
#define PG_W     0x002u
#define PG_U     0x004u
#define PG_A     0x020u
#define PG_D     0x040u
#define PG_PS    0x080u         /* PDE with CR4.PSE = 1: maps a 4 MiB page */
#define PG_G     0x100u
#define PG_FRAME    0xfffff000u
#define PG_4M_FRAME 0xffc00000u
#define PG_4M_BIT13 0x00002000u /* reserved without PSE-36 (Table 4-4) */
#define PG_4M_BIT21 0x00200000u /* reserved in every 4 MiB PDE (M <= 40) */
#define PG_4M       0x00400000u
#define PAGE        0x1000u

#define CR0_PG   0x80000000u
#define CR0_WP   0x00010000u
#define CR4_PSE  0x00000010u
#define CR4_PGE  0x00000080u

/* #PF error code (SDM Vol. 3A, 4.7, Figure 4-12). */
#define VEC_PF   14
#define PF_P     0x01u          /* 0: not present; 1: protection or reserved bit */
#define PF_W     0x02u
#define PF_U     0x04u
#define PF_RSVD  0x08u
#define PF_ID    0x10u          /* only with SMEP or PAE+NXE: never here */

/* Physical memory the tests use: the kernel (at 1 MiB) and the pool must end below
 * PG_FRAME_A; PG_FRAME_A and PG_FRAME_B are 4 MiB frames of otherwise unused RAM. */
#define PG_IDENT_LO  0x00001000u        /* page 0 stays unmapped */
#define PG_FRAME_A   0x00400000u
#define PG_FRAME_B   0x00800000u
#define PG_IDENT_END 0x00c00000u
#define PG_POOL_PAGES 64

typedef volatile uint32_t pte_t;

static inline uint32_t read_cr2(void) { uint32_t v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline void write_cr2(uint32_t v) { __asm__ volatile("mov %0, %%cr2" :: "r"(v)); }
static inline uint32_t read_cr3(void) { uint32_t v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static inline void write_cr3(uint32_t v) { __asm__ volatile("mov %0, %%cr3" :: "r"(v) : "memory"); }
static inline void invlpg(uint32_t lin) { __asm__ volatile("invlpg (%0)" :: "r"(lin) : "memory"); }
/* Reload CR3 with its own value: every non-global translation is dropped (4.10.4.1). */
static inline void pg_flush(void) { write_cr3(read_cr3()); }
/* CPUID is serializing: what the SDM asks for between writing code through one linear
 * address and executing it through another (Vol. 3A, 11.6 "Self-Modifying Code"). */
static inline void serialize(void) { uint32_t r[4]; cpuid(0, r); }

/* One access each, at a known EIP (pg_rd_insn, pg_wr_insn...), so a test can check
 * the frame of the #PF it raises. The CPU's own access; the compiler sees a call. */
uint32_t pg_rd(uint32_t lin);
void pg_wr(uint32_t lin, uint32_t v);
void pg_inc(uint32_t lin);      /* incl (lin): a read-modify-write */
uint32_t pg_call(uint32_t lin); /* call *lin, returns EAX */
extern char pg_rd_insn[], pg_wr_insn[], pg_inc_insn[];
__asm__(".text\n"
	".globl pg_rd\npg_rd:\n\t"
	"movl 4(%esp), %ecx\n"
	".globl pg_rd_insn\npg_rd_insn:\n\t"
	"movl (%ecx), %eax\n\tret\n"
	".globl pg_wr\npg_wr:\n\t"
	"movl 4(%esp), %ecx\n\tmovl 8(%esp), %eax\n"
	".globl pg_wr_insn\npg_wr_insn:\n\t"
	"movl %eax, (%ecx)\n\tret\n"
	".globl pg_inc\npg_inc:\n\t"
	"movl 4(%esp), %ecx\n"
	".globl pg_inc_insn\npg_inc_insn:\n\t"
	"incl (%ecx)\n\tret\n"
	".globl pg_call\npg_call:\n\t"
	"pushl %ebx\n\tpushl %esi\n\tpushl %edi\n\tpushl %ebp\n\t"
	"call *20(%esp)\n\t"
	"popl %ebp\n\tpopl %edi\n\tpopl %esi\n\tpopl %ebx\n\tret\n");

/* ---- page pool and tables ---- */

static uint8_t pg_pool[PG_POOL_PAGES][PAGE] __attribute__((aligned(4096)));
static int pg_pool_used;

/* A zeroed page of the pool; its address is its physical address. */
static inline void *pg_alloc(void)
{
	if (pg_pool_used == PG_POOL_PAGES) {
		printf("FAIL paging-pool-exhausted\n");
		guest_exit(1);
	}
	void *p = pg_pool[pg_pool_used++];
	memset(p, 0, PAGE);
	return p;
}

static inline pte_t *pg_dir(void) { return pg_alloc(); }
static inline pte_t *pg_pde(pte_t *pd, uint32_t lin) { return &pd[lin >> 22]; }

/* The PTE for lin; a missing page table is allocated with PDE flags pde_flags. */
static inline pte_t *pg_pte_in(pte_t *pd, uint32_t lin, uint32_t pde_flags)
{
	pte_t *pde = pg_pde(pd, lin);
	if (!(*pde & PG_P) || (*pde & PG_PS))
		*pde = (uint32_t)pg_alloc() | pde_flags;
	return (pte_t *)(*pde & PG_FRAME) + ((lin >> 12) & 0x3ff);
}
static inline pte_t *pg_pte(pte_t *pd, uint32_t lin) { return pg_pte_in(pd, lin, PG_P | PG_W | PG_U); }

static inline void pg_map(pte_t *pd, uint32_t lin, uint32_t pa, uint32_t flags)
{
	*pg_pte(pd, lin) = (pa & PG_FRAME) | flags;
}
static inline void pg_map_4m(pte_t *pd, uint32_t lin, uint32_t pa, uint32_t flags)
{
	*pg_pde(pd, lin) = (pa & PG_4M_FRAME) | flags | PG_PS;
}

/* Map [PG_IDENT_LO, PG_IDENT_END) 1:1 with 4 KiB pages (PDEs P|W|U). */
static inline void pg_identity(pte_t *pd, uint32_t flags)
{
	for (uint32_t a = PG_IDENT_LO; a < PG_IDENT_END; a += PAGE)
		pg_map(pd, a, a, flags);
}

/* Share the page tables of [PG_IDENT_LO, PG_IDENT_END) of from with to. */
static inline void pg_share_identity(pte_t *to, const pte_t *from)
{
	for (uint32_t a = 0; a < PG_IDENT_END; a += PG_4M)
		to[a >> 22] = from[a >> 22];
}

static inline void pg_on(pte_t *pd)
{
	write_cr3((uint32_t)pd);
	write_cr0(read_cr0() | CR0_PG);
}
static inline void pg_off(void) { write_cr0(read_cr0() & ~CR0_PG); }
static inline void pg_set_wp(int on)
{
	write_cr0(on ? read_cr0() | CR0_WP : read_cr0() & ~CR0_WP);
	pg_flush();     /* rights are re-read from the tables, whatever the TLB does with WP */
}

/* ---- the #PF hook ---- */

/* Library internals (lib.c, boot.S): the recovery point of exc_try(). */
extern volatile uint32_t rec_armed;
__attribute__((noreturn)) void exc_recover(void);

/* The last #PF: CR2 read in the handler, the error code, the faulting CS:EIP and the
 * whole frame; count is the number since pf_reset(). */
static volatile struct {
	int count;
	uint32_t cr2, err, eip, cs;
	struct frame f;
} pf;

/* A fixup may make the page present and return 1: the instruction is retried (the
 * SDM needs no invalidation for an entry whose P flag goes from 0 to 1, 4.10.4.3).
 * It returns 0 to let the fault end the EXC() around it. */
typedef int (*pf_fixup_t)(uint32_t cr2, uint32_t err, struct frame *f);
static pf_fixup_t pf_fixup;

static void pf_hook(struct frame *f)
{
	uint32_t cr2 = read_cr2();
	pf.count++;
	pf.cr2 = cr2;
	pf.err = f->error;
	pf.eip = f->eip;
	pf.cs = f->cs & 0xffff;
	pf.f = *f;
	if (pf_fixup && pf_fixup(cr2, f->error, f))
		return;
	if (rec_armed)
		exc_recover();
	printf("FAIL unexpected-page-fault cr2 %08x error %x eip %08x\n", cr2, f->error, f->eip);
	guest_exit(1);
}

static inline void pf_reset(void)
{
	pf.count = 0;
	pf.cr2 = pf.err = pf.eip = pf.cs = 0xdeadbeef;
	pf.f = (struct frame){ 0 };
}

/* Check the fault a PF_EXPECT() body raised: exactly one #PF, error code err in the
 * bits of mask, CR2 cr2, and (at != 0) the faulting EIP at. */
static inline void pf_expect_mask(const char *name, int vec, uint32_t err, uint32_t mask,
				  uint32_t cr2, const void *at)
{
	if (vec != VEC_PF)
		fail(name, "exception %d want 14", vec);
	else if (pf.count != 1)
		fail(name, "%d page faults want 1", pf.count);
	else if ((pf.err & mask) != err)
		fail(name, "error code %x want %x (mask %x, cr2 %08x)", pf.err, err, mask, pf.cr2);
	else if (pf.cr2 != cr2)
		fail(name, "cr2 %08x want %08x", pf.cr2, cr2);
	else if (at && pf.eip != (uint32_t)at)
		fail(name, "eip %08x want %08x", pf.eip, (uint32_t)at);
	else
		pass(name);
}
#define PF_EXPECT_MASK(name, err, mask, cr2, at, ...) \
	do { pf_reset(); pf_expect_mask((name), EXC(__VA_ARGS__), (err), (mask), (cr2), (at)); } while (0)
#define PF_EXPECT(name, err, cr2, at, ...) PF_EXPECT_MASK(name, err, 0xffffffffu, cr2, at, __VA_ARGS__)
/* As PF_EXPECT for a check QEMU is known to get wrong: SKIP under QEMU (README). */
#define PF_EXPECT_SDM(name, why, err, cr2, at, ...) \
	do { pf_reset(); int v_ = EXC(__VA_ARGS__); \
	     if (under_qemu()) printf("SKIP %s %s\n", (name), (why)); \
	     else pf_expect_mask((name), v_, (err), 0xffffffffu, (cr2), (at)); } while (0)

/* Run the statements; evaluates to 1 if they ran to the end (faults a fixup repaired
 * included), 0 if an exception ended them. */
#define RUNS(...) ({ volatile int done_ = 0; exc_clear(); \
		     if (exc_try() == 0) { __VA_ARGS__; done_ = 1; exc_untry(); } done_; })

/* PASS when the statements ran without any exception. */
#define NO_EXC(name, ...) \
	do { pf_reset(); int v_ = EXC(__VA_ARGS__); \
	     if (v_ != -1) fail((name), "exception %d error %x cr2 %08x eip %08x", v_, \
				exc_last.error, pf.cr2, exc_last.eip); \
	     else pass(name); } while (0)

static inline void pg_init(void)
{
	uint32_t end;
	__asm__("movl $__bss_end, %0" : "=r"(end));
	if (end > PG_FRAME_A) {
		printf("FAIL paging-layout kernel ends at %08x, above %08x\n", end, PG_FRAME_A);
		guest_exit(1);
	}
	exc_set_hook(VEC_PF, pf_hook);
	pf_fixup = 0;
}

#endif
