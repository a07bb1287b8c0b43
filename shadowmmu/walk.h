/*
 * walk.h - the guest page-table walker: 32-bit paging with 4 MiB pages (SDM Vol. 3,
 * 4.3) and PAE paging with 2 MiB pages and execute-disable (4.4), access rights
 * (4.6), #PF error codes (4.7), A/D bits (4.8).
 *
 * Interface: the shadow MMU calls walk() when the guest touches a linear address it
 * has not mapped yet, and for the monitor's own accesses; the result says where to
 * map it and with which rights, or which #PF to deliver (the caller sets CR2). Look-ups
 * that must leave guest memory alone use walk_peek(). A walk needs only the guest's
 * paging registers (struct cpu: CR0, CR3, CR4, EFER and the PDPTE registers) and its
 * memory; it keeps no state. Under PAE paging the walk starts from the PDPTE
 * registers, which walk_load_pdptes() fills when the guest loads CR3 or turns PAE
 * paging on. MAXPHYADDR is WALK_MAXPHYADDR (36) under PAE; 32-bit paging has no
 * PSE-36. Not supported: PSE-36, SMEP/SMAP, PAT/PCD/PWT (memory types).
 */
#ifndef TRAPEZE_WALK_H
#define TRAPEZE_WALK_H

#include <stdbool.h>
#include <stdint.h>

#include "../arch/x86.h"        /* CR0_*, CR4_*, EFER_NXE */

struct cpu;
struct guest_mem;

/* Paging-structure entry bits (SDM Vol. 3, Tables 4-4 to 4-6). */
#define PTE_P           0x001u
#define PTE_RW          0x002u
#define PTE_US          0x004u
#define PTE_A           0x020u
#define PTE_D           0x040u
#define PTE_PS          0x080u          /* in a PDE with CR4.PSE (or PAE): a 4 MiB (2 MiB) page */
#define PTE_G           0x100u          /* in the final entry */
#define PDE_4M_RSVD     0x003fe000u     /* bits 21:13 of a 4 MiB PDE without PSE-36 */

/* PAE paging (SDM Vol. 3, Tables 4-8 to 4-11), for MAXPHYADDR = 36: bits 62:36 of
 * every entry are reserved, bit 63 is XD with IA32_EFER.NXE and reserved without. */
#define WALK_MAXPHYADDR 36
#define PTE_XD          0x8000000000000000ull
#define PAE_ADDR        0x0000000ffffff000ull   /* bits 35:12: a frame or a table */
#define PAE_RSVD        0x7ffffff000000000ull   /* bits 62:36 */
#define PDPTE_RSVD      (PTE_XD | PAE_RSVD | 0x1e6u)    /* and bits 8:5, 2:1 */
#define PDE_2M_RSVD     0x001fe000u             /* bits 20:13 of a 2 MiB PDE */

/* #PF error code bits (SDM Vol. 3, 4.7). */
#define PF_ERR_P        0x01u           /* 0: not present; 1: protection or reserved bit */
#define PF_ERR_W        0x02u
#define PF_ERR_U        0x04u
#define PF_ERR_RSVD     0x08u
#define PF_ERR_ID       0x10u

/* Access kinds for walk(): OR of these. */
#define PF_ACC_WRITE  0x2   /* bit positions match the #PF error code's W/R and U/S bits */
#define PF_ACC_USER   0x4   /* the access is made at CPL 3 (user) */
#define PF_ACC_FETCH  0x10  /* instruction fetch (I/D in the error code under PAE with NXE) */

#define PF_FAULT 0x80000000u

#define WALK_4M         (4u << 20)
#define WALK_2M         (2u << 20)

struct walk {
	uint64_t pa;            /* guest physical address of lin (above 4 GiB under PAE) */
	uint64_t page;          /* guest physical base of the page (aligned to size) */
	uint32_t size;          /* 4096, 2 MiB (PAE) or 4 MiB */
	bool writable;          /* effective R/W for this access's privilege (incl. CR0.WP for supervisor) */
	bool user;              /* effective U/S: both levels allow user access */
	bool rw;                /* effective R/W bit: writable for CPL 3 (if user) and with WP */
	bool global;            /* G bit of the final entry (meaningful with CR4.PGE) */
	bool dirty;             /* D bit of the final entry after this walk */
	bool accessed;          /* A bit of the final entry after this walk */
	bool dir_accessed;      /* A bit of the directory entry above it (true for a large page) */
	bool nx;                /* fetches fault (XD at either level, with EFER.NXE under PAE) */
	uint64_t pde_pa, pte_pa;/* where the entries live (pte_pa = pde_pa for a large page) */
};

/* Translate lin for access acc with the guest's CR0/CR3/CR4/EFER and PDPTE registers
 * (c), reading the tables in mem. On success fill *w, set A on the entries used (and D on the final entry
 * for a write) as the CPU does, and return 0. On a fault return PF_FAULT | the #PF
 * error code, leave *w and the A/D bits alone. With CR0.PG = 0: *w maps lin to
 * itself, a 4 KiB page with every right, dirty, and pde_pa = pte_pa = 0xffffffff. */
uint32_t walk(const struct cpu *c, struct guest_mem *mem, uint32_t lin, unsigned acc,
	      struct walk *w);
/* walk() without setting A/D bits (w->dirty is the D bit as found). */
uint32_t walk_peek(const struct cpu *c, struct guest_mem *mem, uint32_t lin, unsigned acc,
		   struct walk *w);

/* What walk_peek(c, mem, lin, PF_ACC_FETCH | (user ? PF_ACC_USER : 0), w) decides,
 * and nothing else: true with the physical address in *pa if that fetch would
 * succeed, false if it would fault. For the many pages a CR3 load's check of the code
 * cache asks about, without the rest of struct walk; the entries it used (for a large
 * page the PDE twice) and the page size go to *e, for a TLB of the caller's, and,
 * whether it succeeds or not, where the entries it read lie (WALK_NO_ENTRY for a level
 * it did not reach; the PDPTEs are registers), for the caller's tracing. */
#define WALK_NO_ENTRY (~0ull)
struct walk_entries {
	uint64_t pde, final;
	uint32_t size;
	uint64_t pde_pa, pte_pa;
};
bool walk_fetch(const struct cpu *c, const struct guest_mem *mem, uint32_t lin, bool user,
		uint64_t *pa, struct walk_entries *e);

/* Read the four PDPTEs of the table at cr3 (bits 31:5) in mem into c->pdpte, as a MOV
 * to CR3 under PAE paging, or a MOV to CR0/CR4 that turns PAE paging on, does (SDM
 * Vol. 3, 4.4.1). Returns false, loading nothing, if a present one has a reserved
 * bit set: the instruction raises #GP(0). A table outside RAM reads as not present. */
bool walk_load_pdptes(struct cpu *c, const struct guest_mem *mem, uint32_t cr3);

#endif
