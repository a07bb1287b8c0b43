/*
 * mmuhost.h - the monitor's side of the shadow MMU's hooks (shadowmmu/mmu.h,
 * shadowmmu/mem.h): what a #PF, a change of mappings or a write to translated code
 * means for the vCPU, the code cache and the segment shadows.
 *
 * Interface: vm_create() calls mmuhost_init() once guest memory exists (mem_init());
 * vm_destroy() calls mmuhost_exit().
 */
#ifndef TRAPEZE_MMUHOST_H
#define TRAPEZE_MMUHOST_H

struct vm;

/* Create vm->mmu over vm->cpu and vm->mem, and wire both to this VM; -ENOMEM. */
int mmuhost_init(struct vm *vm);
/* Destroy vm->mmu (NULL is fine) and set it to NULL. */
void mmuhost_exit(struct vm *vm);

#endif
