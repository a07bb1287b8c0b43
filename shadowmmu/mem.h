/*
 * mem.h - guest physical memory and its host mappings.
 *
 * Guest RAM is one memfd. The monitor maps it once at vm->ram (the physmap) for its
 * own accesses, and at host = linear for the guest (with paging off, linear is
 * physical; the lowest 64 KiB are never mapped). mem_init() also reserves the whole low 4 GiB so nothing of the host
 * lands there, and maps the monitor window.
 */
#ifndef TRAPEZE_MEM_H
#define TRAPEZE_MEM_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

#define MEM_MIN  (2ull << 20)
#define MEM_MAX  (3ull << 30)

/* Reserve the low 4 GiB, map the window and the guest's RAM; negative errno. */
int mem_init(struct vm *vm);
void mem_exit(struct vm *vm);

/* Host pointer to guest physical [pa, pa + len), or NULL if not all RAM. */
void *mem_phys(struct vm *vm, uint64_t pa, uint64_t len);

/* Write-protect (or release) the guest mappings of physical page ppn. */
void mem_protect_code(struct vm *vm, uint32_t ppn, bool readonly);

/* Copy to guest physical memory, invalidating translations of the pages written.
 * Returns false if the range is not all RAM. */
bool mem_write_phys(struct vm *vm, uint64_t pa, const void *src, uint64_t len);

#endif
