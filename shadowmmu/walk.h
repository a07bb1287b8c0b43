/*
 * walk.h - the guest page-table walker: 2-level 32-bit paging with 4 MiB pages
 * (SDM Vol. 3, 4.3), access rights (4.6), #PF error codes (4.7), A/D bits (4.8).
 *
 * Interface: the shadow MMU calls walk() when the guest touches a linear address it
 * has not mapped yet; the result says where to map it and with which rights, or
 * which #PF to deliver (the caller sets CR2). The monitor's own look-ups (fetching
 * code to translate, printing) use walk_peek(), which leaves guest memory alone.
 * Not supported: PAE, PSE-36 (MAXPHYADDR is 32), SMEP/SMAP, NX, PAT/PCD/PWT.
 */
#ifndef TRAPEZE_WALK_H
#define TRAPEZE_WALK_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

/* CR4 bits used here (SDM Vol. 3, 2.5); the same tokens as vm.h would define. */
#ifndef CR4_PSE
#define CR4_PSE         0x00000010u
#endif
#ifndef CR4_PGE
#define CR4_PGE         0x00000080u
#endif

/* Paging-structure entry bits (SDM Vol. 3, Tables 4-4 to 4-6). */
#define PTE_P           0x001u
#define PTE_RW          0x002u
#define PTE_US          0x004u
#define PTE_A           0x020u
#define PTE_D           0x040u
#define PTE_PS          0x080u          /* in a PDE with CR4.PSE: maps a 4 MiB page */
#define PTE_G           0x100u          /* in the final entry */
#define PDE_4M_RSVD     0x003fe000u     /* bits 21:13 of a 4 MiB PDE without PSE-36 */

/* #PF error code bits (SDM Vol. 3, 4.7). */
#define PF_ERR_P        0x01u           /* 0: not present; 1: protection or reserved bit */
#define PF_ERR_W        0x02u
#define PF_ERR_U        0x04u
#define PF_ERR_RSVD     0x08u
#define PF_ERR_ID       0x10u

/* Access kinds for walk(): OR of these. */
#define PF_ACC_WRITE  0x2   /* bit positions match the #PF error code's W/R and U/S bits */
#define PF_ACC_USER   0x4   /* the access is made at CPL 3 (user) */
#define PF_ACC_FETCH  0x10  /* instruction fetch (I/D bit; reported only with SMEP/NX, i.e. never for now) */

#define PF_FAULT 0x80000000u

#define WALK_4M         (4u << 20)

struct walk {
	uint32_t pa;            /* guest physical address of lin */
	uint32_t page;          /* guest physical base of the page (4 KiB or 4 MiB aligned) */
	uint32_t size;          /* 4096 or 4 MiB */
	bool writable;          /* effective R/W for this access's privilege (incl. CR0.WP for supervisor) */
	bool user;              /* effective U/S: both levels allow user access */
	bool global;            /* G bit of the final entry (meaningful with CR4.PGE) */
	bool dirty;             /* D bit of the final entry after this walk */
	uint32_t pde_pa, pte_pa;/* where the entries live (pte_pa = pde_pa for a 4 MiB page) */
};

/* Translate lin for access acc with the guest's CR0/CR3/CR4 (vm->cpu). On success
 * fill *w, set A on the entries used (and D on the final entry for a write) as the
 * CPU does, and return 0. On a fault return PF_FAULT | the #PF error code, leave *w
 * and the A/D bits alone. With CR0.PG = 0: *w maps lin to itself, a 4 KiB page with
 * every right, dirty, and pde_pa = pte_pa = 0xffffffff. */
uint32_t walk(struct vm *vm, uint32_t lin, unsigned acc, struct walk *w);
/* walk() without setting A/D bits (w->dirty is the D bit as found). */
uint32_t walk_peek(struct vm *vm, uint32_t lin, unsigned acc, struct walk *w);

#endif
