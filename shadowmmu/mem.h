/*
 * mem.h - guest physical memory: its RAM, the low-4-GiB reservation and the window.
 *
 * Guest RAM is one memfd (struct guest_mem, which struct vm embeds). The monitor maps
 * it once at mem->ram (the physmap) for its own accesses; the guest sees it at host =
 * linear, mapped from the memfd by the shadow MMU (mmu.c), which also fills
 * mem->code: the pages that hold translated code, kept read-only in every guest
 * mapping. mem_init() also reserves the whole low 4 GiB so nothing of the host lands
 * there, and maps the monitor window.
 *
 * Interface: mem_init() at VM creation, then the owner of the translations wires
 * code_written; mem_phys() for reads and in-place access, mem_write_phys() for every
 * monitor write that must invalidate translated code; mem_exit() at teardown.
 */
#ifndef TRAPEZE_MEM_H
#define TRAPEZE_MEM_H

#include <stdbool.h>
#include <stdint.h>

#define MEM_MIN  (2ull << 20)
#define MEM_MAX  (3ull << 30)

struct guest_mem {
	uint8_t *ram;                   /* guest physical 0 in the monitor's physmap */
	uint64_t size;
	int fd;                         /* the memfd, mapped again per guest page */
	uint8_t *code;                  /* per physical page: holds translated code
					   (mmu_protect_code), so its mappings are read-only */
	/* A write is about to reach physical page ppn, which holds translated code: drop
	 * its translations. guest: the guest's own write, faulted in translated code and
	 * to be redone alone; else one by the monitor (mem_write_phys). */
	void (*code_written)(void *opaque, uint32_t ppn, bool guest);
	void *opaque;
};

/* Reserve the low 4 GiB, map the window and size bytes of RAM (paging off: at host =
 * physical from GUEST_LOW up); negative errno, nothing left behind. */
int mem_init(struct guest_mem *mem, uint64_t size);
void mem_exit(struct guest_mem *mem);

/* Host pointer to guest physical [pa, pa + len), or NULL if not all RAM. */
void *mem_phys(const struct guest_mem *mem, uint64_t pa, uint64_t len);

/* Does physical page ppn hold translated code? */
static inline bool mem_page_has_code(const struct guest_mem *mem, uint32_t ppn)
{
	return ppn < mem->size >> 12 && mem->code[ppn];
}

/* Copy to guest physical memory, invalidating translations of the pages written.
 * Returns false if the range is not all RAM. */
bool mem_write_phys(struct guest_mem *mem, uint64_t pa, const void *src, uint64_t len);

#endif
